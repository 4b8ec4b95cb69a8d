"""Invoke tasks for `invoke` in this repository: the task collection lives in `pipeline/cli.py`,
which the installed `tflite-pipeline` command runs too. Run `invoke --list`."""

from pipeline.cli import ns  # noqa: F401 - Invoke loads the collection named `ns`
