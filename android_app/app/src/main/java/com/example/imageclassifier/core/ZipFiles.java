package com.example.imageclassifier.core;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Reads one file from the zip archive that TFLite metadata appends to a model (the "associated
 * files", e.g. {@code labels.txt}). The model is a flatbuffer at the start and a zip at the end,
 * so the archive is found from its end-of-central-directory record, as any zip reader does.
 *
 * <p>Writers differ in whether the offsets inside count from the start of the file or from the
 * start of the appended archive; both are accepted. Entries may be stored or deflated.
 */
final class ZipFiles {
    private static final int EOCD_SIGNATURE = 0x06054b50;
    private static final int CENTRAL_SIGNATURE = 0x02014b50;
    private static final int LOCAL_SIGNATURE = 0x04034b50;
    private static final int EOCD_MIN_SIZE = 22;
    private static final int MAX_COMMENT = 0xFFFF;

    private ZipFiles() {}

    /** The bytes of entry {@code name}, or null when the data has no archive or no such entry. */
    static byte[] read(ByteBuffer data, String name) throws ModelException {
        ByteBuffer buf = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int eocd = findEndOfCentralDirectory(buf);
        if (eocd < 0) {
            return null;
        }
        int entries = buf.getShort(eocd + 10) & 0xFFFF;
        long cdSize = buf.getInt(eocd + 12) & 0xFFFFFFFFL;
        long cdOffset = buf.getInt(eocd + 16) & 0xFFFFFFFFL;
        long cdStart = eocd - cdSize;
        // Where the archive really starts minus where it says its offsets start from.
        long shift = cdStart - cdOffset;
        if (cdStart < 0 || shift < 0) {
            throw new ModelException("the zip of associated files appended to the model is damaged");
        }
        int at = (int) cdStart;
        Charset utf8 = Charset.forName("UTF-8");
        for (int i = 0; i < entries; i++) {
            if (buf.getInt(at) != CENTRAL_SIGNATURE) {
                throw new ModelException("the zip of associated files has a bad central directory");
            }
            int method = buf.getShort(at + 10) & 0xFFFF;
            long compressedSize = buf.getInt(at + 20) & 0xFFFFFFFFL;
            long size = buf.getInt(at + 24) & 0xFFFFFFFFL;
            int nameLength = buf.getShort(at + 28) & 0xFFFF;
            int extraLength = buf.getShort(at + 30) & 0xFFFF;
            int commentLength = buf.getShort(at + 32) & 0xFFFF;
            long localOffset = buf.getInt(at + 42) & 0xFFFFFFFFL;
            byte[] nameBytes = new byte[nameLength];
            for (int k = 0; k < nameLength; k++) {
                nameBytes[k] = buf.get(at + 46 + k);
            }
            if (name.equals(new String(nameBytes, utf8))) {
                int local = localHeader(buf, localOffset, shift);
                int dataStart = local + 30 + (buf.getShort(local + 26) & 0xFFFF)
                        + (buf.getShort(local + 28) & 0xFFFF);
                return contents(buf, dataStart, method, compressedSize, size, name);
            }
            at += 46 + nameLength + extraLength + commentLength;
        }
        return null;
    }

    private static int findEndOfCentralDirectory(ByteBuffer buf) {
        int last = buf.limit() - EOCD_MIN_SIZE;
        int first = Math.max(0, last - MAX_COMMENT);
        for (int at = last; at >= first; at--) {
            if (buf.getInt(at) == EOCD_SIGNATURE
                    && at + EOCD_MIN_SIZE + (buf.getShort(at + 20) & 0xFFFF) == buf.limit()) {
                return at;
            }
        }
        return -1;
    }

    private static int localHeader(ByteBuffer buf, long offset, long shift) throws ModelException {
        long[] candidates = {offset + shift, offset};
        for (long candidate : candidates) {
            if (candidate >= 0 && candidate + 30 <= buf.limit()
                    && buf.getInt((int) candidate) == LOCAL_SIGNATURE) {
                return (int) candidate;
            }
        }
        throw new ModelException("the zip of associated files points at a missing entry header");
    }

    private static byte[] contents(ByteBuffer buf, int start, int method, long compressedSize,
            long size, String name) throws ModelException {
        if (start + compressedSize > buf.limit() || size > Integer.MAX_VALUE) {
            throw new ModelException("associated file " + name + " runs past the end of the model");
        }
        byte[] packed = new byte[(int) compressedSize];
        for (int i = 0; i < packed.length; i++) {
            packed[i] = buf.get(start + i);
        }
        if (method == 0) {
            return packed;
        }
        if (method != 8) {
            throw new ModelException("associated file " + name + " uses zip method " + method
                    + "; only stored (0) and deflated (8) are supported");
        }
        Inflater inflater = new Inflater(true);
        try {
            inflater.setInput(packed);
            ByteArrayOutputStream out = new ByteArrayOutputStream((int) size);
            byte[] chunk = new byte[8192];
            while (!inflater.finished()) {
                int n = inflater.inflate(chunk);
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
                out.write(chunk, 0, n);
            }
            return out.toByteArray();
        } catch (DataFormatException e) {
            throw new ModelException("associated file " + name + " is not valid deflate data");
        } finally {
            inflater.end();
        }
    }
}
