#!/usr/bin/env bash
# Install what the app needs (first run only), prepare the data, and serve it with gunicorn
# (gunicorn.conf.py: HOST/PORT, WEB_CONCURRENCY workers, the background jobs in a process of their own).
# While no user exists it prints a one-time link that creates the first admin.
# Settings come from the environment: see README "Configuration". Development: `.venv/bin/python app.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
ensure_venv requirements.txt
.venv/bin/python -m data.jobs.bootstrap   # before the workers fork: they then start in seconds
exec .venv/bin/gunicorn -c gunicorn.conf.py app:server
