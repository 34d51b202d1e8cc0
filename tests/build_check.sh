#!/usr/bin/env bash
# Packaging check: build the collection tarball, install it offline into a scratch
# collections path (with the dependency collections from the `ansible` package beside it),
# and syntax-check the site playbook by its FQCN from the installed copy.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${VENV:-$ROOT/.venv}/bin
work=$(mktemp -d /var/tmp/mlstack-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$ROOT"
version=$(sed -n 's/^version: *//p' galaxy.yml)
"$BIN/ansible-galaxy" collection build --force --output-path "$work/dist" . >/dev/null
tarball=$work/dist/mlstack-platform-$version.tar.gz
[ -f "$tarball" ] || { echo "build_check: $tarball was not built" >&2; exit 1; }
# Nothing of the lab, the tests or the venv may ship.
if tar -tzf "$tarball" | grep -E "^(\.venv|\.ansible|\.cache|molecule|tests|benchmarks|\.git)/|^ansible\.cfg$" >&2; then
  echo "build_check: the tarball carries files build_ignore should keep out" >&2
  exit 1
fi
"$BIN/ansible-galaxy" collection install --offline --no-deps --force -p "$work/collections" "$tarball" >/dev/null
[ -f "$work/collections/ansible_collections/mlstack/platform/MANIFEST.json" ] \
  || { echo "build_check: install --offline did not install the collection" >&2; exit 1; }
# Run from a directory whose ansible.cfg names only the scratch path, so nothing but the
# installed copy (and the dependency collections of the `ansible` package) can be found.
cd "$work"
printf '[defaults]\ncollections_path = %s\n' "$work/collections" >"$work/ansible.cfg"
ANSIBLE_CONFIG="$work/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$work/collections" \
  "$BIN/ansible-playbook" mlstack.platform.site --syntax-check -i "$ROOT/inventories/lab/hosts.yml"
echo "build_check: $(basename "$tarball") builds, installs offline, and site.yml passes --syntax-check"
