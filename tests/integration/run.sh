#!/usr/bin/env bash
# Integration tests: the collection's modules against the lab's real Docker Engine and a
# real containerd that this script starts with its own config, socket, root and state
# under a temporary directory, and stops at the end.
#
#   tests/integration/run.sh             every target under tests/integration/targets
#   tests/integration/run.sh image_import  only the named targets
#   INTEGRATION_PYTHON=/path/to/python tests/integration/run.sh   modules run with that Python
#
# Each target is a role in ansible-test's integration layout (tasks/main.yml), run here
# with ansible-playbook against localhost. Exits non-zero when any target fails.
#
# bundle_wheels builds the offline controller's kit from PyPI (the connected side) and
# installs it with no network at all (`unshare -n`, as root): it needs PyPI and util-linux.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
# The interpreter modules run with on the target (localhost). Point it at another
# environment to test, e.g., with Debian 12's Docker SDK 5.0.3 and requests 2.28.
TARGET_PYTHON=${INTEGRATION_PYTHON:-$VENV/bin/python}
TARGETS_DIR=$ROOT/tests/integration/targets
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}

log() { printf '[integration] %s\n' "$*" >&2; }
die() { printf '[integration] ERROR: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

"$DOCKER" info >/dev/null 2>&1 || die "the Docker Engine does not answer; start the lab first (make lab)"

missing=()
command -v containerd >/dev/null 2>&1 || missing+=(containerd)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The checkout must be importable as mlstack.platform.
mkdir -p "$ROOT/.ansible/collections/ansible_collections/mlstack"
[ -L "$ROOT/.ansible/collections/ansible_collections/mlstack/platform" ] \
  || ln -sfn "$ROOT" "$ROOT/.ansible/collections/ansible_collections/mlstack/platform"
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.ansible/collections
export ANSIBLE_CONFIG=${ANSIBLE_CONFIG:-$ROOT/ansible.cfg}
export ANSIBLE_ROLES_PATH=$TARGETS_DIR
export ANSIBLE_RETRY_FILES_ENABLED=false

WORK=$(mktemp -d /var/tmp/mlstack-integration.XXXXXX)
CONTAINERD_PID=
stop_containerd() {
  if [ -n "$CONTAINERD_PID" ] && kill -0 "$CONTAINERD_PID" 2>/dev/null; then
    log "stopping containerd (pid $CONTAINERD_PID)"
    kill "$CONTAINERD_PID"
    for _ in $(seq 1 30); do kill -0 "$CONTAINERD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$CONTAINERD_PID" 2>/dev/null && kill -9 "$CONTAINERD_PID"
  fi
  CONTAINERD_PID=
}
cleanup() {
  stop_containerd
  # Snapshots may hold mounts; take them down before removing the directory.
  awk -v dir="$WORK/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r \
    | while read -r mnt; do umount "$mnt" || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start_containerd() {
  local dir=$WORK/containerd
  mkdir -p "$dir"
  cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
# The CRI plugin would look for CNI and a kubelet; the tests only need the image store.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
# A lazy garbage collector (no periodic run; only on request, e.g. ctr images remove
# --sync), so that blobs a failed import leaves behind stay visible and the tests see
# whether image_import removes them itself instead of relying on containerd's default
# scheduling, which happens to collect them within a second here.
[plugins."io.containerd.gc.v1.scheduler"]
  pause_threshold = 0.0001
  deletion_threshold = 0
  mutation_threshold = 1000000
  schedule_delay = "0s"
  startup_delay = "1h"
EOF
  containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  echo "$CONTAINERD_PID" >"$dir/containerd.pid"
  for _ in $(seq 1 60); do
    if ctr --address "$dir/containerd.sock" version >/dev/null 2>&1; then
      log "containerd is up (pid $CONTAINERD_PID, socket $dir/containerd.sock)"
      CONTAINERD_SOCKET=$dir/containerd.sock
      return 0
    fi
    kill -0 "$CONTAINERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 20 "$dir/containerd.log" >&2 || true
  die "containerd did not answer"
}

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for dir in "$TARGETS_DIR"/*/; do targets+=("$(basename "$dir")"); done
fi

start_containerd

failed=()
for target in "${targets[@]}"; do
  [ -f "$TARGETS_DIR/$target/tasks/main.yml" ] || die "no target $target in $TARGETS_DIR"
  playbook=$WORK/$target.yml
  cat >"$playbook" <<EOF
- name: Integration target $target
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - $target
EOF
  log "=== $target"
  if "$VENV/bin/ansible-playbook" -i localhost, "$playbook" \
      -e "ansible_python_interpreter=$TARGET_PYTHON" \
      -e "image_import_containerd_address=$CONTAINERD_SOCKET" \
      -e "image_import_docker_cli=$DOCKER"; then
    log "--- $target passed"
  else
    log "--- $target FAILED"
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  die "failed targets: ${failed[*]}"
fi
log "all ${#targets[@]} target(s) passed"
