package com.example.imageclassifier.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * The evaluation's arithmetic, image by image against Python's recorded result: accuracy,
 * per-class counts, images whose top-1 changed, the largest score difference and latency
 * statistics. The on-device instrumentation ({@code eval/EvalInstrumentation}) feeds it the
 * classifier's results and reports what it computes; no {@code android.*} here, so the host JVM
 * tests it.
 */
public final class EvalTally {
    /** What one image gave: the app's top-1 (-1 when nothing was ranked), its score, the diff. */
    public static final class Outcome {
        public final int top1;
        public final float score;
        public final float maxScoreDiff;

        Outcome(int top1, float score, float maxScoreDiff) {
            this.top1 = top1;
            this.score = score;
            this.maxScoreDiff = maxScoreDiff;
        }
    }

    private final int classes;
    private final int[] perClassCorrect;
    private final int[] perClassTotal;
    private final List<String> changed = new ArrayList<String>();
    private final List<Double> totalMs = new ArrayList<Double>();
    private final List<Double> inferenceMs = new ArrayList<Double>();
    private int correct;
    private float maxScoreDiff;

    public EvalTally(int classes) {
        this.classes = classes;
        this.perClassCorrect = new int[classes];
        this.perClassTotal = new int[classes];
    }

    /** Per-class scores from ranked recognitions; NaN for a class the ranking left out. */
    public static float[] scoresOf(List<Recognition> top, int classes) {
        float[] scores = new float[classes];
        Arrays.fill(scores, Float.NaN);
        for (Recognition r : top) {
            if (r.index >= 0 && r.index < classes) {
                scores[r.index] = r.score;
            }
        }
        return scores;
    }

    /**
     * Adds one image: its true {@code label}, Python's top-1 and scores, and what the app gave.
     * A class missing from the app's ranking counts as an infinite score difference.
     */
    public Outcome add(String file, int label, int pythonTop1, float[] pythonScores,
            ClassificationResult result) {
        float[] scores = scoresOf(result.top, classes);
        int top1 = result.top.isEmpty() ? -1 : result.top.get(0).index;
        float diff = 0f;
        for (int c = 0; c < classes; c++) {
            float d = Float.isNaN(scores[c]) ? Float.POSITIVE_INFINITY
                    : Math.abs(scores[c] - pythonScores[c]);
            diff = Math.max(diff, d);
        }
        maxScoreDiff = Math.max(maxScoreDiff, diff);
        totalMs.add(result.totalNanos / 1e6);
        inferenceMs.add(result.inferenceNanos / 1e6);
        if (label >= 0 && label < classes) {
            perClassTotal[label]++;
            if (top1 == label) {
                perClassCorrect[label]++;
                correct++;
            }
        }
        if (top1 != pythonTop1) {
            changed.add(file);
        }
        return new Outcome(top1, top1 >= 0 ? scores[top1] : Float.NaN, diff);
    }

    public int images() {
        return totalMs.size();
    }

    public int correct() {
        return correct;
    }

    public double accuracy() {
        return images() == 0 ? Double.NaN : (double) correct / images();
    }

    public int[] perClassCorrect() {
        return perClassCorrect.clone();
    }

    public int[] perClassTotal() {
        return perClassTotal.clone();
    }

    /** Files whose top-1 differs from Python's, in the order they were added. */
    public List<String> changed() {
        return Collections.unmodifiableList(changed);
    }

    public float maxScoreDiff() {
        return maxScoreDiff;
    }

    /** The whole classify call per image (pre-processing, inference, post-processing), in ms. */
    public double[] totalMs() {
        return toArray(totalMs);
    }

    public double[] inferenceMs() {
        return toArray(inferenceMs);
    }

    public static double mean(double[] values) {
        double sum = 0;
        for (double v : values) {
            sum += v;
        }
        return values.length == 0 ? Double.NaN : sum / values.length;
    }

    /** Linear interpolation between closest ranks, as numpy.percentile's default. */
    public static double percentile(double[] values, double q) {
        if (values.length == 0) {
            return Double.NaN;
        }
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        double rank = q / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(rank);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    /** Milliseconds as the report writes them (4 decimals, '.' separator). */
    public static String formatMs(double ms) {
        return String.format(Locale.ROOT, "%.4f", ms);
    }

    public static String join(int[] values) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < values.length; i++) {
            s.append(i == 0 ? "" : ",").append(values[i]);
        }
        return s.toString();
    }

    public static String join(List<String> values) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < values.size(); i++) {
            s.append(i == 0 ? "" : ",").append(values.get(i));
        }
        return s.toString();
    }

    private static double[] toArray(List<Double> values) {
        double[] out = new double[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }
}
