package com.example.imageclassifier.core;

import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The golden vectors Python wrote ({@code pipeline/goldens.py write_goldens}): the models, and
 * for each (image, model) the RGB pixels, the exact input-tensor bytes Python fed the interpreter,
 * the interpreter's raw output bytes and Python's ranking and scores. The folder comes from the
 * system property {@code goldens.dir} ({@code pytest tests/test_jvm.py} sets it); without it the
 * tests are skipped, not failed.
 */
final class Goldens {
    static final Charset UTF8 = Charset.forName("UTF-8");
    static final String DIR_PROPERTY = "goldens.dir";
    static final String RESULTS_PROPERTY = "goldens.results";

    /** One model as Python's reader and interpreter see it (models.tsv). */
    static final class Model {
        String key;
        byte[] bytes;
        List<String> labels;
        String inputType;
        int height;
        int width;
        float inputScale;
        int inputZeroPoint;
        String outputType;
        float outputScale;
        int outputZeroPoint;
        int classes;
        float[] mean;
        float[] std;
        ModelInfo info;
    }

    /** One image run through one model (cases.tsv). */
    static final class Case {
        String id;
        Model model;
        String source;
        int width;
        int height;
        int label;
        String rgbPath;
        byte[] rgb;
        byte[] input;
        byte[] output;
        int[] ranking;
        float[] scores;

        @Override
        public String toString() {
            return id + " (" + width + "x" + height + " -> " + model.width + "x" + model.height
                    + " " + model.inputType + ")";
        }
    }

    private static Goldens loaded;

    final File dir;
    final Map<String, Model> models = new LinkedHashMap<String, Model>();
    final List<Case> cases = new ArrayList<Case>();

    private Goldens(File dir) throws IOException, ModelException {
        this.dir = dir;
        for (String[] c : rows("models.tsv")) {
            Model m = new Model();
            m.key = c[0];
            m.bytes = read(c[1]);
            m.labels = lines(c[2]);
            m.inputType = c[3];
            m.height = Integer.parseInt(c[4]);
            m.width = Integer.parseInt(c[5]);
            m.inputScale = floats(c[6])[0];
            m.inputZeroPoint = Integer.parseInt(c[7]);
            m.outputType = c[8];
            m.outputScale = floats(c[9])[0];
            m.outputZeroPoint = Integer.parseInt(c[10]);
            m.classes = Integer.parseInt(c[11]);
            m.mean = floats(c[12]);
            m.std = floats(c[13]);
            m.info = ModelInfo.read(m.bytes);
            models.put(m.key, m);
        }
        for (String[] c : rows("cases.tsv")) {
            Case k = new Case();
            k.id = c[0];
            k.model = models.get(c[1]);
            k.source = c[2];
            k.width = Integer.parseInt(c[3]);
            k.height = Integer.parseInt(c[4]);
            k.label = Integer.parseInt(c[5]);
            k.rgbPath = c[6];
            k.rgb = read(c[6]);
            k.input = read(c[7]);
            k.output = read(c[8]);
            String[] order = c[9].split(",");
            k.ranking = new int[order.length];
            for (int i = 0; i < order.length; i++) {
                k.ranking[i] = Integer.parseInt(order[i]);
            }
            k.scores = floats(c[10]);
            cases.add(k);
        }
    }

    /** The golden folder named by {@code -Dgoldens.dir}; skips the calling test when unset. */
    static synchronized Goldens load() throws IOException, ModelException {
        String path = System.getProperty(DIR_PROPERTY);
        assumeTrue("no golden vectors: run via `pytest tests/test_jvm.py`, which writes them and"
                + " passes -D" + DIR_PROPERTY + "=<folder>", path != null && !path.isEmpty());
        if (loaded == null || !loaded.dir.equals(new File(path))) {
            loaded = new Goldens(new File(path));
        }
        return loaded;
    }

    byte[] read(String relative) throws IOException {
        return Files.readAllBytes(new File(dir, relative).toPath());
    }

    File file(String relative) {
        return new File(dir, relative);
    }

    private List<String> lines(String relative) throws IOException {
        String text = new String(read(relative), UTF8);
        List<String> out = new ArrayList<String>(Arrays.asList(text.split("\n", -1)));
        if (!out.isEmpty() && out.get(out.size() - 1).isEmpty()) {
            out.remove(out.size() - 1);
        }
        return out;
    }

    private List<String[]> rows(String relative) throws IOException {
        List<String[]> out = new ArrayList<String[]>();
        for (String line : lines(relative)) {
            if (!line.isEmpty()) {
                out.add(line.split("\t", -1));
            }
        }
        return out;
    }

    /** Comma-separated hex bits of float32 values ("" = none). */
    static float[] floats(String bits) {
        if (bits.isEmpty()) {
            return new float[0];
        }
        String[] parts = bits.split(",");
        float[] out = new float[parts.length];
        for (int i = 0; i < parts.length; i++) {
            out[i] = Float.intBitsToFloat((int) Long.parseLong(parts[i], 16));
        }
        return out;
    }

    static String bits(float[] values) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < values.length; i++) {
            s.append(i == 0 ? "" : ",").append(String.format("%08x", Float.floatToRawIntBits(values[i])));
        }
        return s.toString();
    }

    /** Where two byte arrays first differ, described for a person; null when equal. */
    static String firstDifference(byte[] java, byte[] python, Case k) {
        if (java.length != python.length) {
            return "Java made " + java.length + " bytes, Python " + python.length;
        }
        int count = 0;
        int first = -1;
        for (int i = 0; i < java.length; i++) {
            if (java[i] != python[i]) {
                count++;
                if (first < 0) {
                    first = i;
                }
            }
        }
        if (count == 0) {
            return null;
        }
        int size = "FLOAT32".equals(k.model.inputType) ? 4 : 1;
        int element = first / size;
        int pixel = element / 3;
        String where = "y=" + pixel / k.model.width + " x=" + pixel % k.model.width + " c=" + element % 3;
        String javaValue;
        String pythonValue;
        if (size == 4) {
            javaValue = Float.toString(floatAt(java, element));
            pythonValue = Float.toString(floatAt(python, element));
        } else {
            javaValue = Integer.toString(java[first] & 0xFF);
            pythonValue = Integer.toString(python[first] & 0xFF);
        }
        return count + " of " + java.length + " bytes differ; first at element " + element + " ("
                + where + "): Java " + javaValue + ", Python " + pythonValue;
    }

    static float floatAt(byte[] le, int element) {
        int b = 4 * element;
        return Float.intBitsToFloat((le[b] & 0xFF) | (le[b + 1] & 0xFF) << 8
                | (le[b + 2] & 0xFF) << 16 | (le[b + 3] & 0xFF) << 24);
    }
}
