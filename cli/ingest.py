"""`python -m cli.ingest FILE --layer LAYER`: backfill a CSV or JSON file into the store, row by row
(exit 1 if any row was rejected; the rules are data/feeds/ingest.py's)."""

from __future__ import annotations

import argparse
import json
import sys

from data.feeds.ingest import LAYERS, BadPayload, ingest_rows, parse_body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Backfill a CSV or JSON file into the store, row by row.")
    parser.add_argument("file")
    parser.add_argument("--layer", required=True, choices=[*LAYERS, "air-quality"])
    args = parser.parse_args(argv)
    layer = args.layer.replace("-", "_")
    try:
        with open(args.file, "rb") as fh:
            body = fh.read()
        rows = parse_body(body, "text/csv" if args.file.lower().endswith(".csv") else "application/json")
        result = ingest_rows(layer, rows, "cli")
    except (OSError, BadPayload) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict(), ensure_ascii=False, indent=1))
    return 0 if not result.rejected else 1


if __name__ == "__main__":
    raise SystemExit(main())
