package com.example.imageclassifier.core;

import java.util.Collections;
import java.util.List;

/** What one classification returns: ranked labels and how long it took. */
public final class ClassificationResult {
    /** Best first; at most {@link ClassifierOptions#maxResults} entries. */
    public final List<Recognition> top;
    /** Time inside the runtime (interpreter run or ML Kit call), nanoseconds. */
    public final long inferenceNanos;
    /** Time of the whole call (pre-processing, inference, post-processing), nanoseconds. */
    public final long totalNanos;

    public ClassificationResult(List<Recognition> top, long inferenceNanos, long totalNanos) {
        this.top = Collections.unmodifiableList(top);
        this.inferenceNanos = inferenceNanos;
        this.totalNanos = totalNanos;
    }
}
