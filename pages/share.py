"""Share a public map (/share): an official picks city, layers, language and size, sees the live
embed in a preview iframe and copies the <iframe> snippet.

This page belongs to the operator app (its header, language switch and `frame-ancestors 'self'`);
it only builds URLs of the public embed app, which it shows in an iframe like any other website would.
"""

from __future__ import annotations

import html as html_text
from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, callback, dcc, html
from flask import request

from components.i18n import t
from data.geo.cities import CITIES, city_or_default
from public.data import EMBED_LAYERS
from public.settings import load_public_settings

P = "sh"  # id prefix of this page
LAYER_LABELS = {
    "traffic": ("Traffic congestion", "道路拥堵"),
    "parking": ("Car park free spaces", "停车场空余车位"),
    "air-quality": ("Air quality (AQI)", "空气质量（AQI）"),
    "incidents": ("Incident notices", "事件通告"),
}
SIZES = {
    "small": (400, 300),
    "medium": (640, 480),
    "large": (960, 600),
    "mobile": (360, 560),
}


THEMES = {
    "light": ("Light", "浅色"),
    "dark": ("Dark", "深色"),
    "auto": ("As the visitor's system", "跟随访客系统设置"),
}


def embed_path(city: str, layers: list[str], lang: str, theme: str = "light") -> str:
    """The embed URL path for a choice: one layer gets its own page, several go to /embed/map. The
    light theme is the embed's default and is left out of the address."""
    chosen = [x for x in EMBED_LAYERS if x in (layers or [])] or list(EMBED_LAYERS)
    query = {"city": city, "lang": lang} | ({"theme": theme} if theme in THEMES and theme != "light" else {})
    if len(chosen) == 1:
        return f"/embed/{chosen[0]}?" + urlencode(query)
    return "/embed/map?" + urlencode({"city": city, "layers": ",".join(chosen)} | query, safe=",")


def snippet(base_url: str, path: str, width: int, height: int, title: str) -> str:
    src = html_text.escape(base_url.rstrip("/") + path, quote=True)
    return (
        f'<iframe src="{src}" width="{width}" height="{height}" title="{html_text.escape(title, quote=True)}" '
        'style="border:0;max-width:100%" loading="lazy" referrerpolicy="strict-origin-when-cross-origin"></iframe>'
    )


def layout(city: str | None = None, **_query: Any) -> html.Div:
    city = city_or_default(city).key
    return html.Div(
        [
            html.H1(t("Share a public map", "分享公开地图"), className="page-title"),
            html.P(
                t(
                    "Public embeds show only public aggregates (congestion by road segment, free spaces by car park, "
                    "AQI by station, incident notices rounded to about 100 m). Copy the snippet into any web page.",
                    "公开嵌入地图只显示公开的汇总数据（路段拥堵、停车场空余车位、站点 AQI、"
                    "位置约 100 米精度的事件通告）。将代码复制到任意网页即可。",
                ),
                className="data-note",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label(t("City", "城市"), htmlFor=f"{P}-city"),
                            dcc.Dropdown(
                                id=f"{P}-city",
                                value=city,
                                clearable=False,
                                searchable=False,
                                options=[{"label": t(c.name_en, c.name_zh), "value": c.key} for c in CITIES.values()],
                                className="city-select",
                            ),
                            html.Label(t("Layers", "图层")),
                            dcc.Checklist(
                                id=f"{P}-layers",
                                value=["traffic", "parking", "air-quality"],
                                options=[{"label": t(*LAYER_LABELS[x]), "value": x} for x in EMBED_LAYERS],
                                labelStyle={"display": "block"},
                            ),
                            html.Label(t("Map language", "地图语言")),
                            dcc.RadioItems(
                                id=f"{P}-lang",
                                value="zh",
                                options=[{"label": "中文", "value": "zh"}, {"label": "English", "value": "en"}],
                                inline=True,
                            ),
                            html.Label(t("Map theme", "地图主题")),
                            dcc.RadioItems(
                                id=f"{P}-theme",
                                value="light",
                                options=[{"label": t(*name), "value": k} for k, name in THEMES.items()],
                                labelStyle={"display": "block"},
                            ),
                            html.Label(t("Size", "尺寸")),
                            dcc.RadioItems(
                                id=f"{P}-size",
                                value="medium",
                                options=[{"label": f"{w} × {h}", "value": k} for k, (w, h) in SIZES.items()],
                                labelStyle={"display": "block"},
                            ),
                        ],
                        className="panel share-controls",
                        style={"display": "flex", "flexDirection": "column", "gap": "6px", "minWidth": "240px"},
                    ),
                    html.Div(
                        [
                            html.Iframe(
                                id=f"{P}-preview",
                                title="Preview",
                                style={"border": "1px solid var(--border)", "borderRadius": "6px", "maxWidth": "100%"},
                            ),
                            html.Label(t("Embed code", "嵌入代码"), htmlFor=f"{P}-snippet"),
                            html.Div(
                                [
                                    dcc.Textarea(
                                        id=f"{P}-snippet",
                                        readOnly=True,
                                        style={"width": "100%", "height": "76px", "fontFamily": "monospace"},
                                    ),
                                    dcc.Clipboard(
                                        target_id=f"{P}-snippet",
                                        title="Copy / 复制",
                                        className="btn",
                                        style={"display": "inline-block", "padding": "4px 10px"},
                                    ),
                                ],
                                style={"display": "flex", "gap": "8px", "alignItems": "flex-start"},
                            ),
                            html.Div(
                                [
                                    t("Direct link: ", "直接链接："),
                                    html.A(id=f"{P}-link", target="_blank", rel="noopener"),
                                    " · ",
                                    html.A(
                                        t("Open data API", "开放数据 API"),
                                        id=f"{P}-api",
                                        target="_blank",
                                        rel="noopener",
                                    ),
                                ],
                                className="data-note",
                            ),
                        ],
                        style={"flex": "1", "display": "flex", "flexDirection": "column", "gap": "6px", "minWidth": 0},
                    ),
                ],
                style={"display": "flex", "gap": "16px", "alignItems": "flex-start", "flexWrap": "wrap"},
            ),
        ],
        className="share-page",
    )


dash.register_page(
    __name__,
    path="/share",
    name="Share a map",
    title="City Brain · Share a map",
    nav=("Share a map", "分享地图"),
    order=90,
    access="public",
    id_prefix="sh",
    layout=layout,
)


def _base_url() -> str:
    """Where the public reaches this server: PUBLIC_BASE_URL, else the host this page was opened on."""
    return load_public_settings().public_base_url or request.host_url.rstrip("/")


@callback(
    Output(f"{P}-preview", "src"),
    Output(f"{P}-preview", "width"),
    Output(f"{P}-preview", "height"),
    Output(f"{P}-snippet", "value"),
    Output(f"{P}-link", "href"),
    Output(f"{P}-link", "children"),
    Output(f"{P}-api", "href"),
    Input(f"{P}-city", "value"),
    Input(f"{P}-layers", "value"),
    Input(f"{P}-lang", "value"),
    Input(f"{P}-size", "value"),
    Input(f"{P}-theme", "value"),
)
def update_share(city: str, layers: list[str], lang: str, size: str, theme: str = "light"):
    info = city_or_default(city)
    lang = "en" if lang == "en" else "zh"
    width, height = SIZES.get(size, SIZES["medium"])
    path = embed_path(info.key, layers, lang, theme if isinstance(theme, str) else "light")
    title = ("City Brain map · " + info.name_en) if lang == "en" else ("城市大脑地图 · " + info.name_zh)
    base = _base_url()
    return (
        path,
        str(width),
        str(height),
        snippet(base, path, width, height, title),
        base + path,
        base + path,
        f"/api/ogc/?city={info.key}",
    )
