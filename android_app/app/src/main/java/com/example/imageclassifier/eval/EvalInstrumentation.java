package com.example.imageclassifier.eval;

import android.app.Activity;
import android.app.Instrumentation;
import android.content.Context;
import android.content.res.AssetManager;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.os.Build;
import android.os.Bundle;
import android.util.JsonReader;
import com.example.imageclassifier.ClassifierFactory;
import com.example.imageclassifier.ModelAssets;
import com.example.imageclassifier.core.ClassificationResult;
import com.example.imageclassifier.core.Classifier;
import com.example.imageclassifier.core.ClassifierOptions;
import com.example.imageclassifier.core.EvalTally;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Measures the app's accuracy on the device against Python's, image by image.
 *
 * <p>Runs the app's own labeling path ({@link ClassifierFactory} of the installed flavor, the
 * same {@link Classifier} and core pre/post-processing the UI uses) over the evaluation set the
 * build bundles in {@code assets/eval/} ({@code pipeline/goldens.py write_eval_set}: PNGs at the
 * model's input size and {@code eval.json} with Python's top-1 and scores for each), and reports
 * through the instrumentation protocol, so plain {@code adb} is enough (no AndroidX):
 *
 * <pre>
 * adb shell am instrument -w -r com.example.imageclassifier/com.example.imageclassifier.eval.EvalInstrumentation
 * </pre>
 *
 * One status (code {@link #STATUS_IMAGE}) per image: image, file, label, python_top1,
 * device_top1, device_score, max_score_diff, total_ms, inference_ms. The final result (code
 * {@code Activity.RESULT_OK} = -1): images, correct, accuracy, python_accuracy,
 * per_class_correct / per_class_total (comma-separated, label order), changed (images whose top-1
 * differs from Python's), changed_files, max_score_diff, latency_mean_ms / latency_p90_ms (the
 * whole classify call: pre-processing, inference, post-processing), inference_mean_ms /
 * inference_p90_ms, runtime, threads, model_sha256, device, abi, sdk. On any failure the result
 * code is {@code Activity.RESULT_CANCELED} (0) with {@code error} (one line) instead.
 * {@code invoke emulator-test} (pipeline/android/device.py) runs it and parses this output.
 *
 * <p>Arguments ({@code -e key value}): {@code threads} (interpreter threads, default 1, as
 * Python's single-thread latency), {@code limit} (evaluate only the first N images).
 */
public class EvalInstrumentation extends Instrumentation {
    /** Where the build puts the evaluation set (pipeline/goldens.py EVAL_DIR, EVAL_JSON). */
    public static final String EVAL_DIR = "eval";
    public static final String EVAL_JSON = EVAL_DIR + "/eval.json";
    /** Status code of the per-image reports (1 = "in progress" in the instrumentation protocol). */
    public static final int STATUS_IMAGE = 1;
    static final int FORMAT = 1;

    private Bundle arguments = new Bundle();

    @Override
    public void onCreate(Bundle args) {
        super.onCreate(args);
        if (args != null) {
            arguments = args;
        }
        start();
    }

    @Override
    public void onStart() {
        super.onStart();
        Bundle result = new Bundle();
        int code;
        try {
            evaluate(result);
            code = Activity.RESULT_OK;
        } catch (Throwable t) {
            result.clear();
            result.putString("error", oneLine(t.getClass().getName() + ": " + t.getMessage()));
            StackTraceElement[] stack = t.getStackTrace();
            if (stack.length > 0) {
                result.putString("error_at", stack[0].toString());
            }
            result.putString("stream", "EvalInstrumentation failed: " + oneLine(String.valueOf(t.getMessage())) + "\n");
            code = Activity.RESULT_CANCELED;
        }
        finish(code, result);
    }

    /** One image of eval.json. */
    private static final class Item {
        String file;
        int label;
        int pythonTop1;
        float[] pythonScores;
    }

    /** eval.json, the fields the device needs. */
    private static final class EvalSet {
        int format;
        String modelSha256;
        List<String> labels = new ArrayList<String>();
        double pythonAccuracy = Double.NaN;
        List<Item> items = new ArrayList<Item>();
    }

    private void evaluate(Bundle out) throws Exception {
        Context context = getTargetContext();
        AssetManager assets = context.getAssets();
        EvalSet set = readEvalSet(assets);
        String sha = checkEvalSet(set, assets);
        int limit = intArgument("limit", set.items.size());
        List<Item> items = set.items.subList(0, Math.max(0, Math.min(limit, set.items.size())));
        if (items.isEmpty()) {
            throw new IllegalStateException("assets/" + EVAL_JSON + " lists no images");
        }
        int threads = intArgument("threads", 1);
        int classes = set.labels.size();
        Classifier classifier = ClassifierFactory.create(context,
                new ClassifierOptions(Math.max(1, classes), 0f, Math.max(1, threads)));
        try {
            if (!classifier.modelInfo().labels.equals(set.labels)) {
                throw new IllegalStateException("the model's labels " + classifier.modelInfo().labels
                        + " differ from the evaluation set's " + set.labels);
            }
            Image warm = decode(assets, items.get(0).file);
            classifier.classify(warm.argb, warm.width, warm.height); // not timed: first-run setup
            EvalTally tally = new EvalTally(classes);
            for (int i = 0; i < items.size(); i++) {
                Item item = items.get(i);
                Image image = decode(assets, item.file);
                ClassificationResult r = classifier.classify(image.argb, image.width, image.height);
                EvalTally.Outcome o = tally.add(item.file, item.label, item.pythonTop1,
                        item.pythonScores, r);
                sendStatus(STATUS_IMAGE, imageStatus(i, item, o, r));
            }
            summarize(out, tally, set, classifier.runtimeName(), threads, sha);
        } finally {
            classifier.close();
        }
    }

    /** The format and the model's sha256 must be those the evaluation set was made for. */
    private static String checkEvalSet(EvalSet set, AssetManager assets) throws IOException {
        if (set.format != FORMAT) {
            throw new IllegalStateException("assets/" + EVAL_JSON + " has format " + set.format
                    + ", this app reads format " + FORMAT + " - rebuild the APK (invoke build-apk)");
        }
        String sha = sha256(assets, ModelAssets.MODEL_ASSET);
        if (set.modelSha256 != null && !set.modelSha256.equals(sha)) {
            throw new IllegalStateException("assets/" + ModelAssets.MODEL_ASSET + " (sha256 " + sha
                    + ") is not the model the evaluation set was made for (" + set.modelSha256
                    + ") - rebuild the APK (invoke build-apk)");
        }
        return sha;
    }

    private Bundle imageStatus(int i, Item item, EvalTally.Outcome o, ClassificationResult r) {
        Bundle status = new Bundle();
        status.putString("id", getClass().getSimpleName());
        status.putString("image", Integer.toString(i));
        status.putString("file", item.file);
        status.putString("label", Integer.toString(item.label));
        status.putString("python_top1", Integer.toString(item.pythonTop1));
        status.putString("device_top1", Integer.toString(o.top1));
        status.putString("device_score", o.top1 >= 0 ? Float.toString(o.score) : "nan");
        status.putString("max_score_diff", Float.toString(o.maxScoreDiff));
        status.putString("total_ms", EvalTally.formatMs(r.totalNanos / 1e6));
        status.putString("inference_ms", EvalTally.formatMs(r.inferenceNanos / 1e6));
        return status;
    }

    private void summarize(Bundle out, EvalTally tally, EvalSet set, String runtime, int threads,
            String sha) {
        double[] totalMs = tally.totalMs();
        double[] inferenceMs = tally.inferenceMs();
        out.putString("id", getClass().getSimpleName());
        out.putString("format", Integer.toString(FORMAT));
        out.putString("runtime", runtime);
        out.putString("threads", Integer.toString(threads));
        out.putString("images", Integer.toString(tally.images()));
        out.putString("correct", Integer.toString(tally.correct()));
        out.putString("accuracy", Double.toString(tally.accuracy()));
        out.putString("python_accuracy", Double.toString(set.pythonAccuracy));
        out.putString("per_class_correct", EvalTally.join(tally.perClassCorrect()));
        out.putString("per_class_total", EvalTally.join(tally.perClassTotal()));
        out.putString("changed", Integer.toString(tally.changed().size()));
        out.putString("changed_files", EvalTally.join(tally.changed()));
        out.putString("max_score_diff", Float.toString(tally.maxScoreDiff()));
        out.putString("latency_mean_ms", EvalTally.formatMs(EvalTally.mean(totalMs)));
        out.putString("latency_p90_ms", EvalTally.formatMs(EvalTally.percentile(totalMs, 90)));
        out.putString("inference_mean_ms", EvalTally.formatMs(EvalTally.mean(inferenceMs)));
        out.putString("inference_p90_ms", EvalTally.formatMs(EvalTally.percentile(inferenceMs, 90)));
        out.putString("model_sha256", sha);
        out.putString("device", oneLine(Build.MANUFACTURER + " " + Build.MODEL));
        out.putString("abi", String.valueOf(Build.CPU_ABI));
        out.putString("sdk", Integer.toString(Build.VERSION.SDK_INT));
        out.putString("stream", String.format(Locale.ROOT,
                "EvalInstrumentation: %d/%d correct on the device (Python: accuracy %s), %d"
                        + " image(s) changed top-1, mean %.3f ms per image%n",
                tally.correct(), tally.images(), Double.toString(set.pythonAccuracy),
                tally.changed().size(), EvalTally.mean(totalMs)));
    }

    private int intArgument(String key, int defaultValue) {
        String value = arguments.getString(key);
        if (value == null || value.isEmpty()) {
            return defaultValue;
        }
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("argument " + key + " must be a whole number, got " + value);
        }
    }

    // ------------------------------------------------------------------------- eval.json

    private static EvalSet readEvalSet(AssetManager assets) throws IOException {
        InputStream in;
        try {
            in = assets.open(EVAL_JSON);
        } catch (IOException e) {
            throw new IOException("assets/" + EVAL_JSON + " is missing: the APK was built without"
                    + " the evaluation set - rebuild it with invoke build-apk", e);
        }
        JsonReader json = new JsonReader(new InputStreamReader(in, "UTF-8"));
        EvalSet set = new EvalSet();
        try {
            json.beginObject();
            while (json.hasNext()) {
                String name = json.nextName();
                if ("format".equals(name)) {
                    set.format = json.nextInt();
                } else if ("model_sha256".equals(name)) {
                    set.modelSha256 = json.nextString();
                } else if ("labels".equals(name)) {
                    json.beginArray();
                    while (json.hasNext()) {
                        set.labels.add(json.nextString());
                    }
                    json.endArray();
                } else if ("python".equals(name)) {
                    json.beginObject();
                    while (json.hasNext()) {
                        if ("accuracy".equals(json.nextName())) {
                            set.pythonAccuracy = json.nextDouble();
                        } else {
                            json.skipValue();
                        }
                    }
                    json.endObject();
                } else if ("images".equals(name)) {
                    json.beginArray();
                    while (json.hasNext()) {
                        set.items.add(readItem(json));
                    }
                    json.endArray();
                } else {
                    json.skipValue();
                }
            }
            json.endObject();
        } finally {
            json.close();
        }
        for (Item item : set.items) {
            if (item.file == null || item.pythonScores == null
                    || item.pythonScores.length != set.labels.size()) {
                throw new IOException("assets/" + EVAL_JSON + ": image " + item.file
                        + " lacks a file name or one Python score per label");
            }
        }
        return set;
    }

    private static Item readItem(JsonReader json) throws IOException {
        Item item = new Item();
        json.beginObject();
        while (json.hasNext()) {
            String name = json.nextName();
            if ("file".equals(name)) {
                item.file = json.nextString();
            } else if ("label".equals(name)) {
                item.label = json.nextInt();
            } else if ("top1".equals(name)) {
                item.pythonTop1 = json.nextInt();
            } else if ("scores".equals(name)) {
                List<Float> scores = new ArrayList<Float>();
                json.beginArray();
                while (json.hasNext()) {
                    scores.add((float) json.nextDouble());
                }
                json.endArray();
                item.pythonScores = new float[scores.size()];
                for (int i = 0; i < scores.size(); i++) {
                    item.pythonScores[i] = scores.get(i);
                }
            } else {
                json.skipValue();
            }
        }
        json.endObject();
        return item;
    }

    // ------------------------------------------------------------------------- images

    private static final class Image {
        int[] argb;
        int width;
        int height;
    }

    /** Decodes as the UI does (ARGB_8888, getPixels); the eval PNGs are upright and opaque. */
    private static Image decode(AssetManager assets, String file) throws IOException {
        InputStream in = assets.open(EVAL_DIR + "/" + file);
        Bitmap bitmap;
        try {
            BitmapFactory.Options options = new BitmapFactory.Options();
            options.inPreferredConfig = Bitmap.Config.ARGB_8888;
            options.inScaled = false;
            bitmap = BitmapFactory.decodeStream(in, null, options);
        } finally {
            in.close();
        }
        if (bitmap == null) {
            throw new IOException("assets/" + EVAL_DIR + "/" + file + " could not be decoded");
        }
        Image image = new Image();
        image.width = bitmap.getWidth();
        image.height = bitmap.getHeight();
        image.argb = new int[image.width * image.height];
        bitmap.getPixels(image.argb, 0, image.width, 0, 0, image.width, image.height);
        bitmap.recycle();
        return image;
    }

    private static String sha256(AssetManager assets, String asset) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IOException("SHA-256 is not available", e);
        }
        InputStream in = assets.open(asset);
        try {
            byte[] chunk = new byte[64 * 1024];
            int n;
            while ((n = in.read(chunk)) > 0) {
                digest.update(chunk, 0, n);
            }
        } finally {
            in.close();
        }
        StringBuilder hex = new StringBuilder();
        for (byte b : digest.digest()) {
            hex.append(String.format(Locale.ROOT, "%02x", b & 0xFF));
        }
        return hex.toString();
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replace('\r', ' ').replace('\n', ' ');
    }
}
