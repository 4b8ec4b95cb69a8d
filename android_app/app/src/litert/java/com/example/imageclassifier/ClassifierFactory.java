package com.example.imageclassifier;

import android.content.Context;
import com.example.imageclassifier.core.Classifier;
import com.example.imageclassifier.core.ClassifierException;
import com.example.imageclassifier.core.ClassifierOptions;
import com.example.imageclassifier.litert.LiteRtClassifier;

/**
 * The {@code litert} flavor's classifier: the LiteRT interpreter on the memory-mapped model.
 * (The {@code mlkit} flavor has its own ClassifierFactory with the same signature.)
 */
public final class ClassifierFactory {
    private ClassifierFactory() {}

    public static Classifier create(Context context, ClassifierOptions options)
            throws ClassifierException {
        return new LiteRtClassifier(ModelAssets.mapModel(context), options);
    }
}
