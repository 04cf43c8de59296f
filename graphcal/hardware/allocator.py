"""What glibc's malloc does with a model's tensors that costs time: the pages it maps afresh.

A call of a model allocates its activations and frees them. glibc's main arena serves a request
from the best-fitting free chunk of its heap, else from the heap's top, growing the heap when the
top is too small; a request of at least the mmap threshold that the top cannot serve gets a
mapping of its own, unmapped when freed. Freeing a mapping of at most 32 MiB
(DEFAULT_MMAP_THRESHOLD_MAX on 64-bit) raises the mmap threshold to its size and the trim
threshold to twice that; a free of 64 KiB or more that leaves the top at least the trim threshold
returns the top, beyond M_TOP_PAD, to the kernel. Every page of a new mapping, and every page of
the heap the kernel took back, is a page fault when next written: `profiles init --host`
measures what one costs (memory.fresh_page_s), graphcal.mapper.fault_time applies it.

`faulted_bytes` replays one call's allocations and frees on this model until the thresholds
settle, from one of four states of the process (HEAPS), which decide how much it gives back:

- "fresh": glibc's defaults, as in a process that freed no large tensor before the model's first
  call (a model built by its constructors, with random weights);
- "loaded": the thresholds raised by a freed copy of the model's largest weight (at most 32 MiB),
  as loading a checkpoint leaves them (torch.load, then load_state_dict, drops a copy of every
  weight); what `predict` assumes unless told;
- "settled": the thresholds at their ceiling, as in a process that has freed a tensor of almost
  32 MiB (`graphcal sweep` does so before it times anything: `settle`);
- "no-trim": MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_ set (NO_TRIM_ENV): nothing is
  given back, and only a tensor of 1 GiB or more is mapped.

NB: the model leaves out the small allocations that can pin the heap's top, and the arenas of
other threads; what a process freed before the model's first call sets where between "fresh" and
"settled" it starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from graphcal.errors import GraphcalError

PAGE_BYTES = 4096
FRESH_MAPPING_BYTES = 32 * 1024**2  # DEFAULT_MMAP_THRESHOLD_MAX: larger mappings never raise the thresholds
START_THRESHOLD_BYTES = 128 * 1024  # DEFAULT_MMAP_THRESHOLD_MIN: the mmap and trim thresholds at start
TOP_PAD_BYTES = 128 * 1024  # M_TOP_PAD's default: what trimming leaves, and growth adds, at the top
TRIM_CHECK_BYTES = 64 * 1024  # FASTBIN_CONSOLIDATION_THRESHOLD: a smaller freed chunk never trims
MIN_CHUNK_BYTES = 32
ALIGNMENT_BYTES = 64  # c10's alloc_cpu asks posix_memalign for 64-byte alignment
CALLS = 4  # calls replayed: the thresholds settle in the first
NO_TRIM_ENV = {"MALLOC_TRIM_THRESHOLD_": str(2**40), "MALLOC_MMAP_THRESHOLD_": str(2**30)}
# a tensor whose mapping (its pages, the chunk's header and posix_memalign's slack: MainArena.
# allocate) is 32 MiB less a page, the largest size that still raises the thresholds
SETTLING_BYTES = FRESH_MAPPING_BYTES - 2 * PAGE_BYTES


@dataclass(frozen=True)
class HeapState:
    """The thresholds a call starts from, and whether freeing a mapping may raise them."""

    mmap_threshold: int
    trim_threshold: int
    dynamic: bool = True


def _raised_by(mapping_bytes: int) -> HeapState:
    """The thresholds once a mapping of `mapping_bytes` is freed: glibc raises the mmap threshold
    to a freed mapping larger than it, and the trim threshold to twice that; below, its defaults
    (both START_THRESHOLD_BYTES)."""
    if mapping_bytes <= START_THRESHOLD_BYTES:
        return HeapState(START_THRESHOLD_BYTES, START_THRESHOLD_BYTES)
    return HeapState(mapping_bytes, 2 * mapping_bytes)


HEAPS = {
    "fresh": "glibc's defaults: a process that freed no large tensor before the model's first call",
    "loaded": "raised by a freed copy of the model's largest weight of at most 32 MiB, as loading a checkpoint does",
    "settled": "at their ceiling: a process that has freed a tensor of almost 32 MiB, as `graphcal sweep` times in",
    "no-trim": "MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_ set high: nothing given back",
}


DEFAULT_HEAP = "loaded"  # what `predict` assumes unless told
# the state `graphcal sweep` and `compare --measure` time in (settle), and fit and compare cost their rows in
SWEEP_HEAP = "settled"


def check_heap(name: str) -> str:
    """`name` if it is one of HEAPS; else an error naming them."""
    if name not in HEAPS:
        raise GraphcalError(f"unknown heap state {name!r}: expected one of {', '.join(HEAPS)}")
    return name


def heap_state(name: str, weight_bytes: Iterable[int] = ()) -> HeapState:
    """The thresholds the HEAPS state `name` starts from, for a model whose weights (persistent
    tensors) are `weight_bytes` long."""
    check_heap(name)
    if name == "no-trim":
        return HeapState(int(NO_TRIM_ENV["MALLOC_MMAP_THRESHOLD_"]), int(NO_TRIM_ENV["MALLOC_TRIM_THRESHOLD_"]),
                         dynamic=False)
    if name == "settled":
        return _raised_by(FRESH_MAPPING_BYTES - PAGE_BYTES)
    if name == "loaded":
        mappings = [mapping_bytes(n) for n in weight_bytes]
        return _raised_by(max((m for m in mappings if m <= FRESH_MAPPING_BYTES), default=0))
    return _raised_by(0)


def chunk_bytes(nbytes: int) -> int:
    """The heap chunk glibc gives a tensor of `nbytes`: its bytes and a header, in 16-byte units."""
    return max(MIN_CHUNK_BYTES, _round_up(nbytes + 8, 16))


def mapping_bytes(nbytes: int) -> int:
    """The mapping glibc gives a tensor of `nbytes` served by mmap: posix_memalign asks malloc for
    the alignment and a chunk more, and the mapping holds that and a header, in whole pages."""
    return _round_up(chunk_bytes(nbytes) + ALIGNMENT_BYTES + MIN_CHUNK_BYTES + 8, PAGE_BYTES)


@dataclass(frozen=True)
class Allocation:
    """Tensor `key` is allocated, `nbytes` long, and written by op `owner`."""

    key: int
    nbytes: int
    owner: int


@dataclass(frozen=True)
class Release:
    """Tensor `key` is freed."""

    key: int


def faulted_bytes(events: list[Allocation | Release], start: HeapState) -> dict[int, int]:
    """Bytes of pages each op (by `owner`) faults in on every call, once the thresholds have
    settled from `start` (heap_state): the last of CALLS replays of `events`, each followed by the
    release of whatever is still allocated (the call's outputs, freed by the caller before the
    next call)."""
    arena = MainArena(start)
    faulted: dict[int, int] = {}
    for _ in range(CALLS):
        faulted = {}
        live: set[int] = set()
        for event in events:
            if isinstance(event, Allocation):
                pages = arena.allocate(event.key, event.nbytes)
                if pages:
                    faulted[event.owner] = faulted.get(event.owner, 0) + pages * PAGE_BYTES
                live.add(event.key)
            elif event.key in live:
                arena.release(event.key)
                live.discard(event.key)
        for key in live:
            arena.release(key)
    return faulted


def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to


class MainArena:
    """glibc's main arena, reduced to what decides page faults: the heap's chunks by address, its
    top and break, its resident pages, the separately mapped chunks and the two thresholds."""

    def __init__(self, state: HeapState) -> None:
        self.chunks: list[list] = []  # [start, size, free] below the top, by address
        self.top = 0        # where the top chunk starts
        self.brk = 0        # the heap's end (program break)
        self.resident = 0   # pages below this address were written since the heap last shrank
        self.mapped: dict[int, int] = {}   # key -> size of its own mapping
        self.heap: dict[int, int] = {}     # key -> start of its chunk
        self.mmap_threshold, self.trim_threshold = state.mmap_threshold, state.trim_threshold
        self.dynamic = state.dynamic

    def allocate(self, key: int, nbytes: int) -> int:
        """Serve tensor `key`; the pages written afresh."""
        chunk = chunk_bytes(nbytes)
        # NB: posix_memalign asks malloc for the alignment and a chunk more, and frees the slack
        request = chunk + ALIGNMENT_BYTES + MIN_CHUNK_BYTES
        best = min((c for c in self.chunks if c[2] and c[1] >= chunk), key=lambda c: c[1], default=None)
        if best is not None:
            start = best[0]
            at = self.chunks.index(best)
            if best[1] - chunk >= MIN_CHUNK_BYTES:
                self.chunks[at:at + 1] = [[start, chunk, False], [start + chunk, best[1] - chunk, True]]
            else:
                best[2] = False
            self.heap[key] = start
            return self._write(start, start + chunk)
        if self.brk - self.top < chunk + MIN_CHUNK_BYTES:
            if request >= self.mmap_threshold:
                self.mapped[key] = mapping_bytes(nbytes)
                return _round_up(nbytes, PAGE_BYTES) // PAGE_BYTES
            self.brk += _round_up(chunk + TOP_PAD_BYTES + MIN_CHUNK_BYTES - (self.brk - self.top), PAGE_BYTES)
        start = self.top
        self.chunks.append([start, chunk, False])
        self.top = start + chunk
        self.heap[key] = start
        return self._write(start, start + chunk)

    def release(self, key: int) -> None:
        """Free tensor `key`: unmap it (raising the thresholds), or return its chunk to the heap
        (merging it with free neighbours and the top, and trimming the top)."""
        if key in self.mapped:
            size = self.mapped.pop(key)
            if self.dynamic and self.mmap_threshold < size <= FRESH_MAPPING_BYTES:
                self.mmap_threshold, self.trim_threshold = size, 2 * size
            return
        start = self.heap.pop(key)
        at = next(i for i, c in enumerate(self.chunks) if c[0] == start)
        self.chunks[at][2] = True
        if at + 1 < len(self.chunks) and self.chunks[at + 1][2]:
            self.chunks[at][1] += self.chunks.pop(at + 1)[1]
        if at > 0 and self.chunks[at - 1][2]:
            self.chunks[at - 1][1] += self.chunks.pop(at)[1]
            at -= 1
        merged = self.chunks[at][1]
        if at == len(self.chunks) - 1:
            self.top = self.chunks.pop()[0]
            merged = self.brk - self.top
        if merged >= TRIM_CHECK_BYTES and self.brk - self.top >= self.trim_threshold:
            spare = self.brk - self.top - MIN_CHUNK_BYTES - 1 - TOP_PAD_BYTES
            if spare >= PAGE_BYTES:
                self.brk -= spare // PAGE_BYTES * PAGE_BYTES
                self.resident = min(self.resident, self.brk)

    def _write(self, start: int, end: int) -> int:
        """Pages of [start, end) written for the first time since the heap last shrank."""
        end_page = _round_up(end, PAGE_BYTES)
        if end_page <= self.resident:
            return 0
        first = max(start // PAGE_BYTES * PAGE_BYTES, self.resident)
        self.resident = end_page
        return (end_page - first) // PAGE_BYTES


def settle() -> None:
    """Raise this process's thresholds to their ceiling ("settled"): allocate, write and free a
    tensor of SETTLING_BYTES. A no-op beyond glibc."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        return
    import torch

    torch.empty(SETTLING_BYTES, dtype=torch.uint8).fill_(0)
