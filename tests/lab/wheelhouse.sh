#!/usr/bin/env bash
# Builds the wheelhouse of one wheel set of the artifact manifest for the lab hosts' Python,
# in the shape of the bundle's python/<target>/<set>/, with the module that bundle.yml uses:
# mlstack.platform.bundle_wheels (resolved for the TARGET interpreter with uv, every pin as
# a wheel, sdists built into wheels here, requirements.txt with hashes). This script only
# reads the wheel set's requirements from the manifest and calls the module.
#
#   wheelhouse.sh NAME DEST      e.g. wheelhouse.sh label_studio .cache/bundle/python/label_studio
#
# NAME is a key of mlstack_artifacts_builtin.wheels in roles/common/defaults/main.yml.
# TARGET_PYTHON (default 3.11.2 = Debian 12's python3) and TARGET_PLATFORM (default
# x86_64-manylinux_2_36 = its glibc) describe the lab hosts. Wheels and resolutions are kept
# in MLSTACK_WHEELHOUSE_CACHE (default .cache/wheelhouse): a second call with the same inputs
# fetches nothing (seconds), and a DEST that is already current is not touched.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
CACHE=${MLSTACK_WHEELHOUSE_CACHE:-$ROOT/.cache/wheelhouse}
MANIFEST=$ROOT/roles/common/defaults/main.yml
TARGET_PYTHON=${TARGET_PYTHON:-3.11.2}
TARGET_PLATFORM=${TARGET_PLATFORM:-x86_64-manylinux_2_36}
UV_VERSION=${UV_VERSION:-0.13.9}

log() { printf '[lab-wheelhouse] %s\n' "$*" >&2; }
die() { printf '[lab-wheelhouse] ERROR: %s\n' "$*" >&2; exit 1; }

# uv next to the venv's Python (requirements.txt), else a private venv of the lab's own.
uv_binary() {
  if [ -x "$VENV/bin/uv" ]; then printf '%s\n' "$VENV/bin/uv"; return; fi
  local tools=$CACHE/.tools/uv-$UV_VERSION
  if [ ! -x "$tools/bin/uv" ]; then
    log "installing uv $UV_VERSION into $tools"
    rm -rf "$tools"
    "$VENV/bin/python" -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION" >&2
    [ -x "$tools/bin/uv" ] || die "could not install uv==$UV_VERSION from PyPI"
  fi
  printf '%s\n' "$tools/bin/uv"
}

# The module's arguments as JSON: the wheel set's requirements from the manifest.
module_args() {
  "$VENV/bin/python" - "$MANIFEST" "$1" "$2" "$3" "$CACHE" "$TARGET_PYTHON" "$TARGET_PLATFORM" <<'PY'
import json
import sys

import yaml

manifest, name, dest, uv, cache, python_version, platform = sys.argv[1:]
with open(manifest, encoding="utf-8") as handle:
    wheels = yaml.safe_load(handle)["mlstack_artifacts_builtin"]["wheels"]
if name not in wheels:
    sys.exit(f"{manifest}: no wheel set '{name}' under mlstack_artifacts_builtin.wheels "
             f"(known: {', '.join(sorted(wheels))})")
print(json.dumps(dict(dest=dest, requirements=wheels[name]["requirements"], python_version=python_version,
                      platform=platform, uv=uv, cache_dir=cache)))
PY
}

main() {
  local name=${1:-} dest=${2:-}
  if [ -z "$name" ] || [ -z "$dest" ]; then die "usage: wheelhouse.sh NAME DEST"; fi
  mkdir -p "$(dirname "$dest")" "$CACHE"
  dest=$(cd "$(dirname "$dest")" && pwd)/$(basename "$dest")
  local args started=$SECONDS
  args=$(module_args "$name" "$dest" "$(uv_binary)") || die "cannot read wheel set $name from $MANIFEST"
  mkdir -p "$ROOT/.ansible/collections/ansible_collections/mlstack"
  [ -L "$ROOT/.ansible/collections/ansible_collections/mlstack/platform" ] \
    || ln -sfn "$ROOT" "$ROOT/.ansible/collections/ansible_collections/mlstack/platform"
  log "building $name for Python $TARGET_PYTHON on $TARGET_PLATFORM into $dest"
  ANSIBLE_HOME=$ROOT/.ansible ANSIBLE_COLLECTIONS_PATH=$ROOT/.ansible/collections \
    ANSIBLE_CONFIG=${ANSIBLE_CONFIG:-$ROOT/ansible.cfg} \
    "$VENV/bin/ansible" localhost -c local -i localhost, \
    -e "ansible_python_interpreter=$VENV/bin/python" \
    -m mlstack.platform.bundle_wheels -a "$args" >"$CACHE/last.log" 2>&1 \
    || { tail -c 2000 "$CACHE/last.log" >&2; die "bundle_wheels failed for $name (log: $CACHE/last.log)"; }
  log "$name: $(find "$dest" -maxdepth 1 -name '*.whl' | wc -l) wheels, $(du -sh "$dest" | cut -f1) in $dest" \
    "($((SECONDS - started)) s; $(grep -o '"changed": [a-z]*' "$CACHE/last.log" | head -1))"
}

main "$@"
