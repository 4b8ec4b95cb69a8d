package com.example.imageclassifier;

import android.content.Context;
import com.example.imageclassifier.core.Classifier;
import com.example.imageclassifier.core.ClassifierException;
import com.example.imageclassifier.core.ClassifierOptions;
import com.example.imageclassifier.mlkit.MlKitClassifier;

/**
 * The {@code mlkit} flavor's classifier: ML Kit's custom image labeler on the bundled model.
 * (The {@code litert} flavor has its own ClassifierFactory with the same signature.)
 */
public final class ClassifierFactory {
    private ClassifierFactory() {}

    public static Classifier create(Context context, ClassifierOptions options)
            throws ClassifierException {
        return new MlKitClassifier(context, options);
    }
}
