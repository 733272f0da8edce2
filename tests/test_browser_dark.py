"""Dark theme everywhere: every page in dark and both languages, screenshots kept in tests/artifacts, and
pixels sampled from the grids, controls, panels and charts must be dark (no light panels left)."""

from __future__ import annotations

import contextlib
import statistics
import struct
import zlib

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.conftest import ARTIFACTS, PASSWORD

PAGES = {
    "command_centre": "/?city=hangzhou",
    "incidents": "/incidents?city=hangzhou",
    "handover": "/handover",
    "audit": "/audit",
    "data_quality": "/data-quality",
    "model_quality": "/model-quality",
    "sensors": "/sensors",
    "docs": "/docs/connect-your-city",
    "pilots": "/pilots",
    "pilots_cities": "/pilots/cities",
    "pilots_city_brain": "/pilots/city-brain",
    "pilots_recommendations": "/pilots/recommendations",
    "pilots_technologies": "/pilots/technologies",
    "share": "/share",
    "wall": "/wall?city=hangzhou",
}
# Regions that must be dark, per page, where present (a CSS selector each); sampled at several points.
DARK_PARTS = [
    ".ag-root-wrapper",
    ".ag-header",
    ".ag-row",
    ".panel",
    ".side-panel",
    ".leaflet-control-layers",
    ".city-select",
    ".dash-dropdown",
    ".scope-switch",
    ".trend-panel",
    ".login-card",
    ".kpi-card",
    ".page-message",
]
EMBED_PARTS = [".em-bar", ".em-legend", ".em-foot", ".leaflet-bar"]
EMBED_READY = "() => window.cbembed && window.cbembed.state.refreshes >= 1 && document.documentElement.dataset.theme"
CONTENT = "() => { const c = document.querySelector('#_pages_content'); return c && c.innerText.length > 40; }"
REGIONS = """(selectors) => {
    const out = [];
    for (const sel of selectors) {
        const seen = [...document.querySelectorAll(sel)].filter((el) => {
            const r = el.getBoundingClientRect();
            return r.width >= 12 && r.height >= 12 && r.top >= 0 && r.bottom <= innerHeight && r.right <= innerWidth
                && getComputedStyle(el).visibility !== "hidden";
        });
        for (const el of seen.slice(0, 2)) {
            const r = el.getBoundingClientRect();
            out.push({sel, what: String(el.className || el.tagName).slice(0, 50),
                      box: [r.left, r.top, r.width, r.height]});
        }
    }
    return out;
}"""


def pixel(page, x: float, y: float) -> tuple[int, int, int]:
    """The rendered colour at (x, y): a 1x1 screenshot, whose one PNG pixel needs no unfiltering."""
    png = page.screenshot(clip={"x": int(x), "y": int(y), "width": 1, "height": 1})
    data, pos = b"", 8
    while pos < len(png):
        length = struct.unpack(">I", png[pos : pos + 4])[0]
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            data += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(data)
    return raw[1], raw[2], raw[3]  # after the row's filter byte (any filter is the identity on one pixel)


def luma(rgb: tuple[int, int, int]) -> float:
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


def light_regions(page, selectors: list[str], where: str) -> list[str]:
    """Regions whose median sampled luma (corners inset 4 px, and the middle) is light."""
    found = []
    for region in page.evaluate(REGIONS, selectors):
        x, y, w, h = region["box"]
        points = [
            (x + 4, y + 4),
            (x + w - 5, y + 4),
            (x + 4, y + h - 5),
            (x + w - 5, y + h - 5),
            (x + w / 2, y + h / 2),
        ]
        value = statistics.median(luma(pixel(page, px, py)) for px, py in points)
        if value > 110:
            found.append(f"{where}: {region['sel']} ({region['what']}) luma {value:.0f}")
    return found


def _context(browser, base: str, lang: str):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.add_init_script(
        f"localStorage.setItem('app-theme', '\"dark\"'); localStorage.setItem('app-lang', '\"{lang}\"');"
    )
    answer = context.request.post(base + "/login", form={"name": "admin", "password": PASSWORD})
    assert answer.ok
    return context


def _frame(page, url_part: str, seconds: float = 30):
    """The page's frame whose address holds `url_part` (an iframe navigates a little after its src changes)."""
    for _ in range(int(seconds * 4)):
        found = [f for f in page.frames if url_part in f.url]
        if found:
            return found[0]
        page.wait_for_timeout(250)
    raise AssertionError(f"no frame at {url_part!r}: {[f.url for f in page.frames]}")


def _settle(page) -> None:
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'", timeout=30_000)
    # A live page polls every REFRESH_SECONDS: on a busy machine it may never be idle for 500 ms.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_load_state("networkidle", timeout=15_000)
    page.wait_for_timeout(800)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_is_dark_in_both_languages(served_app, browser, lang):
    context = _context(browser, served_app, lang)
    light: list[str] = []
    try:
        page = context.new_page()
        for name, path in PAGES.items():
            page.goto(served_app + path)
            page.wait_for_function(CONTENT, timeout=90_000)
            _settle(page)
            if name == "incidents":
                page.wait_for_selector(".ag-header-cell", timeout=60_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"dark-{lang}-{name}.png"))
            light += light_regions(page, DARK_PARTS, name)
            if name == "command_centre":  # the chart panel and the open city menu
                page.locator(".kpi-card").first.click()
                page.wait_for_selector("#cc-trend-chart .js-plotly-plot", timeout=60_000)
                page.locator(".city-select").click()
                page.wait_for_timeout(500)
                page.screenshot(path=str(ARTIFACTS / f"dark-{lang}-command_centre-open.png"))
                page.wait_for_selector(".city-menu-list a", state="visible", timeout=10_000)
                parts = [".trend-panel", ".js-plotly-plot", ".city-menu-list", ".city-menu-list a"]
                light += light_regions(page, parts, f"{name} (chart, city menu open)")
        for path, name in (("/login", "login"), ("/setup?token=spent", "setup")):
            page.goto(served_app + path)
            _settle(page)
            page.screenshot(path=str(ARTIFACTS / f"dark-{lang}-{name}.png"))
            light += light_regions(page, [".login-card", ".login-form input"], name)
        # The sampler can fail: the same regions in the light theme are reported.
        page.goto(served_app + "/data-quality")
        page.wait_for_function(CONTENT, timeout=90_000)
        page.locator("#app-theme-toggle").click()
        page.wait_for_function("() => document.documentElement.dataset.theme === 'light'", timeout=30_000)
        page.wait_for_timeout(300)
        assert light_regions(page, [".panel"], "light theme"), "the sampler saw no light panel in the light theme"
    finally:
        context.close()
    assert light == [], light


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_public_embed_is_dark_when_asked_and_share_previews_it(served_app, browser, lang):
    """The embeds are another site's iframe: dark only when their address says so (?theme=dark), light
    by default; /share offers the choice and previews it."""
    context = _context(browser, served_app, lang)
    light: list[str] = []
    try:
        page = context.new_page()
        # Public embeds: dark when their address asks (?theme=dark); /share previews that choice.
        page.goto(served_app + f"/embed/map?city=hangzhou&theme=dark&lang={lang}")
        page.wait_for_function(EMBED_READY, timeout=90_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"dark-{lang}-embed.png"))
        light += light_regions(page, EMBED_PARTS, "embed")
        page.goto(served_app + "/share?city=hangzhou")
        page.wait_for_function(CONTENT, timeout=90_000)
        page.locator("#sh-theme input[value='dark']").check()
        page.wait_for_function(
            "() => (document.getElementById('sh-preview').getAttribute('src') || '').includes('theme=dark')",
            timeout=30_000,
        )
        preview = _frame(page, "theme=dark")
        preview.wait_for_function(EMBED_READY, timeout=90_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / f"dark-{lang}-share-preview.png"))
        light += light_regions(page, ["#sh-preview"], "share preview")
        page.goto(served_app + "/embed/map?city=hangzhou")
        page.wait_for_function(EMBED_READY, timeout=90_000)
        assert light_regions(page, EMBED_PARTS, "light embed"), "the light embed (its default) was not light"
    finally:
        context.close()
    assert light == [], light
