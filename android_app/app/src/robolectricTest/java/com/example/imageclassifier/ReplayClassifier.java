package com.example.imageclassifier;

import android.content.Context;
import com.example.imageclassifier.core.ClassificationResult;
import com.example.imageclassifier.core.Classifier;
import com.example.imageclassifier.core.ClassifierException;
import com.example.imageclassifier.core.ClassifierOptions;
import com.example.imageclassifier.core.InputEncoder;
import com.example.imageclassifier.core.ModelException;
import com.example.imageclassifier.core.ModelInfo;
import com.example.imageclassifier.core.OutputDecoder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Stands in for the LiteRT interpreter, whose bionic native library cannot load on the host: it
 * returns the interpreter's output recorded by Python for the exact input tensor bytes the app
 * produced (the app's own decode, EXIF, resize and {@link InputEncoder}). Input bytes Python never
 * produced are recorded in {@link #misses()} and fail the classification, so any change of one
 * byte in the pixel path fails the tests.
 *
 * <p>The table (system property {@code replay.table}, written by pipeline/android/robolectric.py):
 * one line per image, {@code name TAB input-hex TAB output-hex TAB python-ranking}.
 */
public final class ReplayClassifier implements Classifier {
    /** One recorded image. */
    public static final class Entry {
        public final String name;
        public final byte[] input;
        public final byte[] output;
        public final int[] ranking;

        Entry(String name, byte[] input, byte[] output, int[] ranking) {
            this.name = name;
            this.input = input;
            this.output = output;
            this.ranking = ranking;
        }
    }

    private static final List<String> MISSES = Collections.synchronizedList(new ArrayList<String>());
    private static final List<String> HITS = Collections.synchronizedList(new ArrayList<String>());
    private static Map<String, Entry> byInput;
    private static Map<String, Entry> byName;

    private final ModelInfo info;
    private final ClassifierOptions options;
    private boolean closed;

    private ReplayClassifier(ModelInfo info, ClassifierOptions options) {
        this.info = info;
        this.options = options;
    }

    /** Reads the bundled model's metadata (as the app's reader does) and the replay table. */
    public static ReplayClassifier create(Context context, ClassifierOptions options)
            throws ClassifierException {
        try {
            InputStream in = context.getAssets().open(ModelAssets.MODEL_ASSET);
            return new ReplayClassifier(ModelInfo.read(readAll(in)), options);
        } catch (IOException e) {
            throw new ClassifierException("cannot read assets/" + ModelAssets.MODEL_ASSET, e);
        } catch (ModelException e) {
            throw new ClassifierException("cannot use the model: " + e.getMessage(), e);
        }
    }

    /** Inputs that matched no recorded image, with how far they were from the closest one. */
    public static List<String> misses() {
        synchronized (MISSES) {
            return new ArrayList<String>(MISSES);
        }
    }

    /** Names of the recorded images the app's inputs matched, in order. */
    public static List<String> hits() {
        synchronized (HITS) {
            return new ArrayList<String>(HITS);
        }
    }

    public static void reset() {
        MISSES.clear();
        HITS.clear();
    }

    /** A recorded image by name (for example "samples/003.png" or "content/rotated.jpg"). */
    public static synchronized Entry entry(String name) {
        load();
        Entry e = byName.get(name);
        if (e == null) {
            throw new AssertionError("the replay table has no image " + name + "; it has "
                    + byName.keySet());
        }
        return e;
    }

    @Override
    public ClassificationResult classify(int[] argb, int width, int height)
            throws ClassifierException {
        if (closed) {
            throw new ClassifierException("the classifier is closed");
        }
        long start = System.nanoTime();
        byte[] tensor = InputEncoder.encode(argb, width, height, info);
        Entry hit = lookup(tensor);
        if (hit == null) {
            String why = width + "x" + height + " image: " + closest(tensor);
            MISSES.add(why);
            throw new ClassifierException("the app's input tensor is not one Python produced ("
                    + why + ")");
        }
        HITS.add(hit.name);
        long run = System.nanoTime();
        ClassificationResult result = new ClassificationResult(OutputDecoder.decode(hit.output,
                info, options.maxResults, options.confidenceThreshold), 0L, 0L);
        long end = System.nanoTime();
        return new ClassificationResult(result.top, end - run, end - start);
    }

    private static synchronized Entry lookup(byte[] tensor) {
        load();
        return byInput.get(hex(tensor));
    }

    private static synchronized String closest(byte[] tensor) {
        Entry best = null;
        int bestDiff = Integer.MAX_VALUE;
        for (Entry e : byName.values()) {
            if (e.input.length != tensor.length) {
                continue;
            }
            int diff = 0;
            for (int i = 0; i < tensor.length; i++) {
                diff += e.input[i] != tensor[i] ? 1 : 0;
            }
            if (diff < bestDiff) {
                bestDiff = diff;
                best = e;
            }
        }
        return best == null ? "no recorded input has " + tensor.length + " bytes"
                : bestDiff + " of " + tensor.length + " input bytes differ from Python's for "
                        + best.name;
    }

    private static void load() {
        if (byInput != null) {
            return;
        }
        String path = System.getProperty("replay.table");
        if (path == null) {
            throw new IllegalStateException("system property replay.table is not set");
        }
        Map<String, Entry> inputs = new HashMap<String, Entry>();
        Map<String, Entry> names = new HashMap<String, Entry>();
        try {
            for (String line : Files.readAllLines(Paths.get(path), StandardCharsets.UTF_8)) {
                String[] c = line.split("\t");
                if (c.length < 4) {
                    continue;
                }
                String[] r = c[3].split(",");
                int[] ranking = new int[r.length];
                for (int i = 0; i < r.length; i++) {
                    ranking[i] = Integer.parseInt(r[i]);
                }
                Entry e = new Entry(c[0], unhex(c[1]), unhex(c[2]), ranking);
                inputs.put(c[1], e);
                names.put(c[0], e);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the replay table " + path, e);
        }
        byInput = inputs;
        byName = names;
    }

    static String hex(byte[] bytes) {
        char[] digits = "0123456789abcdef".toCharArray();
        char[] out = new char[bytes.length * 2];
        for (int i = 0; i < bytes.length; i++) {
            out[2 * i] = digits[(bytes[i] >> 4) & 0xF];
            out[2 * i + 1] = digits[bytes[i] & 0xF];
        }
        return new String(out);
    }

    private static byte[] unhex(String s) {
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    private static byte[] readAll(InputStream in) throws IOException {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] chunk = new byte[64 * 1024];
            int n;
            while ((n = in.read(chunk)) > 0) {
                out.write(chunk, 0, n);
            }
            return out.toByteArray();
        } finally {
            in.close();
        }
    }

    @Override
    public ModelInfo modelInfo() {
        return info;
    }

    @Override
    public String runtimeName() {
        return "LiteRT (replayed)";
    }

    @Override
    public void close() {
        closed = true;
    }
}
