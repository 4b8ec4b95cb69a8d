package com.example.imageclassifier.litert;

import com.example.imageclassifier.core.ClassificationResult;
import com.example.imageclassifier.core.Classifier;
import com.example.imageclassifier.core.ClassifierException;
import com.example.imageclassifier.core.ClassifierOptions;
import com.example.imageclassifier.core.Failures;
import com.example.imageclassifier.core.InputEncoder;
import com.example.imageclassifier.core.ModelException;
import com.example.imageclassifier.core.ModelInfo;
import com.example.imageclassifier.core.OutputDecoder;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.tensorflow.lite.Interpreter;

/**
 * Runs the model with the LiteRT (TensorFlow Lite) interpreter. Pre- and post-processing are
 * the app's own ({@link InputEncoder}, {@link OutputDecoder}), driven by the model's metadata.
 * No {@code android.*} import: the caller hands over the model bytes (a memory-mapped asset).
 */
public final class LiteRtClassifier implements Classifier {
    private final ModelInfo info;
    private final ClassifierOptions options;
    private final ByteBuffer input;
    private final ByteBuffer output;
    private final byte[] outputBytes;
    private Interpreter interpreter;

    /**
     * @param model the whole {@code .tflite} file; a direct or memory-mapped buffer (the
     *     interpreter keeps using it, so it must stay valid until {@link #close}).
     */
    public LiteRtClassifier(ByteBuffer model, ClassifierOptions options) throws ClassifierException {
        try {
            this.info = ModelInfo.read(model);
        } catch (ModelException e) {
            throw new ClassifierException("cannot use the model: " + e.getMessage(), e);
        }
        this.options = options;
        try {
            Interpreter.Options interpreterOptions = new Interpreter.Options();
            interpreterOptions.setNumThreads(options.numThreads);
            this.interpreter = new Interpreter(model, interpreterOptions);
        } catch (RuntimeException e) {
            throw new ClassifierException("the LiteRT interpreter could not load the model: "
                    + Failures.describe(e), e);
        } catch (LinkageError e) {
            // UnsatisfiedLinkError (the device refuses libtensorflowlite_jni.so: wrong ABI, page
            // size, or a host JVM) or a failed static initializer: a message, not a dead app.
            throw new ClassifierException("LiteRT: " + Failures.describe(e), e);
        }
        this.input = ByteBuffer.allocateDirect(info.inputBytes()).order(ByteOrder.nativeOrder());
        this.output = ByteBuffer.allocateDirect(info.outputBytes()).order(ByteOrder.nativeOrder());
        this.outputBytes = new byte[info.outputBytes()];
    }

    @Override
    public ClassificationResult classify(int[] argb, int width, int height)
            throws ClassifierException {
        if (interpreter == null) {
            throw new ClassifierException("the classifier is closed");
        }
        long start = System.nanoTime();
        byte[] tensor = InputEncoder.encode(argb, width, height, info);
        input.clear();
        input.put(tensor);
        input.rewind();
        output.clear();
        long runStart = System.nanoTime();
        try {
            interpreter.run(input, output);
        } catch (RuntimeException e) {
            throw new ClassifierException("inference failed: " + Failures.describe(e), e);
        }
        long runNanos = System.nanoTime() - runStart;
        output.rewind();
        output.get(outputBytes);
        ClassificationResult result = new ClassificationResult(
                OutputDecoder.decode(outputBytes, info, options.maxResults,
                        options.confidenceThreshold),
                runNanos, System.nanoTime() - start);
        return result;
    }

    /** The raw output bytes of the last {@link #classify} call (for evaluation against Python). */
    public byte[] lastOutputBytes() {
        return outputBytes.clone();
    }

    @Override
    public ModelInfo modelInfo() {
        return info;
    }

    @Override
    public String runtimeName() {
        return "LiteRT";
    }

    @Override
    public void close() {
        if (interpreter != null) {
            interpreter.close();
            interpreter = null;
        }
    }
}
