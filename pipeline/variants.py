"""The converted variants and the optimization presets: one table of what each model is.

A variant is a Keras *source* (the float baseline, the pruned model, a QAT model...) converted
with a *recipe* (float32, dynamic-range, float16, full int8 with uint8 input and output). The
sources are built by `pipeline.sources`; the recipes are applied by `pipeline.convert`.

A preset is a variant that is not converted by default and has its own Keras source
(`invoke model --presets qat,pqat,sparse24`):

  preset     variant          Keras source
  qat        qat_int8         quantization-aware training of a clone of the float baseline
  pqat       pqat_int8        pruning-preserving QAT of the pruned model (keeps its zeros)
  sparse24   sparse24_int8    structured 2:4 sparsity (2 zeros in every 4 input weights)
"""

from __future__ import annotations

from dataclasses import dataclass

RECIPES = ("float32", "dynamic", "float16", "int8")


@dataclass(frozen=True)
class Variant:
    """One converted model.

    Attributes:
      name: what `--variants` and report.json call it.
      source: the Keras model it is converted from (a key of `pipeline.sources.SOURCES`).
      recipe: the converter settings (one of RECIPES).
      description: one line for the report.
      preset: the optimization preset that adds it (None: a standard variant).
    """

    name: str
    source: str
    recipe: str
    description: str
    preset: str | None = None

    @property
    def io_dtype(self) -> str:
        return "uint8" if self.recipe == "int8" else "float32"

    @property
    def quantized(self) -> bool:
        return self.recipe == "int8"


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("float32", "baseline", "float32", "float baseline, no optimization"),
        Variant("dynamic", "baseline", "dynamic", "dynamic-range quantization (int8 weights, float I/O)"),
        Variant("float16", "baseline", "float16", "float16 weights"),
        Variant("int8", "baseline", "int8", "full int8, uint8 I/O, unpruned"),
        Variant("pruned_float32", "pruned", "float32", "pruned, float32"),
        Variant("pruned_int8", "pruned", "int8", "pruned + full int8, uint8 I/O (deployable)"),
        Variant("qat_int8", "qat", "int8",
                "quantization-aware training of the float baseline, full int8, uint8 I/O", "qat"),
        Variant("pqat_int8", "pqat", "int8",
                "pruning-preserving QAT of the pruned model, full int8, uint8 I/O", "pqat"),
        Variant("sparse24_int8", "sparse24", "int8",
                "structured 2:4 sparsity, full int8, uint8 I/O", "sparse24"),
    )
}


@dataclass(frozen=True)
class Preset:
    """A named optimization preset: `name` is what users type, `variant` what it produces."""

    name: str
    variant: str

    @property
    def source(self) -> str:
        return VARIANTS[self.variant].source

    @property
    def description(self) -> str:
        return VARIANTS[self.variant].description


PRESETS: dict[str, Preset] = {v.preset: Preset(v.preset, v.name) for v in VARIANTS.values() if v.preset}


def known_variants() -> tuple[str, ...]:
    return tuple(VARIANTS)
