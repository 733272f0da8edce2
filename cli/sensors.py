"""The sensor registry from the command line (issue 18):

    python -m cli.sensors import FILE --layer parking|air-quality --city CITY   # GeoJSON, GeoPackage or CSV
    python -m cli.sensors list [--city CITY] [--layer LAYER]
    python -m cli.sensors retire ID                                             # the sensor's whole id

Imported sensors follow the rules feeds follow (data/feeds/inventory.py); a retired sensor leaves
the map and the KPIs and keeps its history.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data import store
from data.geo.cities import UnknownCityError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.sensors", description="The sensor registry.")
    commands = parser.add_subparsers(dest="command", required=True)
    bulk = commands.add_parser("import", help="register stations or car parks from a file")
    bulk.add_argument("file", type=Path)
    bulk.add_argument("--layer", required=True, choices=["parking", "air-quality"])
    bulk.add_argument("--city", required=True)
    listing = commands.add_parser("list", help="every sensor with its id, source and state")
    listing.add_argument("--city")
    listing.add_argument("--layer", choices=["traffic", "parking", "air-quality"])
    retire = commands.add_parser("retire", help="take a sensor off the map and KPIs (its history stays)")
    retire.add_argument("id", help="the sensor's whole id, e.g. urn:ngsi-ld:OffStreetParking:SZ-PK-NS-0042")
    args = parser.parse_args(argv)
    engine = store.get_engine()
    store.create_schema(engine)
    if args.command == "import":
        from data.feeds.inventory import import_file

        try:
            summary = import_file(args.file, args.layer.replace("-", "_"), args.city)
        except (OSError, ValueError, UnknownCityError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print("\n".join(summary.lines()))
        return 0 if not summary.rejected else 1
    from data.store import registry

    if args.command == "list":
        frame = registry.list_sensors(engine, args.layer.replace("-", "_") if args.layer else None, args.city)
        print(frame.to_string(index=False) if len(frame) else "no sensors")
        return 0
    found = registry.retire(engine, args.id, actor="cli")
    if found is None:
        print(f"error: no sensor in service has the id {args.id!r}", file=sys.stderr)
        return 1
    layer, city, key = found
    print(f"retired {layer} sensor {key} in {city}: {args.id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
