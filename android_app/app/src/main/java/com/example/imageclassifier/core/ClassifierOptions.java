package com.example.imageclassifier.core;

/**
 * App-side settings of a classifier (not facts about the model, which come from its metadata).
 */
public final class ClassifierOptions {
    /** How many ranked labels to return. */
    public final int maxResults;
    /** Labels scoring below this are not returned (ML Kit's confidence threshold). */
    public final float confidenceThreshold;
    /** Interpreter threads (LiteRT only). */
    public final int numThreads;

    public ClassifierOptions(int maxResults, float confidenceThreshold, int numThreads) {
        if (maxResults < 1) {
            throw new IllegalArgumentException("maxResults must be >= 1, got " + maxResults);
        }
        if (!(confidenceThreshold >= 0f && confidenceThreshold <= 1f)) {
            throw new IllegalArgumentException(
                    "confidenceThreshold must be in [0, 1], got " + confidenceThreshold);
        }
        if (numThreads < 1) {
            throw new IllegalArgumentException("numThreads must be >= 1, got " + numThreads);
        }
        this.maxResults = maxResults;
        this.confidenceThreshold = confidenceThreshold;
        this.numThreads = numThreads;
    }

    /** What the UI shows: the top 3, whatever their score, on 2 threads. */
    public static ClassifierOptions forUi() {
        return new ClassifierOptions(3, 0f, 2);
    }
}
