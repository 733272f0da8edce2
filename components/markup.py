"""Fixed text as one Dash component: server-made HTML that the browser writes in once.

Every Dash component costs the page open a few milliseconds of dash-renderer and React work
(bench/page_open.py --profile), and a bilingual text made of components is three of them (components/
i18n.py `t`). Text that never changes goes as escaped HTML in a `data-html` attribute of one component;
assets/static_markup.js writes it into that element when the element appears. The element has no
children of its own in React's tree, so React never touches what was written. Only this module makes
the HTML, and it escapes every text and attribute value it is given.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from dash import html
from markupsafe import Markup, escape

from components.i18n import Pair

VOID = frozenset({"br", "hr", "img", "input", "wbr"})  # elements without content or closing tag
Part = Markup | str  # a str is text (escaped); a Markup is HTML made by this module


def join(parts: Iterable[Part]) -> Markup:
    return Markup("".join(escape(p) for p in parts))


def _attribute(key: str, value: Any) -> str:
    name = "class" if key == "class_" else key.replace("_", "-")
    return f" {name}" if value is True else f' {name}="{escape(value)}"'


def tag(name: str, /, *content: Part, **attrs: Any) -> Markup:
    """<name attrs>content</name>; `class_` for class, underscores in other names become hyphens.
    An attribute whose value is None or False is left out; True writes it bare. Tag and attribute
    names come from this code, never from data. (Plain string building: markupsafe's Markup.format
    made the command centre's layout 3x slower.)"""
    opening = f"<{name}{''.join(_attribute(k, v) for k, v in attrs.items() if v is not None and v is not False)}>"
    if name in VOID:
        return Markup(opening)
    return Markup(f"{opening}{join(content)}</{name}>")


def lang_spans(words: Pair) -> Markup:
    """Both languages side by side; CSS shows the one on <html data-lang>. Also a Leaflet layer
    control's overlay name (a string of HTML)."""
    return join([tag("span", words[0], class_="lang-en"), tag("span", words[1], class_="lang-zh")])


@functools.lru_cache(maxsize=4096)  # the same few hundred texts on every page
def pair(en: str, zh: str, class_: str | None = None) -> Markup:
    """The same DOM as components/i18n.py `t`: CSS shows the language on <html data-lang>."""
    return tag("span", lang_spans((en, zh)), class_=class_)


def pair_of(text: Pair, class_: str | None = None) -> Markup:
    return pair(text[0], text[1], class_)


def static(component: type, *content: Part, **kwargs: Any) -> Any:
    """One Dash component (any html.* element, e.g. html.Div) holding `content` as written HTML."""
    return component(**kwargs, **{"data-html": str(join(content))})


def text(words: Pair) -> Any:
    """A bilingual text as one component (an html.Span), e.g. an option's label: components/i18n.py `t`
    is three."""
    return static(html.Span, pair_of(words))
