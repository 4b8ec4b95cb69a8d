package com.example.imageclassifier.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The app's pre- and post-processing against Python, case by case: the same RGB pixels must give
 * the same input-tensor bytes (resize included, uint8 and float32 models), and the interpreter's
 * raw output bytes must give the same scores and the same ranking. Every failing case is listed.
 */
public class GoldenCasesTest {
    private static Goldens goldens;
    /** What Java produced per case, in cases.tsv order. */
    private static final List<Observed> observed = new ArrayList<Observed>();

    private static final class Observed {
        Goldens.Case k;
        byte[] input;
        float[] scores;
        List<Recognition> ranked;
    }

    @BeforeClass
    public static void runJava() throws Exception {
        goldens = Goldens.load();
        for (Goldens.Case k : goldens.cases) {
            Observed o = new Observed();
            o.k = k;
            o.input = InputEncoder.encodeRgb(k.rgb, k.width, k.height, k.model.info);
            o.scores = OutputDecoder.scores(k.output, k.model.info);
            o.ranked = OutputDecoder.decode(k.output, k.model.info, Integer.MAX_VALUE, 0f);
            observed.add(o);
        }
    }

    /** Writes what Java produced (for the fidelity table) to -Dgoldens.results, when given. */
    @AfterClass
    public static void writeResults() throws IOException {
        String path = System.getProperty(Goldens.RESULTS_PROPERTY);
        if (path == null || path.isEmpty() || observed.isEmpty()) {
            return;
        }
        Writer out = new OutputStreamWriter(new FileOutputStream(new File(path)), Goldens.UTF8);
        try {
            for (Observed o : observed) {
                out.write(o.k.id + "\t" + (Arrays.equals(o.input, o.k.input) ? 1 : 0) + "\t"
                        + (Arrays.equals(indices(o.ranked), o.k.ranking) ? 1 : 0) + "\t"
                        + (o.ranked.isEmpty() ? -1 : o.ranked.get(0).index) + "\t"
                        + Goldens.bits(o.scores) + "\n");
            }
        } finally {
            out.close();
        }
    }

    @Test
    public void inputBytesEqualPython() {
        List<String> failures = new ArrayList<String>();
        for (Observed o : observed) {
            String diff = Goldens.firstDifference(o.input, o.k.input, o.k);
            if (diff != null) {
                failures.add(o.k + ": " + diff);
            }
        }
        report("input tensor bytes differ from Python's", failures);
    }

    @Test
    public void argbPixelsGiveTheSameBytesAsRgb() {
        Random random = new Random(7);
        List<String> failures = new ArrayList<String>();
        for (Observed o : observed) {
            Goldens.Case k = o.k;
            int[] argb = new int[k.width * k.height];
            for (int i = 0; i < argb.length; i++) {
                int alpha = random.nextInt(256); // Bitmap pixels carry alpha; the app drops it
                argb[i] = alpha << 24 | (k.rgb[3 * i] & 0xFF) << 16 | (k.rgb[3 * i + 1] & 0xFF) << 8
                        | (k.rgb[3 * i + 2] & 0xFF);
            }
            String diff = Goldens.firstDifference(
                    InputEncoder.encode(argb, k.width, k.height, k.model.info), k.input, k);
            if (diff != null) {
                failures.add(k + ": " + diff);
            }
        }
        report("ARGB input differs from Python's", failures);
    }

    @Test
    public void scoresEqualPython() {
        List<String> failures = new ArrayList<String>();
        for (Observed o : observed) {
            for (int c = 0; c < o.scores.length || c < o.k.scores.length; c++) {
                if (c >= o.scores.length || c >= o.k.scores.length
                        || Float.floatToIntBits(o.scores[c]) != Float.floatToIntBits(o.k.scores[c])) {
                    failures.add(o.k.id + ": class " + c + " Java " + (c < o.scores.length ? o.scores[c] : "-")
                            + ", Python " + (c < o.k.scores.length ? o.k.scores[c] : "-"));
                    break;
                }
            }
        }
        report("scores differ from Python's", failures);
    }

    @Test
    public void rankingAndLabelsEqualPython() {
        List<String> failures = new ArrayList<String>();
        for (Observed o : observed) {
            int[] java = indices(o.ranked);
            if (!Arrays.equals(java, o.k.ranking)) {
                failures.add(o.k.id + ": Java " + Arrays.toString(java) + ", Python "
                        + Arrays.toString(o.k.ranking));
                continue;
            }
            for (Recognition r : o.ranked) {
                if (!r.label.equals(o.k.model.labels.get(r.index))) {
                    failures.add(o.k.id + ": class " + r.index + " labelled " + r.label + ", Python says "
                            + o.k.model.labels.get(r.index));
                    break;
                }
            }
        }
        report("ranked labels differ from Python's", failures);
    }

    @Test
    public void uiTopThreeIsPythonsTopThree() {
        ClassifierOptions ui = ClassifierOptions.forUi();
        for (Observed o : observed) {
            List<Recognition> top = OutputDecoder.decode(o.k.output, o.k.model.info, ui.maxResults,
                    ui.confidenceThreshold);
            int n = Math.min(ui.maxResults, o.k.ranking.length);
            assertEquals(o.k.id, Arrays.toString(Arrays.copyOf(o.k.ranking, n)),
                    Arrays.toString(indices(top)));
        }
    }

    private static int[] indices(List<Recognition> ranked) {
        int[] out = new int[ranked.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ranked.get(i).index;
        }
        return out;
    }

    private static void report(String what, List<String> failures) {
        if (failures.isEmpty()) {
            return;
        }
        StringBuilder s = new StringBuilder(failures.size() + " of " + observed.size() + " cases: "
                + what + ":");
        for (int i = 0; i < Math.min(10, failures.size()); i++) {
            s.append("\n  ").append(failures.get(i));
        }
        if (failures.size() > 10) {
            s.append("\n  ... and ").append(failures.size() - 10).append(" more");
        }
        fail(s.toString());
    }
}
