"""The "database unavailable" panel pages show while the store cannot be reached (api/outage.py)."""

from __future__ import annotations

from html import escape

from dash import html

from components.i18n import t

TITLE = ("Database unavailable", "数据库暂时不可用")
BODY = (
    "The data store cannot be reached. This page retries by itself; nothing you entered is lost.",
    "暂时无法连接数据库。本页会自动重试，已输入的内容不会丢失。",
)


def panel(retry_after_s: int) -> html.Div:
    """The panel as a Dash layout (what /_dash-layout answers while the store is down)."""
    return html.Div(
        [html.H2(t(*TITLE)), html.P(t(*BODY)), html.A(t("Retry now", "立即重试"), href="")],
        className="db-unavailable",
        role="alert",
        **{"data-retry-after": str(retry_after_s)},
    )


def page(retry_after_s: int) -> str:
    """The panel as a whole HTML page in both languages (for a page request while the store is down)."""
    en, zh = (escape(TITLE[0]), escape(BODY[0])), (escape(TITLE[1]), escape(BODY[1]))
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{int(retry_after_s)}">'
        f"<title>{zh[0]} · {en[0]}</title></head>"
        '<body style="font-family:sans-serif;max-width:40em;margin:4em auto">'
        f'<div class="db-unavailable" role="alert"><h1>{zh[0]}</h1><p>{zh[1]}</p>'
        f'<h1 lang="en">{en[0]}</h1><p lang="en">{en[1]}</p></div></body></html>'
    )
