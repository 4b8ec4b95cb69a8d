package com.example.imageclassifier.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

/** What the UI shows for a failure: one readable line, never "null". */
public class FailuresTest {
    @Test
    public void errorsWithoutAMessageAreNamedAndExplained() {
        assertEquals("not enough memory for this image (OutOfMemoryError); try a smaller one",
                Failures.describe(new OutOfMemoryError()));
        assertEquals("the runtime's native library cannot be loaded on this device (UnsatisfiedLinkError)",
                Failures.describe(new UnsatisfiedLinkError()));
        assertEquals("the runtime's native library cannot be loaded on this device (no libfoo.so in /x)",
                Failures.describe(new UnsatisfiedLinkError("no libfoo.so\nin /x")));
        assertEquals("IllegalStateException", Failures.describe(new IllegalStateException()));
        assertEquals("NullPointerException", Failures.describe(new NullPointerException("null")));
        assertEquals("unknown error", Failures.describe(null));
    }

    @Test
    public void messagesAreKeptOnOneLineAndCausesNamed() {
        assertEquals("the model is bad", Failures.describe(new ClassifierException("the model is bad")));
        assertEquals("IllegalArgumentException: bad size 3 x 0",
                Failures.describe(new IllegalArgumentException("bad size\r\n3 x 0")));
        assertEquals("RuntimeException (not enough memory for this image (OutOfMemoryError); try a smaller one)",
                Failures.describe(new RuntimeException((String) null, new OutOfMemoryError())));
        assertEquals("ClassifierException (IllegalStateException: closed)",
                Failures.describe(new ClassifierException(null, new IllegalStateException("closed"))));
    }
}
