"""A torch.export program read straight from its JSON, without importing torch.

torch's own deserializer (torch._export.serde.serialize) imports torch._dynamo, which costs
more than `import torch` itself. For costing, a program is a list of aten calls with the shapes
and dtypes of what they read and write, and the program JSON states exactly that: this module
turns it into the OpGraph that `trace.graph_from_fx(torch.export.load(...).graph)` gives, node
for node (tests/test_program_json.py holds the two equal), reading it the way torch's
GraphModuleDeserializer does:

- a node's name is the name of its single tensor output, else its recorded name, and an op with
  several outputs is followed by one `getitem` node per output, named after it;
- arguments go to `args` or `kwargs` by their recorded kind (positional or keyword);
- dtypes, layouts, memory formats and devices become their `str(torch value)` text
  ("torch.float32"): no cost formula reads them.

Anything outside that common subset (higher-order ops, symbolic shapes, scripted objects,
archives too old to record argument kinds, a schema major version other than SCHEMA_MAJOR, as a
torch older or newer than the tested one may write) raises NotPlain, and the caller uses torch's
deserializer instead: slower, never different.
"""

from __future__ import annotations

import json
import keyword
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.graph import GETITEM, RESHAPE, OpGraph, OpNode, TensorMeta, innermost_module, reshape_target

# torch._export.serde.schema enums, as str() of the torch value they deserialize to
# (tests/test_program_json.py checks these tables against torch's).
SCALAR_TYPES = {
    1: "uint8", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 6: "float16", 7: "float32",
    8: "float64", 9: "complex32", 10: "complex64", 11: "complex128", 12: "bool", 13: "bfloat16",
    28: "uint16", 29: "float8_e4m3fn", 30: "float8_e5m2", 31: "float8_e4m3fnuz",
    32: "float8_e5m2fnuz", 33: "float8_e8m0fnu", 34: "uint32", 35: "uint64",
}
LAYOUTS = {
    1: "torch.sparse_coo", 2: "torch.sparse_csr", 3: "torch.sparse_csc", 4: "torch.sparse_bsr",
    5: "torch.sparse_bsc", 6: "torch._mkldnn", 7: "torch.strided",
}
MEMORY_FORMATS = {
    1: "torch.contiguous_format", 2: "torch.channels_last", 3: "torch.channels_last_3d",
    4: "torch.preserve_format",
}
POSITIONAL, KEYWORD = 1, 2
# The major version of torch._export.serde.schema this reader was written against (torch 2.13
# writes 8.20; tests/test_program_json.py checks it against the installed torch). Another major
# version goes to torch's deserializer, which reads what the installed torch can read.
SCHEMA_MAJOR = 8
# Containers of inputs and outputs that torch's pytree knows without importing anything else;
# any other type (a transformers ModelOutput, say) goes to torch, whose error names it.
PLAIN_PYTREE_TYPES = {
    None, "builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict",
    "collections.defaultdict", "collections.deque", "torch.fx.immutable_collections.immutable_list",
    "torch.fx.immutable_collections.immutable_dict",
}
OP_PREFIX = "torch.ops."


class NotPlain(Exception):
    """The program uses something this reader does not handle; use torch's deserializer."""


def read_graph(program: dict, model: str) -> tuple[OpGraph, list[TensorMeta], list[TensorMeta]]:
    """(the OpGraph, every placeholder tensor, the user-input tensors) of a program JSON."""
    try:
        return _Reader(program).read(model)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise NotPlain(f"unexpected program layout ({type(exc).__name__}: {exc})") from None


class _Reader:
    def __init__(self, program: dict) -> None:
        self.program = program
        self.graph = program["graph_module"]["graph"]
        self.signature = program["graph_module"]["signature"]
        self.tensor_values = self.graph["tensor_values"]
        self.tensors: dict[str, TensorMeta] = {}
        self.made: set[str] = set()  # names of the tensors an op of the graph made (the rest are handed in)
        self.model = ""
        # as graphcal.load.trace.persistent_inputs reads them from a live program
        self.persistent = {spec[kind]["arg"]["name"] for spec in self.signature["input_specs"]
                           for kind in ("parameter", "buffer", "tensor_constant")
                           if kind in spec and "name" in spec[kind].get("arg", {})}

    def read(self, model: str) -> tuple[OpGraph, list[TensorMeta], list[TensorMeta]]:
        major = (self.program.get("schema_version") or {}).get("major", SCHEMA_MAJOR)
        if major != SCHEMA_MAJOR:
            raise NotPlain(f"program schema major version {major}, this reader knows {SCHEMA_MAJOR}")
        self.model = model
        self.check_pytree_types()
        nodes: list[OpNode] = []
        for node in self.graph["nodes"]:
            nodes.extend(self.op_nodes(node))
        # the state the nodes read (tensors are made when first used; a tied weight's twin is not)
        state = sum(self.tensors[name].nbytes for name in self.persistent if name in self.tensors)
        placeholders = [self.tensor(arg["as_tensor"]["name"]) for arg in self.graph["inputs"] if "as_tensor" in arg]
        user_inputs = [self.tensor(spec["user_input"]["arg"]["as_tensor"]["name"])
                       for spec in self.signature["input_specs"]
                       if "user_input" in spec and "as_tensor" in spec["user_input"]["arg"]]
        return OpGraph(model=model, nodes=tuple(nodes), persistent_bytes=state), placeholders, user_inputs

    def check_pytree_types(self) -> None:
        for entry in self.program["graph_module"]["module_call_graph"]:
            signature = entry.get("signature") or {}
            for spec in (signature.get("in_spec"), signature.get("out_spec")):
                if spec and not _pytree_types(json.loads(spec)) <= PLAIN_PYTREE_TYPES:
                    raise NotPlain("inputs or outputs of a registered pytree type")

    def reshape(self, inputs: list, outputs: list) -> str:
        """A reshape's target by its input's recorded strides (graph.reshape_target)."""
        try:
            source = self.tensor_values[inputs[0]["arg"]["as_tensor"]["name"]]
            result = self.tensor_values[outputs[0]["as_tensor"]["name"]]
            sizes = [d["as_int"] for d in source["sizes"]]
            strides = [d["as_int"] for d in source["strides"]]
            new_sizes = [d["as_int"] for d in result["sizes"]]
        except (KeyError, IndexError, TypeError):
            raise NotPlain("a reshape without static sizes and strides") from None
        return reshape_target(tuple(sizes), tuple(strides), tuple(new_sizes))

    def tensor(self, name: str) -> TensorMeta:
        """The metadata of a tensor value, made when first used (as the FX path makes it)."""
        if name not in self.tensors:
            if name not in self.tensor_values:
                raise NotPlain(f"tensor {name!r} has no recorded metadata")
            try:
                self.tensors[name] = _tensor_meta(self.tensor_values[name], name in self.persistent)
            except GraphcalError as exc:  # an impossible shape: torch's reader would not do better
                raise GraphcalError(f"{self.model}: tensor {name!r}: {exc}") from None
        return self.tensors[name]

    def op_nodes(self, node: dict) -> list[OpNode]:
        target = node["target"]
        if not target.startswith(OP_PREFIX) or target.startswith(OP_PREFIX + "higher_order."):
            raise NotPlain(f"target {target!r} is not an operator overload")
        args, kwargs = self.arguments(node["inputs"])
        target = target.removeprefix(OP_PREFIX)
        if target == RESHAPE:
            target = self.reshape(node["inputs"], node["outputs"])
        module = _module(node.get("metadata") or {})
        sources = self.sources(node["inputs"])
        outputs = node["outputs"]
        if not outputs:
            return [OpNode(node["name"], target, args, kwargs, (), module, sources)]
        if len(outputs) == 1 and "as_tensor" in outputs[0]:
            name = outputs[0]["as_tensor"]["name"]
            self.made.add(name)
            return [OpNode(name, target, args, kwargs, (self.tensor(name),), module, sources)]
        if len(outputs) == 1 and "as_tensors" in outputs[0]:
            names = [t["name"] for t in outputs[0]["as_tensors"]]
        elif all("as_tensor" in out for out in outputs):
            names = [out["as_tensor"]["name"] for out in outputs]
        else:
            raise NotPlain(f"node {node['name']!r} has outputs other than tensors")
        metas = tuple(self.tensor(n) for n in names)
        self.made.update(names)
        # each getitem carries its op's module, as torch's deserializer copies it
        picked = tuple(f"{node['name']}.{i}" for i in range(len(names)))
        getitems = [OpNode(n, GETITEM, (metas, i), {}, (m,), module, picked)
                    for i, (n, m) in enumerate(zip(names, metas))]
        return [OpNode(node["name"], target, args, kwargs, metas, module, sources), *getitems]

    def sources(self, inputs: list[dict]) -> tuple[str, ...]:
        """OpNode.sources of a node's inputs (positional, then keyword, as OpNode.inputs lists
        them): a tensor an op made is named by that op's OpNode (its tensor's name here)."""
        names = []
        for named in sorted(inputs, key=lambda n: n.get("kind") != POSITIONAL):
            ((kind, value),) = named["arg"].items()
            tensors = [value] if kind == "as_tensor" else value if kind == "as_tensors" else (
                [t["as_tensor"] for t in value if "as_tensor" in t] if kind == "as_optional_tensors" else [])
            names += [t["name"] if t["name"] in self.made else "" for t in tensors]
        return tuple(names)

    def arguments(self, inputs: list[dict]) -> tuple[tuple, dict]:
        args, kwargs = [], {}
        for named in inputs:
            value = self.value(named["arg"])
            kind = named.get("kind")
            if kind == POSITIONAL:
                args.append(value)
            elif kind == KEYWORD and not keyword.iskeyword(named["name"]):
                kwargs[named["name"]] = value
            else:
                raise NotPlain(f"argument {named['name']!r} has no usable kind ({kind!r})")
        return tuple(args), kwargs

    def value(self, arg: dict) -> Any:
        ((kind, value),) = arg.items()
        if kind == "as_none":
            return None
        if kind == "as_tensor":
            return self.tensor(value["name"])
        if kind in ("as_int", "as_float", "as_bool", "as_string"):
            return float(value) if kind == "as_float" else value
        if kind in ("as_ints", "as_floats", "as_bools", "as_strings"):
            return tuple(float(v) for v in value) if kind == "as_floats" else tuple(value)
        if kind == "as_tensors":
            return tuple(self.tensor(t["name"]) for t in value)
        if kind == "as_optional_tensors":
            return tuple(None if "as_none" in t else self.tensor(t["as_tensor"]["name"]) for t in value)
        if kind == "as_scalar_type":
            return "torch." + SCALAR_TYPES[value]
        if kind == "as_layout":
            return LAYOUTS[value]
        if kind == "as_memory_format":
            return MEMORY_FORMATS[value]
        if kind == "as_device":
            return value["type"] if value.get("index") is None else f"{value['type']}:{value['index']}"
        raise NotPlain(f"argument of kind {kind!r}")


def _module(metadata: dict) -> str | None:
    """The innermost module of a node's serialized nn_module_stack, `key,path,type` entries
    joined by `;` (outermost first), as torch's serializer writes it."""
    stack = metadata.get("nn_module_stack")
    if stack is None:
        return None
    # NB: a type may hold commas (generic parameters), a key or path does not: split twice
    return innermost_module([entry.split(",", 2)[1] for entry in stack.split(";") if entry])


def _tensor_meta(meta: dict, persistent: bool) -> TensorMeta:
    sizes = []
    for size in meta["sizes"]:
        if "as_int" not in size:
            raise NotPlain("symbolic (dynamic) shapes")
        sizes.append(size["as_int"])
    if meta["dtype"] not in SCALAR_TYPES:
        raise NotPlain(f"dtype code {meta['dtype']}")
    return TensorMeta(tuple(sizes), SCALAR_TYPES[meta["dtype"]], persistent)


def _pytree_types(spec: Any) -> set:
    """Every `type` a serialized pytree spec names, at any depth."""
    if isinstance(spec, list):
        return set().union(*(_pytree_types(s) for s in spec)) if spec else set()
    if isinstance(spec, dict):
        return {spec.get("type")} | _pytree_types(spec.get("children_spec", []))
    return set()
