"""pipeline.metadata: write/read the classifier metadata; MediaPipe (the Android C++) reads it."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import numpy as np
import pytest

import _models  # noqa: I001  (puts the checkout on sys.path, builds the tiny models)
from pipeline import metadata as md
from pipeline.errors import MetadataError, ModelFileError
from pipeline.metadata import ModelMetadata, read_associated_file, read_metadata, write_metadata
from pipeline.tflite_file import parse_model, schema_module

REWRITE = "rewrite it with the pipeline's metadata stage (pipeline.metadata.write_metadata)"
MEAN, STD = 100.0, 50.0  # float input: (p - 100) / 50 spans [-2, 3.1]


def _meta(**changes) -> ModelMetadata:
    base = ModelMetadata(
        name="tiny classifier", description="3 toy classes", version="1.0.0", author="pipeline tests",
        license="Apache-2.0", labels=_models.LABELS, mean=(0.0,), std=(255.0,), input_min=0, input_max=255,
    )
    return dataclasses.replace(base, **changes)


def _float_meta(**changes) -> ModelMetadata:
    return _meta(mean=(MEAN,), std=(STD,), input_min=(0 - MEAN) / STD, input_max=(255 - MEAN) / STD, **changes)


@pytest.fixture(scope="module")
def int8_with_meta() -> bytes:
    return write_metadata(_models.int8_model(), _meta())


@pytest.fixture(scope="module")
def float_with_meta() -> bytes:
    return write_metadata(_models.float_model(), _float_meta())


def _flatbuffer_part(model: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
        return model[: min(info.header_offset for info in archive.infolist())]


def _with_files(model: bytes, files: dict[str, bytes]) -> bytes:
    """The model's flatbuffer (metadata kept) followed by a zip of `files` instead of its own."""
    return md._append_zip(_flatbuffer_part(model), files)


def _error(call, *args) -> str:
    with pytest.raises(MetadataError) as info:
        call(*args)
    return str(info.value)


# ----------------------------------------------------------------------------- round trip


def test_round_trip_uint8(int8_with_meta):
    assert read_metadata(int8_with_meta) == _meta()


def test_round_trip_float(float_with_meta):
    got = read_metadata(float_with_meta)
    assert got == _float_meta()
    assert (got.input_min, got.input_max) == (-2.0, 3.1)  # float32-stored, read back as written


def test_per_channel_equal_values_round_trip():
    meta = _meta(mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5), input_min=-1, input_max=1)
    assert read_metadata(write_metadata(_models.float_model(), meta)) == meta


def test_round_trip_scores_not_probabilities():
    meta = _meta(output_is_probability=False, labels_file="classes.txt")
    model = write_metadata(_models.int8_model(), meta)
    assert read_metadata(model) == meta
    assert read_associated_file(model, "classes.txt") == b"cat\ndog\nbird\n"


def test_layout_matches_the_task_library(int8_with_meta):
    """M001 identifier, min parser version, tensor names, content types, stats, labels file type."""
    raw = parse_model(int8_with_meta).metadata_buffers["TFLITE_METADATA"]
    assert raw[4:8] == b"M001"
    mfb = md._mfb()
    tree = mfb.ModelMetadataT.InitFromObj(mfb.ModelMetadata.GetRootAs(raw, 0))
    assert tree.minParserVersion == b"1.0.0"
    graph = tree.subgraphMetadata[0]
    image, scores = graph.inputTensorMetadata[0], graph.outputTensorMetadata[0]
    assert image.name == b"image" and scores.name == b"probability"
    assert image.content.contentPropertiesType == mfb.ContentProperties.ImageProperties
    assert image.content.contentProperties.colorSpace == mfb.ColorSpaceType.RGB
    assert image.processUnits[0].optionsType == mfb.ProcessUnitOptions.NormalizationOptions
    assert (list(image.stats.min), list(image.stats.max)) == ([0.0], [255.0])
    assert scores.content.contentPropertiesType == mfb.ContentProperties.FeatureProperties
    assert (list(scores.stats.min), list(scores.stats.max)) == ([0.0], [1.0])
    labels = scores.associatedFiles[0]
    assert (labels.name, labels.type) == (b"labels.txt", mfb.AssociatedFileType.TENSOR_AXIS_LABELS)


def test_labels_packed_uncompressed(int8_with_meta):
    assert read_associated_file(int8_with_meta, "labels.txt") == b"cat\ndog\nbird\n"
    with zipfile.ZipFile(io.BytesIO(int8_with_meta)) as archive:
        assert [(i.filename, i.compress_type) for i in archive.infolist()] == [("labels.txt", zipfile.ZIP_STORED)]


def test_model_is_unchanged_and_buffers_aligned(int8_with_meta):
    images = _models.sample_images(4)
    np.testing.assert_array_equal(_models.run_tflite(int8_with_meta, images),
                                  _models.run_tflite(_models.int8_model(), images))
    schema = schema_module()
    root = schema.Model.GetRootAs(int8_with_meta, 0)
    for i in range(root.BuffersLength()):
        entry = root.Buffers(i)
        if entry.DataLength():
            assert entry._tab.Vector(entry._tab.Offset(4)) % 16 == 0, f"buffer {i} is not 16-byte aligned"


def test_rewrite_replaces_metadata_and_is_reproducible(int8_with_meta):
    renamed = _meta(labels=("a", "b", "c"), name="second")
    again = write_metadata(int8_with_meta, renamed)
    assert read_metadata(again) == renamed
    assert list(parse_model(again).metadata_buffers) == ["min_runtime_version", "CONVERSION_METADATA", "TFLITE_METADATA"]
    with zipfile.ZipFile(io.BytesIO(again)) as archive:
        assert archive.namelist() == ["labels.txt"]
    assert write_metadata(_models.int8_model(), _meta()) == int8_with_meta
    assert len(write_metadata(again, _meta())) == len(int8_with_meta)


def test_not_a_model_is_a_model_file_error():
    with pytest.raises(ModelFileError):
        read_metadata(b"not a model at all")
    with pytest.raises(ModelFileError):
        write_metadata(b"", _meta())


# ----------------------------------------------------------------------------- MediaPipe reads it


def _mediapipe_scores(model: bytes, images: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
    """Labels (in output order) and scores MediaPipe's ImageClassifier reports for each image."""
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=model), max_results=-1)
    names, scores = [], []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image in images:
            result = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
            categories = sorted(result.classifications[0].categories, key=lambda c: c.index)
            names.append([c.category_name for c in categories])
            scores.append([c.score for c in categories])
    return names, np.asarray(scores)


def test_mediapipe_reads_labels_uint8(int8_with_meta):
    images = _models.sample_images(4, seed=7)
    names, scores = _mediapipe_scores(int8_with_meta, images)
    assert names == [list(_models.LABELS)] * len(images)
    expected = _models.run_tflite(int8_with_meta, images).astype(np.float64) / 256  # uint8 output, scale 1/256
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_mediapipe_applies_normalization_float(float_with_meta):
    images = _models.sample_images(4, seed=8)
    names, scores = _mediapipe_scores(float_with_meta, images)
    assert names == [list(_models.LABELS)] * len(images)
    ours = _models.run_tflite(float_with_meta, (images.astype(np.float32) - MEAN) / STD)
    np.testing.assert_allclose(scores, ours, atol=1e-5)
    unnormalized = _models.run_tflite(float_with_meta, images.astype(np.float32) / 255)
    assert np.abs(scores - unnormalized).max() > 1e-3  # the check above is not vacuous


def test_mediapipe_refuses_per_channel_normalization():
    """Why write_metadata refuses different per-channel values (see test_write_refuses)."""
    meta = _float_meta()
    flat = md._insert_metadata_buffer(_models.float_model(), md._build_metadata(
        dataclasses.replace(meta, mean=(90.0, 100.0, 110.0), std=(50.0, 50.0, 50.0))))
    model = md._append_zip(flat, {"labels.txt": b"cat\ndog\nbird\n"})
    with pytest.raises(Exception, match="Per-channel image normalization is not available"):
        _mediapipe_scores(model, _models.sample_images(1))


# ----------------------------------------------------------------------------- read errors (exact text)


def test_read_no_metadata():
    assert _error(read_metadata, _models.int8_model()) == (
        "the model has no TFLite metadata (no 'TFLITE_METADATA' entry) - "
        "run the pipeline's metadata stage (pipeline.metadata.write_metadata) on it"
    )


def test_read_malformed_metadata_buffer():
    model = md._insert_metadata_buffer(_models.int8_model(), b"not metadata")
    assert _error(read_metadata, model) == (
        "the 'TFLITE_METADATA' buffer is malformed: it lacks the metadata file identifier 'M001' "
        f"(12 bytes) - {REWRITE}"
    )
    truncated = md._build_metadata(_meta())[:40]
    message = _error(read_metadata, md._insert_metadata_buffer(_models.int8_model(), truncated))
    assert message.startswith("the 'TFLITE_METADATA' buffer is malformed (") and message.endswith(REWRITE)


def _edited_metadata(meta: ModelMetadata, edit) -> bytes:
    """Our metadata flatbuffer for `meta`, changed by `edit(ModelMetadataT)` and repacked."""
    import flatbuffers

    mfb = md._mfb()
    raw = md._build_metadata(meta)
    tree = mfb.ModelMetadataT.InitFromObj(mfb.ModelMetadata.GetRootAs(raw, 0))
    edit(tree)
    builder = flatbuffers.Builder(0)
    builder.Finish(tree.Pack(builder), b"M001")
    return bytes(builder.Output())


def _output(tree):
    return tree.subgraphMetadata[0].outputTensorMetadata[0]


def _input(tree):
    return tree.subgraphMetadata[0].inputTensorMetadata[0]


def test_read_no_labels_associated_file():
    raw = _edited_metadata(_meta(), lambda tree: setattr(_output(tree), "associatedFiles", None))
    model = md._insert_metadata_buffer(_models.int8_model(), raw)
    assert _error(read_metadata, model) == (
        "the output tensor metadata has no TENSOR_AXIS_LABELS associated file, so apps get no label names - "
        "write the metadata with labels: pipeline.metadata.write_metadata"
    )


def test_read_float_input_without_normalization(float_with_meta):
    raw = _edited_metadata(_float_meta(), lambda tree: setattr(_input(tree), "processUnits", None))
    model = md._append_zip(md._insert_metadata_buffer(_models.float_model(), raw),
                           {"labels.txt": b"cat\ndog\nbird\n"})
    assert _error(read_metadata, model) == (
        "the model's input is float32 but its metadata has no NormalizationOptions (ML Kit and MediaPipe "
        f"refuse such models: they cannot tell how to scale pixels) - {REWRITE}"
    )


def test_read_uint8_input_without_normalization_or_stats(int8_with_meta):
    raw = _edited_metadata(_meta(), lambda tree: setattr(_input(tree), "processUnits", None))
    model = md._append_zip(md._insert_metadata_buffer(_models.int8_model(), raw),
                           {"labels.txt": b"cat\ndog\nbird\n"})
    assert (read_metadata(model).mean, read_metadata(model).std) == ((), ())  # uint8 input is fed raw pixels
    raw = _edited_metadata(_meta(), lambda tree: setattr(_input(tree), "stats", None))
    model = md._append_zip(md._insert_metadata_buffer(_models.int8_model(), raw),
                           {"labels.txt": b"cat\ndog\nbird\n"})
    assert _error(read_metadata, model) == f"the input tensor metadata has no Stats min/max (value range) - {REWRITE}"


def test_read_two_subgraph_metadata_entries():
    raw = _edited_metadata(_meta(), lambda tree: tree.subgraphMetadata.append(tree.subgraphMetadata[0]))
    model = md._insert_metadata_buffer(_models.int8_model(), raw)
    assert _error(read_metadata, model) == (
        f"the TFLite metadata has 2 subgraph metadata entries; an image classifier has exactly one - {REWRITE}"
    )


def test_read_labels_file_missing(int8_with_meta):
    assert _error(read_metadata, _flatbuffer_part(int8_with_meta)) == (
        "the labels file 'labels.txt' named in the metadata is not packed in the model: there is no zip of "
        f"associated files after the flatbuffer - {REWRITE}"
    )
    assert _error(read_metadata, _with_files(int8_with_meta, {"classes.txt": b"cat\ndog\nbird\n"})) == (
        "the labels file 'labels.txt' named in the metadata is not packed in the model "
        f"(packed files: classes.txt) - {REWRITE}"
    )


def test_read_labels_not_utf8(int8_with_meta):
    model = _with_files(int8_with_meta, {"labels.txt": b"cat\n\xffdog\nbird\n"})
    assert _error(read_metadata, model) == (
        "the labels file 'labels.txt' is not UTF-8 text (byte 0xff at offset 4) - "
        "save the labels as UTF-8 and write the metadata again"
    )


def test_read_empty_label_line(int8_with_meta):
    model = _with_files(int8_with_meta, {"labels.txt": b"cat\n\nbird\n"})
    assert _error(read_metadata, model) == (
        "line 2 of the labels file 'labels.txt' is empty - "
        "give every class a name, one per line in output order, and write the metadata again"
    )


def test_read_label_count_mismatch(int8_with_meta):
    model = _with_files(int8_with_meta, {"labels.txt": b"cat\ndog\n"})
    assert _error(read_metadata, model) == (
        "the labels file 'labels.txt' has 2 labels but the model outputs 3 class scores - "
        "write the metadata again with one label per output class"
    )


def test_read_splits_lines_like_mediapipe(int8_with_meta):
    """CRLF / CR line ends and one trailing blank line are accepted, as MediaPipe does."""
    model = _with_files(int8_with_meta, {"labels.txt": b"cat\r\ndog\rbird\n\n"})
    assert read_metadata(model).labels == _models.LABELS
    names, _ = _mediapipe_scores(model, _models.sample_images(1))
    assert names == [list(_models.LABELS)]


def test_read_associated_file_errors(int8_with_meta):
    assert _error(read_associated_file, int8_with_meta, "vocab.txt") == (
        f"associated file 'vocab.txt' is not packed in the model (packed files: labels.txt) - {REWRITE}"
    )
    assert _error(read_associated_file, _models.int8_model(), "labels.txt") == (
        "associated file 'labels.txt' is not packed in the model: there is no zip of associated files "
        f"after the flatbuffer - {REWRITE}"
    )


# ----------------------------------------------------------------------------- write errors (exact text)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"labels": ()}, "the label list is empty - pass one label per output class, in output order"),
        ({"labels": ("cat", "", "bird")}, "label 1 is empty - give every class a non-empty name"),
        ({"labels": ("cat", "do\ng", "bird")},
         "label 1 ('do\\ng') contains a line break - labels.txt holds one label per line; remove the line break"),
        ({"labels": ("cat", " dog", "bird")},
         "label 1 (' dog') has leading or trailing whitespace - use 'dog'"),
        ({"labels": ("cat", "dog", "cat")},
         "label 'cat' appears twice (positions 0 and 2) - make every label unique"),
        ({"labels": ("cat", "dog")},
         "the model outputs 3 class scores but 2 labels were given - pass exactly one label per output class, "
         "in output order"),
        ({"mean": (0.0, 0.0), "std": (255.0, 255.0)},
         "mean and std must both have 1 or 3 values (per RGB channel), got 2 and 2 - "
         "e.g. mean=(127.5,), std=(127.5,) or mean=(0, 0, 0), std=(255, 255, 255)"),
        ({"std": (0.0,)},
         "mean must be finite and std finite and > 0, got mean=(0.0,), std=(0.0,) - fix the normalization values"),
        ({"mean": (0.0, 1.0, 2.0), "std": (255.0, 255.0, 255.0)},
         "per-channel normalization (mean=(0.0, 1.0, 2.0), std=(255.0, 255.0, 255.0)) is refused by MediaPipe's "
         "ImageClassifier ('Per-channel image normalization is not available') - use one mean and one std for "
         "all channels, or do the per-channel scaling inside the model"),
        ({"input_min": 0, "input_max": 1},
         "input_min/input_max are (0, 1) but should be (0, 255): the model's input is uint8, which is fed raw "
         "pixels 0..255 - use input_min=0, input_max=255"),
        ({"input_min": 5, "input_max": 5},
         "input_min/input_max must be finite with input_min < input_max, got (5.0, 5.0) - "
         "use 0, 255 for uint8 input, or the normalized range of 0..255 for float input"),
        ({"name": " "}, "ModelMetadata.name is empty - give the model a name (shown by metadata viewers and the app)"),
        ({"labels_file": "dir/labels.txt"},
         "labels_file must be a plain file name, got 'dir/labels.txt' - use labels_file=\"labels.txt\""),
    ],
    ids=["no-labels", "empty-label", "newline", "whitespace", "duplicate", "count", "mean-len", "std-zero",
         "per-channel", "uint8-range", "empty-range", "name", "labels-path"],
)
def test_write_refuses(changes, message):
    assert _error(write_metadata, _models.int8_model(), _meta(**changes)) == message


def test_write_refuses_float_range_that_ignores_normalization():
    meta = _meta(mean=(127.5,), std=(127.5,), input_min=0, input_max=255)
    assert _error(write_metadata, _models.float_model(), meta) == (
        "input_min/input_max are (0, 255) but should be (-1, 1): the float input is fed (pixel - mean) / std "
        "for pixels 0..255, which spans that range - use input_min=-1, input_max=1"
    )


def test_labels_must_not_be_a_string():
    with pytest.raises(MetadataError, match=r"ModelMetadata.labels must be a sequence, got the string 'cat' - "
                                            r"pass a tuple, e\.g\. labels=\('cat',\)"):
        _meta(labels="cat")


def test_lists_are_normalized_to_tuples():
    meta = _meta(labels=["cat", "dog", "bird"], mean=[0], std=[255])
    assert meta == _meta() and isinstance(meta.labels, tuple)
