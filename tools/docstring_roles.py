"""A Griffe extension that makes mtbus's Sphinx-style docstrings render well in mkdocstrings.

The docstrings are written for Sphinx, which griffe's ``sphinx`` parser reads only in part:

- cross-reference roles (``:class:`~mtbus.Event```, ``:meth:`Title <mtbus.Channel.publish>```,
  ``:exc:``, ``:attr:``, ``:func:``, ``:data:``, ``:mod:``) would show up as literal text, so
  each becomes an *optional* autorefs cross-reference: a link if its target is on the site,
  plain code otherwise (no warning). ``~`` shows the last component only, ``Title <target>``
  shows the title, and a name without its package (``:meth:`emit```) is looked up from the
  documented object outwards (its class, with inherited members, then its module);
- ``:raises A, B: text`` is split into one field per type, and ``:raises: text`` (no type)
  gets ``Exception``, as griffe reads neither (it warns and drops the field);
- the types of ``:raises:`` fields, which griffe keeps as plain strings, become names that
  link to the exception like the types in signatures do (so the docstrings that have such
  fields are parsed when loaded, not when rendered).

The docstrings are rewritten in memory when griffe loads the package (``mkdocs.yml`` loads
this file through the ``extensions`` option of the python handler); the sources are untouched.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from griffe import Alias, DocstringSectionRaises, ExprName, Extension

if TYPE_CHECKING:
    from griffe import Object

_ROLE = re.compile(r":(?:py:)?(?:class|meth|exc|attr|func|data|obj|mod|const):`([^`]+)`")
_TITLED = re.compile(r"(.*?)\s*<([^<>]+)>", re.DOTALL)
_RAISES = re.compile(r"(\s*):raises\b([^:]*):(.*)")


def _resolve(obj: Object, target: str) -> str:
    """The full path of *target* seen from *obj*'s scope, or *target* itself if not found."""
    head, dot, rest = target.partition(".")
    scope: Object | None = obj
    while scope is not None:
        members = scope.all_members if scope.is_class else scope.members
        if head in members:
            member = members[head]
            path = member.target_path if isinstance(member, Alias) else member.path
            return f"{path}{dot}{rest}"
        scope = scope.parent
    return target


def _crossref(obj: Object, text: str) -> str:
    """The autorefs HTML for one role's text: ``target``, ``~target`` or ``Title <target>``."""
    text = " ".join(text.split())
    if titled := _TITLED.fullmatch(text):
        title, target = titled.groups()
    else:
        target = text.lstrip("~!")
        title = target.rsplit(".", 1)[-1] if text.startswith("~") else target
    if text.startswith("!"):  # Sphinx's "no link"
        return f"``{title}``"
    identifier = html.escape(_resolve(obj, target))
    return f'<autoref identifier="{identifier}" optional>``{title}``</autoref>'


def _split_raises(lines: list[str]) -> list[str]:
    """The docstring *lines* with one ``:raises T:`` field per exception type."""
    result: list[str] = []
    index = 0
    while index < len(lines):
        field = _RAISES.fullmatch(lines[index])
        index += 1
        if not field:
            result.append(lines[index - 1])
            continue
        indent, types, text = field.groups()
        body = []  # the field's continuation lines: not blank, indented deeper than the field
        while index < len(lines) and lines[index][: len(indent) + 1].isspace():
            body.append(lines[index])
            index += 1
        for name in types.replace(",", " ").split() or ["Exception"]:
            result += [f"{indent}:raises {name}:{text}", *body]
    return result


class DocstringRoles(Extension):
    """Rewrites each docstring's Sphinx roles and ``:raises:`` fields before they render."""

    def on_object(self, *, obj: Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is None:
            return
        text = "\n".join(_split_raises(docstring.value.split("\n")))
        docstring.value = _ROLE.sub(lambda role: _crossref(obj, role[1]), text)
        docstring.__dict__.pop("lines", None)  # a cached property, in case it was read
        if ":raises " not in docstring.value:
            return
        for section in docstring.parsed:
            if isinstance(section, DocstringSectionRaises):
                for raised in section.value:
                    if isinstance(raised.annotation, str):
                        path = _resolve(obj, raised.annotation.lstrip("~"))
                        parent, _, name = path.rpartition(".")
                        raised.annotation = ExprName(name, parent=parent or None)
