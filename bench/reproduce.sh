#!/bin/sh
# The papers' tables, one row per command: bench/reproduce.py --help,
# docs/REPRODUCE.md.
exec python3 "$(dirname "$0")/reproduce.py" "$@"
