package com.example.imageclassifier.core;

import java.nio.ByteBuffer;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Everything the app needs to know about a model, read from the {@code .tflite} file itself:
 * the input tensor (1 x H x W x 3, UINT8 or FLOAT32, quantization), the output tensor (1 x N or
 * 1 x 1 x 1 x N scores), and from its TFLite metadata the labels (a TENSOR_AXIS_LABELS file on
 * the output tensor), the input normalization (mean/std) and the descriptive fields.
 *
 * <p>Nothing about the model is hard-coded in the app: this is the only place that learns it.
 * The checks mirror what ML Kit's custom image labeler demands, so a model this class accepts
 * also loads there.
 */
public final class ModelInfo {
    /** Name of the model-metadata entry that holds the TFLite metadata flatbuffer. */
    static final String METADATA_NAME = "TFLITE_METADATA";

    // Field numbers in schema.fbs (tflite namespace).
    private static final int MODEL_SUBGRAPHS = 2;
    private static final int MODEL_BUFFERS = 4;
    private static final int MODEL_METADATA = 6;
    private static final int SUBGRAPH_TENSORS = 0;
    private static final int SUBGRAPH_INPUTS = 1;
    private static final int SUBGRAPH_OUTPUTS = 2;
    private static final int TENSOR_SHAPE = 0;
    private static final int TENSOR_TYPE = 1;
    private static final int TENSOR_NAME = 3;
    private static final int TENSOR_QUANTIZATION = 4;
    private static final int QUANT_SCALE = 2;
    private static final int QUANT_ZERO_POINT = 3;
    private static final int BUFFER_DATA = 0;
    private static final int BUFFER_OFFSET = 1;
    private static final int BUFFER_SIZE = 2;
    private static final int METADATA_ENTRY_NAME = 0;
    private static final int METADATA_ENTRY_BUFFER = 1;
    // Field numbers in metadata_schema.fbs.
    private static final int MM_NAME = 0;
    private static final int MM_DESCRIPTION = 1;
    private static final int MM_VERSION = 2;
    private static final int MM_SUBGRAPH_METADATA = 3;
    private static final int MM_AUTHOR = 4;
    private static final int MM_LICENSE = 5;
    private static final int SGM_INPUT_TENSORS = 2;
    private static final int SGM_OUTPUT_TENSORS = 3;
    private static final int TM_PROCESS_UNITS = 4;
    private static final int TM_ASSOCIATED_FILES = 6;
    private static final int PU_OPTIONS_TYPE = 0;
    private static final int PU_OPTIONS = 1;
    private static final int PU_NORMALIZATION = 1;
    private static final int NORM_MEAN = 0;
    private static final int NORM_STD = 1;
    private static final int AF_NAME = 0;
    private static final int AF_TYPE = 2;
    private static final int AF_TENSOR_AXIS_LABELS = 2;

    public final String name;
    public final String description;
    public final String version;
    public final String author;
    public final String license;
    /** Input height and width in pixels (the tensor is 1 x height x width x 3, NHWC). */
    public final int inputHeight;
    public final int inputWidth;
    public final TensorType inputType;
    public final float inputScale;
    public final int inputZeroPoint;
    /** Output shape as stored (1 x N or 1 x 1 x 1 x N). */
    public final int[] outputShape;
    public final TensorType outputType;
    public final float outputScale;
    public final int outputZeroPoint;
    /** Per-channel normalization {@code (p - mean) / std} for a FLOAT32 input; null otherwise. */
    public final float[] mean;
    public final float[] std;
    /** One label per output score, in output order. */
    public final List<String> labels;

    private ModelInfo(Builder b) {
        name = b.name;
        description = b.description;
        version = b.version;
        author = b.author;
        license = b.license;
        inputHeight = b.inputShape[1];
        inputWidth = b.inputShape[2];
        inputType = b.inputType;
        inputScale = b.inputScale;
        inputZeroPoint = b.inputZeroPoint;
        outputShape = b.outputShape;
        outputType = b.outputType;
        outputScale = b.outputScale;
        outputZeroPoint = b.outputZeroPoint;
        mean = b.mean;
        std = b.std;
        labels = Collections.unmodifiableList(b.labels);
    }

    /** Number of classes (scores in the output). */
    public int numClasses() {
        return outputShape[outputShape.length - 1];
    }

    /** Bytes of the input tensor. */
    public int inputBytes() {
        return inputHeight * inputWidth * 3 * inputType.bytes;
    }

    /** Bytes of the output tensor. */
    public int outputBytes() {
        return numClasses() * outputType.bytes;
    }

    /** The labels for display: the first {@code max}, then how many more there are. */
    public String labelSummary(int max) {
        StringBuilder s = new StringBuilder();
        int shown = Math.min(Math.max(0, max), labels.size());
        for (int i = 0; i < shown; i++) {
            s.append(i == 0 ? "" : ", ").append(labels.get(i));
        }
        if (labels.size() > shown) {
            s.append(shown == 0 ? "" : ", ").append("… (").append(labels.size()).append(" in all)");
        }
        return s.toString();
    }

    @Override
    public String toString() {
        return (name == null ? "model" : name) + (version == null ? "" : " v" + version)
                + ": input " + inputHeight + "x" + inputWidth + "x3 " + inputType
                + ", " + numClasses() + " classes (" + outputType + ")";
    }

    /** Reads a model; {@code model} holds the whole {@code .tflite} file from index 0. */
    public static ModelInfo read(ByteBuffer model) throws ModelException {
        try {
            return parse(model);
        } catch (IndexOutOfBoundsException e) {
            throw new ModelException("the model file is truncated or is not a TFLite flatbuffer ("
                    + e.getMessage() + ")", e);
        }
    }

    /** Reads a model from the bytes of a {@code .tflite} file. */
    public static ModelInfo read(byte[] model) throws ModelException {
        return read(ByteBuffer.wrap(model));
    }

    private static ModelInfo parse(ByteBuffer model) throws ModelException {
        if (!"TFL3".equals(FlatTable.fileIdentifier(model))) {
            throw new ModelException("not a TFLite model: its file identifier is not TFL3");
        }
        FlatTable root = FlatTable.root(model);
        if (root.vectorLength(MODEL_SUBGRAPHS) < 1) {
            throw new ModelException("the model has no subgraph");
        }
        FlatTable graph = root.getTable(MODEL_SUBGRAPHS, 0);
        int[] inputs = graph.getIntVector(SUBGRAPH_INPUTS);
        int[] outputs = graph.getIntVector(SUBGRAPH_OUTPUTS);
        if (inputs.length != 1 || outputs.length != 1) {
            throw new ModelException("the model must have one input and one output tensor, it has "
                    + inputs.length + " and " + outputs.length);
        }
        Builder b = new Builder();
        FlatTable input = graph.getTable(SUBGRAPH_TENSORS, inputs[0]);
        FlatTable output = graph.getTable(SUBGRAPH_TENSORS, outputs[0]);

        b.inputShape = input.getIntVector(TENSOR_SHAPE);
        if (b.inputShape.length != 4 || b.inputShape[0] != 1 || b.inputShape[3] != 3
                || b.inputShape[1] < 1 || b.inputShape[2] < 1) {
            throw new ModelException("the input tensor must be 1 x height x width x 3 (NHWC, RGB), it is "
                    + Arrays.toString(b.inputShape));
        }
        b.inputType = type(input, "input", TensorType.UINT8, TensorType.FLOAT32);
        b.inputScale = scale(input);
        b.inputZeroPoint = zeroPoint(input);

        b.outputShape = output.getIntVector(TENSOR_SHAPE);
        boolean twoD = b.outputShape.length == 2 && b.outputShape[0] == 1;
        boolean fourD = b.outputShape.length == 4 && b.outputShape[0] == 1
                && b.outputShape[1] == 1 && b.outputShape[2] == 1;
        if (!(twoD || fourD) || b.outputShape[b.outputShape.length - 1] < 1) {
            throw new ModelException("the output tensor must be 1 x N or 1 x 1 x 1 x N scores, it is "
                    + Arrays.toString(b.outputShape));
        }
        b.outputType = type(output, "output", TensorType.UINT8, TensorType.INT8, TensorType.FLOAT32);
        b.outputScale = scale(output);
        b.outputZeroPoint = zeroPoint(output);

        ByteBuffer metadata = metadataBuffer(root, model);
        if (metadata == null) {
            throw new ModelException("the model has no TFLite metadata, so no labels"
                    + " - export it with the pipeline (invoke model), which writes the metadata");
        }
        readMetadata(metadata, model, b);
        int n = b.outputShape[b.outputShape.length - 1];
        if (b.labels.size() != n) {
            throw new ModelException("the model has " + n + " output scores but " + b.labels.size()
                    + " labels in its metadata");
        }
        if (b.inputType == TensorType.FLOAT32 && b.mean == null) {
            throw new ModelException("a FLOAT32 input needs NormalizationOptions (mean, std) in the"
                    + " input tensor metadata");
        }
        return new ModelInfo(b);
    }

    private static TensorType type(FlatTable tensor, String which, TensorType... allowed)
            throws ModelException {
        int value = tensor.getByte(TENSOR_TYPE, 0);
        TensorType t = TensorType.fromSchema(value);
        if (t != null && Arrays.asList(allowed).contains(t)) {
            return t;
        }
        throw new ModelException("the " + which + " tensor is " + TensorType.schemaName(value)
                + "; the app supports " + Arrays.toString(allowed));
    }

    private static float scale(FlatTable tensor) {
        FlatTable q = tensor.getTable(TENSOR_QUANTIZATION);
        float[] s = q == null ? new float[0] : q.getFloatVector(QUANT_SCALE);
        return s.length > 0 ? s[0] : 0f;
    }

    private static int zeroPoint(FlatTable tensor) {
        FlatTable q = tensor.getTable(TENSOR_QUANTIZATION);
        long[] z = q == null ? new long[0] : q.getLongVector(QUANT_ZERO_POINT);
        return z.length > 0 ? (int) z[0] : 0;
    }

    private static ByteBuffer metadataBuffer(FlatTable root, ByteBuffer model) {
        int entries = root.vectorLength(MODEL_METADATA);
        for (int i = 0; i < entries; i++) {
            FlatTable entry = root.getTable(MODEL_METADATA, i);
            if (!METADATA_NAME.equals(entry.getString(METADATA_ENTRY_NAME))) {
                continue;
            }
            int index = (int) entry.getUInt(METADATA_ENTRY_BUFFER, 0);
            FlatTable buffer = root.getTable(MODEL_BUFFERS, index);
            ByteBuffer data = buffer.getByteVector(BUFFER_DATA);
            if (data != null && data.remaining() > 0) {
                return data;
            }
            // Large models keep buffers outside the flatbuffer: offset/size from the file start.
            long offset = buffer.getLong(BUFFER_OFFSET, 0);
            long size = buffer.getLong(BUFFER_SIZE, 0);
            if (offset > 1 && size > 0) {
                return FlatTable.slice(model, offset, size);
            }
        }
        return null;
    }

    private static void readMetadata(ByteBuffer metadata, ByteBuffer model, Builder b)
            throws ModelException {
        FlatTable mm = FlatTable.root(metadata);
        b.name = mm.getString(MM_NAME);
        b.description = mm.getString(MM_DESCRIPTION);
        b.version = mm.getString(MM_VERSION);
        b.author = mm.getString(MM_AUTHOR);
        b.license = mm.getString(MM_LICENSE);
        if (mm.vectorLength(MM_SUBGRAPH_METADATA) < 1) {
            throw new ModelException("the model metadata has no subgraph metadata");
        }
        FlatTable sg = mm.getTable(MM_SUBGRAPH_METADATA, 0);
        if (sg.vectorLength(SGM_INPUT_TENSORS) > 0) {
            FlatTable in = sg.getTable(SGM_INPUT_TENSORS, 0);
            for (int i = 0; i < in.vectorLength(TM_PROCESS_UNITS); i++) {
                FlatTable unit = in.getTable(TM_PROCESS_UNITS, i);
                if (unit.getUByte(PU_OPTIONS_TYPE, 0) == PU_NORMALIZATION) {
                    FlatTable norm = unit.getTable(PU_OPTIONS);
                    b.mean = channels(norm.getFloatVector(NORM_MEAN), "mean");
                    b.std = channels(norm.getFloatVector(NORM_STD), "std");
                    for (float s : b.std) {
                        if (!(s > 0f)) {
                            throw new ModelException("normalization std must be positive, it is "
                                    + Arrays.toString(b.std));
                        }
                    }
                }
            }
        }
        String labelFile = null;
        if (sg.vectorLength(SGM_OUTPUT_TENSORS) > 0) {
            FlatTable out = sg.getTable(SGM_OUTPUT_TENSORS, 0);
            for (int i = 0; i < out.vectorLength(TM_ASSOCIATED_FILES) && labelFile == null; i++) {
                FlatTable file = out.getTable(TM_ASSOCIATED_FILES, i);
                if (file.getByte(AF_TYPE, 0) == AF_TENSOR_AXIS_LABELS) {
                    labelFile = file.getString(AF_NAME);
                }
            }
        }
        if (labelFile == null) {
            throw new ModelException("the model metadata names no TENSOR_AXIS_LABELS file on the"
                    + " output tensor, so the app has no labels");
        }
        byte[] text = ZipFiles.read(model, labelFile);
        if (text == null) {
            throw new ModelException("the label file " + labelFile
                    + " named in the metadata is not packed into the model");
        }
        b.labels = parseLabels(new String(text, Charset.forName("UTF-8")));
    }

    /** Three per-channel values from one (broadcast) or three. */
    private static float[] channels(float[] values, String what) throws ModelException {
        if (values.length == 3) {
            return values;
        }
        if (values.length == 1) {
            return new float[] {values[0], values[0], values[0]};
        }
        throw new ModelException("normalization " + what + " must have 1 or 3 values, it has "
                + values.length);
    }

    /**
     * One label per line, split as MediaPipe and {@code pipeline/metadata.py} split them: on
     * CRLF, CR or LF; the final line break and one trailing empty line are dropped; any other
     * empty line is an error.
     */
    static List<String> parseLabels(String text) throws ModelException {
        List<String> labels = new ArrayList<String>(Arrays.asList(text.split("\r\n|\r|\n", -1)));
        for (int drop = 0; drop < 2; drop++) {
            if (!labels.isEmpty() && labels.get(labels.size() - 1).isEmpty()) {
                labels.remove(labels.size() - 1);
            }
        }
        if (labels.isEmpty()) {
            throw new ModelException("the labels file in the model is empty");
        }
        for (int i = 0; i < labels.size(); i++) {
            if (labels.get(i).isEmpty()) {
                throw new ModelException("line " + (i + 1) + " of the labels file in the model is empty");
            }
        }
        return labels;
    }

    private static final class Builder {
        String name;
        String description;
        String version;
        String author;
        String license;
        int[] inputShape;
        TensorType inputType;
        float inputScale;
        int inputZeroPoint;
        int[] outputShape;
        TensorType outputType;
        float outputScale;
        int outputZeroPoint;
        float[] mean;
        float[] std;
        List<String> labels = new ArrayList<String>();
    }
}
