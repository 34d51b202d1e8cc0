#!/usr/bin/env bash
# Builds the lab image mlstack-lab/gitlab-runner-standin:TAG (Dockerfile beside this
# script) idempotently: an existing image is left alone.
#
#   build.sh TAG              e.g. build.sh standin
#   build.sh TAG --save F     also `docker save` the image to the archive F
#
# The build context is a temporary directory holding the Dockerfile, the `gitlab-runner`
# wrapper and tests/lab/standins/gitlab-runner-standin. apt inside `docker build`
# installs python3 from Debian's mirror. Needs the lab engine and
# mlstack-lab/debian:bookworm (tests/lab/lab.sh up).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STANDINS=$(cd "$HERE/../../standins" && pwd)
BASE_IMAGE=${MLSTACK_LAB_BASE_IMAGE:-mlstack-lab/debian:bookworm}
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}

log() { printf '[lab-gitlab-runner-standin] %s\n' "$*" >&2; }
die() { printf '[lab-gitlab-runner-standin] ERROR: %s\n' "$*" >&2; exit 1; }

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

main() {
  local tag=${1:-}
  [ -n "$tag" ] || die "usage: build.sh TAG [--save ARCHIVE]"
  local image=mlstack-lab/gitlab-runner-standin:$tag
  image_exists "$BASE_IMAGE" || die "$BASE_IMAGE is missing: run tests/lab/lab.sh up first"
  if ! image_exists "$image"; then
    local context
    context=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$context'" EXIT
    cp "$HERE/Dockerfile" "$HERE/gitlab-runner" "$STANDINS/gitlab-runner-standin" "$context/"
    log "building $image"
    "$DOCKER" build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$image" "$context" >/dev/null
    log "built $image"
  fi
  if [ "${2:-}" = --save ]; then
    local archive=${3:?--save needs a file}
    "$DOCKER" save -o "$archive.part" "$image"
    mv "$archive.part" "$archive"
    log "saved $image to $archive"
  fi
}

main "$@"
