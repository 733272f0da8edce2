"""The report data of /pilots (data/report/): totals, completeness, sources, and a re-check of every
digitised value against the report's text when ../shared/seed is present."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest

from data import report as rd

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_43cba6104625cc9c.txt"
HEADING = re.compile(r"^(\d+(?:\.\d+)+) |^第 (\d) 章 - ")


@lru_cache(maxsize=1)
def _text() -> str:
    if not SEED.exists():
        pytest.skip(f"report text not found at {SEED}")
    return SEED.read_text(encoding="utf-8")


def _squash(s: str) -> str:
    """Whitespace-free, with ASCII punctuation made full-width where the translation mixes both."""
    return re.sub(r"\s+", "", s).replace(",", "，").replace("(", "（").replace(")", "）").replace(":", "：")


@lru_cache(maxsize=64)
def _section(number: str) -> str:
    """The text of a section of the report body, up to the next heading (the table of contents is skipped)."""
    lines = _text().splitlines()
    start = None
    body_from = next(k for k, line in enumerate(lines) if line.startswith("第 1 章 - 简介"))
    for k in range(body_from, len(lines)):
        m = HEADING.match(lines[k])
        if m and (m.group(1) or m.group(2)) == number:
            start = k
            break
    assert start is not None, f"section {number} not found in the report text"
    end = len(lines)
    for k in range(start + 1, len(lines)):
        m = HEADING.match(lines[k])
        if m and not (m.group(1) or "").startswith(number + "."):
            end = k
            break
    return "\n".join(lines[start:end])


def _table_text(caption: str, stop: str | None = None) -> str:
    """The text from a printed table caption to the next caption (or `stop`)."""
    text = _text()
    start = text.index(caption)
    end = text.find(stop, start + len(caption)) if stop else text.find("\n表 ", start + len(caption))
    return text[start : end if end > 0 else len(text)]


# --- totals and completeness ----------------------------------------------------------------------


def test_pilot_rows_add_up_to_the_reports_total():
    total = rd.totals()["pilots_total"]
    assert total.value == 572
    assert total.source == rd.Source("2.2", "2.1.4")
    assert sum(p.count for p in rd.pilots()) == total.value
    assert len(rd.pilots()) == 9
    assert all(p.source.table == "2.2" for p in rd.pilots())


def test_miit_pilots_alone_and_jointly():
    alone = [p for p in rd.pilots() if p.agencies == ("miit",)]
    joint = [p for p in rd.pilots() if "miit" in p.agencies and len(p.agencies) > 1]
    assert sum(p.count for p in alone) == 104
    assert sum(p.count for p in joint) == 78
    assert sum(p.count for p in rd.pilots_for("miit")) == 182


def test_every_technology_has_companies_sdgs_cities_and_challenges():
    techs = rd.technologies()
    assert len(techs) == 16
    assert len({t.key for t in techs}) == 16
    for tech in techs:
        assert len(tech.rows) == 2, tech.key
        for row in tech.rows:
            assert row.companies, (tech.key, row.source)
            assert row.sdgs, (tech.key, row.source)
            assert row.cities, (tech.key, row.source)
            assert row.challenges, (tech.key, row.source)
            assert all(c.categories for c in row.challenges), tech.key
        assert tech.summary_zh and tech.summary_en and tech.applications and tech.case_studies


def test_every_source_reference_points_at_a_table_that_exists():
    assert rd.problems() == []
    tables = rd.tables()
    assert sorted(tables, key=lambda n: [int(x) for x in n.split(".")]) == [f"2.{n}" for n in range(1, 27)] + ["3.1"]
    for where, src in rd.all_sources():
        assert src.table is None or src.table in tables, where
        assert src.table or src.section, where


def test_registered_tables_are_printed_in_the_report():
    text = _text()
    for ref in rd.tables().values():
        if ref.printed is None:  # the 5G table: no caption, its rows follow §2.2.14
            assert "华为，中国移动，中国联通" in _section(ref.section)
            continue
        assert f"{ref.printed} {ref.title_zh}" in text or f"{ref.printed}{ref.title_zh}" in text, ref.number
        assert ref.section in rd.sections()


def test_sections_cited_exist_in_the_report():
    for number, sec in rd.sections().items():
        assert sec.title_zh.split(" ")[0] in _section(number).splitlines()[0], number


def test_six_cities_with_both_scores_and_a_record_per_table():
    cities = rd.report_cities()
    assert set(cities) == {"beijing", "guangzhou", "hangzhou", "shanghai", "shenzhen", "xiongan"}
    for city in cities.values():
        assert [r.source.table for r in city.records] == ["2.3", city.own_table]
        assert city.start_year is not None
        for system in ("yiou", "deloitte"):
            values = [r for r in city.records if getattr(r, system) is not None]
            assert values or city.printed(system) == "(不适用)", (city.key, system)


def test_every_disagreement_between_tables_is_explained():
    """Where two tables give different values for a city, contradictions.json must say so."""
    for city in rd.report_cities().values():
        for attr in ("start_year", "plans", "focus", "yiou", "deloitte"):
            if len(city.variants(attr)) > 1:
                notes = rd.contradictions_for("cities", city.key)
                assert notes, f"{city.key}.{attr} differs between tables but has no note"
    for tech in rd.technologies():
        for attr in ("companies", "sdgs", "cities"):
            if len({getattr(r, attr) for r in tech.rows}) > 1:
                assert rd.contradictions_for("technologies", tech.key) or tech.notes, f"{tech.key}.{attr}"


def test_contradictions_named_in_the_issue_are_recorded():
    hz = rd.report_city("hangzhou")
    assert [(v.value, v.tables) for v in hz.score("deloitte")] == [(68, ("2.3",)), (69, ("2.8",))]
    keys = {c.key for c in rd.contradictions()}
    assert {"hangzhou_deloitte", "energy_environment_titles", "jd_city_count"} <= keys
    assert "swapped" in rd.table("2.15").note_en and "swapped" in rd.table("2.16").note_en


# --- the four questions of the issue --------------------------------------------------------------


def test_who_started_first_and_who_scores_highest():
    keys = list(rd.report_cities())
    first = rd.first_started(keys)
    assert (first.cities, first.value) == (("shanghai",), 2011)
    yiou = rd.highest_score(keys, "yiou")
    assert (yiou.cities, yiou.value) == (("shanghai",), 85.7)
    deloitte = rd.highest_score(keys, "deloitte")
    assert (deloitte.cities, deloitte.value, deloitte.tables) == (("shenzhen",), 72, ("2.3", "2.7"))


def test_technologies_serving_sdg_11_and_their_companies():
    techs = rd.filter_technologies(sdgs=[11])
    assert [t.key for t in techs] == [
        "mobility",
        "buildings",
        "governance",
        "energy",
        "environment",
        "resilience",
        "waste",
        "safety",
        "household",
        "5g",
        "health",
    ]
    companies = {k for t in techs for k in t.companies}
    assert {"wanxiang", "huawei", "alibaba", "jd_digits"} <= companies


def test_where_alibaba_has_deployed_city_brain():
    deps = rd.filter_deployments(["alibaba"])
    assert [d.place for d in deps] == ["hangzhou", "quzhou", "suzhou", "macao", "kuala_lumpur"]
    assert rd.developers()["alibaba"].cities_count == 23
    hangzhou = next(d for d in deps if d.place == "hangzhou")
    values = {f.value for f in hangzhou.figures}
    assert {"3,400", "≈ 1,300", "≈ 4,500", "476,000"} <= values
    kl = next(d for d in deps if d.place == "kuala_lumpur")
    assert [f.number for f in kl.figures] == [281]
    suqian = rd.filter_deployments(["jd_digits"], ["suqian"])[0]
    assert [f.number for f in suqian.figures[:2]] == [61, 186]


# --- every value re-checked against the report's text ---------------------------------------------


def test_table_2_2_rows_match_the_text():
    table = _squash(_table_text("表 2.2 每个政府机构下的试点", "图 2.1"))
    for p in rd.pilots():
        year, month = p.date.split("-")
        assert _squash(f"{year} 年 {int(month)} 月\t{p.programme_zh}\t{p.count}") in table, p.id
        assert _squash(p.group_zh) in table
    assert _squash("总计\t\t\t572") in table


def test_city_tables_match_the_text():
    for city in rd.report_cities().values():
        for rec in city.records:
            ref = rd.table(rec.source.table)
            caption = f"{ref.printed} {ref.title_zh}"
            if rec.source.table == "2.3":
                block = _squash(_table_text("表 2.3 六个重要试点对比", "来源：作者整理"))
                row = block[block.index(_squash(city.name_zh + "\t" + str(rec.start_year))) :]
            else:
                row = _squash(_table_text(caption))
                header_end = row.index("）", row.index("德勤超级智慧城市指数"))
                row = row[header_end + 1 :]
            assert _squash(str(rec.start_year)) in row[:40], (city.key, rec.source)
            for plan in rec.plans:
                assert _squash(plan.zh) in row, (city.key, rec.source, plan.zh)
            for item in rec.focus:
                assert _squash(item.zh) in row, (city.key, rec.source, item.zh)
            for system in ("yiou", "deloitte"):
                value = getattr(rec, system)
                shown = f"{value:g}" if value is not None else getattr(rec, f"{system}_printed")
                assert _squash(shown) in row, (city.key, rec.source, system)


def test_technology_tables_match_the_text():
    t210 = _squash(_table_text("表 2.10 智慧城市科技比较", "2.2 当下正在实施"))
    for tech in rd.technologies():
        for row in tech.rows:
            companies = "，".join(rd.company(k).name_zh for k in row.companies)
            cities = "，".join(rd.place(k).name_zh for k in row.cities)
            challenges = "，".join(c.zh for c in row.challenges)
            sdgs = [f"目标{n}：{rd.sdgs()[n][1]}" for n in row.sdgs]
            if row.source.table == "2.10":
                block = t210[t210.index(_squash(tech.t210_name_zh + "\t" + companies.replace("，", ", "))) :][:400]
            else:
                block = _squash(_section(row.source.section))
            for part in (companies, cities, challenges):
                assert _squash(part) in block, (tech.key, row.source, part)
            for sdg in sdgs:
                assert _squash(sdg).replace(",", "，")[:6] in block, (tech.key, row.source, sdg)


def test_swapped_energy_and_environment_tables():
    """Table 2.15 (titled energy) holds environment rows, and table 2.16 (titled environment) energy rows."""
    printed_215 = _squash(_table_text("表 2.15 能源"))
    printed_216 = _squash(_table_text("表 2.16 环境"))
    assert _squash("万向，公众环境研究中心") in printed_215
    assert _squash("中国国家电网公司") in printed_216
    energy, environment = rd.technology("energy"), rd.technology("environment")
    assert energy.rows[1].companies == ("wanxiang", "aipark", "state_grid", "csg", "jd_digits")
    assert (energy.table, energy.rows[1].source) == ("2.15", rd.Source("2.16", "2.2.6"))
    assert (environment.table, environment.rows[1].source) == ("2.16", rd.Source("2.15", "2.2.5"))


def _figure_strings(value: str) -> list[str]:
    parts = [p for p in re.split(r"\s*/\s*", value) if p]
    return [re.sub(r"^[≈><+−\- ]+|[ %]+$", "", p) for p in parts]


def test_city_brain_figures_appear_in_their_sections():
    for dep in rd.deployments():
        for fig in dep.figures:
            section = _squash(_section(fig.source.section)).replace("，", "")
            for part in _figure_strings(fig.value_zh or fig.value):
                assert _squash(part).replace("，", "") in section, (dep.id, fig.label_en, part)


def test_city_facts_appear_in_their_sections():
    for city in rd.report_cities().values():
        for fact in city.facts:
            section = _squash(_section(fact.source.section)).replace("，", "")
            for part in _figure_strings(fact.value_zh or fact.value):
                if part.startswith("end of") or part in {"April 2017", "October 2018"}:
                    continue
                assert _squash(part).replace("，", "") in section, (city.key, fact.label_en, part)


def test_developers_of_table_3_1_match_the_text():
    block = _squash(_table_text("表 3.1 智慧城市开发者"))
    for dev in rd.developers().values():
        if not dev.in_table_31:
            continue
        examples = "，".join(rd.place(k).name_zh for k in dev.examples)
        row = _squash(f"{dev.name_zh}\t{dev.product_zh}\t{dev.functions_zh}\t{dev.cities_count}\t{examples}")
        assert row in block, dev.key


def test_recommendations_are_the_reports_text():
    whole = _squash(_text())  # chapter 4 is cut by figure 4.1; the executive summary repeats it whole
    chapter4 = _squash(_section("4"))
    section343 = _squash(_section("3.4.3"))
    recs = rd.recommendations()
    assert [r.code for r in recs if r.group] == [f"R{g}.{n}" for g in range(1, 7) for n in range(1, 4)]
    for r in recs:
        where = whole if r.group else section343
        assert _squash(r.zh.split("……")[0].rstrip("。")) in where, r.code
        assert r.challenges, r.code
    groups = rd.recommendation_groups()
    assert len(groups) == 6 and all(_squash(g.zh) in chapter4 for g in groups)
    explicit = [(r.code, c.key) for r in recs for c in r.challenges if c.basis == "report"]
    assert explicit == [("CB4", "government_business_gap")]


def test_places_have_coordinates():
    used = {d.place for d in rd.deployments()} | set(rd.report_cities())
    for key in used:
        p = rd.place(key)
        assert p.lat is not None and -10 < p.lat < 55 and 70 < p.lon < 140, key


def test_csv_export_has_both_languages_and_a_bom():
    from components.report_grid import Col, csv_text

    cols = [Col("name", ("Name", "名称"), "en", "zh"), Col("n", ("Pilots", "数量"), "n", kind="number")]
    spec = {"columns": [c.spec() for c in cols]}
    text = csv_text(spec, [{"en": "[MIIT](/x)", "zh": "工信部", "n": 104}])
    assert text.startswith("\ufeff")
    assert text.splitlines()[0] == "\ufeffName,名称,Pilots / 数量"
    assert text.splitlines()[1] == "MIIT,工信部,104"
