"""tf.distribute: the --strategy choice, TF_CONFIG's checks, and a real two-worker run.

The two-worker test starts two processes on 127.0.0.1 (CPU only) that train, prune and
quantization-aware fine-tune (PQAT) the pipeline's own CNN on a small image folder, through
the pipeline's own sources (streamed from the shards, augmented, under
MultiWorkerMirroredStrategy); gradients are all-reduced every step and the activation ranges
averaged at the end, so both must end with identical weights, and the pruned kernels must have
the target sparsity.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.distribute import (
    DistributeError, global_batch_size, is_chief, placement_for, read_tf_config,
    resolve_strategy_name, strategy_for,
)
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "_mw_worker.py"
TIMEOUT_S = 150


def _tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def test_auto_picks_mirrored_only_with_several_gpus():
    assert resolve_strategy_name("auto", 0, None) == "default"
    assert resolve_strategy_name("auto", 1, None) == "default"
    assert resolve_strategy_name("auto", 2, None) == "mirrored"
    two = json.loads(_tf_config([1, 2], 0))
    one = json.loads(_tf_config([1], 0))
    assert resolve_strategy_name("auto", 0, two) == "multi-worker"
    assert resolve_strategy_name("auto", 2, one) == "mirrored"
    assert resolve_strategy_name("mirrored", 0, None) == "mirrored"


def test_unknown_strategy_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown strategy 'mirror'.*auto, default, mirrored, multi-worker"):
        strategy_for("mirror", environ={})


def test_multi_worker_without_tf_config_says_how_to_set_it():
    with pytest.raises(DistributeError, match="TF_CONFIG environment variable, which is not set") as err:
        strategy_for("multi-worker", environ={})
    assert '"cluster": {"worker"' in str(err.value)


@pytest.mark.parametrize("text, says", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {}}', "no cluster.worker list"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "no cluster.worker list"),
    ('{"cluster": {"worker": ["a:1"]}}', 'no task of type "worker"'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     r"task.index is 2, not an index into its 2 worker\(s\)"),
])
def test_malformed_tf_config_is_one_line_with_an_example(text, says):
    with pytest.raises(DistributeError, match=says) as err:
        read_tf_config({"TF_CONFIG": text})
    assert "\n" not in str(err.value) and "TF_CONFIG='{" in str(err.value)


def test_tf_config_chief():
    assert read_tf_config({}) is None
    assert is_chief({}) and is_chief({"TF_CONFIG": _tf_config([1, 2], 0)})
    assert not is_chief({"TF_CONFIG": _tf_config([1, 2], 1)})


def test_the_batch_size_is_per_replica():
    class FourReplicas:
        num_replicas_in_sync = 4

    assert global_batch_size(32, FourReplicas()) == 128


def test_the_placement_of_each_choice_on_one_machine():
    one = placement_for("default", "ckpt", environ={})
    assert (one.name, one.strategy, one.replicas, one.chief) == ("default", None, 1, True)
    assert not one.distributed and one.global_batch(32) == 32
    assert placement_for("auto", environ={"TF_CONFIG": _tf_config([1], 0)}).name in ("default", "mirrored")
    # TF_CONFIG names worker 1, but training on one device: this process writes its results
    assert placement_for("default", environ={"TF_CONFIG": _tf_config([1, 2], 1)}).chief


def test_strategy_is_an_option_checked_like_the_others():
    from pipeline.config import TrainOptions, load_config

    with pytest.raises(ConfigError, match="train.strategy = 'gpu' is not one of auto, default, mirrored, multi-worker"):
        TrainOptions(strategy="gpu")
    assert load_config(None, {"train.strategy": "mirrored"}).train.strategy == "mirrored"


def _folder(root: Path) -> Path:
    """3 classes x 24 PNGs of 12-20 px: a bright square in a class's own corner, on noise."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(("north", "east", "south")):
        (root / name).mkdir(parents=True)
        for i in range(24):
            side = int(rng.integers(12, 21))
            pixels = rng.integers(0, 90, size=(side, side, 3), dtype=np.uint8)
            y, x = [(0, 0), (0, side // 2), (side // 2, 0)][label]
            pixels[y:y + side // 2, x:x + side // 2] = 230
            Image.fromarray(pixels).save(root / name / f"{name}{i:02d}.png")
    return root


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _start(out: Path, ports, index, out_dir: Path, data: Path):
    env = dict(os.environ, TF_CONFIG=_tf_config(ports, index), CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, str(WORKER), str(out), str(out_dir), str(data)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_two_workers_end_with_identical_pruned_and_qat_weights(tmp_path):
    data = _folder(tmp_path / "data")
    ports = _free_ports(2)
    outs = [tmp_path / f"worker{i}.npz" for i in range(2)]
    procs = [_start(outs[i], ports, i, tmp_path / f"out{i}", data) for i in range(2)]
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=TIMEOUT_S)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log[-3000:]
    first, second = (np.load(o) for o in outs)
    assert int(first["replicas"]) == 2 and int(first["global_batch"]) == 16
    assert bool(first["chief"]) and not bool(second["chief"])
    # several workers take no model from the cache, so each model's finished checkpoints stay
    # (a rerun after a kill skips them) until the run's end (`invoke model` removes them then)
    assert int(first["checkpoints_left"]) == 3
    assert first["epochs"].tolist() == [-1, 0, 1, -1, 0, 1, -1, 0]  # train 2, prune 2, qat 1
    weights = sorted(k for k in first.files if k[0] in "wbq")
    assert weights and weights == sorted(k for k in second.files if k[0] in "wbq")
    for key in weights:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    assert float(first["sparsity"]) == pytest.approx(0.5, abs=0.01)
    assert not np.array_equal(first["b0"], first["w0"])  # the pruning phase changed the model
    dense = [first[k] for k in sorted(first.files) if k[0] == "q" and first[k].ndim == 2]
    assert dense and all(float(np.mean(d == 0)) > 0.3 for d in dense)  # PQAT kept the zeros


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_checkpoints(tmp_path):
    """Killed as its second training epoch begins, the same command resumes at that epoch; run
    once more, it trains nothing (every model is in the stage cache)."""
    data = _folder(tmp_path / "data")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(ROOT))
    env.pop("TF_CONFIG", None)
    outs = [tmp_path / f"run{i}.npz" for i in range(3)]
    for i, out in enumerate(outs):
        run_env = dict(env, WORKER_DIE_AT_EPOCH="1") if i == 0 else env
        done = subprocess.run([sys.executable, str(WORKER), str(out), str(tmp_path / "out"),
                               str(data), "default"],
                              cwd=ROOT, env=run_env, timeout=TIMEOUT_S, capture_output=True, text=True)
        assert done.returncode == (3 if i == 0 else 0), done.stdout[-2000:] + done.stderr[-2000:]
    assert not outs[0].exists()
    resumed, again = np.load(outs[1]), np.load(outs[2])
    # -1 starts each fit: train (2 epochs, the first restored), prune (2), qat (1)
    assert resumed["epochs"].tolist() == [-1, 1, -1, 0, 1, -1, 0]
    assert again["epochs"].tolist() == [] and int(again["checkpoints_left"]) == 0
    for key in resumed.files:
        if key[0] in "bwq":
            np.testing.assert_array_equal(resumed[key], again[key], err_msg=key)


def test_auto_default_and_mirrored_build_on_this_machine():
    from pipeline._tf import tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    auto = strategy_for("auto", environ={})
    assert auto.num_replicas_in_sync == (gpus if gpus > 1 else 1)
    assert strategy_for("default", environ={}) is tf.distribute.get_strategy()
    mirrored = strategy_for("mirrored", environ={})
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == max(gpus, 1)


@pytest.mark.slow
def test_a_worker_that_is_not_the_chief_runs_the_job_but_writes_no_model_folder(tmp_path):
    """The job of a worker other than worker 0 (here on one device, so it runs alone): every
    stage, into a scratch folder it removes; the shared data cache is kept, the model folder
    is the chief's to write."""
    from dataclasses import replace

    from pipeline.config import ConvertOptions, DataOptions, PipelineConfig, ValidateOptions
    from pipeline.distribute import Placement
    from pipeline.flow import _run_as_worker

    out = tmp_path / "models"
    out.mkdir()
    config = PipelineConfig.quick(name="digits", out_dir=str(out), data=DataOptions(image_size=12),
                                  convert=ConvertOptions(variants=("pruned_int8",)))
    config = replace(config, validate=ValidateOptions(latency_runs=2, mediapipe=False,
                                                      max_accuracy_drop=0.3, min_agreement=0.9))
    result = _run_as_worker(config, out, Placement(chief=False), lambda message: None, 0)
    assert result.model_dir == out / "digits" and not result.reused
    assert result.report["variants"]["pruned_int8"]["accuracy"] > 0.5  # it did the whole job
    assert sorted(p.name for p in out.iterdir()) == [".cache"]  # no model folder, no scratch
    assert (out / ".cache" / "data").is_dir()
