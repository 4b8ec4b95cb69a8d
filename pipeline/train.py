"""Training of the float baseline. Public entry point: `train_baseline`."""

from __future__ import annotations

import numpy as np

from pipeline.architectures import build_model, get_spec
from pipeline.config import ModelOptions, TrainOptions
from pipeline.data import Dataset


def normalize(images: np.ndarray, mean, std) -> np.ndarray:
    """RGB uint8 pixels -> what the float model is fed: (p - mean) / std, float32."""
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    return (images.astype(np.float32) - mean) / std


def set_seed(seed: int) -> None:
    from pipeline._tf import keras, tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(model, learning_rate: float) -> None:
    from pipeline._tf import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def train_baseline(dataset: Dataset, model_options: ModelOptions, options: TrainOptions,
                   verbose: int = 2):
    """Build the architecture and train it on the training split; returns the Keras model.

    The best epoch on the validation split is kept (its weights are restored at the end).
    """
    from pipeline._tf import keras

    set_seed(options.seed)
    spec = get_spec(model_options.architecture)
    model = build_model(
        model_options.architecture, dataset.image_size, len(dataset.class_names),
        width=model_options.width, weights=model_options.weights,
    )
    compile_model(model, options.learning_rate)
    x_train = normalize(dataset.x_train, spec.mean, spec.std)
    x_val = normalize(dataset.x_val, spec.mean, spec.std)
    best = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", patience=options.epochs, restore_best_weights=True, verbose=0
    )
    model.fit(
        x_train, dataset.y_train,
        validation_data=(x_val, dataset.y_val),
        epochs=options.epochs, batch_size=options.batch_size,
        shuffle=True, verbose=verbose, callbacks=[best],
    )
    return model


def keras_predict(model, images: np.ndarray, mean, std, batch_size: int = 256) -> np.ndarray:
    """Softmax scores of a Keras model for RGB uint8 images."""
    return model.predict(normalize(images, mean, std), batch_size=batch_size, verbose=0)
