package com.example.imageclassifier.core;

import java.util.Locale;

/** One ranked class: its index in the model output, its label and its score (0..1). */
public final class Recognition {
    public final int index;
    public final String label;
    public final float score;

    public Recognition(int index, String label, float score) {
        this.index = index;
        this.label = label;
        this.score = score;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s (#%d) %.4f", label, index, score);
    }
}
