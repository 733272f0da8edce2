"""Typed, cached reads of the report data digitised in ``data/report/`` (see its PROVENANCE.md).

The files are static, so every loader is memoised for the life of the process, and every loader has
one shape: ``@_loader(file, part)`` over a function that turns the file's rows into typed records
(``_record`` copies the fields named alike; the loader converts the rest). Nothing here touches the
store or the simulator: pages that also show live figures get those from ``data.access``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, TypeVar

REPORT_DIR = Path(__file__).resolve().parent

Pair = tuple[str, str]  # (English, Chinese)
T = TypeVar("T")


# --- sources --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableRef:
    number: str
    section: str
    printed: str | None  # the caption as printed, e.g. "表 2.5" for table 2.6; None when not printed
    title_zh: str
    title_en: str
    note_en: str = ""
    note_zh: str = ""

    @property
    def misprinted(self) -> bool:
        return self.printed != f"表 {self.number}"

    @property
    def source(self) -> Source:
        """A citation of this table (with the section it belongs to)."""
        return Source(self.number, self.section)


@dataclass(frozen=True)
class SectionRef:
    number: str
    title_zh: str
    title_en: str


@dataclass(frozen=True)
class Source:
    """Where a value comes from: a table and/or a section of the report."""

    table: str | None = None
    section: str | None = None

    def label(self) -> Pair:
        en: list[str] = []
        zh: list[str] = []
        if self.table:
            ref = table(self.table)
            if ref.printed is None:
                en.append(f"Table {ref.number} (no caption printed)")
                zh.append(f"表 {ref.number}（原文未印表题）")
            elif ref.misprinted:
                en.append(f"Table {ref.number} (printed “{ref.printed}”)")
                zh.append(f"表 {ref.number}（原文印作“{ref.printed}”）")
            else:
                en.append(f"Table {ref.number}")
                zh.append(f"表 {ref.number}")
        if self.section:
            if self.section.isdigit():
                en.append(f"chapter {self.section}")
                zh.append(f"第 {self.section} 章")
            else:
                en.append(f"§{self.section}")
                zh.append(f"第 {self.section} 节")
        return " · ".join(en), " · ".join(zh)

    def short_label(self) -> Pair:
        """The table alone when there is one (its section is in the table registry), else the section."""
        if not self.table:
            return self.label()
        ref = table(self.table)
        if ref.printed is None:
            return f"Table {ref.number} (no caption)", f"表 {ref.number}（无表题）"
        if ref.misprinted:
            return f"Table {ref.number} (printed {ref.printed[2:]})", f"表 {ref.number}（印作 {ref.printed[2:]}）"
        return f"Table {ref.number}", f"表 {ref.number}"


def _source(raw: dict[str, Any]) -> Source:
    return Source(raw.get("table"), raw.get("section"))


@cache
def _read(name: str) -> Any:
    """A report file as parsed: a CSV file as a list of rows (dicts), a JSON file as its value."""
    with (REPORT_DIR / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh)) if name.endswith(".csv") else json.load(fh)


def _loader(name: str, part: str | None = None) -> Callable[[Callable[[Any], T]], Callable[[], T]]:
    """Turns `build(raw)` into a memoised loader of no arguments: `raw` is the file `name` (its key `part`
    for a JSON object holding several lists)."""

    def wrap(build: Callable[[Any], T]) -> Callable[[], T]:
        @lru_cache(maxsize=1)
        def load() -> T:
            raw = _read(name)
            return build(raw if part is None else raw[part])

        load.__name__, load.__doc__ = build.__name__, build.__doc__
        return load

    return wrap


def _record(cls: type[T], raw: Mapping[str, Any], **converted: Any) -> T:
    """A record of dataclass `cls` from a raw row: the fields the row has are copied as they are, the
    `converted` ones are given by the caller; a field the row lacks keeps its default."""
    copied = {f.name: raw[f.name] for f in fields(cls) if f.name in raw}
    return cls(**(copied | converted))


@_loader("sources.json", "tables")
def tables(rows: list[dict[str, Any]]) -> dict[str, TableRef]:
    return {t["number"]: _record(TableRef, t) for t in rows}


@_loader("sources.json", "sections")
def sections(rows: list[dict[str, Any]]) -> dict[str, SectionRef]:
    return {s["number"]: _record(SectionRef, s) for s in rows}


def table(number: str) -> TableRef:
    return tables()[number]


def report_meta() -> dict[str, str]:
    return dict(_read("sources.json")["report"])


# --- table 2.2: pilots ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Agency:
    key: str
    abbr_en: str
    name_en: str
    name_zh: str
    short_zh: str
    en_source: str
    section: str


@dataclass(frozen=True)
class Pilot:
    id: str
    group_zh: str  # the agency cell as printed in table 2.2
    group_en: str
    group_en_source: str
    agencies: tuple[str, ...]  # every agency involved; the first is the lead
    programme_zh: str
    programme_en: str
    programme_en_source: str
    date: str  # YYYY-MM
    year: int
    batch: int | None
    count: int
    source: Source


@dataclass(frozen=True)
class Total:
    value: int
    label_en: str
    label_zh: str
    source: Source


@_loader("agencies.csv")
def agencies(rows: list[dict[str, str]]) -> dict[str, Agency]:
    return {r["key"]: _record(Agency, r) for r in rows}


@_loader("pilots.csv")
def pilots(rows: list[dict[str, str]]) -> tuple[Pilot, ...]:
    return tuple(
        _record(
            Pilot,
            r,
            agencies=tuple(r["agencies"].split(";")),
            year=int(r["year"]),
            batch=int(r["batch"]) if r["batch"] else None,
            count=int(r["count"]),
            source=_source(r),
        )
        for r in rows
    )


@_loader("summary.json")
def totals(raw: dict[str, dict[str, Any]]) -> dict[str, Total]:
    return {k: _record(Total, v, source=_source(v)) for k, v in raw.items()}


def pilot_groups() -> list[Pair]:
    """The agency cells of table 2.2 in the printed order, as (English, Chinese)."""
    seen: dict[str, Pair] = {}
    for p in pilots():
        seen.setdefault(p.group_zh, (p.group_en, p.group_zh))
    return list(seen.values())


def pilots_for(agency: str | None) -> tuple[Pilot, ...]:
    """The programmes an agency ran alone or jointly (all of them when `agency` is None)."""
    return tuple(p for p in pilots() if agency is None or agency in p.agencies)


# --- places, companies, SDGs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    key: str
    name_zh: str
    name_en: str
    kind: str
    parent_en: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class Company:
    key: str
    name_zh: str
    name_en: str
    en_source: str
    en_note: str


@_loader("places.csv")
def places(rows: list[dict[str, str]]) -> dict[str, Place]:
    out = {}
    for r in rows:
        lat, lon = (float(r["lat"]), float(r["lon"])) if r["lat"] else (None, None)
        out[r["key"]] = _record(Place, r, lat=lat, lon=lon)
    return out


def place(key: str) -> Place:
    return places()[key]


@_loader("companies.csv")
def companies(rows: list[dict[str, str]]) -> dict[str, Company]:
    return {r["key"]: _record(Company, r) for r in rows}


def company(key: str) -> Company:
    return companies()[key]


@_loader("sdgs.csv")
def sdgs(rows: list[dict[str, str]]) -> dict[int, Pair]:
    """The SDGs the report names: number -> (UN English name, the report's Chinese name)."""
    return {int(r["number"]): (r["name_en"], r["name_zh"]) for r in rows}


# --- tables 2.3-2.9: the six leading cities -------------------------------------------------------


@dataclass(frozen=True)
class Named:
    zh: str
    en: str
    en_source: str = "translated"


@dataclass(frozen=True)
class CityRecord:
    """What one table says about a city."""

    source: Source
    start_year: int | None
    plans: tuple[Named, ...]
    focus: tuple[Named, ...]
    yiou: float | None
    deloitte: float | None
    yiou_printed: str | None = None  # e.g. "(不适用)" when the table prints a word instead of a score
    deloitte_printed: str | None = None


@dataclass(frozen=True)
class Fact:
    label_en: str
    label_zh: str
    value: str
    value_zh: str | None
    source: Source
    pairs_with: str | None = None  # the live KPI it sits next to on the comparison page


@dataclass(frozen=True)
class Variant:
    """One value and the tables that give it."""

    value: Any
    tables: tuple[str, ...]


@dataclass(frozen=True)
class ScoreSystem:
    key: str
    name_zh: str
    name_en: str
    short_zh: str
    short_en: str
    en_source: str
    note_en: str
    note_zh: str


@dataclass(frozen=True)
class ReportCity:
    key: str
    name_zh: str
    name_en: str
    section: str
    own_table: str
    records: tuple[CityRecord, ...]
    facts: tuple[Fact, ...]

    def variants(self, attr: str) -> list[Variant]:
        """The distinct values the tables give for `attr`, in table order (more than one = contradiction)."""
        found: dict[Any, list[str]] = {}
        for rec in self.records:
            value = getattr(rec, attr)
            key = _normalise(value)
            found.setdefault(key, []).append(rec.source.table or "")
        out = []
        for key, tables_ in found.items():
            rec = next(r for r in self.records if _normalise(getattr(r, attr)) == key)
            out.append(Variant(getattr(rec, attr), tuple(tables_)))
        return out

    def items(self, attr: str) -> list[Variant]:
        """Every plan or focus area (`attr`) once, with the tables that list it (wording compared loosely)."""
        found: dict[Any, tuple[Named, list[str]]] = {}
        for rec in self.records:
            for item in getattr(rec, attr):
                found.setdefault(_normalise(item), (item, []))[1].append(rec.source.table or "")
        return [Variant(item, tuple(tables_)) for item, tables_ in found.values()]

    def score(self, system: str) -> list[Variant]:
        return self.variants(system)

    def printed(self, system: str) -> str | None:
        return next((getattr(r, f"{system}_printed") for r in self.records if getattr(r, f"{system}_printed")), None)

    @property
    def start_year(self) -> int | None:
        years = [v.value for v in self.variants("start_year") if v.value is not None]
        return min(years) if years else None


def _normalise(value: Any) -> Any:
    """Comparable form of a table value: whitespace and bracket width do not make a contradiction."""
    if isinstance(value, tuple):
        return tuple(_normalise(v) for v in value)
    if isinstance(value, Named):
        return re.sub(r"\s+", "", value.zh).replace("(", "（").replace(")", "）")
    return value


def _named(items: Iterable[dict[str, str]]) -> tuple[Named, ...]:
    return tuple(_record(Named, n) for n in items)


def _fact(raw: dict[str, Any]) -> Fact:
    """A sentence's figure: cited by its section alone."""
    return _record(Fact, raw, value_zh=raw.get("value_zh"), source=Source(None, raw["section"]))


@_loader("cities.json", "score_systems")
def score_systems(raw: dict[str, dict[str, str]]) -> dict[str, ScoreSystem]:
    return {k: _record(ScoreSystem, v, key=k) for k, v in raw.items()}


@_loader("cities.json", "cities")
def report_cities(rows: list[dict[str, Any]]) -> dict[str, ReportCity]:
    def record(r: dict[str, Any]) -> CityRecord:
        return _record(CityRecord, r, source=_source(r), plans=_named(r["plans"]), focus=_named(r["focus"]))

    return {
        c["key"]: _record(
            ReportCity,
            c,
            records=tuple(record(r) for r in c["records"]),
            facts=tuple(_fact(f) for f in c["facts"]),
        )
        for c in rows
    }


def report_city(key: str) -> ReportCity:
    return report_cities()[key]


@dataclass(frozen=True)
class Leader:
    """Who leads on a measure among some cities, with every value and table behind the lead."""

    cities: tuple[str, ...]
    value: Any
    tables: tuple[str, ...]


def first_started(keys: Iterable[str]) -> Leader | None:
    best: Leader | None = None
    for key in keys:
        for v in report_city(key).variants("start_year"):
            if v.value is None:
                continue
            if best is None or v.value < best.value:
                best = Leader((key,), v.value, v.tables)
            elif v.value == best.value and key not in best.cities:
                best = Leader((*best.cities, key), v.value, best.tables)
    return best


def highest_score(keys: Iterable[str], system: str) -> Leader | None:
    best: Leader | None = None
    for key in keys:
        for v in report_city(key).score(system):
            if v.value is None:
                continue
            if best is None or v.value > best.value:
                best = Leader((key,), v.value, v.tables)
            elif v.value == best.value and key not in best.cities:
                best = Leader((*best.cities, key), v.value, best.tables)
    return best


# --- tables 2.10-2.26: technologies ---------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeText:
    zh: str
    en: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class TechRow:
    """One table's row for a technology (table 2.10, or the technology's own table)."""

    source: Source
    companies: tuple[str, ...]
    sdgs: tuple[int, ...]
    cities: tuple[str, ...]
    challenges: tuple[ChallengeText, ...]


@dataclass(frozen=True)
class Technology:
    key: str
    order: int
    section: str
    table: str
    name_zh: str
    name_en: str
    name_en_source: str
    t210_name_zh: str
    summary_zh: str
    summary_en: str
    applications: tuple[Named, ...]
    case_studies: tuple[Named, ...]
    rows: tuple[TechRow, ...]  # table 2.10 first, then the technology's own table
    notes: tuple[Pair, ...]

    def _union(self, attr: str) -> tuple:
        out: dict[Any, None] = {}
        for row in self.rows:
            for item in getattr(row, attr):
                out.setdefault(item, None)
        return tuple(out)

    @property
    def companies(self) -> tuple[str, ...]:
        return self._union("companies")

    @property
    def sdgs(self) -> tuple[int, ...]:
        return tuple(sorted(self._union("sdgs")))

    @property
    def cities(self) -> tuple[str, ...]:
        return self._union("cities")

    @property
    def challenges(self) -> tuple[ChallengeText, ...]:
        seen: dict[str, ChallengeText] = {}
        for row in self.rows:
            for c in row.challenges:
                seen.setdefault(c.en, c)
        return tuple(seen.values())

    @property
    def challenge_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for c in self.challenges for k in c.categories))

    @property
    def text_source(self) -> Source:
        """A citation of the section that describes the technology."""
        return Source(None, self.section)

    def tables_naming(self, attr: str, item: Any) -> tuple[str, ...]:
        """The tables whose row for this technology names `item` (a company, SDG or city)."""
        return tuple(r.source.table or "" for r in self.rows if item in getattr(r, attr))


def _tech_row(raw: dict[str, Any], source: Source) -> TechRow:
    return TechRow(
        source=source,
        companies=tuple(raw["companies"]),
        sdgs=tuple(raw["sdgs"]),
        cities=tuple(raw["cities"]),
        challenges=tuple(ChallengeText(c["zh"], c["en"], tuple(c["categories"])) for c in raw["challenges"]),
    )


@_loader("technologies.json", "technologies")
def technologies(rows: list[dict[str, Any]]) -> tuple[Technology, ...]:
    def technology(t: dict[str, Any]) -> Technology:
        # The technology's own row, cited where it is printed (energy's and environment's are printed under
        # each other's table titles: the report swapped the titles of tables 2.15 and 2.16).
        own = Source(t["rows_table"], t["rows_section"])
        return _record(
            Technology,
            t,
            applications=tuple(Named(a["zh"], a["en"]) for a in t["applications"]),
            case_studies=tuple(Named(c["zh"], c["en"]) for c in t["case_studies"]),
            rows=(_tech_row(t["t210"], Source("2.10", "2.2")), _tech_row(t["detail"], own)),
            notes=tuple((n["en"], n["zh"]) for n in t["notes"]),
        )

    return tuple(technology(t) for t in rows)


def technology(key: str) -> Technology:
    return next(t for t in technologies() if t.key == key)


def filter_technologies(
    sdgs: Iterable[int] = (),
    companies: Iterable[str] = (),
    cities: Iterable[str] = (),
    challenges: Iterable[str] = (),
) -> tuple[Technology, ...]:
    """Technologies matching every given filter; within one filter, any of its values matches."""
    want_sdg, want_co, want_city, want_ch = set(sdgs), set(companies), set(cities), set(challenges)
    return tuple(
        t
        for t in technologies()
        if (not want_sdg or want_sdg & set(t.sdgs))
        and (not want_co or want_co & set(t.companies))
        and (not want_city or want_city & set(t.cities))
        and (not want_ch or want_ch & set(t.challenge_keys))
    )


# --- table 3.1 and chapter 3: City Brain ----------------------------------------------------------


@dataclass(frozen=True)
class Developer:
    key: str
    name_zh: str
    name_en: str
    name_en_source: str
    product_zh: str
    product_en: str
    product_en_source: str
    functions_zh: str
    functions_en: str
    cities_count: int | None
    cities_count_alt: int | None
    count_note_en: str
    count_note_zh: str
    examples: tuple[str, ...]
    source: Source

    @property
    def in_table_31(self) -> bool:
        return self.source.table == "3.1"


@dataclass(frozen=True)
class Figure:
    label_en: str
    label_zh: str
    value: str
    value_zh: str | None
    number: float | None
    source: Source


@dataclass(frozen=True)
class Deployment:
    id: str
    place: str
    developer: str
    status: str  # deployed | planned | developing
    since: int | None
    sources: tuple[Source, ...]
    figures: tuple[Figure, ...]
    note_en: str
    note_zh: str


@_loader("city_brain.json", "developers")
def developers(rows: list[dict[str, Any]]) -> dict[str, Developer]:
    def developer(d: dict[str, Any]) -> Developer:
        co = companies().get(d["key"])  # a developer the report also lists as a company: that name wins
        return _record(
            Developer,
            d,
            name_zh=co.name_zh if co else d["name_zh"],
            name_en=co.name_en if co else d["name_en"],
            name_en_source=co.en_source if co else "translated",
            cities_count_alt=d.get("cities_count_alt"),
            count_note_en=d.get("count_note_en", ""),
            count_note_zh=d.get("count_note_zh", ""),
            examples=tuple(d["examples"]),
            source=_source(d),
        )

    return {d["key"]: developer(d) for d in rows}


@_loader("city_brain.json", "deployments")
def deployments(rows: list[dict[str, Any]]) -> tuple[Deployment, ...]:
    def figure(f: dict[str, Any]) -> Figure:
        return _record(Figure, f, value_zh=f.get("value_zh"), source=Source(None, f["section"]))

    return tuple(
        _record(
            Deployment,
            d,
            sources=tuple(_source(s) for s in d["sources"]),
            figures=tuple(figure(f) for f in d["figures"]),
        )
        for d in rows
    )


def filter_deployments(developers_: Iterable[str] = (), places_: Iterable[str] = ()) -> tuple[Deployment, ...]:
    want_dev, want_place = set(developers_), set(places_)
    return tuple(
        d
        for d in deployments()
        if (not want_dev or d.developer in want_dev) and (not want_place or d.place in want_place)
    )


# --- chapter 4: recommendations -------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    key: str
    en: str
    zh: str
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class ChallengeLink:
    key: str
    basis: str  # "report" when the report states the link, else "editorial" (our reading)


@dataclass(frozen=True)
class Recommendation:
    code: str
    group: int  # 1-6 for chapter 4; 0 for the City Brain recommendations of §3.4.3
    zh: str
    en: str
    en_source: str
    source: Source
    challenges: tuple[ChallengeLink, ...] = field(default=())

    @property
    def challenge_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.challenges)


@dataclass(frozen=True)
class RecGroup:
    number: int
    zh: str
    en: str


@_loader("recommendations.json", "challenges")
def challenges(rows: list[dict[str, Any]]) -> dict[str, Challenge]:
    return {c["key"]: _record(Challenge, c, sources=tuple(_source(s) for s in c["sources"])) for c in rows}


@_loader("recommendations.json", "groups")
def recommendation_groups(rows: list[dict[str, Any]]) -> tuple[RecGroup, ...]:
    return tuple(_record(RecGroup, g) for g in rows)


@_loader("recommendations.json", "recommendations")
def recommendations(rows: list[dict[str, Any]]) -> tuple[Recommendation, ...]:
    return tuple(
        _record(
            Recommendation,
            r,
            source=Source(None, r["section"]),
            challenges=tuple(ChallengeLink(c["key"], c["basis"]) for c in r["challenges"]),
        )
        for r in rows
    )


def link_note() -> Pair:
    raw = _read("recommendations.json")
    return raw["link_note_en"], raw["link_note_zh"]


def filter_recommendations(
    challenge_keys: Iterable[str] = (), groups: Iterable[int] = ()
) -> tuple[Recommendation, ...]:
    want_ch, want_g = set(challenge_keys), set(groups)
    return tuple(
        r
        for r in recommendations()
        if (not want_ch or want_ch & set(r.challenge_keys)) and (not want_g or r.group in want_g)
    )


def technologies_facing(challenge_key: str) -> tuple[Technology, ...]:
    return tuple(t for t in technologies() if challenge_key in t.challenge_keys)


# --- contradictions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contradiction:
    key: str
    page: str
    subjects: tuple[str, ...]  # what it is about (a city, technology, developer, place); empty = the whole page
    kind: str  # contradiction | misprint | wording | tension | unreconciled | omission
    sources: tuple[Source, ...]
    en: str
    zh: str
    shown_en: str
    shown_zh: str


@_loader("contradictions.json", "items")
def contradictions(rows: list[dict[str, Any]]) -> tuple[Contradiction, ...]:
    return tuple(
        _record(
            Contradiction,
            c,
            subjects=tuple([c["subject"]] if isinstance(c["subject"], str) else c["subject"] or []),
            sources=tuple(_source(s) for s in c["sources"]),
        )
        for c in rows
    )


def contradictions_for(page: str, subject: str | None = None) -> tuple[Contradiction, ...]:
    """A page's notes; with `subject`, only those about it; with subject "", only those about the whole page."""
    return tuple(
        c
        for c in contradictions()
        if c.page == page and (subject is None or (subject in c.subjects if subject else not c.subjects))
    )


# --- consistency ----------------------------------------------------------------------------------


def all_sources() -> list[tuple[str, Source]]:
    """Every source reference in the data, labelled with where it sits (for the consistency check)."""
    found: list[tuple[str, Source]] = [(f"pilot {p.id}", p.source) for p in pilots()]
    found += [(f"total {k}", t.source) for k, t in totals().items()]
    for c in report_cities().values():
        found += [(f"city {c.key}", r.source) for r in c.records]
        found += [(f"city {c.key} fact", f.source) for f in c.facts]
        found.append((f"city {c.key} own table", Source(c.own_table, c.section)))
    for t in technologies():
        found += [(f"technology {t.key}", r.source) for r in t.rows]
    found += [(f"developer {d.key}", d.source) for d in developers().values()]
    for d in deployments():
        found += [(f"deployment {d.id}", s) for s in d.sources]
        found += [(f"deployment {d.id} figure", f.source) for f in d.figures]
    for ch in challenges().values():
        found += [(f"challenge {ch.key}", s) for s in ch.sources]
    found += [(f"recommendation {r.code}", r.source) for r in recommendations()]
    for c in contradictions():
        found += [(f"contradiction {c.key}", s) for s in c.sources]
    return found


def problems() -> list[str]:
    """Every reference in the data that points at nothing (an empty list means the data is consistent)."""
    out = []
    known_tables, known_sections = tables(), sections()
    out += [
        f"table {t.number}: section {t.section} is not registered"
        for t in known_tables.values()
        if t.section not in known_sections
    ]
    for where, src in all_sources():
        if src.table is None and src.section is None:
            out.append(f"{where}: no source")
        if src.table is not None and src.table not in known_tables:
            out.append(f"{where}: table {src.table} does not exist")
        if src.section is not None and src.section not in known_sections:
            out.append(f"{where}: section {src.section} is not registered")
    for t in technologies():
        for row in t.rows:
            out += [f"technology {t.key}: unknown company {k}" for k in row.companies if k not in companies()]
            out += [f"technology {t.key}: unknown place {k}" for k in row.cities if k not in places()]
            out += [f"technology {t.key}: unknown SDG {n}" for n in row.sdgs if n not in sdgs()]
            out += [
                f"technology {t.key}: unknown challenge {k}"
                for c in row.challenges
                for k in c.categories
                if k not in challenges()
            ]
    for d in deployments():
        if d.place not in places():
            out.append(f"deployment {d.id}: unknown place {d.place}")
        if d.developer not in developers():
            out.append(f"deployment {d.id}: unknown developer {d.developer}")
    for dev in developers().values():
        out += [f"developer {dev.key}: unknown place {k}" for k in dev.examples if k not in places()]
    for r in recommendations():
        out += [
            f"recommendation {r.code}: unknown challenge {c.key}" for c in r.challenges if c.key not in challenges()
        ]
    for p in pilots():
        out += [f"pilot {p.id}: unknown agency {a}" for a in p.agencies if a not in agencies()]
    return out


# --- what the pages hand to the builders (components query nothing themselves) --------------------


@dataclass(frozen=True)
class Catalogue:
    """The report's reference lists in one value: printed tables, companies, places, SDGs, challenges,
    the six leading cities and the number of technologies."""

    tables: dict[str, TableRef]
    companies: dict[str, Company]
    places: dict[str, Place]
    sdgs: dict[int, Pair]
    challenges: dict[str, Challenge]
    report_cities: dict[str, ReportCity]
    technology_count: int


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    return Catalogue(tables(), companies(), places(), sdgs(), challenges(), report_cities(), len(technologies()))
