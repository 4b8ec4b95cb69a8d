package com.example.imageclassifier.eval;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import android.content.Context;
import android.os.Build;
import android.os.Bundle;
import com.example.imageclassifier.ClassifierFactory;
import com.example.imageclassifier.ReplayClassifier;
import java.io.File;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.RuntimeEnvironment;
import org.robolectric.annotation.GraphicsMode;

/**
 * The tester's path without an emulator: EvalInstrumentation over the bundled evaluation set
 * (BitmapFactory decode, the app's encoder, the replayed interpreter), its status bundles
 * written as `am instrument -w -r` prints them, to robo.out/instrument-api<N>.txt, which Python
 * parses with the code `invoke emulator-test` uses.
 */
@RunWith(RobolectricTestRunner.class)
@GraphicsMode(GraphicsMode.Mode.NATIVE)
public class EvalInstrumentationTest {
    /** EvalInstrumentation with the instrumentation protocol recorded instead of sent to am. */
    static final class Recorder extends EvalInstrumentation {
        final List<String> lines = new ArrayList<String>();
        int code = Integer.MIN_VALUE;

        @Override
        public void start() {
            // am starts a thread that calls onStart(); the test calls it directly
        }

        @Override
        public Context getTargetContext() {
            return RuntimeEnvironment.getApplication();
        }

        @Override
        public Context getContext() {
            return RuntimeEnvironment.getApplication();
        }

        private void bundle(String prefix, Bundle b) {
            for (String key : new java.util.TreeSet<String>(b.keySet())) {
                lines.add(prefix + key + "=" + b.get(key));
            }
        }

        @Override
        public void sendStatus(int resultCode, Bundle results) {
            bundle("INSTRUMENTATION_STATUS: ", results);
            lines.add("INSTRUMENTATION_STATUS_CODE: " + resultCode);
        }

        @Override
        public void finish(int resultCode, Bundle results) {
            bundle("INSTRUMENTATION_RESULT: ", results);
            lines.add("INSTRUMENTATION_CODE: " + resultCode);
            code = resultCode;
        }
    }

    @Test
    public void evaluatesTheBundledSetThroughTheAppsPixelPath() throws IOException {
        ClassifierFactory.use(null);
        ReplayClassifier.reset();
        Recorder r = new Recorder();
        Bundle args = new Bundle();
        args.putString("threads", "1");
        r.onCreate(args);
        r.onStart();
        File out = new File(System.getProperty("robo.out"), "instrument-api" + Build.VERSION.SDK_INT + ".txt");
        Writer w = new OutputStreamWriter(Files.newOutputStream(out.toPath()), StandardCharsets.UTF_8);
        try {
            for (String line : r.lines) {
                w.write(line + "\n");
            }
        } finally {
            w.close();
        }
        assertTrue(ReplayClassifier.misses().toString(), ReplayClassifier.misses().isEmpty());
        assertEquals(String.join("\n", r.lines.subList(Math.max(0, r.lines.size() - 5), r.lines.size())),
                -1, r.code);
    }
}
