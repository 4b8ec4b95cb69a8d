package com.example.imageclassifier.mlkit;

import android.content.Context;
import android.graphics.Bitmap;
import com.example.imageclassifier.ModelAssets;
import com.example.imageclassifier.core.ClassificationResult;
import com.example.imageclassifier.core.Classifier;
import com.example.imageclassifier.core.ClassifierException;
import com.example.imageclassifier.core.ClassifierOptions;
import com.example.imageclassifier.core.Failures;
import com.example.imageclassifier.core.InputEncoder;
import com.example.imageclassifier.core.ModelException;
import com.example.imageclassifier.core.ModelInfo;
import com.example.imageclassifier.core.Recognition;
import com.example.imageclassifier.core.Resize;
import com.google.android.gms.tasks.Tasks;
import com.google.mlkit.common.model.LocalModel;
import com.google.mlkit.vision.common.InputImage;
import com.google.mlkit.vision.label.ImageLabel;
import com.google.mlkit.vision.label.ImageLabeler;
import com.google.mlkit.vision.label.ImageLabeling;
import com.google.mlkit.vision.label.custom.CustomImageLabelerOptions;
import java.util.ArrayList;
import java.util.List;

/**
 * ML Kit's custom image labeler on the bundled model ({@code mlkit} flavor, Gradle only: ML Kit
 * is published on Google's Maven). ML Kit reads the labels and normalization from the same
 * metadata; the image is resized here with the app's {@link Resize} to the model's input size
 * first, so ML Kit's own scaler is a no-op and both flavors feed the model the same pixels.
 */
public final class MlKitClassifier implements Classifier {
    private final ModelInfo info;
    private ImageLabeler labeler;

    public MlKitClassifier(Context context, ClassifierOptions options) throws ClassifierException {
        try {
            this.info = ModelInfo.read(ModelAssets.mapModel(context));
        } catch (ModelException e) {
            throw new ClassifierException("cannot use the model: " + e.getMessage(), e);
        }
        LocalModel localModel =
                new LocalModel.Builder().setAssetFilePath(ModelAssets.MODEL_ASSET).build();
        CustomImageLabelerOptions labelerOptions =
                new CustomImageLabelerOptions.Builder(localModel)
                        .setConfidenceThreshold(options.confidenceThreshold)
                        .setMaxResultCount(options.maxResults)
                        .build();
        this.labeler = ImageLabeling.getClient(labelerOptions);
    }

    @Override
    public ClassificationResult classify(int[] argb, int width, int height)
            throws ClassifierException {
        if (labeler == null) {
            throw new ClassifierException("the classifier is closed");
        }
        long start = System.nanoTime();
        byte[] rgb = Resize.resizeRgb(InputEncoder.argbToRgb(argb, width, height), height, width,
                info.inputHeight, info.inputWidth);
        int[] resized = new int[info.inputHeight * info.inputWidth];
        for (int i = 0; i < resized.length; i++) {
            resized[i] = 0xFF000000 | (rgb[3 * i] & 0xFF) << 16 | (rgb[3 * i + 1] & 0xFF) << 8
                    | (rgb[3 * i + 2] & 0xFF);
        }
        Bitmap bitmap = Bitmap.createBitmap(resized, info.inputWidth, info.inputHeight,
                Bitmap.Config.ARGB_8888);
        InputImage image = InputImage.fromBitmap(bitmap, 0);
        List<ImageLabel> labels;
        long runStart = System.nanoTime();
        try {
            labels = Tasks.await(labeler.process(image));
        } catch (Exception e) {
            throw new ClassifierException("ML Kit labeling failed: " + Failures.describe(e), e);
        }
        long runNanos = System.nanoTime() - runStart;
        List<Recognition> top = new ArrayList<Recognition>();
        for (ImageLabel label : labels) {
            top.add(new Recognition(label.getIndex(), label.getText(), label.getConfidence()));
        }
        return new ClassificationResult(top, runNanos, System.nanoTime() - start);
    }

    @Override
    public ModelInfo modelInfo() {
        return info;
    }

    @Override
    public String runtimeName() {
        return "ML Kit";
    }

    @Override
    public void close() {
        if (labeler != null) {
            labeler.close();
            labeler = null;
        }
    }
}
