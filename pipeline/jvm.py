"""The app's pure Java classes on the host JVM: compile them with their JUnit tests and run them.

Public entry point: `run_jvm_goldens(goldens_dir) -> JvmRun`. The tests
(`android_app/app/src/test/`) read golden vectors written by `pipeline.goldens.write_goldens`
and write what Java produced next to them, so the fidelity table can compare it with Python.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.android.toolchain import MAVEN_ARTIFACTS, ToolchainOptions, resolve_artifact
from pipeline.errors import ToolchainError, ValidationError
from pipeline.goldens import floats_from_bits
from pipeline.runlog import output_tail

JUNIT_MAIN = "org.junit.runner.JUnitCore"
JVM_TIMEOUT_S = 300
_TEST_SOURCES = Path("app/src/test/java")
_MAIN_SOURCES = Path("app/src/main/java")


@dataclass(frozen=True)
class JvmRun:
    """One run of the host-JVM golden tests.

    Attributes:
      passed: JUnit reported success.
      tests: tests run; failures: failed tests.
      output: JUnit's console output (the failures' messages name the first differing bytes).
      results: per case id, what Java produced: input_equal, ranking_equal, top1, scores.
      seconds: compile and run times.
    """

    passed: bool
    tests: int
    failures: int
    output: str
    results: dict
    seconds: dict


def jvm_tools() -> tuple[Path, Path]:
    """(javac, java) from JAVA_HOME or PATH, or ToolchainError with the install command."""
    home = os.environ.get("JAVA_HOME")
    found = []
    for name in ("javac", "java"):
        path = Path(home) / "bin" / name if home else None
        if path is None or not path.is_file():
            which = shutil.which(name)
            path = Path(which) if which else None
        if path is None:
            raise ToolchainError(
                f"{name} (a JDK) is not on PATH, so the app's Java classes cannot be tested on the host",
                "install a JDK: sudo apt-get install default-jdk-headless (or set JAVA_HOME)",
            )
        found.append(path)
    return found[0], found[1]


def junit_classpath(options=None) -> list[Path]:
    """JUnit 4 and Hamcrest jars, fetched once with Maven into the cache outside the repository."""
    options = options or ToolchainOptions(install=False)
    return [resolve_artifact(MAVEN_ARTIFACTS[k], options) for k in ("junit", "hamcrest")]


def core_sources(app_dir: Path) -> list[Path]:
    """The app's pure Java classes: every `core/` package under app/src/main/java."""
    root = Path(app_dir) / _MAIN_SOURCES
    files = sorted(p for p in root.rglob("*.java") if p.parent.name == "core")
    if not files:
        raise ToolchainError(f"no core Java sources under {root}/**/core/",
                             "pass the repository's android_app/ folder")
    bad = [p for p in files if re.search(r"^\s*import\s+(android|androidx)\.", p.read_text("utf-8"), re.M)]
    if bad:
        raise ValidationError(
            f"core classes must not use android.* (they run on the host JVM): {', '.join(map(str, bad))}",
            "move the Android-specific code out of the core package",
        )
    return files


def host_test_sources(app_dir: Path) -> list[Path]:
    return sorted((Path(app_dir) / _TEST_SOURCES).rglob("*.java"))


def run_jvm_goldens(goldens_dir: Path, *, app_dir: Path = Path("android_app"),
                    work_dir: Path | None = None, classpath: list[Path] | None = None,
                    timeout: int = JVM_TIMEOUT_S) -> JvmRun:
    """Compile the app's core classes + host tests (`javac --release 8`) and run them with JUnit.

    The tests read `goldens_dir` (system property `goldens.dir`) and write what Java produced
    to `jvm-results.tsv` there (`goldens.results`). Raises ToolchainError when no JDK or JUnit.
    """
    javac, java = jvm_tools()
    jars = classpath if classpath is not None else junit_classpath()
    goldens_dir = Path(goldens_dir).resolve()
    sources = core_sources(app_dir) + host_test_sources(app_dir)
    tests = _test_classes(Path(app_dir) / _TEST_SOURCES)
    own_tmp = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="jvm-goldens-")) if own_tmp else Path(work_dir)
    try:
        classes = work / "classes"
        classes.mkdir(parents=True, exist_ok=True)
        cp = os.pathsep.join(str(p) for p in jars)
        t0 = time.perf_counter()
        res = subprocess.run(
            [str(javac), "--release", "8", "-encoding", "UTF-8", "-nowarn", "-Xlint:-options",
             "-cp", cp, "-d", str(classes), *map(str, sources)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        t_compile = time.perf_counter() - t0
        if res.returncode != 0:
            raise ValidationError("javac failed on the app's core classes and host tests:\n"
                                  + output_tail(res.stdout, 30, sep='\n'),
                                  "fix the Java error above (Java 8, no android.* in core/)")
        results_file = goldens_dir / "jvm-results.tsv"
        results_file.unlink(missing_ok=True)
        t0 = time.perf_counter()
        res = subprocess.run(
            [str(java), f"-Dgoldens.dir={goldens_dir}", f"-Dgoldens.results={results_file}",
             "-Dfile.encoding=UTF-8", "-cp", os.pathsep.join([str(classes), cp]), JUNIT_MAIN, *tests],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        t_run = time.perf_counter() - t0
    except subprocess.TimeoutExpired as exc:
        raise ValidationError(f"the host-JVM tests did not finish within {timeout} s ({exc.cmd[0]})",
                              "run them by hand to see where they hang") from None
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
    ok = re.search(r"^OK \((\d+) tests?\)", res.stdout, re.M)
    bad = re.search(r"^Tests run: (\d+),\s+Failures: (\d+)", res.stdout, re.M)
    tests_run = int(ok.group(1)) if ok else int(bad.group(1)) if bad else 0
    failures = 0 if ok else int(bad.group(2)) if bad else 1
    return JvmRun(passed=res.returncode == 0 and bool(ok), tests=tests_run, failures=failures,
                  output=res.stdout, results=_read_results(results_file),
                  seconds={"compile": round(t_compile, 2), "run": round(t_run, 2)})


def _test_classes(root: Path) -> list[str]:
    names = []
    for p in sorted(root.rglob("*Test.java")):
        names.append(".".join(p.relative_to(root).with_suffix("").parts))
    if not names:
        raise ToolchainError(f"no *Test.java host tests under {root}", "restore android_app/app/src/test/")
    return names


def _read_results(path: Path) -> dict:
    out = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        c = line.split("\t")
        if len(c) < 5:
            continue
        out[c[0]] = {"input_equal": c[1] == "1", "ranking_equal": c[2] == "1", "top1": int(c[3]),
                     "scores": floats_from_bits(c[4])}
    return out
