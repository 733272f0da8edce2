#!/usr/bin/env bash
# Install what the app needs (first run only) and serve it on the embedded SQLite default.
# Settings come from the environment: see README "Configuration".
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
ensure_venv requirements.txt
exec .venv/bin/python app.py
