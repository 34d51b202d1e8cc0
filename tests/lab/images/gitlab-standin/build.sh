#!/usr/bin/env bash
# Builds the lab image mlstack-lab/gitlab-standin:TAG (or, with FLAVOUR=nautilus,
# mlstack-lab/nautilus-standin:TAG) from the Dockerfile beside this script, idempotently:
# an existing image built from the same files (label org.mlstack.context-sha256) is left
# alone; one built from older files is rebuilt.
#
#   build.sh TAG              e.g. build.sh standin
#   build.sh TAG --save F     also `docker save` the image to the archive F (unless F
#                             already holds that image)
#   FLAVOUR=nautilus build.sh TAG [--save F]
#
# The build context is a temporary directory holding the Dockerfile, entrypoint, wrapper,
# mlreef-wrapper, gitlab-rails, gitlab_rails_standin, offline-setup and psql_standin of this directory,
# tests/lab/standins/gitlab-standin and gitlab-api-standin
# (tests/unit/plugins/gitlab_standin/api.py); FLAVOUR is the Dockerfile's target. apt inside
# `docker build` installs python3 and curl from Debian's mirror. Needs the lab engine and
# mlstack-lab/debian:bookworm (tests/lab/lab.sh up).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STANDINS=$(cd "$HERE/../../standins" && pwd)
API=$(cd "$HERE/../../../unit/plugins/gitlab_standin" && pwd)/api.py
BASE_IMAGE=${MLSTACK_LAB_BASE_IMAGE:-mlstack-lab/debian:bookworm}
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}
FLAVOUR=${FLAVOUR:-gitlab}

log() { printf '[lab-%s-standin] %s\n' "$FLAVOUR" "$*" >&2; }
die() { printf '[lab-%s-standin] ERROR: %s\n' "$FLAVOUR" "$*" >&2; exit 1; }

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

main() {
  local tag=${1:-}
  [ -n "$tag" ] || die "usage: [FLAVOUR=gitlab|nautilus] build.sh TAG [--save ARCHIVE]"
  case "$FLAVOUR" in gitlab|nautilus) ;; *) die "FLAVOUR must be gitlab or nautilus, not '$FLAVOUR'" ;; esac
  local image=mlstack-lab/$FLAVOUR-standin:$tag
  image_exists "$BASE_IMAGE" || die "$BASE_IMAGE is missing: run tests/lab/lab.sh up first"
  local context digest
  context=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$context'" EXIT
  cp "$HERE/Dockerfile" "$HERE/entrypoint" "$HERE/wrapper" "$HERE/mlreef-wrapper" "$HERE/gitlab-rails" \
     "$HERE/gitlab_rails_standin" "$HERE/offline-setup" "$HERE/psql_standin" "$STANDINS/gitlab-standin" "$context/"
  cp "$API" "$context/gitlab_api_standin.py"
  digest=$(cd "$context" && cat Dockerfile entrypoint wrapper mlreef-wrapper gitlab-rails gitlab_rails_standin \
           offline-setup psql_standin gitlab-standin gitlab_api_standin.py | sha256sum | cut -d' ' -f1)
  if [ "$("$DOCKER" image inspect --format '{{ index .Config.Labels "org.mlstack.context-sha256" }}' \
          "$image" 2>/dev/null)" != "$digest" ]; then
    log "building $image"
    "$DOCKER" build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" --target "$FLAVOUR" \
      --label "org.mlstack.context-sha256=$digest" -t "$image" "$context" >/dev/null
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
