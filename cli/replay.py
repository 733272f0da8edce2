"""`python -m cli.replay --rate N [--key KEY] [--city C]`: stream SIMULATED observations into a running
server as Orion NGSI-v2 notifications (data/feeds/replay.py)."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import urllib.request

from data.config import load_settings
from data.feeds.replay import entities, new_entities, post


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, required=True, help="messages per second")
    settings = load_settings()
    parser.add_argument("--url", default=f"http://127.0.0.1:{settings.port}")
    parser.add_argument("--key", default=(settings.ingest_api_keys or ("",))[0])
    parser.add_argument("--city", default="hangzhou")
    parser.add_argument("--count", type=int, default=0, help="stop after this many messages (0: run until Ctrl-C)")
    parser.add_argument(
        "--new-sensors", type=int, default=0, help="first send this many sensors per layer the server does not know yet"
    )
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be positive")
    target = args.url.rstrip("/") + "/api/v1/ngsi/notify"
    interval = 1.0 / args.rate
    sent = accepted = 0
    started = time.perf_counter()
    fresh = new_entities(args.city, time.time(), max(0, args.new_sensors))
    rounds = itertools.chain([fresh], (entities(args.city, time.time()) for _ in itertools.count()))
    try:
        for entity in itertools.chain.from_iterable(rounds):
            due = started + sent * interval
            time.sleep(max(0.0, due - time.perf_counter()))
            try:
                accepted += post(target, args.key, entity)["accepted"]
            except urllib.error.HTTPError as exc:
                print(f"error: {exc.code} {exc.read().decode(errors='replace')[:200]}", file=sys.stderr)
                return 2
            sent += 1
            if args.count and sent >= args.count:
                break
    except KeyboardInterrupt:
        pass
    elapsed = time.perf_counter() - started
    print(f"sent {sent} notifications in {elapsed:.1f}s ({sent / elapsed:.1f}/s), {accepted} accepted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
