package com.example.imageclassifier;

import android.content.Context;
import android.content.res.AssetFileDescriptor;
import com.example.imageclassifier.core.ClassifierException;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Where the build puts the model and the sample images in the APK's assets. The names are
 * mirrored by pipeline/android/bundle.py (MODEL_ASSET, SAMPLES_DIR); a test checks they agree.
 */
public final class ModelAssets {
    /** The model, stored uncompressed so it can be memory-mapped (ML Kit loads it by this path). */
    public static final String MODEL_ASSET = "model.tflite";
    /** Folder of sample images shown in the UI's strip. */
    public static final String SAMPLES_DIR = "samples";

    private ModelAssets() {}

    /** Memory-maps the bundled model. Fails when it is missing or stored compressed. */
    public static MappedByteBuffer mapModel(Context context) throws ClassifierException {
        AssetFileDescriptor fd;
        try {
            fd = context.getAssets().openFd(MODEL_ASSET);
        } catch (IOException e) {
            throw new ClassifierException("assets/" + MODEL_ASSET + " is missing from the APK or"
                    + " stored compressed (it must be stored: aapt2 -0 tflite / noCompress \"tflite\")",
                    e);
        }
        try {
            FileInputStream in = fd.createInputStream();
            try {
                FileChannel channel = in.getChannel();
                return channel.map(FileChannel.MapMode.READ_ONLY, fd.getStartOffset(),
                        fd.getDeclaredLength());
            } finally {
                in.close();
            }
        } catch (IOException e) {
            throw new ClassifierException("cannot map assets/" + MODEL_ASSET + ": " + e.getMessage(), e);
        } finally {
            try {
                fd.close();
            } catch (IOException ignored) {
                // the mapping stays valid after the descriptor is closed
            }
        }
    }

    /** Asset paths of the bundled sample images, sorted by name. */
    public static List<String> samplePaths(Context context) {
        List<String> paths = new ArrayList<String>();
        try {
            String[] names = context.getAssets().list(SAMPLES_DIR);
            if (names != null) {
                Arrays.sort(names);
                for (String name : names) {
                    String lower = name.toLowerCase(java.util.Locale.ROOT);
                    if (lower.endsWith(".png") || lower.endsWith(".jpg") || lower.endsWith(".jpeg")
                            || lower.endsWith(".bmp") || lower.endsWith(".webp")
                            || lower.endsWith(".gif")) {
                        paths.add(SAMPLES_DIR + "/" + name);
                    }
                }
            }
        } catch (IOException e) {
            // no samples folder: the strip stays empty
        }
        return paths;
    }
}
