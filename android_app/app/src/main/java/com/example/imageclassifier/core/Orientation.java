package com.example.imageclassifier.core;

/**
 * EXIF orientation, as Python's loader applies it ({@code PIL.ImageOps.exif_transpose} in
 * {@code pipeline/imageops.py load_rgb}): Android's BitmapFactory ignores the tag, so a photo
 * from a phone camera would otherwise reach the model sideways.
 */
public final class Orientation {
    /** EXIF value meaning "as stored". */
    public static final int NORMAL = 1;

    private static final int TAG_ORIENTATION = 0x0112;

    private Orientation() {}

    /** The EXIF orientation (1..8) of JPEG bytes; {@link #NORMAL} when absent or not JPEG. */
    public static int read(byte[] jpeg) {
        try {
            return parse(jpeg);
        } catch (IndexOutOfBoundsException e) {
            return NORMAL;
        }
    }

    private static int parse(byte[] b) {
        if (b.length < 4 || (b[0] & 0xFF) != 0xFF || (b[1] & 0xFF) != 0xD8) {
            return NORMAL;
        }
        int at = 2;
        while (at + 4 <= b.length) {
            if ((b[at] & 0xFF) != 0xFF) {
                return NORMAL;
            }
            int marker = b[at + 1] & 0xFF;
            if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)
                    || marker == 0xFF) {
                at += marker == 0xFF ? 1 : 2;
                continue;
            }
            if (marker == 0xDA || marker == 0xD9) {
                return NORMAL; // start of scan / end of image: no EXIF before the pixels
            }
            int length = u16(b, at + 2, false);
            int body = at + 4;
            if (marker == 0xE1 && length >= 14 && b[body] == 'E' && b[body + 1] == 'x'
                    && b[body + 2] == 'i' && b[body + 3] == 'f' && b[body + 4] == 0) {
                return fromTiff(b, body + 6);
            }
            at += 2 + length;
        }
        return NORMAL;
    }

    private static int fromTiff(byte[] b, int tiff) {
        boolean little;
        if (b[tiff] == 'I' && b[tiff + 1] == 'I') {
            little = true;
        } else if (b[tiff] == 'M' && b[tiff + 1] == 'M') {
            little = false;
        } else {
            return NORMAL;
        }
        int ifd = tiff + u32(b, tiff + 4, little);
        int entries = u16(b, ifd, little);
        for (int i = 0; i < entries; i++) {
            int entry = ifd + 2 + 12 * i;
            if (u16(b, entry, little) == TAG_ORIENTATION) {
                int value = u16(b, entry + 8, little);
                return value >= 1 && value <= 8 ? value : NORMAL;
            }
        }
        return NORMAL;
    }

    private static int u16(byte[] b, int at, boolean little) {
        int lo = little ? b[at] & 0xFF : b[at + 1] & 0xFF;
        int hi = little ? b[at + 1] & 0xFF : b[at] & 0xFF;
        return (hi << 8) | lo;
    }

    private static int u32(byte[] b, int at, boolean little) {
        int lo = u16(b, little ? at : at + 2, little);
        int hi = u16(b, little ? at + 2 : at, little);
        return (hi << 16) | lo;
    }

    /** Pixels and their size after applying an EXIF orientation. */
    public static final class Oriented {
        public final int[] argb;
        public final int width;
        public final int height;

        Oriented(int[] argb, int width, int height) {
            this.argb = argb;
            this.width = width;
            this.height = height;
        }
    }

    /**
     * Turns stored pixels upright, exactly as {@code exif_transpose}: 2 mirror, 3 rotate 180,
     * 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise.
     */
    public static Oriented apply(int[] argb, int width, int height, int orientation) {
        if (orientation <= NORMAL || orientation > 8) {
            return new Oriented(argb, width, height);
        }
        boolean swap = orientation >= 5;
        int ow = swap ? height : width;
        int oh = swap ? width : height;
        int[] out = new int[argb.length];
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int sx;
                int sy;
                switch (orientation) {
                    case 2: sx = width - 1 - x; sy = y; break;
                    case 3: sx = width - 1 - x; sy = height - 1 - y; break;
                    case 4: sx = x; sy = height - 1 - y; break;
                    case 5: sx = y; sy = x; break;
                    case 6: sx = y; sy = height - 1 - x; break;
                    case 7: sx = width - 1 - y; sy = height - 1 - x; break;
                    default: sx = width - 1 - y; sy = x; break; // 8
                }
                out[y * ow + x] = argb[sy * width + sx];
            }
        }
        return new Oriented(out, ow, oh);
    }
}
