"""What a model file holds, told from its bytes, never from its extension.

PyTorch writes its three archive formats as zip files with one root folder (named after the
file) and tells them apart by the records inside:

- torch.export.save (.pt2): `archive_format` reading `pt2`, programs under `models/`;
- torch.jit.save (TorchScript): `code/` (the scripted source) beside `data.pkl`;
- torch.save: `data.pkl` and tensor storages under `data/`, no code.

torch.save's legacy format (`_use_new_zipfile_serialization=False`) is a bare pickle stream.
Only the zip's central directory is read here: no weights, no torch import.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from graphcal.errors import GraphcalError

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
PICKLE_PROTO = b"\x80"  # pickle protocol 2 and later open with PROTO

FORMATS_HINT = (
    "expected a torch.export .pt2 archive (torch.export.save), a TorchScript archive "
    "(torch.jit.save) or a torch.save file"
)


class Kind(str, Enum):
    EXPORT = "torch.export archive"
    TORCHSCRIPT = "TorchScript archive"
    TORCH_SAVE = "torch.save file"


@dataclass(frozen=True)
class ModelFile:
    """A model file whose format is known. `records` are the zip's entry names without the
    root folder (empty for a legacy pickle)."""

    path: Path
    kind: Kind
    root: str = ""
    records: frozenset[str] = frozenset()


def inspect_file(path: Path) -> ModelFile:
    """The format of the file at `path`, or a GraphcalError saying what is wrong with it."""
    if not path.is_file():
        raise GraphcalError(f"{path}: not a regular file; {FORMATS_HINT}")
    if path.stat().st_size == 0:
        raise GraphcalError(f"{path}: the file is empty; save or download the model again")
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith(PICKLE_PROTO):
        return ModelFile(path, Kind.TORCH_SAVE)
    if head not in ZIP_MAGIC:
        raise GraphcalError(f"{path}: not a PyTorch model file; {FORMATS_HINT}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        raise GraphcalError(
            f"{path}: the zip archive is cut off or corrupt (its directory is unreadable); "
            "save or download the model again"
        ) from None
    root, records = _split_root(names)
    if root is None:
        raise GraphcalError(f"{path}: a zip archive, but not a PyTorch model; {FORMATS_HINT}")
    if "archive_format" in records or any(r.startswith("models/") for r in records):
        return ModelFile(path, Kind.EXPORT, root, records)
    if "serialized_exported_program.json" in records:
        raise GraphcalError(
            f"{path}: a torch.export archive in the pre-2.8 format, which graphcal does not read; "
            "load it with that torch and save it again with torch.export.save"
        )
    if "data.pkl" in records and any(r.startswith("code/") for r in records):
        return ModelFile(path, Kind.TORCHSCRIPT, root, records)
    if "data.pkl" in records:
        return ModelFile(path, Kind.TORCH_SAVE, root, records)
    raise GraphcalError(f"{path}: a zip archive, but not a PyTorch model; {FORMATS_HINT}")


def _split_root(names: list[str]) -> tuple[str | None, frozenset[str]]:
    """('root/', records below it) when every entry lies in one root folder, else (None, ...)."""
    roots = {name.split("/", 1)[0] for name in names}
    if len(roots) != 1 or any("/" not in name for name in names):
        return None, frozenset()
    root = roots.pop() + "/"
    return root, frozenset(name[len(root):] for name in names)
