"""The sweep CSV format: what `sweep` writes and `fit` and `compare` read.

One row per timed configuration. Files from several machines concatenate into one (same
header). `read_sweep` validates what fit and compare rely on and names the file and row of
any problem.

Besides the measurements (`role` = `measure`, or empty in files written by other tools; one row
per configuration and pass, column `pass`), a sweep ends by re-timing a random subset of its
configurations: those rows have `role` = `repeat`.

`sweep model --per-op` adds in-model rows (`scope` = `op`): one per op of a model, timed in
place inside the running model (graphcal.sweep.inmodel). Their `workload` is the model, `node`
the op's node name, and `ops` the op call itself as JSON (graphcal.load.opjson), which fit and
compare cost without the model; the model's own row has `scope` = `model`. Rows from other
sources may cover several ops (a subgraph): `ops` lists them all.
`read_sweep` leaves repeat rows out (they would count a configuration twice); `noise_floor` pairs
each with the measurement it repeats and returns the sweep's repeatability, for fit to print
beside its error.
"""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from graphcal.errors import GraphcalError

COLUMNS = (
    "workload",          # a spec that `graphcal predict` accepts
    "dtype",             # precision: fp32, bf16, ...
    "threads",           # torch.set_num_threads during timing
    "latency_s",         # minimum over interleaved rounds of each round's fastest sample (see the protocol)
    "median_s",
    "p90_s",
    "samples",
    "flops",             # exactly as predict counts them for the spec
    "bytes",
    "host_id",
    "host_cpu_model",
    "host_logical_cores",
    "host_simd",
    "torch_version",
    "torch_backend",
    "graphcal_version",
    "timestamp",
)
# Written by `graphcal sweep` after COLUMNS; optional for readers.
EXTRA_COLUMNS = (
    "best_round_median_s",  # minimum over counted rounds of the round medians (the alternative statistic)
    "role",              # measure | repeat (a re-timing at the end of the sweep; see noise_floor)
    "spread",            # (max - min) / min of the round medians: this row's own noise
    "calls_per_sample",  # back-to-back calls averaged into one sample
    "rounds",            # interleaved rounds run (counted or not; see the protocol)
    "contention",        # share of the CPU other processes used during the counted rounds
    "gauge_s",           # the protocol's speed gauge (a fixed matrix product) over the counted rounds:
                         # how fast the host was when the row was timed; op rows get their model's
    "unsupported_ops",   # ops predict could not cost ("target xN; ..."): flops/bytes miss them
    "grid",              # the grid (or "model") the row came from
    "pass",              # which timing of the whole grid this row is (1, 2, ...; see read_sweep)
    "scope",             # "" (a workload timed whole), model (a model timed with --per-op), op (in-model rows)
    "node",              # op rows: the node name(s) in the model's exported program
    "target",            # op rows: the op target(s), e.g. aten.conv2d.default
    "family",            # op rows: graphcal's cost family of the costliest op (conv, linear, ...)
    "ops",               # op rows: the op calls as JSON (graphcal.load.opjson), what fit and compare cost
    "inputs",            # models given with --input-shape: the shapes, space-separated (1x3x224x224)
    "interpreter_overhead_s",  # rows imported from an instrumented run (an FX interpreter timing each
                         # node): the instrument's estimated own cost, already subtracted from
                         # latency_s (latency_s + this = the time as measured); fit does not read it
)
SWEEP_COLUMNS = COLUMNS + EXTRA_COLUMNS
REQUIRED_FOR_FIT = ("workload", "dtype", "threads", "latency_s", "host_id")
MEASURE, REPEAT = "measure", "repeat"
MODEL_SCOPE, OP_SCOPE = "model", "op"


def complete_row(row: dict) -> dict:
    """`row` with every SWEEP_COLUMNS key (missing ones empty), in column order; a key outside
    the format is a bug."""
    unknown = set(row) - set(SWEEP_COLUMNS)
    if unknown:
        raise RuntimeError(f"not sweep columns: {sorted(unknown)}")
    return {column: row.get(column, "") for column in SWEEP_COLUMNS}


@dataclass(frozen=True)
class SweepRow:
    workload: str
    dtype: str
    threads: int
    latency_s: float
    host_id: str
    source: str           # file:line, for messages
    fields: dict          # every column as read

    @property
    def is_op(self) -> bool:
        """An in-model row: ops timed inside a model (cost them from `ops`, not `workload`)."""
        return self.fields.get("scope") == OP_SCOPE

    @property
    def node(self) -> str:
        return self.fields.get("node") or ""

    @property
    def key(self) -> tuple:
        """What identifies a configuration across passes: the workload (and node), dtype,
        threads and host."""
        return (self.workload, self.node, self.dtype, self.threads, self.host_id)


# Measurement columns that must be numbers where a row fills them (empty is allowed: files from
# other tools leave them out). Text columns, graphcal's or others', are taken as they are.
NUMERIC_COLUMNS = ("median_s", "p90_s", "samples", "flops", "bytes", "best_round_median_s", "spread",
                   "calls_per_sample", "rounds", "contention", "gauge_s")


def read_text(path: Path) -> str:
    """The file as text, refused unless it is UTF-8 whose last line ends with a newline: a
    sweep appends whole lines, so a last line without one is a row torn by a crash (or a copy
    taken mid-write), and only `sweep --resume` may cut it (repair_tail)."""
    if not path.is_file():
        raise GraphcalError(f"sweep file {path} not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise GraphcalError(f"cannot read sweep file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise GraphcalError(f"{path.name}:{line}: not a sweep CSV (not UTF-8 text)") from None
    if text and not text.endswith("\n"):
        raise GraphcalError(
            f"{path.name}:{text.count(chr(10)) + 1}: the last line has no newline: a row torn by a crash or "
            "copied mid-write? `graphcal sweep ... --resume --out` on this file cuts it; a complete row needs "
            "its newline"
        )
    return text


def _read_rows(path: Path) -> list[SweepRow]:
    """Every row of one file, repeats included, checked: as many fields as the header, the
    numbers numbers; any problem is an error naming the line."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""), strict=True)
    try:
        header = next(reader, [])
        missing = [c for c in REQUIRED_FOR_FIT if c not in header]
        if missing:
            raise GraphcalError(f"{path}: missing column(s) {', '.join(missing)}; is this a graphcal sweep file?")
        rows = []
        for fields in reader:
            if not fields:
                continue  # a blank line
            where = f"{path.name}:{reader.line_num}"
            if len(fields) != len(header):
                raise GraphcalError(
                    f"{where}: {len(fields)} field(s) where the header has {len(header)} (a torn or edited row?)"
                )
            raw = dict(zip(header, fields))
            rows.append(_typed_row(raw, where))
    except csv.Error as exc:
        raise GraphcalError(f"{path.name}:{reader.line_num}: not valid CSV ({exc})") from None
    return rows


def _typed_row(raw: dict, where: str) -> SweepRow:
    try:
        latency = float(raw["latency_s"])
        threads = int(raw["threads"])
    except (TypeError, ValueError):
        raise GraphcalError(f"{where}: latency_s and threads must be numbers") from None
    if not math.isfinite(latency) or latency <= 0:
        raise GraphcalError(f"{where}: latency_s must be a positive number, got {raw['latency_s']}")
    if threads < 1:
        raise GraphcalError(f"{where}: threads must be a positive integer, got {raw['threads']}")
    for column in NUMERIC_COLUMNS:
        text = (raw.get(column) or "").strip()
        if text and not _is_finite_number(text):
            raise GraphcalError(f"{where}: {column} must be a number, got {text[:40]!r}")
    return SweepRow(raw["workload"], raw["dtype"], threads, latency, raw["host_id"], where, raw)


def _is_finite_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def is_repeat(row: SweepRow) -> bool:
    return row.fields.get("role") == REPEAT


def read_sweep(path: Path) -> list[SweepRow]:
    """One row per configuration (workload, dtype, threads, host) of one sweep CSV, checked:
    required columns present, latencies finite and > 0, at least one row. Repeat rows are
    left out; a configuration timed in several passes is its fastest pass's row (the minimum
    over passes is the sweep's statistic), in the order the configurations first appear."""
    best: dict[tuple, SweepRow] = {}
    for row in _read_rows(path):
        if is_repeat(row):
            continue
        if row.key not in best or row.latency_s < best[row.key].latency_s:
            best[row.key] = row
    if not best:
        raise GraphcalError(f"{path}: the sweep file has no rows")
    return list(best.values())


def pass_number(row: SweepRow) -> int:
    """The row's pass (1 where the column is absent or empty: files written before passes, or
    by other tools)."""
    text = (row.fields.get("pass") or "1").strip()
    if not text.isdigit() or int(text) < 1:
        raise GraphcalError(f"{row.source}: pass must be a positive integer, got {text!r}")
    return int(text)


def repeat_pairs(paths: list[Path]) -> list[tuple[SweepRow, SweepRow]]:
    """(measurement, repeat) pairs: each repeat row with the latest earlier measurement of the
    same workload, dtype, threads and host in the same file."""
    pairs = []
    for path in paths:
        latest: dict[tuple, SweepRow] = {}
        for row in _read_rows(Path(path)):
            key = row.key
            if is_repeat(row):
                if key in latest:
                    pairs.append((latest[key], row))
            else:
                latest[key] = row
    return pairs


def relative_difference(first: float, second: float) -> float:
    """|second - first| / first."""
    return abs(second - first) / first


def noise_floor(paths: list[Path]) -> float | None:
    """The sweeps' repeatability: the median over repeat rows of |repeat - first| / first of
    latency_s (0.03 means re-timing moved a configuration by 3% typically); None when the files
    hold no repeats (a sweep stopped early, or a file from another tool)."""
    diffs = [relative_difference(m.latency_s, r.latency_s) for m, r in repeat_pairs(list(paths))]
    return statistics.median(diffs) if diffs else None


# --- writing ------------------------------------------------------------------------------------

def format_rows(rows: list[dict], header: bool) -> str:
    """CSV text of `rows` (dicts keyed by SWEEP_COLUMNS; missing keys are empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(SWEEP_COLUMNS), extrasaction="raise", lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def append_rows(path: Path, rows: list[dict]) -> None:
    """Append rows with one write() and fsync, writing the header first if the file is new or
    empty. A process killed around this call leaves whole lines: either all of `rows` or none
    (a torn last line is cut by `repair_tail` on resume)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            new = os.fstat(fd).st_size == 0
            data = format_rows(rows, header=new).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:  # a full disk, a vanished directory: the rows written before stay
        raise GraphcalError(f"cannot append to {path}: {exc.strerror or exc}") from None


def repair_tail(path: Path) -> bool:
    """Cut a torn last line (no trailing newline) off a sweep file; True if anything was cut."""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    with path.open("r+b") as handle:
        handle.truncate(data.rfind(b"\n") + 1)
    return True


def read_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), [])
    except (UnicodeDecodeError, csv.Error):
        raise GraphcalError(f"{path.name}: not a sweep CSV (not UTF-8 text, or not CSV)") from None
