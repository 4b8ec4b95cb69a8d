"""The one place that imports TensorFlow: legacy Keras (tf_keras) must be selected first.

tfmot fails on Keras 3, and it sets TF_USE_LEGACY_KERAS itself on import, so import order
decides which Keras the whole process gets. Every module imports `tf`, `keras`, `tfmot` from here.
"""

from __future__ import annotations

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402

__all__ = ["tf", "keras", "tfmot"]
