"""pipeline.cache: content-keyed stage entries, reused when complete, never half written."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pipeline.cache import StageCache, stage_key


@dataclass(frozen=True)
class _Opts:
    epochs: int = 3
    rate: float = 0.1


def test_keys_are_stable_and_sensitive():
    assert stage_key("data", _Opts()) == stage_key("data", _Opts())
    assert stage_key("data", _Opts()) != stage_key("data", _Opts(epochs=4))
    assert stage_key("data", _Opts()) != stage_key("other", _Opts())
    assert stage_key({"b": 1, "a": 2}) == stage_key({"a": 2, "b": 1})  # dict order does not matter
    assert len(stage_key("x")) == 20


def test_second_call_reuses_the_entry(tmp_path):
    cache = StageCache(tmp_path)
    made = []

    def make(d):
        made.append(d)
        (d / "value.txt").write_text("42")

    load = lambda d: (d / "value.txt").read_text()  # noqa: E731
    assert cache.get_or_make("stage", "k1", make, load) == ("42", False)
    assert cache.get_or_make("stage", "k1", make, load) == ("42", True)
    assert len(made) == 1
    assert (cache.entry("stage", "k1") / ".complete").read_text() == "k1"


def test_disabled_cache_rebuilds_and_replaces(tmp_path):
    StageCache(tmp_path).get_or_make("s", "k", lambda d: (d / "v").write_text("old"), lambda d: None)
    value, reused = StageCache(tmp_path, enabled=False).get_or_make(
        "s", "k", lambda d: (d / "v").write_text("new"), lambda d: (d / "v").read_text())
    assert (value, reused) == ("new", False)


def test_a_failing_stage_leaves_no_entry(tmp_path):
    cache = StageCache(tmp_path)

    def make(d):
        (d / "half").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.get_or_make("s", "k", make, lambda d: None)
    assert not cache.entry("s", "k").exists()
    assert list((tmp_path / "s").iterdir()) == []  # no temporary folder left
