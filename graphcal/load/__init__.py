"""Load: find out what MODEL names and turn it into an OpGraph (the first stage).

- `resolve`: MODEL (file, workload spec or factory) to an OpGraph, --input-shape and --factory-arg;
- `specs`: the built-in workload specs (`mlp:8:512x10`, `conv2d:...`);
- `trace`: nn.Module and FX graphs to an OpGraph;
- `graph`: the OpGraph itself (ops, tensor shapes and dtypes);
- `formats/`: model files by format (.pt2, program JSON, TorchScript, pickles) and factories.
"""

from __future__ import annotations

from graphcal.load.resolve import FACTORY, InputSpec, graph_of_spec, load_graph, parse_factory_args

__all__ = ["FACTORY", "InputSpec", "graph_of_spec", "load_graph", "parse_factory_args"]
