package com.example.imageclassifier.core;

/**
 * The one resize algorithm, ported line for line from {@code pipeline/imageops.py}
 * ({@code resize_rgb}): the training data and the app resize the same way, so the same RGB
 * pixels give the same bytes in Python and Java. Integer arithmetic only.
 *
 * <ol>
 *   <li>Box pre-shrink (only when a side is at least twice the target): factor
 *       {@code f = in / out} per axis; the image is centre-cropped to a multiple of {@code f}
 *       ({@code off = (in - (in / f) * f) / 2}) and every {@code fy x fx} block becomes its
 *       rounded mean {@code (sum + n / 2) / n}.</li>
 *   <li>Bilinear with half-pixel centres in 8-bit fixed point: for output column {@code x},
 *       {@code s = ((2x + 1) * inW * 256) / (2 * outW) - 128}, clamped to
 *       {@code [0, (inW - 1) * 256]}; {@code x0 = s >> 8}, {@code a = s & 255},
 *       {@code x1 = min(x0 + 1, inW - 1)}; rows likewise ({@code y0}, {@code b}, {@code y1});
 *       {@code h(y) = p[y][x0] * (256 - a) + p[y][x1] * a};
 *       {@code out = (h(y0) * (256 - b) + h(y1) * b + 32768) >> 16}.</li>
 * </ol>
 *
 * Images are packed RGB bytes, row-major, 3 bytes a pixel ({@code (y * w + x) * 3 + c}).
 */
public final class Resize {
    private Resize() {}

    /** Resizes packed RGB {@code src} (inH x inW) to outH x outW; returns a new array. */
    public static byte[] resizeRgb(byte[] src, int inH, int inW, int outH, int outW) {
        if (inH < 1 || inW < 1 || outH < 1 || outW < 1) {
            throw new IllegalArgumentException("sizes must be positive: " + inH + "x" + inW
                    + " -> " + outH + "x" + outW);
        }
        if (src.length != inH * inW * 3) {
            throw new IllegalArgumentException("expected " + inH * inW * 3 + " RGB bytes for "
                    + inH + "x" + inW + ", got " + src.length);
        }
        int fy = inH >= 2 * outH ? inH / outH : 1;
        int fx = inW >= 2 * outW ? inW / outW : 1;
        byte[] img = src;
        int h = inH;
        int w = inW;
        if (fy != 1 || fx != 1) {
            h = inH / fy;
            w = inW / fx;
            img = boxShrink(src, inW, fy, fx, h, w, (inH - h * fy) / 2, (inW - w * fx) / 2);
        }
        if (h == outH && w == outW) {
            return img == src ? src.clone() : img;
        }
        return bilinear(img, h, w, outH, outW);
    }

    private static byte[] boxShrink(byte[] src, int inW, int fy, int fx, int nh, int nw,
            int oy, int ox) {
        byte[] out = new byte[nh * nw * 3];
        int n = fy * fx;
        for (int y = 0; y < nh; y++) {
            for (int x = 0; x < nw; x++) {
                for (int c = 0; c < 3; c++) {
                    long sum = 0;
                    for (int dy = 0; dy < fy; dy++) {
                        int row = (oy + y * fy + dy) * inW;
                        for (int dx = 0; dx < fx; dx++) {
                            sum += src[(row + ox + x * fx + dx) * 3 + c] & 0xFF;
                        }
                    }
                    out[(y * nw + x) * 3 + c] = (byte) ((sum + n / 2) / n);
                }
            }
        }
        return out;
    }

    /** For each output index: {i0, i1, frac}. */
    private static int[][] axis(int inSize, int outSize) {
        int[][] table = new int[3][outSize];
        long max = (long) (inSize - 1) * 256;
        for (int x = 0; x < outSize; x++) {
            long s = ((2L * x + 1) * inSize * 256) / (2L * outSize) - 128;
            s = Math.max(0, Math.min(s, max));
            int i0 = (int) (s >> 8);
            table[0][x] = i0;
            table[1][x] = Math.min(i0 + 1, inSize - 1);
            table[2][x] = (int) (s & 255);
        }
        return table;
    }

    private static byte[] bilinear(byte[] src, int inH, int inW, int outH, int outW) {
        int[][] xs = axis(inW, outW);
        int[][] ys = axis(inH, outH);
        byte[] out = new byte[outH * outW * 3];
        for (int y = 0; y < outH; y++) {
            int r0 = ys[0][y] * inW;
            int r1 = ys[1][y] * inW;
            int b = ys[2][y];
            for (int x = 0; x < outW; x++) {
                int x0 = xs[0][x];
                int x1 = xs[1][x];
                int a = xs[2][x];
                for (int c = 0; c < 3; c++) {
                    int h0 = (src[(r0 + x0) * 3 + c] & 0xFF) * (256 - a)
                            + (src[(r0 + x1) * 3 + c] & 0xFF) * a;
                    int h1 = (src[(r1 + x0) * 3 + c] & 0xFF) * (256 - a)
                            + (src[(r1 + x1) * 3 + c] & 0xFF) * a;
                    out[(y * outW + x) * 3 + c] = (byte) ((h0 * (256 - b) + h1 * b + 32768) >> 16);
                }
            }
        }
        return out;
    }
}
