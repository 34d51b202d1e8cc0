#!/usr/bin/env bash
# Builds the wheelhouse of one wheel set of the artifact manifest for a TARGET Python,
# the way the bundle's python/<name>/ directory holds it, and caches it.
#
#   wheelhouse.sh NAME DEST      e.g. wheelhouse.sh label_studio .cache/bundle/python/label_studio
#
# NAME is a key of mlstack_artifacts_builtin.wheels in roles/common/defaults/main.yml; its
# `requirements` are resolved for the target interpreter (TARGET_PYTHON, default 3.11.2 =
# Debian 12's python3; TARGET_PLATFORM, default x86_64-manylinux_2_36 = its glibc), not
# for this machine's Python: markers such as python_full_version < "3.11.3" differ between
# the two. `pip download --python-version --only-binary` cannot do that for label-studio
# (some of its dependencies exist only as sdists), so:
#   1. uv (from PyPI, in a private venv under .cache/) resolves the pinned list for the target;
#   2. `pip wheel --no-deps` fetches every pin and builds the sdists into wheels here, so the
#      target installs wheels only (`pip install --no-index --find-links DEST`: no compiler,
#      no network, no setup.py run on the host).
# The result is kept in .cache/wheelhouse/<NAME>-<key>/ (key: requirements, target python
# and platform); a second call only links it into DEST (seconds). DEST also receives
# requirements.txt, the resolved pins.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${MLSTACK_WHEELHOUSE_CACHE:-$ROOT/.cache/wheelhouse}
MANIFEST=$ROOT/roles/common/defaults/main.yml
TARGET_PYTHON=${TARGET_PYTHON:-3.11.2}
TARGET_PLATFORM=${TARGET_PLATFORM:-x86_64-manylinux_2_36}
PYTHON=${PYTHON:-python3}
UV_VERSION=${UV_VERSION:-0.13.9}

log() { printf '[lab-wheelhouse] %s\n' "$*" >&2; }
die() { printf '[lab-wheelhouse] ERROR: %s\n' "$*" >&2; exit 1; }

# The manifest's requirements of wheel set $1, one per line.
requirements_of() {
  "$PYTHON" - "$MANIFEST" "$1" <<'PY'
import sys
import yaml
manifest, name = sys.argv[1], sys.argv[2]
with open(manifest, encoding="utf-8") as handle:
    wheels = yaml.safe_load(handle)["mlstack_artifacts_builtin"]["wheels"]
if name not in wheels:
    sys.exit(f"{manifest}: no wheel set '{name}' under mlstack_artifacts_builtin.wheels "
             f"(known: {', '.join(sorted(wheels))})")
for requirement in wheels[name]["requirements"]:
    print(requirement)
PY
}

# A venv of our own with uv in it (never the machine's or the project's venv).
uv_binary() {
  local venv=$CACHE/.tools/uv-$UV_VERSION
  if [ ! -x "$venv/bin/uv" ]; then
    log "installing uv $UV_VERSION into $venv"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION" 2>&1 \
      | grep -v "^WARNING: Location" >&2 || true
    [ -x "$venv/bin/uv" ] || die "could not install uv==$UV_VERSION from PyPI"
  fi
  printf '%s\n' "$venv/bin/uv"
}

build() {
  local name=$1 work=$2 uv
  uv=$(uv_binary)
  mkdir -p "$work/wheels"
  log "resolving $name for Python $TARGET_PYTHON on $TARGET_PLATFORM"
  "$uv" pip compile "$work/requirements.in" --quiet --no-header --no-annotate \
    --python-version "$TARGET_PYTHON" --python-platform "$TARGET_PLATFORM" \
    --index-url "${UV_INDEX_URL:-https://pypi.org/simple}" \
    -o "$work/requirements.txt" || die "uv could not resolve $name for Python $TARGET_PYTHON"
  log "fetching $(grep -c '==' "$work/requirements.txt") pinned distributions, building sdists into wheels"
  "$PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps \
    -r "$work/requirements.txt" -w "$work/wheels" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  # Every pin must have its wheel: pip wheel's exit status is hidden by the filter above.
  "$PYTHON" - "$work/requirements.txt" "$work/wheels" <<'PY'
import pathlib, re, sys
pins = [line.split("==")[0] for line in pathlib.Path(sys.argv[1]).read_text().splitlines()
        if "==" in line and not line.startswith("#")]
norm = lambda s: re.sub(r"[-_.]+", "_", s).lower()
have = {norm(p.name.split("-")[0]) for p in pathlib.Path(sys.argv[2]).glob("*.whl")}
missing = [p for p in pins if norm(p) not in have]
if missing:
    sys.exit(f"no wheel for: {', '.join(missing)}")
PY
}

main() {
  local name=${1:-} dest=${2:-}
  if [ -z "$name" ] || [ -z "$dest" ]; then die "usage: wheelhouse.sh NAME DEST"; fi
  local requirements key cached
  requirements=$(requirements_of "$name") || die "cannot read wheel set $name from $MANIFEST"
  key=$(printf '%s\n%s\n%s\n' "$requirements" "$TARGET_PYTHON" "$TARGET_PLATFORM" | sha256sum | cut -c1-16)
  cached=$CACHE/$name-$key
  if [ ! -f "$cached/.complete" ]; then
    local started=$SECONDS
    rm -rf "$cached.part"
    mkdir -p "$cached.part"
    printf '%s\n' "$requirements" > "$cached.part/requirements.in"
    build "$name" "$cached.part"
    touch "$cached.part/.complete"
    rm -rf "$cached"
    mv "$cached.part" "$cached"
    log "built $name in $((SECONDS - started)) s: $(find "$cached/wheels" -name '*.whl' | wc -l) wheels, $(du -sh "$cached/wheels" | cut -f1)"
  fi
  mkdir -p "$dest"
  # Hard links when DEST is on the same file system (instant), copies otherwise.
  cp -al --remove-destination "$cached/wheels/." "$dest/" 2>/dev/null || cp -a "$cached/wheels/." "$dest/"
  cp "$cached/requirements.txt" "$dest/requirements.txt"
  log "$name: $(find "$dest" -maxdepth 1 -name '*.whl' | wc -l) wheels in $dest"
}

main "$@"
