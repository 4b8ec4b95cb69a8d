package com.example.imageclassifier.core;

/** The TFLite tensor element types the app handles, with the schema's enum values. */
public enum TensorType {
    FLOAT32(0, 4),
    UINT8(3, 1),
    INT8(9, 1);

    /** Value of {@code tflite.TensorType} in the model schema. */
    public final int schemaValue;
    /** Bytes per element. */
    public final int bytes;

    TensorType(int schemaValue, int bytes) {
        this.schemaValue = schemaValue;
        this.bytes = bytes;
    }

    /** The type for a schema value, or null for a type the app does not handle. */
    static TensorType fromSchema(int value) {
        for (TensorType t : values()) {
            if (t.schemaValue == value) {
                return t;
            }
        }
        return null;
    }

    /** Human name of any schema value, for error messages. */
    static String schemaName(int value) {
        String[] names = {"FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL",
                "INT16", "COMPLEX64", "INT8", "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE",
                "VARIANT", "UINT32", "UINT16", "INT4"};
        return value >= 0 && value < names.length ? names[value] : "type #" + value;
    }
}
