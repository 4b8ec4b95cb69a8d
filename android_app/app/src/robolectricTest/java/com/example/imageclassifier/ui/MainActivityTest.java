package com.example.imageclassifier.ui;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.robolectric.Shadows.shadowOf;

import android.app.Activity;
import android.content.Context;
import android.content.Intent;
import android.content.res.Configuration;
import android.graphics.drawable.BitmapDrawable;
import android.net.Uri;
import android.os.Build;
import android.view.View;
import android.widget.ImageView;
import com.example.imageclassifier.ClassifierFactory;
import com.example.imageclassifier.ModelAssets;
import com.example.imageclassifier.R;
import com.example.imageclassifier.ReplayClassifier;
import com.example.imageclassifier.core.ClassificationResult;
import com.example.imageclassifier.core.Classifier;
import com.example.imageclassifier.core.ClassifierException;
import com.example.imageclassifier.core.ClassifierOptions;
import com.example.imageclassifier.core.ModelInfo;
import com.example.imageclassifier.litert.LiteRtClassifier;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.robolectric.Robolectric;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.RuntimeEnvironment;
import org.robolectric.android.controller.ActivityController;
import org.robolectric.annotation.Config;
import org.robolectric.annotation.GraphicsMode;

/**
 * MainActivity on the real framework of the configured API levels, with the APK's own resources
 * and assets; the model is "run" by {@link ReplayClassifier} (the interpreter's recorded outputs
 * for the exact input bytes Python produced).
 */
@RunWith(RobolectricTestRunner.class)
@GraphicsMode(GraphicsMode.Mode.NATIVE)
@Config(qualifiers = "w360dp-h640dp-xhdpi")
public class MainActivityTest {
    private static final Pattern RESULT_LINE = Pattern.compile("\\d\\. .+ \\d+\\.\\d%"); // aapt2 collapses the string's double space
    private static final String PICKED = "rotated.jpg";

    private ActivityController<MainActivity> controller;
    private List<String> expect; // name, input, labels... (from pipeline.metadata in Python)

    @Before
    public void setUp() throws IOException {
        ClassifierFactory.use(null);
        ReplayClassifier.reset();
        expect = Files.readAllLines(Paths.get(System.getProperty("expect.model")), StandardCharsets.UTF_8);
        Robolectric.setupContentProvider(ImagesProvider.class, ImagesProvider.AUTHORITY);
    }

    @After
    public void tearDown() {
        if (controller != null) {
            controller.pause().stop().destroy();
            shadowOf(android.os.Looper.getMainLooper()).idle();
        }
        ClassifierFactory.use(null);
    }

    private MainActivity start() {
        controller = Robolectric.buildActivity(MainActivity.class).setup();
        MainActivity a = controller.get();
        Screen.awaitStarted(a, ModelAssets.samplePaths(a).size());
        return a;
    }

    private String label(int index) {
        return expect.get(2 + index);
    }

    /** The three result lines, each "k. label  xx.x%", labels in Python's order. */
    private void assertTop3(String results, ReplayClassifier.Entry expected) {
        String[] lines = results.split("\n");
        assertEquals(results, Math.min(3, expect.size() - 2), lines.length);
        for (int i = 0; i < lines.length; i++) {
            assertTrue(lines[i], RESULT_LINE.matcher(lines[i]).matches());
            assertTrue(lines[i] + " should name " + label(expected.ranking[i]),
                    lines[i].startsWith((i + 1) + ". " + label(expected.ranking[i]) + " "));
        }
    }

    private String firstSample(Context c) {
        return ModelAssets.samplePaths(c).get(0);
    }

    @Test
    public void showsTheModelFromItsMetadata() {
        MainActivity a = start();
        String info = Screen.text(a, R.id.model_info);
        assertTrue(info, info.contains(expect.get(0)));
        assertTrue(info, info.contains("input " + expect.get(1)));
        assertTrue(info, info.contains("Labels: " + label(0) + ", " + label(1)));
        assertTrue(info, info.startsWith("LiteRT (replayed) · "));
    }

    @Test
    public void tappingASampleShowsTheTop3WithConfidencesAndAScreenshot() throws IOException {
        MainActivity a = start();
        String path = firstSample(a);
        Screen.tapSample(a, path);
        String results = Screen.awaitChange(a, R.id.results, "");
        assertTrue(ReplayClassifier.misses().toString(), ReplayClassifier.misses().isEmpty());
        assertTop3(results, ReplayClassifier.entry(path));
        String source = Screen.text(a, R.id.image_source);
        assertTrue(source, source.startsWith("Image: " + path.substring(path.lastIndexOf('/') + 1)));
        assertTrue(Screen.text(a, R.id.timing).startsWith("LiteRT (replayed) inference"));
        assertNotNull(((ImageView) a.findViewById(R.id.preview)).getDrawable());
        java.io.File shot = Screen.screenshot(a);
        assertTrue(shot == null ? Build.VERSION.SDK_INT < Screen.NATIVE_GRAPHICS_MIN_SDK : shot.length() > 0);
    }

    @Test
    public void aPickedContentUriIsDecodedRotatedResizedAndClassified() {
        MainActivity a = start();
        a.findViewById(R.id.pick).performClick();
        Intent chooser = shadowOf(a).getNextStartedActivity();
        assertEquals(Intent.ACTION_CHOOSER, chooser.getAction());
        Intent pick = chooser.getParcelableExtra(Intent.EXTRA_INTENT);
        assertEquals(Intent.ACTION_GET_CONTENT, pick.getAction());
        assertEquals("image/*", pick.getType());
        Uri uri = ImagesProvider.uriFor(PICKED);
        shadowOf(a).receiveResult(chooser, Activity.RESULT_OK, new Intent().setData(uri));
        String results = Screen.awaitChange(a, R.id.results, "");
        assertTrue(ReplayClassifier.misses().toString(), ReplayClassifier.misses().isEmpty());
        assertTop3(results, ReplayClassifier.entry("content/" + PICKED));
        // The file's display name, not "image:1000"; width x height upright (EXIF 6 turns 56x40).
        assertEquals("Image: " + PICKED + " (40 × 56)", Screen.text(a, R.id.image_source));
        BitmapDrawable preview = (BitmapDrawable) ((ImageView) a.findViewById(R.id.preview)).getDrawable();
        assertEquals(40, preview.getBitmap().getWidth());
        assertEquals(56, preview.getBitmap().getHeight());
    }

    /** Throws what it is given from classify(), then classifies with the replay. */
    private static final class Failing implements Classifier {
        final Classifier inner;
        Throwable next;

        Failing(Classifier inner) {
            this.inner = inner;
        }

        @Override
        public ClassificationResult classify(int[] argb, int width, int height) throws ClassifierException {
            Throwable t = next;
            next = null;
            if (t instanceof Error) {
                throw (Error) t;
            }
            if (t instanceof RuntimeException) {
                throw (RuntimeException) t;
            }
            return inner.classify(argb, width, height);
        }

        @Override
        public ModelInfo modelInfo() {
            return inner.modelInfo();
        }

        @Override
        public String runtimeName() {
            return inner.runtimeName();
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    private void assertReadableError(String shown) {
        assertTrue(shown, shown.startsWith("Error: "));
        assertFalse(shown, shown.contains("null"));
        assertTrue(shown, shown.length() > "Error: ".length() + 5);
    }

    @Test
    public void aClassifierThatThrowsAnErrorOrAnExceptionLeavesTheAppAliveWithAMessage() {
        final Failing[] made = new Failing[1];
        ClassifierFactory.use(new ClassifierFactory.Maker() {
            @Override
            public Classifier create(Context context, ClassifierOptions options) throws ClassifierException {
                made[0] = new Failing(ReplayClassifier.create(context, options));
                return made[0];
            }
        });
        MainActivity a = start();
        String path = firstSample(a);
        made[0].next = new OutOfMemoryError(); // no message: must not show "Error: null"
        Screen.tapSample(a, path);
        String shown = Screen.awaitChange(a, R.id.results, "");
        assertReadableError(shown);
        assertTrue(shown, shown.contains("memory"));

        made[0].next = new IllegalStateException();
        Screen.tapSample(a, path);
        shown = Screen.awaitChange(a, R.id.results, shown);
        assertReadableError(shown);
        assertTrue(shown, shown.contains("IllegalStateException"));

        Screen.tapSample(a, path); // the worker thread survived both
        assertTop3(Screen.awaitChange(a, R.id.results, shown), ReplayClassifier.entry(path));
        assertFalse(a.isFinishing());
    }

    @Test
    public void liteRtWithoutItsNativeLibraryShowsWhyInsteadOfLoadingForever() {
        ClassifierFactory.use(new ClassifierFactory.Maker() {
            @Override
            public Classifier create(Context context, ClassifierOptions options) throws ClassifierException {
                return new LiteRtClassifier(ModelAssets.mapModel(context), options); // the litert flavor's
            }
        });
        MainActivity a = start();
        String shown = Screen.text(a, R.id.results);
        assertReadableError(shown);
        // UnsatisfiedLinkError from the interpreter's static initializer, named and explained
        assertTrue(shown, shown.startsWith("Error: LiteRT: the runtime's native library cannot be loaded"));
        assertEquals(a.getString(R.string.loading_model), Screen.text(a, R.id.model_info));
        ((android.widget.TextView) a.findViewById(R.id.results)).setText("");
        Screen.tapSample(a, firstSample(a)); // the app still answers, with the same message
        assertEquals(shown, Screen.awaitChange(a, R.id.results, ""));
        assertFalse(a.isFinishing());
    }

    @Test
    public void rotationKeepsAndRecreationRestoresTheResult() {
        MainActivity a = start();
        String path = firstSample(a);
        Screen.tapSample(a, path);
        String results = Screen.awaitChange(a, R.id.results, "");
        String source = Screen.text(a, R.id.image_source);

        Configuration land = new Configuration(a.getResources().getConfiguration());
        land.orientation = Configuration.ORIENTATION_LANDSCAPE;
        RuntimeEnvironment.setQualifiers("+land");
        controller.configurationChange(land);
        assertSame(a, controller.get()); // the manifest handles orientation: no new activity
        assertEquals(results, Screen.text(a, R.id.results));

        controller.recreate();
        final MainActivity b = controller.get();
        assertTrue(b != a);
        assertEquals(results, Screen.text(b, R.id.results));
        assertEquals(source, Screen.text(b, R.id.image_source));
        Screen.await("the preview to be restored", new Screen.Condition() {
            @Override
            public boolean holds() {
                return ((ImageView) b.findViewById(R.id.preview)).getDrawable() != null;
            }
        });
        assertEquals(results, Screen.text(b, R.id.results));
        assertTrue(ReplayClassifier.misses().isEmpty());
    }

    @Test
    public void theContentKeepsItsPaddingUnderTheSystemBarInsets() {
        MainActivity a = start();
        View content = a.findViewById(R.id.content);
        int pad = Math.round(16 * a.getResources().getDisplayMetrics().density);
        assertEquals("left", pad, content.getPaddingLeft());
        assertEquals("top", pad, content.getPaddingTop());
        assertEquals("right", pad, content.getPaddingRight());
        assertEquals("bottom", pad, content.getPaddingBottom());
        View frame = a.findViewById(R.id.insets_frame);
        assertTrue(frame.getFitsSystemWindows());
        int[] at = new int[2];
        content.getLocationInWindow(at);
        assertTrue("content starts below the insets at API " + Build.VERSION.SDK_INT,
                at[1] >= frame.getPaddingTop());
    }
}
