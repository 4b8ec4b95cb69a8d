package com.example.imageclassifier.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Pixels to input-tensor bytes, following the model's metadata (docs/CONVENTIONS.md):
 * RGB uint8 pixels {@code p} are resized with {@link Resize} to the input size; a UINT8 input
 * receives {@code p} unchanged, a FLOAT32 input receives {@code (p - mean) / std} per channel
 * (IEEE float32 arithmetic, stored little-endian, as the interpreter reads it on Android).
 */
public final class InputEncoder {
    private InputEncoder() {}

    /** Packs ARGB pixels (as from {@code Bitmap.getPixels}) into RGB bytes; alpha is dropped. */
    public static byte[] argbToRgb(int[] argb, int width, int height) {
        if (argb.length != width * height) {
            throw new IllegalArgumentException("expected " + width * height + " pixels for "
                    + width + "x" + height + ", got " + argb.length);
        }
        byte[] rgb = new byte[argb.length * 3];
        for (int i = 0; i < argb.length; i++) {
            int p = argb[i];
            rgb[3 * i] = (byte) (p >> 16);
            rgb[3 * i + 1] = (byte) (p >> 8);
            rgb[3 * i + 2] = (byte) p;
        }
        return rgb;
    }

    /** The exact input tensor bytes for an image given as ARGB pixels. */
    public static byte[] encode(int[] argb, int width, int height, ModelInfo model) {
        return encodeRgb(argbToRgb(argb, width, height), width, height, model);
    }

    /** The exact input tensor bytes for an image given as packed RGB bytes (h x w x 3). */
    public static byte[] encodeRgb(byte[] rgb, int width, int height, ModelInfo model) {
        byte[] resized = Resize.resizeRgb(rgb, height, width, model.inputHeight, model.inputWidth);
        if (model.inputType == TensorType.UINT8) {
            return resized;
        }
        ByteBuffer out = ByteBuffer.allocate(resized.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < resized.length; i++) {
            int c = i % 3;
            out.putFloat(((float) (resized[i] & 0xFF) - model.mean[c]) / model.std[c]);
        }
        return out.array();
    }
}
