"""Keras source -> TFLite bytes with metadata: the recipe, then the facts the app reads.

Public entry points: `export_variant(model, variant, calibration, config, dataset)` and
`model_metadata(config, class_names, spec, size, io_dtype)` (names, labels, normalization and
the input value range every variant carries), `calibration_images(config, dataset)`.
"""

from __future__ import annotations

import numpy as np

from pipeline.architectures import ArchitectureSpec, get_spec
from pipeline.config import PipelineConfig
from pipeline.convert import convert_variant, representative_images
from pipeline.data import Dataset
from pipeline.metadata import ModelMetadata, write_metadata
from pipeline.train import normalize
from pipeline.variants import Variant


def calibration_images(config: PipelineConfig, dataset: Dataset) -> np.ndarray:
    """Normalized training images for int8 calibration (seeded sample)."""
    spec = get_spec(config.model.architecture)
    sample = representative_images(dataset.x_train, config.convert.representative_samples,
                                   config.data.seed)
    return normalize(sample, spec.mean, spec.std)


def export_variant(model, variant: Variant, calibration: np.ndarray | None,
                   config: PipelineConfig, dataset: Dataset) -> bytes:
    """Convert `model` with the variant's recipe and write the model's metadata into it."""
    spec = get_spec(config.model.architecture)
    raw = convert_variant(model, variant.recipe, calibration if variant.quantized else None)
    meta = model_metadata(config, dataset.class_names, spec, dataset.image_size, variant.io_dtype)
    return write_metadata(raw, meta)


def model_metadata(config: PipelineConfig, class_names, spec: ArchitectureSpec, size: int,
                   io_dtype: str) -> ModelMetadata:
    """The metadata every variant carries: names, labels, normalization, input value range."""
    if io_dtype == "uint8":
        lo, hi = 0.0, 255.0
    else:
        lo = float(min((0.0 - m) / s for m, s in zip(spec.mean, spec.std)))
        hi = float(max((255.0 - m) / s for m, s in zip(spec.mean, spec.std)))
    names = ", ".join(class_names[:8]) + (", ..." if len(class_names) > 8 else "")
    description = config.metadata.description or (
        f"Classifies {size}x{size} RGB images into {len(class_names)} classes ({names})."
    )
    return ModelMetadata(
        name=config.name, description=description, version=config.metadata.version,
        author=config.metadata.author, license=config.metadata.license,
        labels=tuple(class_names), mean=tuple(spec.mean), std=tuple(spec.std),
        input_min=lo, input_max=hi,
    )
