package com.example.imageclassifier.core;

import java.io.Closeable;

/**
 * Labels an image with the bundled model. One implementation per runtime (LiteRT interpreter,
 * ML Kit custom image labeler); the UI and the instrumentation only see this interface.
 * Not thread-safe: call from one background thread.
 */
public interface Classifier extends Closeable {
    /** Classifies {@code width x height} ARGB pixels (row-major, as Bitmap.getPixels gives). */
    ClassificationResult classify(int[] argb, int width, int height) throws ClassifierException;

    /** What the model says about itself (labels, input, normalization). */
    ModelInfo modelInfo();

    /** Short runtime name for the UI and reports, e.g. "LiteRT". */
    String runtimeName();

    /** Releases the runtime; the classifier cannot be used afterwards. */
    @Override
    void close();
}
