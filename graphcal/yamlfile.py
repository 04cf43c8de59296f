"""Strict YAML for graphcal's own files (hardware profiles, sweep grids): what a number is, and
what a file may not do.

PyYAML's SafeLoader reads YAML 1.1, where these go wrong for a file of measured facts:

- `5e-6`, `75e9` and `1.5e2` are strings (1.1's float needs a dot and a signed exponent);
  YAML 1.2 and every reader of the files expect numbers, so they are read as floats here.
- `.inf` and `.nan` are floats, which a rate or an overhead must never be, and JSON cannot
  print; integers of thousands of digits stop at Python's int conversion limit with a
  ValueError. Any number that is not finite or whose magnitude exceeds MAX_MAGNITUDE is an error.
- aliases (`*name`) let a few lines expand to gigabytes (the "billion laughs"). yaml.safe_dump
  itself writes aliases for shared values, so they are allowed, but a document whose aliases
  expand to more than MAX_NODES values (counted without expanding them) is refused, as is an
  alias inside its own anchor.
- a duplicate key silently takes its last value: refused, naming both lines.
- an unquoted date becomes a datetime, which JSON cannot print: kept as its text. `!!binary`,
  `!!set`, `!!omap` and `!!pairs` have no use in these files: refused.

Every problem is a GraphcalError of one line, `file:line:col: message`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from graphcal.errors import GraphcalError

MAX_MAGNITUDE = 1e30   # far above any rate, size or count a profile or grid states
MAX_INT_DIGITS = 31    # checked before conversion (10**30 has 31 digits)
MAX_NODES = 100_000    # values in a document with its aliases expanded (a profile has about 100)

# YAML 1.2's float forms that YAML 1.1 reads as strings: an exponent without a dot or without a
# sign (5e-6, 75E9, 1.5e2).
EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
REFUSED_TAGS = ("binary", "set", "omap", "pairs")


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 exponent floats, bounded finite numbers, bounded alias expansion
    and no duplicate keys."""

    def compose_document(self):
        node = super().compose_document()
        if _expanded_size(node, {}) > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"aliases expand to more than {MAX_NODES} values (an alias bomb?)", node.start_mark
            )
        return node

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in first_line:
                raise _error(key_node, f"duplicate key {key!r} (first at line {first_line[key]})")
            first_line[key] = key_node.start_mark.line + 1
        return mapping


def _expanded_size(node, sizes: dict) -> int:
    """Nodes in the document with every alias written out, counted without writing them out
    (each shared node once, times its uses); a node that contains itself is an error."""
    key = id(node)
    if key in sizes:
        if sizes[key] is None:
            raise yaml.composer.ComposerError(None, None, "an alias refers to its own anchor", node.start_mark)
        return sizes[key]
    sizes[key] = None
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, sizes) for item in node.value)
    else:
        size = 1
    sizes[key] = size
    return size


def _error(node, message: str) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, message, node.start_mark)


def _bounded(node, value):
    if not math.isfinite(value):
        raise _error(node, f"{node.value} is not a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise _error(node, f"{node.value} is too large (at most {MAX_MAGNITUDE:g} in magnitude)")
    return value


def _construct_int(loader, node):
    digits = sum(c.isdigit() for c in str(node.value))
    if digits > MAX_INT_DIGITS:
        raise _error(node, f"a number of {digits} digits is too large (at most {MAX_MAGNITUDE:g} in magnitude)")
    return _bounded(node, yaml.SafeLoader.construct_yaml_int(loader, node))


def _construct_float(loader, node):
    if len(str(node.value)) > 100:
        raise _error(node, "a number of more than 100 characters")
    return _bounded(node, yaml.SafeLoader.construct_yaml_float(loader, node))


def _refuse(tag):
    def construct(loader, node):
        raise _error(node, f"the tag !!{tag} is not allowed in graphcal files")

    return construct


StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", EXPONENT_FLOAT, list("-+0123456789."))
StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
StrictLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_scalar)
for _tag in REFUSED_TAGS:
    StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse(_tag))


def load_yaml(text: str, where: str) -> Any:
    """The document in `text`, read strictly; `where` (a file name) starts every error line."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        context = f" ({exc.context})" if exc.problem and exc.context else ""
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
        raise GraphcalError(f"{at}: {_one_line(problem + context)}") from None
    except yaml.reader.ReaderError as exc:
        raise GraphcalError(f"{where}: not YAML text: {_one_line(exc.reason)} at character {exc.position}") from None
    except yaml.YAMLError as exc:
        raise GraphcalError(f"{where}: not valid YAML: {_one_line(str(exc))}") from None
    except RecursionError:
        raise GraphcalError(f"{where}: nested too deeply to be a graphcal file") from None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
