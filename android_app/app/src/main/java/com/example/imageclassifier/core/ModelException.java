package com.example.imageclassifier.core;

/** The model cannot be used by the app: says what is wrong and, where it can, how to fix it. */
public class ModelException extends Exception {
    public ModelException(String message) {
        super(message);
    }

    public ModelException(String message, Throwable cause) {
        super(message, cause);
    }
}
