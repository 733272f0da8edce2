"""Reading the HTML that components/markup.py writes into `data-html`, as the browser will show it."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from dash.development.base_component import Component


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def _markups(node: Any) -> list[str]:
    """Every data-html value in a component tree (children and components in props, e.g. option labels)."""
    found: list[str] = []
    if isinstance(node, (list, tuple)):
        for item in node:
            found += _markups(item)
    elif isinstance(node, dict):
        for item in node.values():
            found += _markups(item)
    elif isinstance(node, Component):  # (a plotly Figure is not one: no components inside)
        markup = getattr(node, "data-html", None)
        if markup:
            found.append(markup)
        for value in node.to_plotly_json()["props"].values():
            found += _markups(value)
    return found


def _read(node: Any) -> _Reader:
    reader = _Reader()
    for markup in _markups(node):
        reader.feed(markup)
        reader.texts.append(" ")
    return reader


def written_text(node: Any) -> str:
    return "".join(_read(node).texts)


def written_elements(node: Any, tag: str | None = None, class_: str | None = None) -> list[dict[str, str | None]]:
    """The attributes of each written element, optionally only <tag> and/or those with class `class_`."""
    return [
        attrs
        for name, attrs in _read(node).elements
        if (tag is None or name == tag) and (class_ is None or class_ in (attrs.get("class") or "").split())
    ]
