"""tf.distribute: the --strategy choice, TF_CONFIG's checks, and a real two-worker run.

The two-worker test starts two processes on 127.0.0.1 (CPU only) that train, prune and
quantization-aware fine-tune (PQAT) the same tiny model under MultiWorkerMirroredStrategy;
gradients are all-reduced every step and the activation ranges averaged at the end, so both
must end with identical weights, and the pruned kernels must have the target sparsity.
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
    DistributedFit, DistributeError, global_batch_size, is_chief, read_tf_config,
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


def test_options_are_checked():
    with pytest.raises(ConfigError, match="final_sparsity must be in"):
        DistributedFit(final_sparsity=1.0)
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1"):
        DistributedFit(batch_size=0)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _start(out: Path, ports, index, checkpoints: Path):
    env = dict(os.environ, TF_CONFIG=_tf_config(ports, index), CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, str(WORKER), str(out), str(checkpoints)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_workers_end_with_identical_pruned_and_qat_weights(tmp_path):
    ports = _free_ports(2)
    outs = [tmp_path / f"worker{i}.npz" for i in range(2)]
    procs = [_start(outs[i], ports, i, tmp_path / f"ckpt{i}") for i in range(2)]
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
    weights = sorted(k for k in first.files if k[0] in "wbq")
    assert weights and weights == sorted(k for k in second.files if k[0] in "wbq")
    for key in weights:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    assert float(first["sparsity"]) == pytest.approx(0.5, abs=0.01)
    assert not np.array_equal(first["b2"], first["w2"])  # the pruning phase changed the model
    qat_kernel = next(first[k] for k in sorted(first.files) if k[0] == "q" and first[k].shape == (144, 3))
    assert float(np.mean(qat_kernel == 0)) == pytest.approx(0.5, abs=0.01)  # PQAT kept it


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_checkpoints(tmp_path):
    """Killed as its second training epoch begins, the same command resumes at that epoch; run
    once more, it does not train the finished training phase again."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(ROOT))
    env.pop("TF_CONFIG", None)
    outs = [tmp_path / f"run{i}.npz" for i in range(3)]
    for i, out in enumerate(outs):
        run_env = dict(env, WORKER_DIE_AT_EPOCH="1") if i == 0 else env
        done = subprocess.run([sys.executable, str(WORKER), str(out), str(tmp_path / "ckpt"), "default"],
                              cwd=ROOT, env=run_env, timeout=TIMEOUT_S, capture_output=True, text=True)
        assert done.returncode == (3 if i == 0 else 0), done.stdout[-2000:] + done.stderr[-2000:]
    assert not outs[0].exists()
    resumed, again = np.load(outs[1]), np.load(outs[2])
    # -1 starts each fit: train (2 epochs), prune (2), qat (1)
    assert resumed["epochs"].tolist() == [-1, 1, -1, 0, 1, -1, 0]
    assert again["epochs"].tolist() == [-1, -1, 0, 1, -1, 0]
    for key in (k for k in resumed.files if k.startswith("b")):
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
