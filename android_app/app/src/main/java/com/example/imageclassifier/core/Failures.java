package com.example.imageclassifier.core;

/**
 * One readable line for any failure the UI shows, never "null": an {@code Error} such as
 * {@code UnsatisfiedLinkError} (a device that refuses the runtime's native library) or
 * {@code OutOfMemoryError} (a very large photo) is named and explained, as is an exception
 * without a message.
 */
public final class Failures {
    private Failures() {}

    /** What went wrong, in one line a user can act on. */
    public static String describe(Throwable t) {
        if (t == null) {
            return "unknown error";
        }
        String message = t.getMessage();
        if (t instanceof OutOfMemoryError) {
            return "not enough memory for this image (OutOfMemoryError"
                    + (blank(message) ? "" : ": " + oneLine(message)) + "); try a smaller one";
        }
        if (t instanceof UnsatisfiedLinkError) {
            return "the runtime's native library cannot be loaded on this device ("
                    + (blank(message) ? "UnsatisfiedLinkError" : oneLine(message)) + ")";
        }
        if (t instanceof ClassifierException || t instanceof ModelException) {
            if (!blank(message)) {
                return oneLine(message);
            }
        }
        String name = t.getClass().getSimpleName();
        if (blank(message)) {
            Throwable cause = t.getCause();
            return cause != null && cause != t ? name + " (" + describe(cause) + ")" : name;
        }
        return name + ": " + oneLine(message);
    }

    private static boolean blank(String s) {
        return s == null || s.trim().isEmpty() || "null".equals(s.trim());
    }

    private static String oneLine(String s) {
        return s.replaceAll("\\s*[\\r\\n]+\\s*", " ").trim();
    }
}
