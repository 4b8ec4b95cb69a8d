package com.example.imageclassifier.ui;

import android.content.ContentProvider;
import android.content.ContentValues;
import android.database.Cursor;
import android.database.MatrixCursor;
import android.net.Uri;
import android.os.ParcelFileDescriptor;
import android.provider.OpenableColumns;
import java.io.File;
import java.io.FileNotFoundException;

/**
 * A document provider as a gallery or file manager offers one: content://AUTHORITY/image:N
 * serves the files of the folder in system property {@code robo.images}, by position, and
 * reports their display name and size (as the system picker's providers do).
 */
public class ImagesProvider extends ContentProvider {
    public static final String AUTHORITY = "com.example.imageclassifier.test.images";

    /** The URI a picker would return for {@code name}: an opaque id, not the file name. */
    public static Uri uriFor(String name) {
        String[] names = files();
        for (int i = 0; i < names.length; i++) {
            if (names[i].equals(name)) {
                return Uri.parse("content://" + AUTHORITY + "/image:" + (1000 + i));
            }
        }
        throw new AssertionError("no test image " + name + " in " + System.getProperty("robo.images"));
    }

    private static String[] files() {
        String[] names = new File(System.getProperty("robo.images")).list();
        java.util.Arrays.sort(names);
        return names;
    }

    private static File file(Uri uri) throws FileNotFoundException {
        String id = uri.getLastPathSegment();
        if (id == null || !id.startsWith("image:")) {
            throw new FileNotFoundException(uri.toString());
        }
        String[] names = files();
        int i = Integer.parseInt(id.substring("image:".length())) - 1000;
        if (i < 0 || i >= names.length) {
            throw new FileNotFoundException(uri.toString());
        }
        return new File(System.getProperty("robo.images"), names[i]);
    }

    @Override
    public boolean onCreate() {
        return true;
    }

    @Override
    public Cursor query(Uri uri, String[] projection, String selection, String[] args, String order) {
        File f;
        try {
            f = file(uri);
        } catch (FileNotFoundException e) {
            return null;
        }
        String[] columns = projection != null ? projection
                : new String[] {OpenableColumns.DISPLAY_NAME, OpenableColumns.SIZE};
        MatrixCursor cursor = new MatrixCursor(columns);
        Object[] row = new Object[columns.length];
        for (int i = 0; i < columns.length; i++) {
            row[i] = OpenableColumns.DISPLAY_NAME.equals(columns[i]) ? f.getName()
                    : OpenableColumns.SIZE.equals(columns[i]) ? (Object) f.length() : null;
        }
        cursor.addRow(row);
        return cursor;
    }

    @Override
    public ParcelFileDescriptor openFile(Uri uri, String mode) throws FileNotFoundException {
        return ParcelFileDescriptor.open(file(uri), ParcelFileDescriptor.MODE_READ_ONLY);
    }

    @Override
    public String getType(Uri uri) {
        return "image/jpeg";
    }

    @Override
    public Uri insert(Uri uri, ContentValues values) {
        throw new UnsupportedOperationException();
    }

    @Override
    public int delete(Uri uri, String selection, String[] args) {
        throw new UnsupportedOperationException();
    }

    @Override
    public int update(Uri uri, ContentValues values, String selection, String[] args) {
        throw new UnsupportedOperationException();
    }
}
