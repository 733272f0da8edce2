#!/usr/bin/env bash
# Install everything the tests need (Debian Chromium and CJK fonts, Python test packages) and run
# the whole suite: lint, unit, callback and headless-browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
need=()
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${need[*]} ..."
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
ensure_venv requirements-test.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
