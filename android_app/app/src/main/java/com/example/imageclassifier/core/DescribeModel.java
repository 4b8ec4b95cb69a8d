package com.example.imageclassifier.core;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.io.UnsupportedEncodingException;

/**
 * Host-JVM command line: prints what the app's {@link ModelInfo} reads from a {@code .tflite}
 * file, one {@code key=value} per line ({@code label=} repeats in output order). The hermetic
 * build runs it on the model it bundles, so an APK is never built around a model the app
 * cannot read; tests compare it with the Python reader.
 *
 * <p>Usage: {@code java -cp <classes> com.example.imageclassifier.core.DescribeModel model.tflite}.
 * Exit status 2 (message on stderr) when the app cannot use the model.
 */
public final class DescribeModel {
    private DescribeModel() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: DescribeModel <model.tflite>");
            System.exit(64);
        }
        byte[] bytes = readFile(new File(args[0]));
        ModelInfo info;
        try {
            info = ModelInfo.read(bytes);
        } catch (ModelException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        print(info, utf8Out());
    }

    static void print(ModelInfo info, PrintStream out) {
        out.println("name=" + nullToEmpty(info.name));
        out.println("version=" + nullToEmpty(info.version));
        out.println("input_height=" + info.inputHeight);
        out.println("input_width=" + info.inputWidth);
        out.println("input_type=" + info.inputType);
        out.println("input_scale=" + info.inputScale);
        out.println("input_zero_point=" + info.inputZeroPoint);
        out.println("output_type=" + info.outputType);
        out.println("output_scale=" + info.outputScale);
        out.println("output_zero_point=" + info.outputZeroPoint);
        out.println("classes=" + info.numClasses());
        out.println("mean=" + join(info.mean));
        out.println("std=" + join(info.std));
        for (String label : info.labels) {
            out.println("label=" + label);
        }
        out.flush();
    }

    private static String join(float[] values) {
        if (values == null) {
            return "";
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < values.length; i++) {
            s.append(i == 0 ? "" : ",").append(Float.toString(values[i]));
        }
        return s.toString();
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }

    private static PrintStream utf8Out() throws UnsupportedEncodingException {
        return new PrintStream(System.out, true, "UTF-8");
    }

    private static byte[] readFile(File file) throws IOException {
        RandomAccessFile in = new RandomAccessFile(file, "r");
        try {
            byte[] bytes = new byte[(int) in.length()];
            in.readFully(bytes);
            return bytes;
        } finally {
            in.close();
        }
    }
}
