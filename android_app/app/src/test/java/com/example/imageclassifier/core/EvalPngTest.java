package com.example.imageclassifier.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assume.assumeTrue;

import java.awt.image.BufferedImage;
import java.io.File;
import javax.imageio.ImageIO;
import org.junit.Test;

/**
 * The evaluation images the APK carries are PNGs: a PNG decoder must give back exactly the
 * pixels Python classified (lossless, no colour management), or the device would be judged on
 * different pictures. Decoded here with the JDK's own decoder (the device uses BitmapFactory).
 */
public class EvalPngTest {
    @Test
    public void evalPngsDecodeToPythonsPixels() throws Exception {
        Goldens goldens = Goldens.load();
        int checked = 0;
        for (Goldens.Case k : goldens.cases) {
            if (!"eval".equals(k.source) || !"model".equals(k.model.key)) {
                continue;
            }
            File png = goldens.file(k.rgbPath.replaceAll("\\.rgb$", ".png"));
            BufferedImage image = ImageIO.read(png);
            assertNotNull(png + " is not a PNG the JDK can read", image);
            assertEquals(png + " width", k.width, image.getWidth());
            assertEquals(png + " height", k.height, image.getHeight());
            for (int y = 0; y < k.height; y++) {
                for (int x = 0; x < k.width; x++) {
                    int p = image.getRGB(x, y);
                    int i = 3 * (y * k.width + x);
                    int expected = (k.rgb[i] & 0xFF) << 16 | (k.rgb[i + 1] & 0xFF) << 8 | (k.rgb[i + 2] & 0xFF);
                    assertEquals(png + " pixel (" + x + ", " + y + ")", Integer.toHexString(expected),
                            Integer.toHexString(p & 0xFFFFFF));
                }
            }
            checked++;
        }
        assumeTrue("the golden vectors hold no eval images", checked > 0);
    }
}
