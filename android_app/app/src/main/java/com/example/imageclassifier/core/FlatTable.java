package com.example.imageclassifier.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;

/**
 * A read-only view of one FlatBuffers table: just enough of the format to read the TFLite model
 * schema and the TFLite metadata schema without a library.
 *
 * <p>Format (all little-endian): a table starts with an int32 offset back to its vtable; the
 * vtable holds uint16 sizes and then one uint16 offset per field (0 = field absent). Tables,
 * vectors and strings are referenced by a uint32 offset relative to where it is stored. A vector
 * (and a string) starts with its uint32 length. Field numbers below are the schema's field order
 * (the n-th field of a table is number n, counting from 0).
 *
 * <p>Bad offsets raise {@link IndexOutOfBoundsException}; {@link ModelInfo} turns them into a
 * {@link ModelException}.
 */
final class FlatTable {
    private static final Charset UTF8 = Charset.forName("UTF-8");

    private final ByteBuffer buf;
    private final int pos;

    private FlatTable(ByteBuffer buf, int pos) {
        this.buf = buf;
        this.pos = pos;
    }

    /** The root table of a flatbuffer that starts at index 0 of {@code data}. */
    static FlatTable root(ByteBuffer data) {
        ByteBuffer le = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        return new FlatTable(le, le.getInt(0));
    }

    /** The 4-character file identifier stored at bytes 4..7, or "" when too short. */
    static String fileIdentifier(ByteBuffer data) {
        if (data.limit() < 8) {
            return "";
        }
        byte[] id = new byte[4];
        for (int i = 0; i < 4; i++) {
            id[i] = data.get(4 + i);
        }
        return new String(id, Charset.forName("ISO-8859-1"));
    }

    /** Absolute position of field {@code field}'s value, or 0 when absent. */
    private int field(int field) {
        int vtable = pos - buf.getInt(pos);
        int vtableSize = buf.getShort(vtable) & 0xFFFF;
        int slot = 4 + 2 * field;
        if (slot >= vtableSize) {
            return 0;
        }
        int offset = buf.getShort(vtable + slot) & 0xFFFF;
        return offset == 0 ? 0 : pos + offset;
    }

    private int indirect(int at) {
        return at + buf.getInt(at);
    }

    boolean has(int field) {
        return field(field) != 0;
    }

    int getByte(int field, int defaultValue) {
        int at = field(field);
        return at == 0 ? defaultValue : buf.get(at);
    }

    int getUByte(int field, int defaultValue) {
        int at = field(field);
        return at == 0 ? defaultValue : buf.get(at) & 0xFF;
    }

    int getInt(int field, int defaultValue) {
        int at = field(field);
        return at == 0 ? defaultValue : buf.getInt(at);
    }

    long getUInt(int field, long defaultValue) {
        int at = field(field);
        return at == 0 ? defaultValue : buf.getInt(at) & 0xFFFFFFFFL;
    }

    long getLong(int field, long defaultValue) {
        int at = field(field);
        return at == 0 ? defaultValue : buf.getLong(at);
    }

    String getString(int field) {
        int at = field(field);
        if (at == 0) {
            return null;
        }
        int start = indirect(at);
        int length = buf.getInt(start);
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = buf.get(start + 4 + i);
        }
        return new String(bytes, UTF8);
    }

    FlatTable getTable(int field) {
        int at = field(field);
        return at == 0 ? null : new FlatTable(buf, indirect(at));
    }

    /** Number of elements of a vector field (0 when absent). */
    int vectorLength(int field) {
        int at = field(field);
        return at == 0 ? 0 : buf.getInt(indirect(at));
    }

    private int vectorData(int field) {
        return indirect(field(field)) + 4;
    }

    /** Element {@code i} of a vector of tables. */
    FlatTable getTable(int field, int i) {
        checkIndex(field, i);
        int at = vectorData(field) + 4 * i;
        return new FlatTable(buf, indirect(at));
    }

    int[] getIntVector(int field) {
        int n = vectorLength(field);
        int[] out = new int[n];
        if (n > 0) {
            int start = vectorData(field);
            for (int i = 0; i < n; i++) {
                out[i] = buf.getInt(start + 4 * i);
            }
        }
        return out;
    }

    long[] getLongVector(int field) {
        int n = vectorLength(field);
        long[] out = new long[n];
        if (n > 0) {
            int start = vectorData(field);
            for (int i = 0; i < n; i++) {
                out[i] = buf.getLong(start + 8 * i);
            }
        }
        return out;
    }

    float[] getFloatVector(int field) {
        int n = vectorLength(field);
        float[] out = new float[n];
        if (n > 0) {
            int start = vectorData(field);
            for (int i = 0; i < n; i++) {
                out[i] = buf.getFloat(start + 4 * i);
            }
        }
        return out;
    }

    /** A vector of bytes ([ubyte]) as a view sharing this buffer's memory, or null when absent. */
    ByteBuffer getByteVector(int field) {
        if (!has(field)) {
            return null;
        }
        int n = vectorLength(field);
        return slice(vectorData(field), n);
    }

    private ByteBuffer slice(int start, int length) {
        return slice(buf, start, length);
    }

    /** Bytes {@code [start, start + length)} of {@code data}, as a little-endian view. */
    static ByteBuffer slice(ByteBuffer data, long start, long length) {
        if (start < 0 || length < 0 || start > data.limit() - length) {
            throw new IndexOutOfBoundsException("bytes [" + start + ", " + (start + length)
                    + ") are outside the " + data.limit() + "-byte buffer");
        }
        ByteBuffer view = data.duplicate();
        view.limit((int) (start + length));
        view.position((int) start);
        return view.slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    private void checkIndex(int field, int i) {
        int n = vectorLength(field);
        if (i < 0 || i >= n) {
            throw new IndexOutOfBoundsException("index " + i + " of a " + n + "-element vector");
        }
    }
}
