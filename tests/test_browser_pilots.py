"""What an official sees on the /pilots pages in headless Chromium: each page opened with a filter in the
URL, the answer and its source on screen, in Chinese and English; filters write back to the URL, survive
a reload, and every table downloads as CSV.

Runs against the real app in a subprocess (`served_app`); screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.anonymous  # the report's pages are public: they must work without signing in

FIRST_LOAD_MS = 60_000
WAIT_MS = 20_000
LIVE_MS = 120_000  # the first KPI read of a city computes a day of simulated history


def _open(page, base: str, path: str, ready: str) -> None:
    """Go to `path` and wait until `ready` (a CSS selector) is visible."""
    page.goto(base + path)
    page.wait_for_selector(ready, state="visible", timeout=FIRST_LOAD_MS)


def _english(page) -> None:
    page.locator("#app-lang-toggle").click()
    page.wait_for_function("() => document.documentElement.dataset.lang === 'en'", timeout=WAIT_MS)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(400)  # let plotly and leaflet finish drawing after a language switch
    lang = page.evaluate("() => document.documentElement.dataset.lang")
    page.screenshot(path=str(ARTIFACTS / f"pilots_{name}-{lang}.png"), full_page=True)


def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def _grid_rows(page, key: str, expected: int) -> int:
    """Rows the grid shows, once it shows `expected` (AG Grid renders rows after the page settles)."""
    selector = f"div[id*='\"{key}\"'] .ag-center-cols-container .ag-row"
    with contextlib.suppress(PlaywrightTimeout):  # the caller asserts the count actually shown
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length === n", arg=[selector, expected], timeout=15_000
        )
    return page.locator(selector).count()


def _text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def _no_console_errors(page) -> None:
    assert page.console_errors == [], page.console_errors


def test_overview_miit_filter_from_url(served_app, page):
    _open(page, served_app, "/pilots?agency=miit", "#pov-answer .rp-answer")
    answer = _text(page, "#pov-answer")
    assert "工信部单独开展了 2 个试点计划、共 104 个试点" in answer
    assert "与国家发改委联合开展 2 个计划、78 个试点，合计 182 个" in answer
    assert "表 2.2 · 第 2.1.4 节" in answer
    page.wait_for_function(
        "() => document.querySelectorAll('#pov-by-agency .bars path, #pov-by-year .bars path').length > 0"
    )
    assert "共 4 行" in _text(page, "span[id*='pov-pilots'].rg-count")
    assert _grid_rows(page, "pov-pilots", 4) == 4
    assert "首批国家信息消费试点市（县、区）" in _text(page, "div[id*='pov-pilots'].rg-grid")
    # the map: six leading cities and every City Brain place, with the six labelled
    labels = page.locator("#pov-map .rp-map-label").all_inner_texts()
    assert {"北京", "上海", "广州", "深圳", "杭州", "雄安"} <= set(labels)
    assert page.locator("#pov-map path.leaflet-interactive").count() >= 6 + 20
    assert page.locator(".nav a[href='/pilots']").count() == 1
    _shot(page, "overview")
    _english(page)
    answer = _text(page, "#pov-answer")
    assert "MIIT (Ministry of Industry and Information Technology) ran 104 pilots on its own in 2 programmes" in answer
    assert "78 jointly with NDRC" in answer and "Table 2.2 · §2.1.4" in answer
    page.wait_for_function(
        "() => [...document.querySelectorAll('#pov-by-agency text')]"
        ".some(t => t.textContent.includes('Pilots by ministry'))",
        timeout=WAIT_MS,
    )
    _shot(page, "overview")
    _no_console_errors(page)


def test_overview_without_filter_totals_572(served_app, page):
    _open(page, served_app, "/pilots", "#pov-answer strong")
    assert "572" in _text(page, "#pov-answer") and "报告总计 572 个" in _text(page, "#pov-answer")
    assert _grid_rows(page, "pov-pilots", 9) == 9
    stats = _text(page, ".rp-stats")
    assert "572" in stats and "23" in stats
    _no_console_errors(page)


def test_city_comparison_from_url_with_live_kpis(served_app, page):
    _open(page, served_app, "/pilots/cities?cities=shanghai,shenzhen,hangzhou", "#pcity-first")
    assert "最早启动：上海（2011 年）" in _text(page, "#pcity-first")
    assert "亿欧评分最高：上海（85.7）" in _text(page, "#pcity-best-yiou")
    assert "德勤指数最高：深圳（72）" in _text(page, "#pcity-best-deloitte")
    assert "表 2.3" in _text(page, "#pcity-best-deloitte") and "表 2.7" in _text(page, "#pcity-best-deloitte")
    hangzhou = _text(page, "#pcity-col-hangzhou")
    assert "68" in hangzhou and "69" in hangzhou
    assert "杭州的德勤超级智慧城市指数在表 2.3 中为 68，在表 2.8 中为 69" in hangzhou
    assert page.locator("#pcity-col-hangzhou a[href='/?city=hangzhou']").count() == 1
    assert "476,000" in hangzhou  # the report's parking spaces, beside the live free spaces
    # live KPIs (simulated) next to the report's figures
    live = "div[id*='\"pcity-live\"'][id*='shanghai'] [data-kpi='congestion_index']"
    page.wait_for_function(
        f"""() => {{
            const el = document.querySelector(`{live}`);
            return el && /拥堵延时指数[：:]\\s*[0-9.]+/.test(el.innerText);
        }}""",
        timeout=LIVE_MS,
    )
    assert "模拟" in _text(page, "#pcity-col-shanghai .rp-live")
    assert "报告未提供" in _text(page, "#pcity-col-shanghai .rp-live")
    assert _grid_rows(page, "pcity-table", 3) == 3
    _shot(page, "cities")
    _english(page)
    assert "Started first: Shanghai (2011)" in _text(page, "#pcity-first")
    assert "Highest Deloitte index: Shenzhen (72)" in _text(page, "#pcity-best-deloitte")
    assert "SIMULATED" in _text(page, "#pcity-col-shanghai .rp-live")
    assert "not in the report" in _text(page, "#pcity-col-shanghai .rp-live")
    _shot(page, "cities")
    _no_console_errors(page)


def test_technologies_serving_sdg_11_open_a_card_and_survive_reload(served_app, page):
    _open(page, served_app, "/pilots/technologies?sdg=11", "#ptech-answer-techs")
    techs = _text(page, "#ptech-answer-techs")
    assert "16 种技术中有 11 种服务于目标 11" in techs
    assert "出行" in techs and "健康" in techs and "电子支付" not in techs
    companies = _text(page, "#ptech-answer-companies")
    assert "万向 6" in companies and "表 2.10" in companies
    assert _grid_rows(page, "ptech-list", 11) == 11
    # a click on a technology opens its card and writes it into the URL
    page.locator("div[id*='ptech-list'] .ag-pinned-left-cols-container .ag-row[row-index='0'] .ag-cell").click()
    page.wait_for_selector("#ptech-card-title", timeout=WAIT_MS)
    assert "出行" in _text(page, "#ptech-card-title")
    page.wait_for_function("() => location.search.includes('tech=mobility')", timeout=WAIT_MS)
    assert _query(page) == {"sdg": ["11"], "tech": ["mobility"]}
    page.reload()
    page.wait_for_selector("#ptech-card-title", timeout=FIRST_LOAD_MS)
    card = _text(page, "#ptech-card")
    assert "出行" in card and "万向" in card and "目标 11" in card and "表 2.11" in card
    assert _grid_rows(page, "ptech-list", 11) == 11
    _shot(page, "technologies")
    _english(page)
    assert "11 of 16 technologies serve SDG 11" in _text(page, "#ptech-answer-techs")
    assert "Wanxiang (万向) 6" in _text(page, "#ptech-answer-companies")
    _shot(page, "technologies")
    _no_console_errors(page)


def test_swapped_technology_tables_are_shown(served_app, page):
    _open(page, served_app, "/pilots/technologies?tech=energy", "#ptech-card")
    card = _text(page, "#ptech-card")
    assert "其数据印在“表 2.16 环境”之下" in card
    assert "表 2.15 与表 2.16 的标题互换" in card
    _no_console_errors(page)


def test_clearing_filters_rewrites_the_url(served_app, page):
    _open(page, served_app, "/pilots/technologies?sdg=11&company=alibaba&city=hangzhou", "#ptech-answer-techs")
    assert _grid_rows(page, "ptech-list", 2) == 2  # smart governance and health
    page.locator("#ptech-clear").click()
    page.wait_for_function("() => location.search === ''", timeout=WAIT_MS)
    page.wait_for_function(
        "() => document.querySelectorAll(\"div[id*='ptech-list'] .ag-center-cols-container .ag-row\").length === 16"
    )
    _no_console_errors(page)


def test_where_alibaba_has_deployed_city_brain(served_app, page):
    _open(page, served_app, "/pilots/city-brain?developer=alibaba", "#pcb-answer-alibaba")
    answer = _text(page, "#pcb-answer-alibaba")
    assert "23 个城市" in answer and "杭州、衢州、苏州、澳门、吉隆坡" in answer and "表 3.1" in answer
    page.wait_for_function("() => document.querySelectorAll('#pcb-map .rp-map-label').length === 5")
    labels = page.locator("#pcb-map .rp-map-label").all_inner_texts()
    assert "吉隆坡 · 阿里巴巴" in labels
    assert _grid_rows(page, "pcb-deployments", 5) == 5
    figures = _text(page, "#pcb-figures")
    assert "476,000" in figures and "1,300" in figures and "281" in figures
    # CSV of the table as filtered: both languages and the sources, UTF-8 with BOM
    with page.expect_download() as info:
        page.locator("button[id*='pcb-deployments'][id*='rg-csv']").click()
    raw = Path(info.value.path()).read_text(encoding="utf-8")
    assert raw.startswith("\ufeff")
    lines = raw.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("Place,地点,Developer,开发者")
    assert len(lines) == 6 and any(line.startswith('"Kuala Lumpur, Malaysia (吉隆坡)"') for line in lines)
    assert "3.2.1.2" in raw and "Alibaba" in raw and "阿里巴巴" in raw
    _shot(page, "city_brain")
    _english(page)
    assert re.search(
        r"Alibaba \(阿里巴巴\), City Brain: 23 cities; the report names 5", _text(page, "#pcb-answer-alibaba")
    )
    _shot(page, "city_brain")
    _no_console_errors(page)


def test_jd_digits_shows_both_city_counts(served_app, page):
    _open(page, served_app, "/pilots/city-brain?developer=jd_digits", "#pcb-answer-jd_digits")
    assert "3 个城市（表 3.1）或 15 个（第 3.2.2.1 节）" in _text(page, "#pcb-answer-jd_digits")
    figures = _text(page, "#pcb-figures")
    assert "61" in figures and "186" in figures
    _no_console_errors(page)


def test_recommendations_filtered_by_challenge(served_app, page):
    _open(page, served_app, "/pilots/recommendations?challenge=security_privacy", "#prec-list .rp-rec")
    shown = page.locator("#prec-list .rp-rec-code").all_inner_texts()
    assert shown == ["R1.3", "R2.2", "CB3"]
    assert "有 3 条建议针对该挑战" in _text(page, "#prec-answer")
    assert "治安和安全" in _text(page, "#prec-answer") and "5G" in _text(page, "#prec-answer")
    assert "本平台解读" in _text(page, "#prec-list")
    assert _grid_rows(page, "prec-table", 3) == 3
    _shot(page, "recommendations")
    _english(page)
    assert "3 recommendation(s) answer it" in _text(page, "#prec-answer")
    assert "our reading" in _text(page, "#prec-list")
    _shot(page, "recommendations")
    _no_console_errors(page)


def test_unknown_filter_values_are_reported_not_fatal(served_app, page):
    _open(page, served_app, "/pilots/technologies?sdg=99&company=nobody", ".rp-warning")
    assert "sdg=99" in _text(page, ".rp-warning") and "company=nobody" in _text(page, ".rp-warning")
    page.wait_for_function(
        "() => document.querySelectorAll(\"div[id*='ptech-list'] .ag-center-cols-container .ag-row\").length === 16"
    )
    _no_console_errors(page)
