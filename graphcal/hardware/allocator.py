"""What the C allocator does with a model's tensors that costs time: fresh mappings.

glibc's malloc serves every allocation of at least 32 MiB (its largest mmap threshold,
DEFAULT_MMAP_THRESHOLD_MAX on 64-bit) with a fresh mapping and unmaps it when freed, so each call
of an op whose output is that large faults in every page of it again. `profiles init --host`
measures what a page costs (memory.fresh_page_s); graphcal.mapper.fault_time applies it.
"""

FRESH_MAPPING_BYTES = 32 * 1024**2
PAGE_BYTES = 4096
