"""Precisions a profile can describe, parsed once at the boundary.

A precision names the coefficient table `coefficients.<precision>` of a profile and the peak
`peak_flops_per_s.<precision>`. An unknown name is an error; nothing falls back to another.
"""

from __future__ import annotations

from enum import Enum

from graphcal.errors import GraphcalError


class Precision(str, Enum):
    FP64 = "fp64"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"

    @classmethod
    def parse(cls, text: str) -> Precision:
        try:
            return cls(str(text).strip().lower())
        except ValueError:
            known = ", ".join(p.value for p in cls)
            raise GraphcalError(f"unknown precision {text!r}: use one of {known}") from None

    @property
    def torch_dtype_name(self) -> str:
        return _TORCH_DTYPE_NAMES[self]

    @property
    def element_bytes(self) -> int:
        return {"fp64": 8, "fp32": 4, "bf16": 2, "fp16": 2}[self.value]

    @classmethod
    def of_dtype(cls, dtype_name: str) -> Precision | None:
        """The precision of a floating dtype name ('float32'); None for integer and bool dtypes."""
        return _BY_DTYPE_NAME.get(dtype_name)


_TORCH_DTYPE_NAMES = {
    Precision.FP64: "float64",
    Precision.FP32: "float32",
    Precision.BF16: "bfloat16",
    Precision.FP16: "float16",
}
_BY_DTYPE_NAME = {name: precision for precision, name in _TORCH_DTYPE_NAMES.items()}
