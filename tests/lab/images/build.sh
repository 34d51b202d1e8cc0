#!/usr/bin/env bash
# Builds the lab images that stand for upstream service images (no registry can be
# reached here), idempotently: an image that exists is left alone.
#
#   build.sh [registry|pypiserver ...]   build the named images (default: all)
#   build.sh --list                      print the images' names
#   build.sh --save-bundle DIR           build, then save the registry and pypiserver images
#                                        as DIR/images/offline_registry.tar (the archive name
#                                        of the manifest), unless it already holds them
#
# Needs the lab engine and mlstack-lab/debian:bookworm (tests/lab/lab.sh up).
set -euo pipefail

IMAGES_DIR=$(cd "$(dirname "$0")" && pwd)
STATE_DIR=${MLSTACK_LAB_STATE:-/var/tmp/mlstack-lab}
BASE_IMAGE=${MLSTACK_LAB_BASE_IMAGE:-mlstack-lab/debian:bookworm}
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}
REPO_ROOT=$(cd "$IMAGES_DIR/../../.." && pwd)
# pip download runs on the machine (containers cannot reach PyPI): the project's venv, else python3.
PYTHON=${PYTHON:-$( [ -x "$REPO_ROOT/.venv/bin/python" ] && echo "$REPO_ROOT/.venv/bin/python" || echo python3 )}

# Versions of what the images hold: Debian 12's docker-registry is distribution 2.8.
REGISTRY_IMAGE=mlstack-lab/registry:2.8
PYPISERVER_VERSION=2.4.2
PYPISERVER_IMAGE=mlstack-lab/pypiserver:${PYPISERVER_VERSION}

log() { printf '[lab-images] %s\n' "$*" >&2; }
die() { printf '[lab-images] ERROR: %s\n' "$*" >&2; exit 1; }

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

build_registry() {
  image_exists "$REGISTRY_IMAGE" && return 0
  log "building $REGISTRY_IMAGE (Debian's docker-registry)"
  "$DOCKER" build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$REGISTRY_IMAGE" \
    "$IMAGES_DIR/registry" >/dev/null
  log "built $REGISTRY_IMAGE"
}

build_pypiserver() {
  image_exists "$PYPISERVER_IMAGE" && return 0
  local context
  context=$(mktemp -d "$STATE_DIR/pypiserver-build.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$context'" RETURN
  cp "$IMAGES_DIR/pypiserver/Dockerfile" "$context/"
  # Resolved for the image's Python (Debian 12: 3.11), pure-Python wheels only.
  log "downloading pypiserver $PYPISERVER_VERSION and its dependencies (wheels)"
  "$PYTHON" -m pip download -q --disable-pip-version-check --only-binary=:all: \
    --python-version 3.11 --implementation py --dest "$context/wheels" \
    "pypiserver==$PYPISERVER_VERSION" || die "pip download of pypiserver failed"
  log "building $PYPISERVER_IMAGE"
  "$DOCKER" build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$PYPISERVER_IMAGE" "$context" >/dev/null
  log "built $PYPISERVER_IMAGE"
}

# The archive's manifest.json names the image IDs; re-save only when they differ.
save_bundle() {
  "$IMAGES_DIR/save.sh" "$1/images/offline_registry.tar" "$REGISTRY_IMAGE" "$PYPISERVER_IMAGE"
}

main() {
  mkdir -p "$STATE_DIR"
  case "${1:-}" in
    --list)
      printf '%s\n' "$REGISTRY_IMAGE" "$PYPISERVER_IMAGE"
      return 0 ;;
    --save-bundle)
      [ -n "${2:-}" ] || die "--save-bundle needs a directory"
      image_exists "$BASE_IMAGE" || die "$BASE_IMAGE is missing: run tests/lab/lab.sh up first"
      build_registry
      build_pypiserver
      save_bundle "$2"
      return 0 ;;
  esac
  image_exists "$BASE_IMAGE" || die "$BASE_IMAGE is missing: run tests/lab/lab.sh up first"
  local wanted=("$@")
  [ ${#wanted[@]} -gt 0 ] || wanted=(registry pypiserver)
  local name
  for name in "${wanted[@]}"; do
    case "$name" in
      registry) build_registry ;;
      pypiserver) build_pypiserver ;;
      *) die "unknown image '$name' (registry|pypiserver)" ;;
    esac
  done
}

main "$@"
