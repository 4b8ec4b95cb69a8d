package com.example.imageclassifier.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import org.junit.Test;

/**
 * The app reads the real {@code .tflite} files (metadata, labels, normalization, tensor types and
 * quantization) and must see what Python's reader ({@code pipeline/metadata.py read_metadata})
 * and the interpreter see.
 */
public class ModelInfoGoldenTest {
    @Test
    public void javaReadsWhatPythonReads() throws Exception {
        Goldens goldens = Goldens.load();
        assertFalse("models.tsv lists no model", goldens.models.isEmpty());
        for (Goldens.Model m : goldens.models.values()) {
            ModelInfo info = ModelInfo.read(ByteBuffer.wrap(m.bytes));
            String at = m.key + ": ";
            assertEquals(at + "labels", m.labels, info.labels);
            assertEquals(at + "classes", m.classes, info.numClasses());
            assertEquals(at + "input height", m.height, info.inputHeight);
            assertEquals(at + "input width", m.width, info.inputWidth);
            assertEquals(at + "input type", m.inputType, info.inputType.name());
            assertEquals(at + "output type", m.outputType, info.outputType.name());
            assertBits(at + "input scale", m.inputScale, info.inputScale);
            assertEquals(at + "input zero point", m.inputZeroPoint, info.inputZeroPoint);
            assertBits(at + "output scale", m.outputScale, info.outputScale);
            assertEquals(at + "output zero point", m.outputZeroPoint, info.outputZeroPoint);
            assertTrue(at + "the app found no normalization in the metadata", info.mean != null);
            assertArrayEquals(at + "normalization mean", m.mean, info.mean, 0f);
            assertArrayEquals(at + "normalization std", m.std, info.std, 0f);
        }
    }

    private static void assertBits(String what, float python, float java) {
        assertEquals(what + " (Python " + python + ", Java " + java + ")",
                Float.floatToIntBits(python), Float.floatToIntBits(java));
    }
}
