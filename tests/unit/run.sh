#!/usr/bin/env bash
# Unit tests: pytest over tests/unit with the checkout importable as
# ansible_collections.mlstack.platform (through the link `make collection-link` makes).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
cd "$ROOT"
mkdir -p .ansible/collections/ansible_collections/mlstack
[ -L .ansible/collections/ansible_collections/mlstack/platform ] \
  || ln -sfn "$ROOT" .ansible/collections/ansible_collections/mlstack/platform
# `run.sh tests/unit/x/test_y.py -k z` runs those paths only; options alone run the suite.
targets=(tests/unit)
for arg in "$@"; do
  case "$arg" in -*) ;; *) [ -e "${arg%%::*}" ] && targets=() && break ;; esac
done
set +e
PYTHONPATH="$ROOT/.ansible/collections${PYTHONPATH:+:$PYTHONPATH}" \
  "$VENV/bin/python" -m pytest -p no:cacheprovider -q "${targets[@]}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "unit: pytest collected no tests; that is a failure here" >&2
  exit 1
fi
exit "$rc"
