"""The documentation site's generated pages (the configuration and CLI references) and its docstring reader.

An MkDocs hook (``hooks:`` in ``mkdocs.yml``): a page holding the marker ``<!-- kldrift:config-reference -->``
gets every key of a job config, read from the pydantic models of :mod:`kldrift.config` and
:mod:`kldrift.sections` (type, default, bounds, the field's docstring); ``<!-- kldrift:cli-reference -->``
gets every command and option of the ``kldrift`` parser in :mod:`kldrift.cli`. A key or an option added to
the code shows up in the docs by itself; ``tests/test_docs.py`` checks that each one does.

:class:`RstToMarkdown` is a griffe extension (``extensions:`` of mkdocstrings in ``mkdocs.yml``): the
package's docstrings use Sphinx roles (``:class:`Profile```) and directives (``.. math::``), which the API
pages render as Markdown, so it rewrites them as code when the pages are built; the source stays as it is.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import html.parser
import inspect
import itertools
import re
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import griffe
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = [
    "CLI_MARKER",
    "CONFIG_MARKER",
    "Key",
    "RstToMarkdown",
    "cli_reference",
    "config_keys",
    "config_reference",
    "external_loads",
    "on_page_markdown",
    "on_post_build",
    "rst_to_markdown",
]

CONFIG_MARKER = "<!-- kldrift:config-reference -->"
CLI_MARKER = "<!-- kldrift:cli-reference -->"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: the generated references in place of their markers."""
    if CONFIG_MARKER in markdown:
        markdown = markdown.replace(CONFIG_MARKER, config_reference())
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    return markdown


def on_post_build(config: Any, **_: Any) -> None:
    """MkDocs hook: fail the build when a page would load anything from the network (a font, a CDN script)."""
    from mkdocs.exceptions import PluginError

    site = Path(config["site_dir"])
    found = [
        f"{page.relative_to(site)}: {url}" for page in sorted(site.rglob("*.html")) for url in external_loads(page)
    ]
    if found:
        raise PluginError("pages load from the network (the site must open offline):\n" + "\n".join(found[:20]))


class _Loads(html.parser.HTMLParser):
    """The URLs a page *loads* (scripts, styles, images, frames, fonts), not the ones it links to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video", "embed") and a.get("src"):
            self.urls.append(a["src"] or "")
        elif (
            tag == "link"
            and a.get("href")
            and not {"canonical", "alternate", "next", "prev"} & set((a.get("rel") or "").split())
        ):
            self.urls.append(a["href"] or "")

    def handle_data(self, data: str) -> None:  # @import url(...) / url(https://...) in an inline <style>
        self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", data)


def external_loads(page: Path) -> list[str]:
    """The URLs on other hosts that the HTML file ``page`` loads when it is opened."""
    parser = _Loads()
    parser.feed(page.read_text(encoding="utf-8"))
    return [u for u in parser.urls if re.match(r"^(https?:)?//", u.strip())]


# --- the configuration reference ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    """One key of a job config: its dotted path and what the reference prints for it."""

    path: str
    section: str
    type: str
    default: str
    bounds: str
    doc: str


@cache
def _attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings written under a class's attributes (``x: int = 1`` then ``\"\"\"...\"\"\"``), by name."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _field_doc(model: type[BaseModel], name: str) -> str:
    for cls in model.__mro__:
        if isinstance(cls, type) and issubclass(cls, BaseModel) and name in _attribute_docs(cls):
            return _attribute_docs(cls)[name]
    return ""


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a section (``Binning``, ``Webhook | None``, ``dict[str, ColumnSettings]``'s values)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_model(arg)
        if found is not None:
            return found
    return None


def _type(annotation: Any) -> str:
    """A config key's type as a YAML author reads it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or `null`" if type(None) in args else "")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_type(args[0])}"
        return "[" + ", ".join(_type(a) for a in args) + "]"
    if origin is dict:
        return f"mapping: name → {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", dt.date: "date"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "**required**"
    if isinstance(value, BaseModel):
        return "(its keys' defaults)"
    return f"`{_yaml(value)}`"


def _bounds(info: FieldInfo) -> str:
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    out: list[str] = []
    for item in info.metadata:
        for attr, sign in signs.items():
            bound = getattr(item, attr, None)
            if bound is not None:
                out.append(f"{sign} {_yaml(bound)}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            out.append(f"matches `{pattern}`")
        if getattr(item, "allow_inf_nan", None) is False:
            out.append("finite")
    return ", ".join(out)


def _fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """The YAML keys of ``model`` in the order the reference lists them."""
    from kldrift.config import Settings

    fields = [(name, info) for name, info in model.model_fields.items() if not info.exclude]  # base_dir: no key
    if issubclass(model, Settings) and model is not Settings:  # a job: where the data is first, then the scoring
        own = [kv for kv in fields if kv[0] not in Settings.model_fields]
        fields = own + [kv for kv in fields if kv not in own]
    return fields


def _child(path: str, info: FieldInfo) -> str:
    return f"{path}.<column>" if typing.get_origin(info.annotation) is dict else path


def _home_sections(root: type[BaseModel]) -> dict[type[BaseModel], str]:
    """Where each section model is listed: its shallowest path (``thresholds``, not ``columns.<column>.thresholds``)."""
    home: dict[type[BaseModel], str] = {root: ""}
    level = [(root, "")]
    while level:
        nxt = []
        for model, prefix in level:
            for name, info in _fields(model):
                sub = _section_model(info.annotation)
                if sub is not None and sub not in home:
                    home[sub] = _child(f"{prefix}{info.alias or name}", info)
                    nxt.append((sub, home[sub] + "."))
        level = nxt
    return home


def _walk(model: type[BaseModel], section: str, home: dict[type[BaseModel], str]) -> Iterator[Key]:
    prefix = f"{section}." if section else ""
    for name, info in _fields(model):
        path = f"{prefix}{info.alias or name}"
        sub = _section_model(info.annotation)
        doc = _field_doc(model, name) or (inspect.cleandoc(sub.__doc__ or "") if sub else "")
        child = _child(path, info) if sub is not None else ""
        if sub is not None and home[sub] != child:  # columns.<column>.thresholds: listed once, under thresholds
            doc = f"{doc} The keys of [`{home[sub]}`](#{_anchor(home[sub])})."
        yield Key(path, section, _type(info.annotation), _default(info), _bounds(info), " ".join(doc.split()))
        if sub is not None and home[sub] == child:
            yield from _walk(sub, child, home)


def config_keys(root: type[BaseModel] | None = None) -> list[Key]:
    """Every key of a job config (``root``: its model, default :class:`~kldrift.config.JobConfig`), depth
    first, in the models' order; a section shared by two keys is listed once."""
    from kldrift.config import JobConfig

    model = root or JobConfig
    return list(_walk(model, "", _home_sections(model)))


def _cell(text: str) -> str:
    """``text`` for a table cell: pipes outside code spans escaped (inside one, a pipe does not split the row)."""
    parts = text.split("`")
    return "`".join(p.replace("|", "\\|") if i % 2 == 0 else p for i, p in enumerate(parts))


def config_reference(root: type[BaseModel] | None = None) -> str:
    """The configuration reference as Markdown: one table per section."""
    keys = config_keys(root)
    sections: dict[str, list[Key]] = {}
    for key in keys:
        sections.setdefault(key.section, []).append(key)
    described = {k.path: k.doc for k in keys}
    out: list[str] = []
    for section, rows in sections.items():
        title = f"`{section}`" if section else "Top-level keys"
        out += [f"### {title}", ""]
        if section and described.get(section):
            out += [described[section], ""]
        out += ["| key | type | default | bounds | what it does |", "|---|---|---|---|---|"]
        for k in rows:
            what = k.doc
            target = next((t for t in (k.path, f"{k.path}.<column>") if t in sections and t != section), None)
            if target:
                what = f"{k.doc} See [`{target}`](#{_anchor(target)})."
            out.append(f"| `{k.path}` | {k.type} | {k.default} | {_cell(k.bounds)} | {_cell(what)} |")
        out.append("")
    return "\n".join(out)


def _anchor(path: str) -> str:
    """The id MkDocs' toc extension gives the heading `` `path` ``."""
    return "".join(c for c in path.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


# --- the CLI reference -------------------------------------------------------------------------------------


def _plain(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The parser with argparse's own formatter: the usage as plain text, without the terminal's colours."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _commands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    out: dict[str, tuple[str, argparse.ArgumentParser]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                out[name] = (helps.get(name, ""), sub)
    return out


def _options(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, str]]:
    """(name, default, help) of each documented argument of ``parser``, named as ``--help`` names it."""
    formatter = argparse.HelpFormatter(parser.prog)
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        name = f"`{formatter._format_action_invocation(action)}`"
        help_ = (action.help or "").strip()
        if "%(" in help_:
            help_ = help_ % {**vars(action), "prog": parser.prog}
        if action.required and action.option_strings:
            help_ = "**Required.** " + help_
        default = action.default
        shown = "" if default in (None, False, argparse.SUPPRESS) or action.nargs == 0 else f"`{default}`"
        yield name, shown, _cell(help_)


def _parser() -> argparse.ArgumentParser:
    from kldrift import cliparser

    parser: argparse.ArgumentParser = cliparser.build_parser()
    return parser


def cli_reference() -> str:
    """The CLI reference as Markdown: the global options, then each command's usage and options."""
    parser = _plain(_parser())
    out = ["```text", parser.format_usage().strip(), "```", "", parser.description or "", ""]
    out += ["| option | default | what it does |", "|---|---|---|"]
    out += [f"| {n} | {d} | {h} |" for n, d, h in _options(parser)]
    out.append("")
    for name, (help_, sub) in _commands(parser).items():
        sub = _plain(sub)
        out += [f"### `kldrift {name}`", "", help_, "", "```text", sub.format_usage().strip(), "```", ""]
        rows = list(_options(sub))
        if rows:
            out += ["| argument | default | what it does |", "|---|---|---|"]
            out += [f"| {n} | {d} | {h} |" for n, d, h in rows]
            out.append("")
    if parser.epilog:
        out += ["### Exit codes", "", "```text", parser.epilog.strip(), "```", ""]
    return "\n".join(out)


# --- docstrings: Sphinx markup as Markdown ------------------------------------------------------------------

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):`(~?)([^`]+)`")
_MATH = re.compile(
    r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<inline>.*)\n(?P<body>(?:(?P=indent)[ \t]+.*\n|[ \t]*\n)*)", re.M
)
_CITATION = re.compile(r"^([ \t]*)\.\. \[(\w+)\]", re.M)


def _math(m: re.Match[str]) -> str:
    indent = m["indent"]
    lines = [m["inline"].strip()] if m["inline"].strip() else []
    lines += [line.strip() for line in m["body"].splitlines() if line.strip()]
    return "\n".join([f"{indent}```text", *(f"{indent}{line}" for line in lines), f"{indent}```", ""]) + "\n"


def rst_to_markdown(text: str) -> str:
    """``text`` with Sphinx roles as code spans, ``.. math::`` as a code block and ``.. [1]`` as ``[1]``."""
    text = _ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", text)
    text = _MATH.sub(_math, text if text.endswith("\n") else text + "\n").rstrip("\n")
    return _CITATION.sub(r"\1[\2]", text)


class RstToMarkdown(griffe.Extension):
    """Griffe extension: every docstring read through :func:`rst_to_markdown` before it is rendered."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
