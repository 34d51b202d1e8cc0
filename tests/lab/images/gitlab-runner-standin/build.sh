#!/usr/bin/env bash
# Builds the lab image mlstack-lab/gitlab-runner-standin:TAG (Dockerfile beside this
# script) idempotently: an image built from the same context (its label
# org.mlstack.context-sha256 holds the digest of the context's files) is left alone, a
# changed context is built again.
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
  local context digest
  context=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$context'" EXIT
  cp "$HERE/Dockerfile" "$HERE/gitlab-runner" "$STANDINS/gitlab-runner-standin" "$context/"
  digest=$(cd "$context" && cat Dockerfile gitlab-runner gitlab-runner-standin | sha256sum | cut -d' ' -f1)
  if [ "$("$DOCKER" image inspect --format '{{ index .Config.Labels "org.mlstack.context-sha256" }}' \
          "$image" 2>/dev/null)" != "$digest" ]; then
    log "building $image"
    "$DOCKER" build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "org.mlstack.context-sha256=$digest" \
      -t "$image" "$context" >/dev/null
    log "built $image"
  fi
  if [ "${2:-}" = --save ]; then
    local archive=${3:?--save needs a file} id saved
    id=$("$DOCKER" image inspect --format '{{.Id}}' "$image" | sed 's/^sha256://')
    # An archive that already holds this image (its manifest.json names the config) stays.
    saved=
    if [ -f "$archive" ]; then
      saved=$(tar -xOf "$archive" manifest.json 2>/dev/null | grep -o "$id" | head -n1 || true)
    fi
    if [ "$saved" != "$id" ]; then
      "$DOCKER" save -o "$archive.part" "$image"
      mv "$archive.part" "$archive"
      log "saved $image to $archive"
    fi
  fi
}

main "$@"
