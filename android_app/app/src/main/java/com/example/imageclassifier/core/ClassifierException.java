package com.example.imageclassifier.core;

/** The runtime failed to load the model or to classify an image. */
public class ClassifierException extends Exception {
    public ClassifierException(String message) {
        super(message);
    }

    public ClassifierException(String message, Throwable cause) {
        super(message, cause);
    }
}
