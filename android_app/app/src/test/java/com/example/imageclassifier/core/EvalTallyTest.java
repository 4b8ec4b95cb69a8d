package com.example.imageclassifier.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.Collections;
import org.junit.Test;

/** The on-device evaluation's arithmetic (what EvalInstrumentation reports), on the host JVM. */
public class EvalTallyTest {
    private static ClassificationResult result(long totalNanos, Recognition... top) {
        return new ClassificationResult(Arrays.asList(top), totalNanos / 2, totalNanos);
    }

    @Test
    public void countsAccuracyPerClassChangedImagesAndScoreDiffs() {
        EvalTally t = new EvalTally(3);
        // true 0, Python 0, app 0 (scores 0.75/0.25/0 vs Python's 0.7/0.3/0)
        EvalTally.Outcome a = t.add("a.png", 0, 0, new float[] {0.7f, 0.3f, 0f},
                result(1_000_000, new Recognition(0, "x", 0.75f), new Recognition(1, "y", 0.25f),
                        new Recognition(2, "z", 0f)));
        assertEquals(0, a.top1);
        assertEquals(0.75f, a.score, 0f);
        assertEquals(0.05f, a.maxScoreDiff, 1e-6f);
        // true 1, Python 1, app 2: wrong and changed
        t.add("b.png", 1, 1, new float[] {0f, 0.6f, 0.4f},
                result(3_000_000, new Recognition(2, "z", 0.6f), new Recognition(1, "y", 0.4f),
                        new Recognition(0, "x", 0f)));
        // true 2, Python 0, app 2: right, but changed from Python's
        t.add("c.png", 2, 0, new float[] {0.5f, 0f, 0.5f},
                result(2_000_000, new Recognition(2, "z", 0.5f), new Recognition(0, "x", 0.5f),
                        new Recognition(1, "y", 0f)));
        assertEquals(3, t.images());
        assertEquals(2, t.correct());
        assertEquals(2.0 / 3, t.accuracy(), 0);
        assertArrayEquals(new int[] {1, 0, 1}, t.perClassCorrect());
        assertArrayEquals(new int[] {1, 1, 1}, t.perClassTotal());
        assertEquals(Arrays.asList("b.png", "c.png"), t.changed());
        assertEquals(0.2f, t.maxScoreDiff(), 1e-6f);
        assertEquals(2.0, EvalTally.mean(t.totalMs()), 1e-12);
        assertEquals(1.0, EvalTally.mean(t.inferenceMs()), 1e-12);
        assertEquals("1,0,1", EvalTally.join(t.perClassCorrect()));
        assertEquals("b.png,c.png", EvalTally.join(t.changed()));
    }

    @Test
    public void aClassLeftOutOfTheRankingIsAnInfiniteDiffAndNoRankingIsTopMinusOne() {
        EvalTally t = new EvalTally(2);
        EvalTally.Outcome partial = t.add("a", 0, 0, new float[] {0.9f, 0.1f},
                result(1, new Recognition(0, "x", 0.9f)));
        assertEquals(Float.POSITIVE_INFINITY, partial.maxScoreDiff, 0f);
        EvalTally.Outcome none = t.add("b", 1, 1, new float[] {0.4f, 0.6f},
                new ClassificationResult(Collections.<Recognition>emptyList(), 0, 0));
        assertEquals(-1, none.top1);
        assertTrue(Float.isNaN(none.score));
        assertEquals(Arrays.asList("b"), t.changed());
        assertEquals(1, t.correct());
    }

    @Test
    public void aLabelOutsideTheClassesIsNotCounted() {
        EvalTally t = new EvalTally(2);
        t.add("a", 5, 0, new float[] {1f, 0f}, result(1, new Recognition(0, "x", 1f), new Recognition(1, "y", 0f)));
        assertEquals(0, t.correct());
        assertArrayEquals(new int[] {0, 0}, t.perClassTotal());
        assertEquals(0.0, t.accuracy(), 0);
    }

    @Test
    public void percentileInterpolatesAsNumpy() {
        double[] v = {4, 1, 3, 2, 10};
        assertEquals(7.6, EvalTally.percentile(v, 90), 1e-12); // numpy.percentile([4,1,3,2,10], 90)
        assertEquals(3.0, EvalTally.percentile(v, 50), 1e-12);
        assertEquals(1.0, EvalTally.percentile(v, 0), 1e-12);
        assertEquals(10.0, EvalTally.percentile(v, 100), 1e-12);
        assertTrue(Double.isNaN(EvalTally.percentile(new double[0], 90)));
        assertTrue(Double.isNaN(EvalTally.mean(new double[0])));
        assertEquals("1.2346", EvalTally.formatMs(1.23456));
    }
}
