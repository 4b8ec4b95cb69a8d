package com.example.imageclassifier.ui;

import android.app.Activity;
import android.content.Intent;
import android.database.Cursor;
import android.graphics.Bitmap;
import android.net.Uri;
import android.os.Bundle;
import android.provider.OpenableColumns;
import android.view.View;
import android.widget.ImageView;
import android.widget.LinearLayout;
import android.widget.TextView;
import com.example.imageclassifier.ClassifierFactory;
import com.example.imageclassifier.ModelAssets;
import com.example.imageclassifier.R;
import com.example.imageclassifier.core.ClassificationResult;
import com.example.imageclassifier.core.Classifier;
import com.example.imageclassifier.core.ClassifierOptions;
import com.example.imageclassifier.core.Failures;
import com.example.imageclassifier.core.ModelInfo;
import com.example.imageclassifier.core.Recognition;
import java.io.InputStream;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Picks an image (system picker or a bundled sample), classifies it off the main thread and
 * shows the top labels with their confidence and the inference time. It only renders: loading
 * and running the model is {@link ClassifierFactory}'s and {@link Classifier}'s job.
 */
public class MainActivity extends Activity {
    private static final int REQUEST_PICK_IMAGE = 1;
    private static final int THUMBNAIL_DP = 72;
    private static final int LABELS_SHOWN = 10;
    /** Saved-state keys: what is on screen, and where the image came from (to restore it). */
    private static final String STATE_SOURCE = "source";
    private static final String STATE_RESULTS = "results";
    private static final String STATE_TIMING = "timing";
    private static final String STATE_ASSET = "asset";
    private static final String STATE_URI = "uri";

    /** One thread owns the classifier: it is created, used and closed there. */
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private Classifier classifier;
    private String loadError;

    private TextView modelInfoView;
    private ImageView previewView;
    private TextView sourceView;
    private TextView resultsView;
    private TextView timingView;
    private LinearLayout samplesStrip;
    /** The image on screen: a bundled asset path or a picked URI (one of them, or neither). */
    private String shownAsset;
    private Uri shownUri;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        modelInfoView = (TextView) findViewById(R.id.model_info);
        previewView = (ImageView) findViewById(R.id.preview);
        sourceView = (TextView) findViewById(R.id.image_source);
        resultsView = (TextView) findViewById(R.id.results);
        timingView = (TextView) findViewById(R.id.timing);
        samplesStrip = (LinearLayout) findViewById(R.id.samples);
        findViewById(R.id.pick).setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                pickImage();
            }
        });
        worker.execute(new Runnable() {
            @Override
            public void run() {
                loadModel();
            }
        });
        loadSampleStrip();
        if (savedInstanceState != null) {
            restore(savedInstanceState);
        }
    }

    @Override
    protected void onSaveInstanceState(Bundle out) {
        super.onSaveInstanceState(out);
        out.putCharSequence(STATE_SOURCE, sourceView.getText());
        out.putCharSequence(STATE_RESULTS, resultsView.getText());
        out.putCharSequence(STATE_TIMING, timingView.getText());
        out.putString(STATE_ASSET, shownAsset);
        out.putParcelable(STATE_URI, shownUri);
    }

    /** Puts the last result back on screen, then classifies its image again for the preview. */
    private void restore(Bundle state) {
        sourceView.setText(state.getCharSequence(STATE_SOURCE));
        resultsView.setText(state.getCharSequence(STATE_RESULTS));
        timingView.setText(state.getCharSequence(STATE_TIMING));
        String asset = state.getString(STATE_ASSET);
        Uri uri = state.getParcelable(STATE_URI);
        if (asset != null) {
            classifyAsset(asset);
        } else if (uri != null) {
            classifyUri(uri);
        }
    }

    @Override
    protected void onDestroy() {
        worker.execute(new Runnable() {
            @Override
            public void run() {
                if (classifier != null) {
                    classifier.close();
                    classifier = null;
                }
            }
        });
        worker.shutdown();
        super.onDestroy();
    }

    private void loadModel() {
        try {
            classifier = ClassifierFactory.create(this, ClassifierOptions.forUi());
            final ModelInfo info = classifier.modelInfo();
            final String runtime = classifier.runtimeName();
            runOnUiThread(new Runnable() {
                @Override
                public void run() {
                    modelInfoView.setText(getString(R.string.model_info, runtime, info.toString(),
                            info.labelSummary(LABELS_SHOWN)));
                }
            });
        } catch (Throwable t) { // an Error too: UnsatisfiedLinkError when the runtime cannot load
            loadError = Failures.describe(t);
            showError(loadError);
        }
    }

    private void pickImage() {
        Intent intent = new Intent(Intent.ACTION_GET_CONTENT);
        intent.setType("image/*");
        intent.addCategory(Intent.CATEGORY_OPENABLE);
        startActivityForResult(Intent.createChooser(intent, getString(R.string.pick_image)),
                REQUEST_PICK_IMAGE);
    }

    @Override
    protected void onActivityResult(int requestCode, int resultCode, Intent data) {
        super.onActivityResult(requestCode, resultCode, data);
        if (requestCode == REQUEST_PICK_IMAGE && resultCode == RESULT_OK && data != null
                && data.getData() != null) {
            classifyUri(data.getData());
        }
    }

    private void classifyUri(final Uri uri) {
        classifyAsync(null, uri, new Opener() {
            @Override
            public InputStream open() throws Exception {
                return getContentResolver().openInputStream(uri);
            }
        });
    }

    private void classifyAsset(final String path) {
        classifyAsync(path, null, new Opener() {
            @Override
            public InputStream open() throws Exception {
                return getAssets().open(path);
            }
        });
    }

    /** The picked file's name as the provider reports it (not "image:1234"); on the worker. */
    private String displayName(Uri uri) {
        Cursor cursor = null;
        try {
            cursor = getContentResolver().query(uri, new String[] {OpenableColumns.DISPLAY_NAME},
                    null, null, null);
            if (cursor != null && cursor.moveToFirst()) {
                int column = cursor.getColumnIndex(OpenableColumns.DISPLAY_NAME);
                String name = column >= 0 ? cursor.getString(column) : null;
                if (name != null && !name.trim().isEmpty()) {
                    return name;
                }
            }
        } catch (RuntimeException e) {
            // a provider without a name column: fall back to the URI
        } finally {
            if (cursor != null) {
                cursor.close();
            }
        }
        String last = uri.getLastPathSegment();
        return last != null ? last : uri.toString();
    }

    /** Fills the strip with the bundled samples (decoded off the main thread). */
    private void loadSampleStrip() {
        final List<String> paths = ModelAssets.samplePaths(this);
        if (paths.isEmpty()) {
            ((TextView) findViewById(R.id.samples_title)).setText(R.string.no_samples);
            return;
        }
        final int size = Math.round(THUMBNAIL_DP * getResources().getDisplayMetrics().density);
        worker.execute(new Runnable() {
            @Override
            public void run() {
                for (final String path : paths) {
                    final Bitmap thumbnail;
                    try {
                        thumbnail = DecodedImage.decode(getAssets().open(path)).preview;
                    } catch (Throwable t) {
                        continue; // an unreadable (or too large) sample is left out of the strip
                    }
                    runOnUiThread(new Runnable() {
                        @Override
                        public void run() {
                            addSample(path, thumbnail, size);
                        }
                    });
                }
            }
        });
    }

    private void addSample(final String path, Bitmap thumbnail, int size) {
        ImageView view = new ImageView(this);
        LinearLayout.LayoutParams params = new LinearLayout.LayoutParams(size, size);
        params.setMargins(0, 0, size / 8, 0);
        view.setLayoutParams(params);
        view.setScaleType(ImageView.ScaleType.FIT_CENTER);
        view.setImageBitmap(thumbnail);
        view.setContentDescription(path);
        view.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                classifyAsset(path);
            }
        });
        samplesStrip.addView(view);
    }

    /** Opens the image's bytes on the worker thread. */
    private interface Opener {
        InputStream open() throws Exception;
    }

    /** Classifies a bundled sample ({@code asset}) or a picked image ({@code uri}). */
    private void classifyAsync(final String asset, final Uri uri, final Opener opener) {
        worker.execute(new Runnable() {
            @Override
            public void run() {
                final String name = asset != null ? asset.substring(asset.lastIndexOf('/') + 1)
                        : displayName(uri);
                if (classifier == null) {
                    showError(loadError != null ? loadError : getString(R.string.loading_model));
                    return;
                }
                try {
                    final DecodedImage image = DecodedImage.decode(opener.open());
                    final ClassificationResult result =
                            classifier.classify(image.argb, image.width, image.height);
                    final String runtime = classifier.runtimeName();
                    runOnUiThread(new Runnable() {
                        @Override
                        public void run() {
                            shownAsset = asset;
                            shownUri = uri;
                            render(name, image, result, runtime);
                        }
                    });
                } catch (Throwable t) { // OutOfMemoryError on a huge photo must not kill the app
                    showError(Failures.describe(t));
                }
            }
        });
    }

    private void render(String name, DecodedImage image, ClassificationResult result,
            String runtime) {
        previewView.setImageBitmap(image.preview);
        sourceView.setText(getString(R.string.image_source, name, image.width, image.height));
        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < result.top.size(); i++) {
            Recognition r = result.top.get(i);
            if (i > 0) {
                lines.append('\n');
            }
            lines.append(getString(R.string.result_line, i + 1, r.label, 100f * r.score));
        }
        resultsView.setText(lines.length() > 0 ? lines.toString() : getString(R.string.no_result));
        timingView.setText(String.format(Locale.getDefault(), getString(R.string.timing), runtime,
                result.inferenceNanos / 1e6, result.totalNanos / 1e6));
    }

    private void showError(final String message) {
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                resultsView.setText(getString(R.string.error, message));
            }
        });
    }
}
