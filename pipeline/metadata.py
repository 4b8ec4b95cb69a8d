"""TFLite metadata: the one contract between the Python pipeline and the Android app.

`write_metadata(model, meta)` packs an image-classifier metadata flatbuffer (the layout of ML Kit's
and the TFLite Task Library's classifier models) into the model and appends `labels.txt` as a zip,
exactly as tflite-support's MetadataPopulator does:

* model: a Buffer holding the metadata flatbuffer (file identifier `M001`) and a Metadata entry
  named `TFLITE_METADATA` pointing at it; `min_parser_version` computed like MediaPipe's
  `GetMinimumMetadataParserVersion`;
* input tensor 'image': ImageProperties(RGB), NormalizationOptions(mean, std), Stats(min, max);
* output tensor 'probability': FeatureProperties, Stats(0, 1), and the TENSOR_AXIS_LABELS
  associated file `labels.txt` (one label per line, output order), stored uncompressed in a zip
  appended after the flatbuffer.

`read_metadata(model)` reads it back (MediaPipe's label-splitting rules) and `read_associated_file`
returns a packed file. Problems raise `MetadataError(problem, fix)`; bytes that are not a TFLite
model raise `ModelFileError` (from `pipeline.tflite_file.parse_model`).

The metadata schema is the flatc-generated `metadata_schema_py_generated.py` (the copy MediaPipe
ships), kept in this package as `pipeline._metadata_schema_py_generated` so that writing metadata
needs only `flatbuffers`: MediaPipe is an optional extra (`.[crosscheck]`).
"""

from __future__ import annotations

import functools
import io
import math
import re
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType

import flatbuffers
import numpy as np

from pipeline.errors import MetadataError
from pipeline.tflite_file import FILE_IDENTIFIER, ModelFile, parse_model, schema_module

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
_REWRITE = "rewrite it with the pipeline's metadata stage (pipeline.metadata.write_metadata)"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # MediaPipe's ForEachLine separators
_BUFFER_ALIGNMENT = 16  # what the TFLite converter uses for buffer data


@dataclass(frozen=True)
class ModelMetadata:
    """What the app learns from the model file.

    `mean`/`std` (1 or 3 values) describe the float input: it receives (pixel - mean) / std.
    MediaPipe refuses 3 different values, so `write_metadata` requires the 3 values to be equal.
    `input_min`/`input_max` are the input tensor's value range as fed: 0, 255 for uint8 input,
    the normalized range of 0..255 for float input.
    """

    name: str
    description: str
    version: str
    author: str
    license: str
    labels: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_min: float
    input_max: float
    output_is_probability: bool = True
    labels_file: str = "labels.txt"

    def __post_init__(self):
        for name in ("labels", "mean", "std"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)):
                raise MetadataError(
                    f"ModelMetadata.{name} must be a sequence, got the string {value!r}",
                    f"pass a tuple, e.g. {name}=({value!r},)",
                )
        try:
            object.__setattr__(self, "labels", tuple(self.labels))
            object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
            object.__setattr__(self, "std", tuple(float(v) for v in self.std))
            object.__setattr__(self, "input_min", float(self.input_min))
            object.__setattr__(self, "input_max", float(self.input_max))
        except (TypeError, ValueError) as exc:
            raise MetadataError(
                f"ModelMetadata got a value of the wrong type ({exc})",
                "labels is a sequence of strings; mean, std are sequences of numbers; "
                "input_min, input_max are numbers",
            ) from None


def write_metadata(model: bytes, meta: ModelMetadata) -> bytes:
    """Return `model` with `meta` packed in (existing metadata and packed files are replaced).

    The result is read back; a field that did not round-trip raises MetadataError naming it.
    """
    _validate(meta)
    before = parse_model(model)
    _check_fits_model(before, meta)
    flat = _insert_metadata_buffer(bytes(model), _build_metadata(meta))
    out = _append_zip(flat, {meta.labels_file: _labels_text(meta.labels).encode("utf-8")})
    _verify_model_unchanged(before, parse_model(out))
    _verify_round_trip(out, meta)
    return out


def read_metadata(model: bytes) -> ModelMetadata:
    """Read the image-classifier metadata and the labels packed in `model`."""
    parsed = parse_model(model)
    raw = parsed.metadata_buffers.get(METADATA_NAME)
    if raw is None:
        raise MetadataError(
            f"the model has no TFLite metadata (no {METADATA_NAME!r} entry)",
            "run the pipeline's metadata stage (pipeline.metadata.write_metadata) on it",
        )
    md = _unpack_metadata(raw)
    graph = _only(md.subgraphMetadata, "subgraph metadata entries", 1)
    image = _only(graph.inputTensorMetadata, "input tensor metadata entries", len(parsed.inputs))
    scores = _only(graph.outputTensorMetadata, "output tensor metadata entries", len(parsed.outputs))
    mean, std = _normalization(image, parsed.tensor(parsed.inputs[0]).dtype)
    input_min, input_max = _stats(image, "input")
    labels_file = _labels_file_name(scores)
    labels = _read_labels(model, labels_file)
    _check_label_count(len(labels), parsed, labels_file)
    return ModelMetadata(
        name=_str(md.name), description=_str(md.description), version=_str(md.version),
        author=_str(md.author), license=_str(md.license), labels=labels,
        mean=mean, std=std, input_min=input_min, input_max=input_max,
        output_is_probability=_is_probability(scores), labels_file=labels_file,
    )


def read_associated_file(model: bytes, name: str) -> bytes:
    """The bytes of associated file `name` packed (zipped) after the model's flatbuffer."""
    parse_model(model)
    return _packed_file(model, name, f"associated file {name!r}")


def label_lines(text: str) -> list[str]:
    """The labels of a labels file, by MediaPipe's rule: one per line (\\n, \\r\\n or \\r); the
    final line break and one trailing empty line are dropped. (check-mlkit uses it too.)"""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the final line break
    if lines and lines[-1] == "":
        lines.pop()  # MediaPipe also drops one trailing empty line
    return lines


# ----------------------------------------------------------------------------- schema


@functools.cache
def metadata_schema() -> ModuleType:
    """The generated TFLite metadata schema module (ModelMetadataT, TensorMetadataT, ...)."""
    return _mfb()


def _mfb() -> ModuleType:
    """The generated metadata schema module (a copy in this package; only needs flatbuffers)."""
    from pipeline import _metadata_schema_py_generated as module

    return module


# ----------------------------------------------------------------------------- validation


def _validate(meta: ModelMetadata) -> None:
    """Reject metadata the app could not use, naming the field and the allowed values."""
    if not isinstance(meta, ModelMetadata):
        raise MetadataError(f"expected a ModelMetadata, got {type(meta).__name__}",
                            "build a pipeline.metadata.ModelMetadata")
    for name in ("name", "description", "version", "author", "license", "labels_file"):
        if not isinstance(getattr(meta, name), str):
            raise MetadataError(f"ModelMetadata.{name} must be a string, got {getattr(meta, name)!r}",
                                f"pass {name} as text")
    if not meta.name.strip():
        raise MetadataError("ModelMetadata.name is empty",
                            "give the model a name (shown by metadata viewers and the app)")
    _validate_labels(meta.labels)
    _validate_normalization(meta.mean, meta.std)
    lo, hi = meta.input_min, meta.input_max
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise MetadataError(
            f"input_min/input_max must be finite with input_min < input_max, got ({lo}, {hi})",
            "use 0, 255 for uint8 input, or the normalized range of 0..255 for float input",
        )
    file = meta.labels_file
    if not file or file != Path(file).name or "\\" in file:
        raise MetadataError(f"labels_file must be a plain file name, got {file!r}",
                            'use labels_file="labels.txt"')


def _validate_labels(labels: tuple) -> None:
    if not labels:
        raise MetadataError("the label list is empty", "pass one label per output class, in output order")
    for i, label in enumerate(labels):
        where = f"label {i} ({label!r})"
        if not isinstance(label, str):
            raise MetadataError(f"{where} is not a string", "pass labels as text")
        if not label:
            raise MetadataError(f"label {i} is empty", "give every class a non-empty name")
        if len(label.splitlines()) != 1 or label.endswith(("\n", "\r")):
            raise MetadataError(f"{where} contains a line break",
                                "labels.txt holds one label per line; remove the line break")
        if label != label.strip():
            raise MetadataError(f"{where} has leading or trailing whitespace", f"use {label.strip()!r}")
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise MetadataError(f"label {label!r} appears twice (positions {seen[label]} and {i})",
                                "make every label unique")
        seen[label] = i


def _validate_normalization(mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    if len(mean) not in (1, 3) or len(std) != len(mean):
        raise MetadataError(
            f"mean and std must both have 1 or 3 values (per RGB channel), got {len(mean)} and {len(std)}",
            "e.g. mean=(127.5,), std=(127.5,) or mean=(0, 0, 0), std=(255, 255, 255)",
        )
    if not all(math.isfinite(v) for v in mean) or not all(math.isfinite(s) and s > 0 for s in std):
        raise MetadataError(f"mean must be finite and std finite and > 0, got mean={mean}, std={std}",
                            "fix the normalization values")
    if len(set(mean)) > 1 or len(set(std)) > 1:
        raise MetadataError(
            f"per-channel normalization (mean={mean}, std={std}) is refused by MediaPipe's "
            "ImageClassifier ('Per-channel image normalization is not available')",
            "use one mean and one std for all channels, or do the per-channel scaling inside the model",
        )


def _check_fits_model(model: ModelFile, meta: ModelMetadata) -> None:
    """The metadata must describe this model: one RGB image in, one score per label out."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise MetadataError(
            f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; an image "
            "classifier has one image input and one score output",
            "export the classifier with a single input and a single (softmax) output",
        )
    image, scores = model.tensor(model.inputs[0]), model.tensor(model.outputs[0])
    if image.dtype not in ("uint8", "float32"):
        raise MetadataError(
            f"the model's input tensor is {image.dtype}; ML Kit and MediaPipe accept uint8 or "
            "float32 image input",
            "convert with inference_input_type=tf.uint8 (or leave the input float32)",
        )
    if len(image.shape) != 4 or image.shape[-1] != 3:
        raise MetadataError(
            f"the model's input shape is {image.shape}; an RGB image input is "
            "1 x height x width x 3 (NHWC)",
            "export the model with an NHWC RGB input",
        )
    classes = scores.shape[-1] if scores.shape else 1
    if classes != len(meta.labels):
        raise MetadataError(
            f"the model outputs {classes} class scores but {len(meta.labels)} labels were given",
            "pass exactly one label per output class, in output order",
        )
    _check_input_range(image.dtype, meta)


def _check_input_range(dtype: str, meta: ModelMetadata) -> None:
    if dtype == "uint8":
        lo, hi = 0.0, 255.0
        why = "the model's input is uint8, which is fed raw pixels 0..255"
    else:
        mean = np.broadcast_to(np.asarray(meta.mean, np.float64), (3,))
        std = np.broadcast_to(np.asarray(meta.std, np.float64), (3,))
        lo, hi = float(np.min((0 - mean) / std)), float(np.max((255 - mean) / std))
        why = "the float input is fed (pixel - mean) / std for pixels 0..255, which spans that range"
    if not (math.isclose(meta.input_min, lo, rel_tol=1e-4, abs_tol=1e-6)
            and math.isclose(meta.input_max, hi, rel_tol=1e-4, abs_tol=1e-6)):
        raise MetadataError(
            f"input_min/input_max are ({meta.input_min:.6g}, {meta.input_max:.6g}) but should be "
            f"({lo:.6g}, {hi:.6g}): {why}",
            f"use input_min={lo:.6g}, input_max={hi:.6g}",
        )


# ----------------------------------------------------------------------------- writing


def _build_metadata(meta: ModelMetadata) -> bytes:
    """The metadata flatbuffer (identifier M001) for an image classifier."""
    mfb = _mfb()
    graph = mfb.SubGraphMetadataT()
    graph.name = "image_classifier"
    graph.inputTensorMetadata = [_image_metadata(meta)]
    graph.outputTensorMetadata = [_scores_metadata(meta)]
    md = mfb.ModelMetadataT()
    md.name, md.description, md.version = meta.name, meta.description, meta.version
    md.author, md.license = meta.author, meta.license
    md.subgraphMetadata = [graph]
    md.minParserVersion = _min_parser_version(md)
    builder = flatbuffers.Builder(1024)
    builder.Finish(md.Pack(builder), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def _image_metadata(meta: ModelMetadata):
    mfb = _mfb()
    tensor = mfb.TensorMetadataT()
    tensor.name = "image"
    tensor.description = "Input image to be classified: RGB pixels, (pixel - mean) / std for float input."
    tensor.content = mfb.ContentT()
    tensor.content.contentPropertiesType = mfb.ContentProperties.ImageProperties
    tensor.content.contentProperties = mfb.ImagePropertiesT()
    tensor.content.contentProperties.colorSpace = mfb.ColorSpaceType.RGB
    norm = mfb.NormalizationOptionsT()
    norm.mean, norm.std = list(meta.mean), list(meta.std)
    unit = mfb.ProcessUnitT()
    unit.optionsType = mfb.ProcessUnitOptions.NormalizationOptions
    unit.options = norm
    tensor.processUnits = [unit]
    tensor.stats = _stats_t(meta.input_min, meta.input_max)
    return tensor


def _scores_metadata(meta: ModelMetadata):
    mfb = _mfb()
    tensor = mfb.TensorMetadataT()
    tensor.name = "probability" if meta.output_is_probability else "score"
    kind = "Probabilities" if meta.output_is_probability else "Scores"
    tensor.description = f"{kind} of the {len(meta.labels)} labels respectively."
    tensor.content = mfb.ContentT()
    tensor.content.contentPropertiesType = mfb.ContentProperties.FeatureProperties
    tensor.content.contentProperties = mfb.FeaturePropertiesT()
    if meta.output_is_probability:
        tensor.stats = _stats_t(0.0, 1.0)
    labels = mfb.AssociatedFileT()
    labels.name = meta.labels_file
    labels.description = "Labels for categories that the model can recognize."
    labels.type = mfb.AssociatedFileType.TENSOR_AXIS_LABELS
    tensor.associatedFiles = [labels]
    return tensor


def _stats_t(lo: float, hi: float):
    stats = _mfb().StatsT()
    stats.min, stats.max = [lo], [hi]
    return stats


def _min_parser_version(md) -> str:
    """MediaPipe's GetMinimumMetadataParserVersion, on the object API (version each field came in)."""
    mfb = _mfb()
    found = [(1, 0, 0)]

    def files(items):
        for f in items or []:
            found.append((1, 0, 1) if f.type == mfb.AssociatedFileType.VOCABULARY else (1, 0, 0))
            found.append((1, 4, 0) if f.type == mfb.AssociatedFileType.SCANN_INDEX_FILE else (1, 0, 0))
            found.append((1, 4, 1) if f.version is not None else (1, 0, 0))

    def units(items):
        introduced = {
            mfb.ProcessUnitOptions.BertTokenizerOptions: (1, 1, 0),
            mfb.ProcessUnitOptions.SentencePieceTokenizerOptions: (1, 1, 0),
            mfb.ProcessUnitOptions.RegexTokenizerOptions: (1, 2, 1),
        }
        found.extend(introduced.get(u.optionsType, (1, 0, 0)) for u in items or [])

    for graph in md.subgraphMetadata or []:
        for tensor in (graph.inputTensorMetadata or []) + (graph.outputTensorMetadata or []):
            files(tensor.associatedFiles)
            units(tensor.processUnits)
            content = tensor.content
            if content is not None and content.contentPropertiesType == mfb.ContentProperties.AudioProperties:
                found.append((1, 3, 0))
        files(graph.associatedFiles)
        for attr, version in (("inputProcessUnits", (1, 1, 0)), ("outputProcessUnits", (1, 1, 0)),
                              ("inputTensorGroups", (1, 2, 0)), ("outputTensorGroups", (1, 2, 0)),
                              ("customMetadata", (1, 5, 0))):
            if getattr(graph, attr) is not None:
                found.append(version)
        units(graph.inputProcessUnits)
        units(graph.outputProcessUnits)
    files(md.associatedFiles)
    return ".".join(str(v) for v in max(found))


def _aligned_buffer_class():
    base = schema_module().BufferT
    s = schema_module()

    class _AlignedBufferT(base):
        """BufferT whose data vector is 16-byte aligned, as the TFLite converter writes it."""

        def Pack(self, builder):
            data = None
            if self.data is not None:
                payload = np.asarray(self.data, dtype=np.uint8).tobytes()
                builder.StartVector(1, len(payload), _BUFFER_ALIGNMENT)
                builder.head -= len(payload)
                builder.Bytes[builder.head:builder.head + len(payload)] = payload
                data = builder.EndVector()
            s.BufferStart(builder)
            if data is not None:
                s.BufferAddData(builder, data)
            s.BufferAddOffset(builder, self.offset)
            s.BufferAddSize(builder, self.size)
            return s.BufferEnd(builder)

    return _AlignedBufferT


def _insert_metadata_buffer(model: bytes, metadata: bytes) -> bytes:
    """Repack the model flatbuffer with `metadata` as its TFLITE_METADATA buffer (no zip after it)."""
    s = schema_module()
    obj = s.ModelT.InitFromObj(s.Model.GetRootAs(model, 0))
    if any((b.offset or 0) > 1 for b in obj.buffers or []):
        raise MetadataError(
            "the model stores its weights outside the flatbuffer (a > 2 GB model); writing metadata "
            "into such models is not supported",
            "convert a smaller model, or add metadata with the TFLite tooling that wrote it",
        )
    aligned = _aligned_buffer_class()
    buffers = []
    for old in obj.buffers or []:
        new = aligned()
        new.data, new.offset, new.size = old.data, old.offset, old.size
        buffers.append(new)
    payload = np.frombuffer(metadata, dtype=np.uint8)
    used = {0} | {t.buffer for g in obj.subgraphs or [] for t in g.tensors or []}
    used |= {e.buffer for e in obj.metadata or [] if _entry_name(e) != METADATA_NAME}
    kept, slot = [], None
    for entry in obj.metadata or []:
        if _entry_name(entry) != METADATA_NAME:
            kept.append(entry)
        elif entry.buffer in used or not 0 <= entry.buffer < len(buffers):
            continue  # a broken entry: drop it, leave the buffer alone
        elif slot is None:
            slot = entry.buffer  # replace the old metadata in place, as MetadataPopulator does
        else:
            buffers[entry.buffer].data = None  # a duplicate entry: drop it and its bytes
    if slot is None:
        buffers.append(aligned())
        slot = len(buffers) - 1
    buffers[slot].data, buffers[slot].offset, buffers[slot].size = payload, 0, 0
    entry = s.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, slot
    obj.buffers, obj.metadata = buffers, kept + [entry]
    builder = flatbuffers.Builder(len(model) + len(metadata) + 4096)
    builder.Finish(obj.Pack(builder), FILE_IDENTIFIER)
    return bytes(builder.Output())


def _entry_name(entry) -> str:
    return entry.name.decode("utf-8", "replace") if isinstance(entry.name, bytes) else str(entry.name)


def _labels_text(labels: tuple[str, ...]) -> str:
    return "".join(f"{label}\n" for label in labels)


def _append_zip(flat: bytes, files: dict[str, bytes]) -> bytes:
    """Append a zip of `files` (stored, fixed timestamps: reproducible bytes) after the flatbuffer."""
    out = io.BytesIO()
    out.write(flat)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return out.getvalue()


def _verify_model_unchanged(before: ModelFile, after: ModelFile) -> None:
    """Repacking must not change a tensor, an op or the I/O of the model."""
    same = (before.tensors == after.tensors and before.ops == after.ops
            and before.inputs == after.inputs and before.outputs == after.outputs
            and all(_same_data(a, b) for a, b in zip(before.tensors, after.tensors)))
    if not same:
        raise MetadataError(
            "the model changed while its metadata was written (tensors, ops or weights differ)",
            "this is a bug in pipeline.metadata - report it with the model file",
        )


def _same_data(a, b) -> bool:
    if a.data is None or b.data is None:
        return a.data is None and b.data is None
    return a.data.shape == b.data.shape and a.data.tobytes() == b.data.tobytes()


def _canonical(meta: ModelMetadata) -> ModelMetadata:
    """`meta` with its floats rounded to float32, as the metadata flatbuffer stores them."""
    return ModelMetadata(
        name=meta.name, description=meta.description, version=meta.version, author=meta.author,
        license=meta.license, labels=meta.labels, mean=tuple(map(_f32, meta.mean)),
        std=tuple(map(_f32, meta.std)), input_min=_f32(meta.input_min), input_max=_f32(meta.input_max),
        output_is_probability=meta.output_is_probability, labels_file=meta.labels_file,
    )


def _verify_round_trip(model: bytes, meta: ModelMetadata) -> None:
    got, want = read_metadata(model), _canonical(meta)
    diffs = [f.name for f in fields(ModelMetadata) if getattr(got, f.name) != getattr(want, f.name)]
    if diffs:
        first = diffs[0]
        raise MetadataError(
            f"the metadata did not read back as written: {', '.join(diffs)} differ "
            f"({first}: wrote {getattr(want, first)!r}, read {getattr(got, first)!r})",
            "this is a bug in pipeline.metadata - report it with the model file",
        )


# ----------------------------------------------------------------------------- reading


def _f32(value: float) -> float:
    """The shortest decimal that round-trips through float32 (0.229 stays 0.229)."""
    return float(str(np.float32(value)))


def _str(raw) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError(
            "the TFLite metadata holds a string that is not UTF-8 (malformed metadata buffer)", _REWRITE
        ) from None


def _unpack_metadata(raw: bytes):
    if len(raw) < 8 or raw[4:8] != METADATA_IDENTIFIER:
        raise MetadataError(
            f"the {METADATA_NAME!r} buffer is malformed: it lacks the metadata file identifier "
            f"{METADATA_IDENTIFIER.decode()!r} ({len(raw)} bytes)",
            _REWRITE,
        )
    mfb = _mfb()
    try:
        return mfb.ModelMetadataT.InitFromObj(mfb.ModelMetadata.GetRootAs(raw, 0))
    except Exception as exc:  # truncated / corrupted flatbuffer
        raise MetadataError(
            f"the {METADATA_NAME!r} buffer is malformed ({type(exc).__name__}: {exc})", _REWRITE
        ) from None


def _only(items, what: str, expected: int):
    count = len(items or [])
    if count != 1 or expected != 1:
        model_has = "" if expected == 1 else f" and the model has {expected}"
        raise MetadataError(
            f"the TFLite metadata has {count} {what}{model_has}; an image classifier has exactly one",
            _REWRITE,
        )
    if items[0] is None:
        raise MetadataError(f"the TFLite metadata's {what} is empty (malformed metadata buffer)", _REWRITE)
    return items[0]


def _normalization(image, dtype: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    mfb = _mfb()
    for unit in image.processUnits or []:
        if unit.optionsType == mfb.ProcessUnitOptions.NormalizationOptions and unit.options is not None:
            mean = tuple(_f32(v) for v in (unit.options.mean if unit.options.mean is not None else []))
            std = tuple(_f32(v) for v in (unit.options.std if unit.options.std is not None else []))
            return mean, std
    if dtype == "float32":
        raise MetadataError(
            "the model's input is float32 but its metadata has no NormalizationOptions "
            "(ML Kit and MediaPipe refuse such models: they cannot tell how to scale pixels)",
            _REWRITE,
        )
    return (), ()


def _stats(tensor, which: str) -> tuple[float, float]:
    stats = tensor.stats
    if stats is None or stats.min is None or stats.max is None or not len(stats.min) or not len(stats.max):
        raise MetadataError(f"the {which} tensor metadata has no Stats min/max (value range)", _REWRITE)
    return _f32(min(stats.min)), _f32(max(stats.max))


def _is_probability(scores) -> bool:
    mfb = _mfb()
    content = scores.content
    if content is None or content.contentPropertiesType != mfb.ContentProperties.FeatureProperties:
        return False
    stats = scores.stats
    return (stats is not None and stats.min is not None and stats.max is not None
            and list(stats.min) == [0.0] and list(stats.max) == [1.0])


def _labels_file_name(scores) -> str:
    mfb = _mfb()
    for f in scores.associatedFiles or []:
        if f.type == mfb.AssociatedFileType.TENSOR_AXIS_LABELS:
            return _str(f.name)
    raise MetadataError(
        "the output tensor metadata has no TENSOR_AXIS_LABELS associated file, so apps get no label names",
        "write the metadata with labels: pipeline.metadata.write_metadata",
    )


def _packed_file(model: bytes, name: str, what: str) -> bytes:
    try:
        archive = zipfile.ZipFile(io.BytesIO(model))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise MetadataError(
            f"{what} is not packed in the model: there is no zip of associated files after the flatbuffer",
            _REWRITE,
        ) from None
    with archive:
        names = archive.namelist()
        if name not in names:
            raise MetadataError(
                f"{what} is not packed in the model (packed files: {', '.join(names) or 'none'})", _REWRITE
            )
        try:
            return archive.read(name)
        except Exception as exc:  # BadZipFile (CRC), zlib.error, NotImplementedError...
            raise MetadataError(
                f"{what} is corrupt in the model's zip ({type(exc).__name__}: {exc})", _REWRITE
            ) from None


def _read_labels(model: bytes, name: str) -> tuple[str, ...]:
    raw = _packed_file(model, name, f"the labels file {name!r} named in the metadata")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MetadataError(
            f"the labels file {name!r} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            "save the labels as UTF-8 and write the metadata again",
        ) from None
    lines = label_lines(text)
    if not lines:
        raise MetadataError(f"the labels file {name!r} is empty",
                            "write the metadata with one label per output class")
    for number, label in enumerate(lines, start=1):
        if not label:
            raise MetadataError(
                f"line {number} of the labels file {name!r} is empty",
                "give every class a name, one per line in output order, and write the metadata again",
            )
    return tuple(lines)


def _check_label_count(count: int, model: ModelFile, name: str) -> None:
    scores = model.tensor(model.outputs[0])
    classes = scores.shape[-1] if scores.shape else 1
    if count != classes:
        raise MetadataError(
            f"the labels file {name!r} has {count} labels but the model outputs {classes} class scores",
            "write the metadata again with one label per output class",
        )
