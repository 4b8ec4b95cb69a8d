package com.example.imageclassifier;

import android.content.Context;
import com.example.imageclassifier.core.Classifier;
import com.example.imageclassifier.core.ClassifierException;
import com.example.imageclassifier.core.ClassifierOptions;

/**
 * The Robolectric tests' flavor of the factory (same signature as the litert and mlkit ones):
 * the {@link ReplayClassifier} unless a test installs another {@link Maker}.
 */
public final class ClassifierFactory {
    /** Makes the classifier the app asks for. */
    public interface Maker {
        Classifier create(Context context, ClassifierOptions options) throws ClassifierException;
    }

    private static volatile Maker maker;

    private ClassifierFactory() {}

    /** Installs {@code m} for the next create() calls; null = the replay classifier. */
    public static void use(Maker m) {
        maker = m;
    }

    public static Classifier create(Context context, ClassifierOptions options)
            throws ClassifierException {
        Maker m = maker;
        return m != null ? m.create(context, options) : ReplayClassifier.create(context, options);
    }
}
