package com.example.imageclassifier.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Output-tensor bytes to ranked labels. A quantized output is dequantized with the tensor's
 * own parameters, {@code score = (q - zeroPoint) * scale} (float32); a FLOAT32 output is read
 * little-endian. Ranking: score descending, ties by class index ascending.
 */
public final class OutputDecoder {
    private OutputDecoder() {}

    /** One score per class, in class order. */
    public static float[] scores(byte[] output, ModelInfo model) {
        int n = model.numClasses();
        if (output.length != n * model.outputType.bytes) {
            throw new IllegalArgumentException("expected " + n * model.outputType.bytes
                    + " output bytes for " + n + " " + model.outputType + " scores, got "
                    + output.length);
        }
        float[] scores = new float[n];
        switch (model.outputType) {
            case UINT8:
                for (int i = 0; i < n; i++) {
                    scores[i] = ((output[i] & 0xFF) - model.outputZeroPoint) * model.outputScale;
                }
                break;
            case INT8:
                for (int i = 0; i < n; i++) {
                    scores[i] = (output[i] - model.outputZeroPoint) * model.outputScale;
                }
                break;
            default:
                ByteBuffer buf = ByteBuffer.wrap(output).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < n; i++) {
                    scores[i] = buf.getFloat(4 * i);
                }
        }
        return scores;
    }

    /** The best {@code maxResults} classes with a score of at least {@code minScore}. */
    public static List<Recognition> top(float[] scores, List<String> labels, int maxResults,
            float minScore) {
        Integer[] order = new Integer[scores.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        final float[] s = scores;
        Arrays.sort(order, new Comparator<Integer>() {
            @Override
            public int compare(Integer a, Integer b) {
                int byScore = Float.compare(s[b], s[a]);
                return byScore != 0 ? byScore : a.compareTo(b);
            }
        });
        List<Recognition> out = new ArrayList<Recognition>();
        for (int i = 0; i < order.length && out.size() < maxResults; i++) {
            int k = order[i];
            if (scores[k] < minScore) {
                break;
            }
            out.add(new Recognition(k, labels.get(k), scores[k]));
        }
        return out;
    }

    /** {@link #scores} then {@link #top} with the model's labels. */
    public static List<Recognition> decode(byte[] output, ModelInfo model, int maxResults,
            float minScore) {
        return top(scores(output, model), model.labels, maxResults, minScore);
    }
}
