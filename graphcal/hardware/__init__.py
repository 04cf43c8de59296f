"""Hardware: the machines predictions are made for.

- `profile`: the YAML profile schema, `extends`, validation and lookup (shipped, user, path);
- `write`: writing a profile atomically (used by `fit` and `profiles init`);
- `host`: what machine this is (/proc/cpuinfo, torch build), read without timing anything;
- `allocator`: the C allocator's fresh mappings (their size, the page);
- `init`: `graphcal profiles init --host`, a base profile detected and probed on this machine.
"""
