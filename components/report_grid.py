"""Report tables: dash-ag-grid with bilingual headers and cells, and a CSV download of what is shown.

A grid is described by columns (`Col`); a column names an English and a Chinese field of the row
dicts (the same field when the value is language-free). The header and the field follow the
language switch in the browser; the CSV download holds both languages and the source column, and
exactly the rows the page's filters left in the grid.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import dash_ag_grid as dag
from dash import MATCH, Input, Output, State, callback, clientside_callback, dcc, html, no_update

from components.i18n import Pair, t

GRID = "rg-grid"
SPEC = "rg-spec"
CSV_BUTTON = "rg-csv"
DOWNLOAD = "rg-dl"
MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


@dataclass(frozen=True)
class Col:
    key: str
    header: Pair  # (English, Chinese)
    field_en: str
    field_zh: str | None = None  # None: the same field in both languages
    kind: str = "text"  # text | number | markdown
    width: int | None = None
    flex: int | None = None
    wrap: bool = False
    pinned: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def definition(self, lang: str) -> dict[str, Any]:
        en = lang == "en"
        d: dict[str, Any] = {
            "colId": self.key,
            "field": self.field_en if en or not self.field_zh else self.field_zh,
            "headerName": self.header[0] if en else self.header[1],
            # AG Grid infers a type from the first rows and prints "Invalid Number" in text cells of a
            # column that mixes both ("not in the report"): every column states its type.
            "cellDataType": "number" if self.kind == "number" else False,
            "sortable": True,
            "resizable": True,
        }
        if self.kind == "number":
            d["type"] = "rightAligned"
        if self.kind == "markdown":
            d["cellRenderer"] = "markdown"
        if self.width:
            d["width"] = self.width
            d["minWidth"] = min(self.width, 90)
        if self.flex:
            d["flex"] = self.flex
            d["minWidth"] = max(d.get("minWidth", 0), 140)
        if self.wrap:
            d["wrapText"] = True
            d["autoHeight"] = True
            d["cellStyle"] = {"lineHeight": "1.45", "paddingTop": "5px", "paddingBottom": "5px", "wordBreak": "normal"}
        if self.pinned:
            d["pinned"] = "left"
        return d | self.extra

    def spec(self) -> dict[str, Any]:
        """What the browser needs to rebuild the definition in either language."""
        return {"en": self.definition("en"), "zh": self.definition("zh")}


def report_grid(
    key: str,
    columns: list[Col],
    rows: list[dict[str, Any]] | None = None,
    title: Pair | None = None,
    height: int | None = None,
    filename: str | None = None,
) -> html.Div:
    """A grid with a download button. `key` must be unique across pages (prefix it with the page's)."""
    style = {"height": f"{height}px"} if height else {}
    return html.Div(
        [
            html.Div(
                [
                    html.H3(t(*title), className="rg-title") if title else None,
                    html.Span(id={"type": f"{GRID}-count", "key": key}, className="rg-count"),
                    html.Button(
                        t("Download CSV", "下载 CSV"),
                        id={"type": CSV_BUTTON, "key": key},
                        className="btn rg-csv",
                        title="CSV (UTF-8), both languages and sources / 含中英文与来源",
                    ),
                ],
                className="rg-toolbar",
            ),
            dcc.Store(
                id={"type": SPEC, "key": key}, data={"columns": [c.spec() for c in columns], "file": filename or key}
            ),
            dcc.Download(id={"type": DOWNLOAD, "key": key}),
            dag.AgGrid(
                id={"type": GRID, "key": key},
                columnDefs=[c.definition("zh") for c in columns],
                rowData=rows or [],
                defaultColDef={"suppressHeaderMenuButton": True},
                dashGridOptions={
                    "domLayout": "normal" if height else "autoHeight",
                    "suppressCellFocus": True,
                    "enableCellTextSelection": True,
                    "ensureDomOrder": True,
                    "tooltipShowDelay": 300,
                },
                className="rg-grid",
                style=style,
            ),
        ],
        className="rg-wrap",
    )


# Header names and the field shown follow the language switch, in the browser.
clientside_callback(
    """function (lang, spec) {
        const l = lang === "en" ? "en" : "zh";
        return (spec && spec.columns ? spec.columns : []).map((c) => c[l]);
    }""",
    Output({"type": GRID, "key": MATCH}, "columnDefs"),
    Input("app-lang", "data"),
    Input({"type": SPEC, "key": MATCH}, "data"),
)

clientside_callback(
    """function (rows) {
        const n = (rows || []).length;
        const span = (cls, text) => ({
            type: "Span", namespace: "dash_html_components", props: {className: cls, children: text},
        });
        return [span("lang-en", n + (n === 1 ? " row" : " rows")), span("lang-zh", "共 " + n + " 行")];
    }""",
    Output({"type": f"{GRID}-count", "key": MATCH}, "children"),
    Input({"type": GRID, "key": MATCH}, "rowData"),
)


def csv_text(spec: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """Both languages of every column (one column when the value is language-free), BOM for Excel."""
    headers: list[str] = []
    fields: list[str] = []
    for col in spec["columns"]:
        en, zh = col["en"], col["zh"]
        if en["field"] == zh["field"]:
            headers.append(f"{en['headerName']} / {zh['headerName']}")
            fields.append(en["field"])
        else:
            headers += [en["headerName"], zh["headerName"]]
            fields += [en["field"], zh["field"]]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_plain(row.get(f)) for f in fields])
    return "\ufeff" + buf.getvalue()


def _plain(value: Any) -> Any:
    """Markdown links in cells become their text in the CSV."""
    if isinstance(value, str) and value.startswith("[") and "](" in value:
        return MARKDOWN_LINK.sub(r"\1", value)
    return "" if value is None else value


@callback(
    Output({"type": DOWNLOAD, "key": MATCH}, "data"),
    Input({"type": CSV_BUTTON, "key": MATCH}, "n_clicks"),
    State({"type": GRID, "key": MATCH}, "rowData"),
    State({"type": SPEC, "key": MATCH}, "data"),
    prevent_initial_call=True,
)
def download_csv(n_clicks: int | None, rows: list[dict[str, Any]] | None, spec: dict[str, Any]):
    if not n_clicks:
        return no_update
    return {"content": csv_text(spec, rows or []), "filename": f"{spec.get('file', 'table')}.csv", "type": "text/csv"}
