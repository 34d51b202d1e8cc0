#!/usr/bin/env bash
# Saves lab images into one `docker save` archive, idempotently: when FILE already holds
# exactly these images (the image IDs its manifest.json names), it is left alone, so the
# archive's bytes (and the checksums of whatever copies it) stay the same run after run.
#
#   save.sh FILE IMAGE [IMAGE ...]
set -euo pipefail

DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}

die() { printf '[lab-save] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: save.sh FILE IMAGE [IMAGE ...]"
archive=$1
shift

want=$("$DOCKER" image inspect --format '{{.Id}}' "$@" | sed 's/^sha256://' | sort -u) \
  || die "an image to save is missing: $*"
if [ -f "$archive" ]; then
  have=$(tar -xOf "$archive" manifest.json 2>/dev/null \
    | grep -o '"Config":"[^"]*"' | grep -o '[0-9a-f]\{64\}' | sort -u || true)
  [ "$have" = "$want" ] && exit 0
fi
mkdir -p "$(dirname "$archive")"
printf '[lab-save] saving %s to %s\n' "$*" "$archive" >&2
"$DOCKER" save -o "$archive.part" "$@"
mv "$archive.part" "$archive"
