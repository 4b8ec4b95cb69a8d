package com.example.imageclassifier.ui;

import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import com.example.imageclassifier.core.Orientation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;

/** An image decoded for classification: upright ARGB pixels and a preview bitmap. */
final class DecodedImage {
    /** Larger images are decoded at a power-of-two reduction to bound memory (64 MB of ARGB). */
    static final int MAX_PIXELS = 16 * 1024 * 1024;
    /** Files larger than this are refused rather than read into memory. */
    static final int MAX_FILE_BYTES = 64 * 1024 * 1024;

    final int[] argb;
    final int width;
    final int height;
    final Bitmap preview;

    private DecodedImage(int[] argb, int width, int height, Bitmap preview) {
        this.argb = argb;
        this.width = width;
        this.height = height;
        this.preview = preview;
    }

    /** Decodes a whole image file (JPEG, PNG, WebP, BMP, GIF) and applies its EXIF orientation. */
    static DecodedImage decode(InputStream in) throws IOException {
        byte[] bytes = readAll(in);
        BitmapFactory.Options bounds = new BitmapFactory.Options();
        bounds.inJustDecodeBounds = true;
        BitmapFactory.decodeByteArray(bytes, 0, bytes.length, bounds);
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) {
            throw new IOException("not an image the platform can decode");
        }
        BitmapFactory.Options options = new BitmapFactory.Options();
        options.inPreferredConfig = Bitmap.Config.ARGB_8888;
        options.inSampleSize = 1;
        while ((long) (bounds.outWidth / options.inSampleSize)
                * (bounds.outHeight / options.inSampleSize) > MAX_PIXELS) {
            options.inSampleSize *= 2;
        }
        Bitmap bitmap = BitmapFactory.decodeByteArray(bytes, 0, bytes.length, options);
        if (bitmap == null) {
            throw new IOException("the image could not be decoded");
        }
        int w = bitmap.getWidth();
        int h = bitmap.getHeight();
        int[] pixels = new int[w * h];
        // getPixels returns non-premultiplied ARGB, like Pillow's RGBA -> RGB on the Python side.
        bitmap.getPixels(pixels, 0, w, 0, 0, w, h);
        Orientation.Oriented upright = Orientation.apply(pixels, w, h, Orientation.read(bytes));
        Bitmap preview = bitmap;
        if (upright.argb != pixels) {
            bitmap.recycle();
            preview = Bitmap.createBitmap(upright.argb, upright.width, upright.height,
                    Bitmap.Config.ARGB_8888);
        }
        return new DecodedImage(upright.argb, upright.width, upright.height, preview);
    }

    private static byte[] readAll(InputStream in) throws IOException {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] chunk = new byte[64 * 1024];
            int n;
            while ((n = in.read(chunk)) > 0) {
                out.write(chunk, 0, n);
                if (out.size() > MAX_FILE_BYTES) {
                    throw new IOException("the file is larger than " + MAX_FILE_BYTES / (1024 * 1024)
                            + " MB");
                }
            }
            return out.toByteArray();
        } finally {
            in.close();
        }
    }
}
