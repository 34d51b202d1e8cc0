#!/usr/bin/env bash
# The bundle tier (tests/bundle/test_bundle.py): the lab's bundle made by playbooks/bundle.yml
# from the lab's registry mirror and Debian's and PyPI's archives, checked as the offline side
# checks it, damaged in copies, made again as a delta and as parts. Needs the lab (make lab).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
cd "$ROOT"
PYTHONPATH="$ROOT/.ansible/collections${PYTHONPATH:+:$PYTHONPATH}" \
  "$VENV/bin/python" -m pytest -p no:cacheprovider -q -s tests/bundle "$@"
