"""Reading a config file: bounded YAML, and validation errors as one line with the key path.

The YAML is read with PyYAML's safe loader, made strict: YAML 1.2 booleans (so
``on: critical`` stays a key), no key twice in a mapping, at most
:data:`MAX_CONFIG_BYTES` bytes and :data:`MAX_CONFIG_VALUES` values once aliases
are expanded. A pydantic validation error becomes one
:class:`~kldrift.errors.ConfigError` line that starts with the key path, says
what was expected in YAML's words, and suggests the key that was meant.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from kldrift.errors import ConfigError

__all__ = ["MAX_CONFIG_BYTES", "MAX_CONFIG_VALUES", "digest", "read_yaml", "validate"]


MAX_CONFIG_BYTES = 1 << 20
"""A config file above 1 MiB is refused before it is parsed (PyYAML's parser takes ~3 s a MiB)."""
MAX_CONFIG_VALUES = 100_000
"""Values a config may expand to, aliases counted as often as they are used (a billion laughs is 10**9)."""


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false, so ``on: critical`` is a key, not ``True``.

    A key given twice in one mapping is an error, not a silent override: of two
    ``thresholds:`` blocks the second would win unseen. A document that expands to
    more than :data:`MAX_CONFIG_VALUES` values (anchors and aliases nested into a
    "billion laughs") is refused before anything is built from it.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.value in seen:
                msg = f"duplicate key {key_node.value!r}"
                raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _check_expansion(root: yaml.Node) -> None:
    """Raise when ``root`` expands to more than :data:`MAX_CONFIG_VALUES` values (aliases share nodes)."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack = [root]
    while stack:  # post-order without recursion: a deep document must not exhaust the stack here
        node = stack.pop()
        if id(node) in sizes:
            continue
        sizes[id(node)] = -1
        order.append(node)
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
    for node in reversed(order):
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(sizes[id(n)] for n in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        sizes[id(node)] = size
        if size > MAX_CONFIG_VALUES:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"the document expands to more than {MAX_CONFIG_VALUES:,} values (aliases?)",
                node.start_mark,
            )


def _allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys allowed at ``loc`` in ``model`` (for did-you-mean hints)."""
    current: Any = model
    parts = list(loc[:-1])
    i = 0
    while i < len(parts):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        field = fields.get(str(parts[i]))
        if field is None:
            return []
        ann = field.annotation
        if get_origin(ann) is dict:  # dict[str, Model]: the next part is a free name
            current = _unwrap_model(get_args(ann)[1])
            i += 2
        else:
            current = _unwrap_model(ann)
            i += 1
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items() if not f.exclude]
    return []


def _unwrap_model(ann: Any) -> Any:
    args = getattr(ann, "__args__", ())
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in args:
        m = _unwrap_model(a)
        if m is not None:
            return m
    return None


class _Short:
    """A value whose repr is cut to 80 characters, so one huge value cannot flood the error line."""

    __slots__ = ("text",)

    def __init__(self, value: Any) -> None:
        text = repr(value)
        self.text = text if len(text) <= 80 else text[:76] + " ..."

    def __repr__(self) -> str:
        return self.text


def _format_error(err: Mapping[str, Any], model: type[BaseModel]) -> str:
    loc = tuple(err.get("loc", ()))
    path = ".".join(str(p) for p in loc)
    kind = err.get("type", "")
    value = _Short(err.get("input"))
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc)
        key = str(loc[-1]) if loc else "?"
        parent = ".".join(str(p) for p in loc[:-1])
        return str(ConfigError.unknown_key(parent, key, allowed))
    if kind == "missing":
        return f"{path}: required key is missing"
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if kind in {"literal_error", "enum"}:
        return f"{path}: expected {msg.removeprefix('Input should be ')}, got {value!r}"
    if kind.endswith(("_type", "_parsing")) or kind in {"model_type", "dict_type"}:
        # Say it in YAML's words: a list, a mapping (not a tuple, a dictionary or instance of Binning).
        msg = re.sub(r"a valid (tuple|list)", "a list", msg)
        msg = re.sub(r"a valid dictionary( or instance of \w+)?", "a mapping", msg)
        return f"{path}: {msg.replace('Input should be', 'expected')}, got {value!r}"
    if path:
        return f"{path}: {msg.replace('Input should be', 'expected')}" + (
            f", got {value!r}" if kind.startswith(("greater", "less", "string_pattern")) else ""
        )
    return msg


def validate(model: type[BaseModel], data: Any, source: str) -> Any:
    if not isinstance(data, Mapping):
        msg = f"{source}: expected a mapping of keys (YAML dict) at the top level, got {type(data).__name__}"
        raise ConfigError(msg)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = _format_error(errors[0], model)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        prefix = f"{source}: " if source and not first.startswith(source) else ""
        raise ConfigError(f"{prefix}{first}{more}") from None


def digest(payload: Any) -> str:
    """A short, stable digest of a JSON-able payload (a config's fingerprint)."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def read_yaml(p: Path) -> Any:
    try:
        if p.is_file() and p.stat().st_size > MAX_CONFIG_BYTES:
            size = p.stat().st_size
            raise ConfigError(f"{p}: config file of {size:,} bytes; a config is at most {MAX_CONFIG_BYTES:,} bytes")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, expected a YAML config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{p}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{p}: invalid YAML: nested too deeply") from None
    if data is None:
        raise ConfigError(f"{p}: config file is empty; expected at least dataset, reference, current, output")
    return data
