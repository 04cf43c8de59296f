"""Sweep: time real workloads on this machine and write them as CSV rows.

- `grid`: YAML grid files that list the workloads a sweep times;
- `workload`: a MODEL costed as predict costs it, and built for real as a callable;
- `protocol`: how one block of workloads is timed (warm-up, samples, statistics);
- `runner`: blocks timed and appended, passes, resume, shards, budget and the repeat phase;
- `progress`: the rich progress bar and the closing summary;
- `csvfile`: the sweep CSV format that `sweep` writes and `fit` and `compare` read.
"""
