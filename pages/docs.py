"""The "Connect your city" documentation, served by the app (/docs/connect-your-city): where the empty
map's "no sensors yet: connect a feed" leads. Public: it holds commands and rules, no secrets.

The text is docs/connect-your-city.md (English) and docs/connect-your-city.zh.md (Chinese), read once
from this checkout when the module loads: nothing outside the project, no network, at run time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dash
from dash import dcc, html

DOCS = Path(__file__).resolve().parent.parent / "docs"
NAME = "connect-your-city"
PATH = f"/docs/{NAME}"

dash.register_page(
    __name__,
    path=PATH,
    name="Connect your city",
    title="City Brain · Connect your city · 接入您的城市",
    order=90,  # not in the header's navigation (no `nav`): reached from the empty map's note
    access="public",
    id_prefix="doc",
)


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


TEXTS = {"en": _read(f"{NAME}.md"), "zh": _read(f"{NAME}.zh.md")}


def layout(**_query: Any) -> html.Article:
    """Both languages in the page; the header's language switch shows one (the `lang-*` classes)."""
    return html.Article(
        [dcc.Markdown(TEXTS[lang], className=f"lang-{lang} doc-text", link_target="_self") for lang in ("zh", "en")],
        className="panel doc",
    )
