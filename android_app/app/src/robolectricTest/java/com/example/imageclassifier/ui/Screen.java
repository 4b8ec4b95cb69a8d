package com.example.imageclassifier.ui;

import static org.junit.Assert.fail;
import static org.robolectric.Shadows.shadowOf;

import android.graphics.Bitmap;
import android.graphics.Canvas;
import android.os.Build;
import android.os.Looper;
import android.view.View;
import android.widget.LinearLayout;
import android.widget.TextView;
import com.example.imageclassifier.R;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;

/** Helpers to drive MainActivity: wait for the worker thread's result, tap a sample, screenshot. */
final class Screen {
    static final long TIMEOUT_MS = 20000;

    private Screen() {}

    interface Condition {
        boolean holds();
    }

    /** Runs the main looper until {@code c} holds (the worker posts its results there). */
    static void await(String what, Condition c) {
        long end = System.currentTimeMillis() + TIMEOUT_MS;
        while (true) {
            shadowOf(Looper.getMainLooper()).idle();
            if (c.holds()) {
                return;
            }
            if (System.currentTimeMillis() > end) {
                fail("timed out waiting for " + what);
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted");
            }
        }
    }

    static String text(MainActivity a, int id) {
        return ((TextView) a.findViewById(id)).getText().toString();
    }

    /** Waits until the text view {@code id} shows something other than {@code before}. */
    static String awaitChange(final MainActivity a, final int id, final String before) {
        await("view " + id + " to change from '" + before + "'", new Condition() {
            @Override
            public boolean holds() {
                String now = text(a, id);
                return !now.isEmpty() && !now.equals(before);
            }
        });
        return text(a, id);
    }

    /** Waits for the model info line (loaded or failed) and the sample strip. */
    static void awaitStarted(final MainActivity a, final int samples) {
        await("the sample strip", new Condition() {
            @Override
            public boolean holds() {
                return ((LinearLayout) a.findViewById(R.id.samples)).getChildCount() >= samples;
            }
        });
        await("the model to load", new Condition() {
            @Override
            public boolean holds() {
                return !text(a, R.id.model_info).equals(a.getString(R.string.loading_model))
                        || text(a, R.id.results).startsWith("Error");
            }
        });
    }

    /** Taps the sample whose asset path is {@code path}. */
    static void tapSample(MainActivity a, String path) {
        LinearLayout strip = (LinearLayout) a.findViewById(R.id.samples);
        for (int i = 0; i < strip.getChildCount(); i++) {
            View v = strip.getChildAt(i);
            if (path.equals(String.valueOf(v.getContentDescription()))) {
                v.performClick();
                return;
            }
        }
        fail("no sample " + path + " in the strip");
    }

    /** Robolectric's native graphics (real Skia drawing and text) start at this API level. */
    static final int NATIVE_GRAPHICS_MIN_SDK = 26;

    /**
     * Draws the window into robo.out/screenshot-api<N>.png; null below API 26, where Robolectric
     * falls back to its legacy graphics, which draw no text (a screenshot would mislead).
     */
    static File screenshot(MainActivity a) throws IOException {
        if (Build.VERSION.SDK_INT < NATIVE_GRAPHICS_MIN_SDK) {
            return null;
        }
        View root = a.getWindow().getDecorView();
        shadowOf(Looper.getMainLooper()).idle();
        Bitmap bitmap = Bitmap.createBitmap(root.getWidth(), root.getHeight(), Bitmap.Config.ARGB_8888);
        root.draw(new Canvas(bitmap));
        File out = new File(System.getProperty("robo.out"), "screenshot-api" + Build.VERSION.SDK_INT + ".png");
        FileOutputStream stream = new FileOutputStream(out);
        try {
            bitmap.compress(Bitmap.CompressFormat.PNG, 100, stream);
        } finally {
            stream.close();
        }
        return out;
    }
}
