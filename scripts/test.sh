#!/usr/bin/env bash
# Install everything the tests need (Debian Chromium and CJK fonts, PostgreSQL + PostGIS and Redis,
# Python test packages) and run the whole suite: lint, unit, callback, headless-browser and
# scaled-deployment (PostGIS, Redis, gunicorn) tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
need=()
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
# The scaled-deployment tests start their own PostgreSQL 15 + PostGIS 3 cluster and redis-server.
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${need[*]} ..."
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
ensure_venv requirements-test.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports  # import contracts (.importlinter): layers, no cycles, data knows no transport
exec .venv/bin/python -m pytest "$@"
