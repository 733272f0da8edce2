"""`python -m cli.import_roads FILE --city CITY [--dry-run]`: replace a city's synthetic roads with a
real network from an OSM .pbf extract, a GeoPackage or GeoJSON (data/geo/import_roads.py)."""

from __future__ import annotations

import argparse
import sys

from data.geo.import_roads import RoadImportError, load_roads, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.import_roads", description=__doc__.splitlines()[0])
    parser.add_argument("file", help=".osm.pbf, .gpkg, .geojson, .shp or .fgb")
    parser.add_argument("--city", required=True, help="city key, e.g. hangzhou")
    parser.add_argument("--dry-run", action="store_true", help="read and summarise only")
    args = parser.parse_args(argv)
    try:
        roads, report = load_roads(args.file)
    except RoadImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(args.file, roads, report))
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    from data.geo.cities import CITIES, UnknownCityError, get_city
    from data.store import replace_road_segments  # lazily: store is optional

    try:
        city = get_city(args.city).key
    except UnknownCityError:
        print(f"error: unknown city {args.city!r}: one of {', '.join(CITIES)}", file=sys.stderr)
        return 2
    try:
        written = replace_road_segments(city, roads)
    except ValueError as exc:  # rejected roads
        print(f"error: cannot write roads for city {args.city!r}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written} road segments for {args.city}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
