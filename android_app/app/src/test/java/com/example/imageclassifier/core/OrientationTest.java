package com.example.imageclassifier.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.io.ByteArrayOutputStream;
import org.junit.Test;

/**
 * EXIF orientation: reading the tag from JPEG bytes (both byte orders, after other segments,
 * absent or garbage) and turning the pixels upright exactly as Pillow's exif_transpose does.
 */
public class OrientationTest {
    /** A 3 x 2 image whose pixel values are their stored index (0..5, row-major). */
    private static final int W = 3;
    private static final int H = 2;
    private static final int[] STORED = {0, 1, 2, 3, 4, 5};

    /**
     * {orientation, upright width, upright height, pixels...}: what PIL.ImageOps.exif_transpose
     * gives for STORED (tests/test_jvm.py checks this table against Pillow).
     */
    static final int[][] PIL_UPRIGHT = {
        {1, 3, 2, 0, 1, 2, 3, 4, 5},
        {2, 3, 2, 2, 1, 0, 5, 4, 3},
        {3, 3, 2, 5, 4, 3, 2, 1, 0},
        {4, 3, 2, 3, 4, 5, 0, 1, 2},
        {5, 2, 3, 0, 3, 1, 4, 2, 5},
        {6, 2, 3, 3, 0, 4, 1, 5, 2},
        {7, 2, 3, 5, 2, 4, 1, 3, 0},
        {8, 2, 3, 2, 5, 1, 4, 0, 3},
    };

    @Test
    public void everyOrientationTurnsPixelsAsPillowDoes() {
        for (int[] golden : PIL_UPRIGHT) {
            Orientation.Oriented o = Orientation.apply(STORED.clone(), W, H, golden[0]);
            String what = "orientation " + golden[0];
            assertEquals(what + " width", golden[1], o.width);
            assertEquals(what + " height", golden[2], o.height);
            int[] pixels = new int[golden.length - 3];
            System.arraycopy(golden, 3, pixels, 0, pixels.length);
            assertArrayEquals(what, pixels, o.argb);
        }
    }

    @Test
    public void valuesOutsideOneToEightLeaveThePixelsAsStored() {
        for (int value : new int[] {0, 9, -1, 255}) {
            Orientation.Oriented o = Orientation.apply(STORED, W, H, value);
            assertEquals(W, o.width);
            assertArrayEquals(STORED, o.argb);
        }
    }

    @Test
    public void readsTheTagInBothByteOrdersAndAfterOtherSegments() {
        for (int value = 1; value <= 8; value++) {
            assertEquals("II " + value, value, Orientation.read(jpeg(exif(value, true, 0), true)));
            assertEquals("MM " + value, value, Orientation.read(jpeg(exif(value, false, 0), true)));
            assertEquals("third tag " + value, value, Orientation.read(jpeg(exif(value, true, 2), false)));
        }
    }

    @Test
    public void missingOrGarbageExifIsNormal() {
        assertEquals(Orientation.NORMAL, Orientation.read(new byte[0]));
        assertEquals(Orientation.NORMAL, Orientation.read(new byte[] {(byte) 0xFF, (byte) 0xD8}));
        assertEquals(Orientation.NORMAL, Orientation.read(jpeg(null, true))); // JFIF only
        byte[] png = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13};
        assertEquals(Orientation.NORMAL, Orientation.read(png));
        byte[] good = jpeg(exif(6, true, 0), true);
        for (int cut = 4; cut < good.length - 4; cut++) { // truncated anywhere: never throws
            byte[] part = new byte[cut];
            System.arraycopy(good, 0, part, 0, cut);
            int got = Orientation.read(part);
            assertEquals("cut at " + cut, true, got == Orientation.NORMAL || got == 6);
        }
        byte[] badMagic = exif(6, true, 0);
        badMagic[6] = 'X'; // "XI" instead of "II"
        assertEquals(Orientation.NORMAL, Orientation.read(jpeg(badMagic, true)));
        assertEquals(Orientation.NORMAL, Orientation.read(jpeg(exif(0, true, 0), true)));
        assertEquals(Orientation.NORMAL, Orientation.read(jpeg(exif(9, false, 0), true)));
        java.util.Random random = new java.util.Random(1);
        for (int i = 0; i < 200; i++) {
            byte[] noise = new byte[1 + random.nextInt(64)];
            random.nextBytes(noise);
            noise[0] = (byte) 0xFF;
            if (noise.length > 1) {
                noise[1] = (byte) 0xD8;
            }
            int got = Orientation.read(noise);
            assertEquals(true, got >= 1 && got <= 8);
        }
    }

    /** An APP1 Exif payload ("Exif\0\0" + TIFF) with the orientation as tag number {@code at}. */
    static byte[] exif(int orientation, boolean little, int at) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write('E'); b.write('x'); b.write('i'); b.write('f'); b.write(0); b.write(0);
        b.write(little ? 'I' : 'M'); b.write(little ? 'I' : 'M');
        u16(b, 42, little);
        u32(b, 8, little); // IFD0 right after the header
        int entries = at + 1;
        u16(b, entries, little);
        for (int i = 0; i < entries; i++) {
            boolean mine = i == at;
            u16(b, mine ? 0x0112 : 0x010F + i, little); // tag (others: Make, Model...)
            u16(b, 3, little); // SHORT
            u32(b, 1, little);
            u16(b, mine ? orientation : 7, little);
            u16(b, 0, little);
        }
        u32(b, 0, little); // no next IFD
        return b.toByteArray();
    }

    /** SOI, optionally APP0 (JFIF) first, then APP1 with {@code app1}, then SOS. */
    static byte[] jpeg(byte[] app1, boolean jfifFirst) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(0xFF); b.write(0xD8);
        if (jfifFirst || app1 == null) {
            b.write(0xFF); b.write(0xE0);
            u16(b, 16, false);
            byte[] jfif = {'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0};
            b.write(jfif, 0, jfif.length);
        }
        if (app1 != null) {
            b.write(0xFF); b.write(0xE1);
            u16(b, app1.length + 2, false);
            b.write(app1, 0, app1.length);
        }
        b.write(0xFF); b.write(0xDA);
        u16(b, 2, false);
        return b.toByteArray();
    }

    private static void u16(ByteArrayOutputStream b, int v, boolean little) {
        if (little) {
            b.write(v & 0xFF); b.write((v >> 8) & 0xFF);
        } else {
            b.write((v >> 8) & 0xFF); b.write(v & 0xFF);
        }
    }

    private static void u32(ByteArrayOutputStream b, int v, boolean little) {
        if (little) {
            u16(b, v & 0xFFFF, true); u16(b, (v >>> 16) & 0xFFFF, true);
        } else {
            u16(b, (v >>> 16) & 0xFFFF, false); u16(b, v & 0xFFFF, false);
        }
    }
}
