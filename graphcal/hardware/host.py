"""What machine this is: the fingerprint every sweep row carries, read without timing anything."""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

# SIMD flags worth recording, widest last (as /proc/cpuinfo names them).
SIMD_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_bf16",
    "amx_tile",
)


@dataclass(frozen=True)
class HostFingerprint:
    cpu_model: str
    logical_cores: int
    simd: str  # the SIMD_FLAGS present, joined by '+'
    torch_version: str
    torch_backend: str  # BLAS / oneDNN the torch build uses

    @property
    def host_id(self) -> str:
        """A short stable id of the machine and its software, for refusing mixed resumes."""
        text = "|".join(str(v) for v in asdict(self).values())
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def as_row(self) -> dict[str, str]:
        """The sweep-file columns: host_id, host_cpu_model, ..., torch_version, torch_backend."""
        row = {"host_id": self.host_id}
        for key, value in asdict(self).items():
            row[key if key.startswith("torch") else f"host_{key}"] = str(value)
        return row


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """Every processor block of /proc/cpuinfo as a dict."""
    blocks, current = [], {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _, value = line.partition(":")
        current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def core_count(blocks: list[dict[str, str]]) -> int | None:
    """Physical cores: distinct (physical id, core id) pairs of cpuinfo blocks; None where the
    blocks carry no core ids."""
    cores = {(b.get("physical id", "0"), b["core id"]) for b in blocks if "core id" in b}
    return len(cores) or None


def physical_cores() -> int:
    """This machine's physical cores (the logical count where /proc/cpuinfo cannot tell)."""
    path = Path("/proc/cpuinfo")
    blocks = parse_cpuinfo(path.read_text()) if path.is_file() else []
    return core_count(blocks) or os.cpu_count() or 1


def cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return {}
    blocks = parse_cpuinfo(path.read_text())
    return blocks[0] if blocks else {}


def cpu_model() -> str:
    return cpuinfo().get("model name") or platform.processor() or platform.machine() or "unknown"


def simd_flags() -> str:
    flags = set(cpuinfo().get("flags", "").split())
    return "+".join(f for f in SIMD_FLAGS if f in flags) or "none"


# Flags that show native bf16 arithmetic: x86's in `flags`, aarch64's (FEAT_BF16) in `Features`.
BF16_X86_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_ARM_FEATURE = "bf16"


@dataclass(frozen=True)
class Bf16Support:
    """Whether this CPU computes bf16 natively (None: cannot tell), and the evidence, in words."""

    native: bool | None
    evidence: str  # "amx_bf16 in /proc/cpuinfo flags", "no avx512_bf16 or amx_bf16 flag in /proc/cpuinfo", ...
    flag: str | None = None  # the flag that shows it, where native

    def not_native(self) -> str:
        """Why bf16 is not calibrated here, in one line (where it is not known to be native)."""
        what = "not native on this CPU" if self.native is False else "cannot tell whether it is native here"
        return f"bf16: {what} ({self.evidence}); torch runs bf16 through conversions to fp32"


def bf16_support(block: dict[str, str], source: str = "/proc/cpuinfo") -> Bf16Support:
    """Native bf16 from one processor block of /proc/cpuinfo: x86 avx512_bf16 or amx_bf16 in
    `flags`, aarch64 bf16 in `Features`."""
    if "flags" in block:
        flags = set(block["flags"].split())
        found = [f for f in BF16_X86_FLAGS if f in flags]
        if found:
            return Bf16Support(True, f"{found[-1]} in {source} flags", found[-1])  # amx_bf16 if both
        return Bf16Support(False, f"no {' or '.join(BF16_X86_FLAGS)} flag in {source}")
    if "Features" in block:
        if BF16_ARM_FEATURE in block["Features"].split():
            return Bf16Support(True, f"{BF16_ARM_FEATURE} in {source} Features", BF16_ARM_FEATURE)
        return Bf16Support(False, f"no {BF16_ARM_FEATURE} in {source} Features")
    return Bf16Support(None, f"{source} states no CPU flags")


def host_bf16_support() -> Bf16Support:
    """bf16_support of this machine's first processor."""
    return bf16_support(cpuinfo())


def torch_backend() -> str:
    import torch

    parts = [
        name
        for name, available in (
            ("onednn", torch.backends.mkldnn.is_available()),
            ("mkl", torch.backends.mkl.is_available()),
            ("openblas", "openblas" in torch.__config__.show().lower()),
        )
        if available
    ]
    return "+".join(parts) or "unknown"


def fingerprint() -> HostFingerprint:
    import torch

    return HostFingerprint(
        cpu_model=cpu_model(),
        logical_cores=os.cpu_count() or 1,
        simd=simd_flags(),
        torch_version=torch.__version__,
        torch_backend=torch_backend(),
    )
