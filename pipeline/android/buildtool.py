"""Running the Android build tools: one call, its time limit, and a clean error on failure."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Mapping

from pipeline.errors import ApkError
from pipeline.runlog import output_tail

TOOL_TIMEOUT_S = 300


def run_tool(cmd: list[str], step: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
         timeout: int = TOOL_TIMEOUT_S, fix: str = "") -> str:
    """Run a build tool; a failure raises ApkError with the tool's last lines of output."""
    try:
        result = subprocess.run(cmd, env=dict(env) if env is not None else None, cwd=cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ApkError(f"{step} did not finish within {timeout} s", fix or "run it again; if it hangs, report it") from None
    except OSError as exc:
        raise ApkError(f"{step}: cannot run {cmd[0]} ({exc.strerror or exc})", fix or "check the toolchain") from None
    if result.returncode != 0:
        tail = "\n".join(result.stdout.strip().splitlines()[-15:])
        raise ApkError(f"{step} failed (exit {result.returncode}):\n{tail}",
                       fix or "this is a build bug if the sources are unchanged; report it with this output")
    return result.stdout



def last_line(output: str) -> str:
    """A tool's last line of output (cut at 300 characters), for one-line errors."""
    return output_tail(output, 1, width=300)
