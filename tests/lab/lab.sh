#!/usr/bin/env bash
# The local lab: a real Docker Engine and the base images every test builds on.
#
#   lab.sh up            engine + base images (idempotent; seconds when all exist)
#   lab.sh engine        install docker.io/debootstrap if missing, start dockerd if needed
#   lab.sh images        build mlstack-lab/debian:bookworm and mlstack-lab/systemd:bookworm
#   lab.sh hosts-up N    start N lab hosts (systemd containers) for `make demo`
#   lab.sh hosts-down    remove the lab hosts
#   lab.sh multi-up [online|airgap]  the three hosts of inventories/lab_multi, reached over SSH
#   lab.sh multi-down    remove them
#   lab.sh multi-destroy HOST...  remove some of them (multi-up then starts new ones in their place)
#   lab.sh mirror        the lab's registry mirror (127.0.0.1:5055) seeded with the lab images
#   lab.sh bundle [DIR [INVENTORY [ARGS]]]  the lab's bundle (default $STATE_DIR/bundle), made by
#                        playbooks/bundle.yml for INVENTORY (default inventories/lab) from the
#                        lab's mirror and Debian's and PyPI's archives
#   lab.sh down          lab hosts down, and stop dockerd if this lab started it
#
# Facts behind the flags used here are in ../shared/ENVIRONMENT.md of the project.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "$0")" && pwd)
STATE_DIR=${MLSTACK_LAB_STATE:-/var/tmp/mlstack-lab}
DEBIAN_MIRROR=${MLSTACK_LAB_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
BASE_IMAGE=mlstack-lab/debian:${SUITE}
SYSTEMD_IMAGE=mlstack-lab/systemd:${SUITE}
LAB_NETWORK=mlstack-lab
# Fixed, so that inventories/lab can name it (postgres_hba_allowed_cidrs).
LAB_SUBNET=${MLSTACK_LAB_SUBNET:-10.213.0.0/24}
LAB_HOST_PREFIX=mlstack-lab-host

# Debian's client (20.10) matches Debian's engine; fall back to whatever is on PATH.
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || echo docker )}

log() { printf '[lab] %s\n' "$*" >&2; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v ctr >/dev/null 2>&1 || missing+=(containerd)
  # bundle.yml on the connected side: skopeo copies images, gpg signs.
  command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
  command -v gpg >/dev/null 2>&1 || missing+=(gpg)
  # The SSH lab (multi-up): the lab's key pair and Ansible's SSH connection.
  command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
  # tests/sanity.sh's shellcheck: installed here, once, so that make test's two lanes never
  # run apt-get at the same time.
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

engine_answers() { "$DOCKER" info >/dev/null 2>&1; }

start_engine() {
  if engine_answers; then
    return 0
  fi
  mkdir -p "$STATE_DIR"
  log "starting dockerd (log: $STATE_DIR/dockerd.log)"
  # setsid: the engine must not die with the process group of the shell that ran make.
  as_root sh -c "setsid nohup dockerd >'$STATE_DIR/dockerd.log' 2>&1 < /dev/null & echo \$! >'$STATE_DIR/dockerd.pid'"
  local i
  for i in $(seq 1 60); do
    engine_answers && { log "dockerd is up (pid $(cat "$STATE_DIR/dockerd.pid"))"; return 0; }
    sleep 1
  done
  tail -n 20 "$STATE_DIR/dockerd.log" >&2 || true
  die "dockerd did not answer within 60 s"
}

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

build_base_image() {
  image_exists "$BASE_IMAGE" && return 0
  local rootfs
  rootfs=$(mktemp -d /var/tmp/mlstack-lab-rootfs.XXXXXX)
  # shellcheck disable=SC2064
  trap "as_root rm -rf '$rootfs'" RETURN
  log "debootstrap --variant=minbase $SUITE (about 35 s)"
  as_root debootstrap --variant=minbase "$SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$STATE_DIR/debootstrap.log" 2>&1 \
    || { tail -n 20 "$STATE_DIR/debootstrap.log" >&2; die "debootstrap failed"; }
  as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  as_root tar -C "$rootfs" -c . | "$DOCKER" import \
    --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
  log "built $BASE_IMAGE"
}

# The image is rebuilt when its build context changed (its digest is kept as a label).
build_systemd_image() {
  local context have
  context=$(cd "$LAB_DIR/images/systemd" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
  have=$("$DOCKER" image inspect -f '{{ index .Config.Labels "mlstack.lab.context" }}' "$SYSTEMD_IMAGE" 2>/dev/null || true)
  [ "$have" = "$context" ] && return 0
  log "building $SYSTEMD_IMAGE"
  "$DOCKER" build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "mlstack.lab.context=$context" \
    -t "$SYSTEMD_IMAGE" "$LAB_DIR/images/systemd" >/dev/null
  log "built $SYSTEMD_IMAGE"
}

# The systemd-container flags that work on these machines (no --privileged: see
# ENVIRONMENT.md). Kept in step with molecule/base.yml.
LAB_CAPS=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
  LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
  SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE
  SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE
  MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ)

ensure_network() {
  local subnet
  subnet=$("$DOCKER" network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$LAB_NETWORK" 2>/dev/null || true)
  [ "$subnet" = "$LAB_SUBNET" ] && return 0
  if [ -n "$subnet" ]; then
    log "re-creating network $LAB_NETWORK with subnet $LAB_SUBNET (it had $subnet)"
    "$DOCKER" network rm "$LAB_NETWORK" >/dev/null || die "network $LAB_NETWORK is in use: lab.sh hosts-down first"
  fi
  "$DOCKER" network create --subnet "$LAB_SUBNET" "$LAB_NETWORK" >/dev/null
}

# start_host NAME NETWORK [docker run args...]: one lab host (a systemd container) with the
# flags that work here; its /var/lib/docker is a volume (overlay2 inside).
start_host() {
  local name=$1 network=$2 c caps=()
  shift 2
  for c in "${LAB_CAPS[@]}"; do caps+=(--cap-add "$c"); done
  if [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; then
    return 0
  fi
  "$DOCKER" rm -f "$name" >/dev/null 2>&1 || true
  log "starting lab host $name"
  "$DOCKER" run -d --name "$name" --hostname "$name" --network "$network" \
    --cap-drop ALL "${caps[@]}" \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run --tmpfs /run/lock \
    -v "$name-docker:/var/lib/docker" \
    --label mlstack-lab=host "$@" \
    "$SYSTEMD_IMAGE" /lib/systemd/systemd >/dev/null
}

wait_for_systemd() {
  local name state
  for name in "$@"; do
    state=""
    for _ in $(seq 1 60); do
      state=$("$DOCKER" exec "$name" systemctl is-system-running 2>/dev/null || true)
      case "$state" in running|degraded) break ;; esac
      sleep 1
    done
    case "$state" in running|degraded) log "$name: systemd $state" ;; *) die "$name: systemd did not come up ($state)" ;; esac
  done
}

hosts_up() {
  local count=${1:-1} i names=()
  ensure_network
  for i in $(seq 1 "$count"); do
    names+=("$LAB_HOST_PREFIX$i")
    start_host "$LAB_HOST_PREFIX$i" "$LAB_NETWORK"
  done
  wait_for_systemd "${names[@]}"
}

# The multi-host lab site (inventories/lab_multi): three hosts reached over SSH as VMs are,
# a non-root user with sudo, key authentication with a key the lab makes, and host keys
# pinned in a known_hosts file the inventory names (read from each host through the engine,
# the lab's out-of-band channel, as a cloud's console or cloud-init would give them).
#   online: on the lab network (10.213.0.0/24, reaches Debian's mirror through the machine)
#   airgap: on mlstack-lab-airgap, created --internal (Docker drops what leaves; 10.213.1.0/24), every
#           container's default route and DNS pointed at the egress sink (tests/lab/egress/)
MULTI_INVENTORY=$(cd "$LAB_DIR/../.." && pwd)/inventories/lab_multi
MULTI_SSH_DIR=$MULTI_INVENTORY/credentials/ssh
MULTI_HOSTS=(mlstack-lab-m1 mlstack-lab-m2 mlstack-lab-m3)
MULTI_USER=mlstack
AIRGAP_NETWORK=mlstack-lab-airgap
AIRGAP_SUBNET=10.213.1.0/24
AIRGAP_SINK=10.213.1.254

multi_prefix() { case "$1" in online) echo "${LAB_SUBNET%.*}" ;; airgap) echo "${AIRGAP_SUBNET%.*}" ;; *) die "mode must be online or airgap, got '$1'" ;; esac; }

ensure_airgap_network() {
  if ! "$DOCKER" network inspect "$AIRGAP_NETWORK" >/dev/null 2>&1; then
    "$DOCKER" network create --internal --subnet "$AIRGAP_SUBNET" "$AIRGAP_NETWORK" >/dev/null
  fi
  [ "$("$DOCKER" network inspect -f '{{.Internal}}' "$AIRGAP_NETWORK")" = true ] \
    || die "network $AIRGAP_NETWORK exists but is not --internal"
}

multi_key() {
  install -d -m 0700 "$MULTI_SSH_DIR"
  [ -f "$MULTI_SSH_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C mlstack-lab -f "$MULTI_SSH_DIR/id_ed25519"
}

# provision_ssh NAME ADDRESS: the user, its key, sudo; prints the host's known_hosts lines.
provision_ssh() {
  local name=$1 address=$2
  "$DOCKER" exec -i "$name" sh -eu -c "
    id $MULTI_USER >/dev/null 2>&1 || useradd -m -s /bin/bash $MULTI_USER
    install -d -m 0700 -o $MULTI_USER -g $MULTI_USER /home/$MULTI_USER/.ssh
    cat > /home/$MULTI_USER/.ssh/authorized_keys
    chown $MULTI_USER: /home/$MULTI_USER/.ssh/authorized_keys
    chmod 0600 /home/$MULTI_USER/.ssh/authorized_keys
    echo '$MULTI_USER ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/$MULTI_USER
    chmod 0440 /etc/sudoers.d/$MULTI_USER
    for i in \$(seq 1 30); do systemctl is-active -q ssh && break; sleep 1; done
    systemctl is-active -q ssh" <"$MULTI_SSH_DIR/id_ed25519.pub" || die "$name: sshd is not running"
  "$DOCKER" exec "$name" sh -c 'cat /etc/ssh/ssh_host_*_key.pub' | awk -v names="$name,$address" '{ print names, $1, $2 }'
}

multi_up() {
  local mode=${1:-online} prefix network i name args known
  prefix=$(multi_prefix "$mode")
  multi_key
  if [ "$mode" = airgap ]; then
    ensure_airgap_network
    network=$AIRGAP_NETWORK
    args=(--dns "$AIRGAP_SINK")
    "$LAB_DIR/egress/egress.sh" up "$AIRGAP_NETWORK" "$AIRGAP_SUBNET" "$AIRGAP_SINK" "$STATE_DIR/egress"
  else
    ensure_network
    network=$LAB_NETWORK
    args=()
  fi
  for i in "${!MULTI_HOSTS[@]}"; do
    name=${MULTI_HOSTS[$i]}
    start_host "$name" "$network" --ip "$prefix.$((21 + i))" --label "mlstack-lab.site=multi-$mode" "${args[@]}"
  done
  wait_for_systemd "${MULTI_HOSTS[@]}"
  known=$(mktemp)
  for i in "${!MULTI_HOSTS[@]}"; do
    name=${MULTI_HOSTS[$i]}
    [ "$mode" = airgap ] && "$LAB_DIR/egress/egress.sh" attach "$name" "$AIRGAP_SINK"
    provision_ssh "$name" "$prefix.$((21 + i))" >>"$known"
  done
  install -m 0644 "$known" "$MULTI_SSH_DIR/known_hosts"
  rm -f "$known"
  log "lab_multi ($mode): ${MULTI_HOSTS[*]} on $network, SSH as $MULTI_USER, host keys in $MULTI_SSH_DIR/known_hosts"
}

multi_down() {
  local ids vols name
  ids=$("$DOCKER" ps -aq --filter label=mlstack-lab.site=multi-online; "$DOCKER" ps -aq --filter label=mlstack-lab.site=multi-airgap)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || "$DOCKER" rm -f $ids >/dev/null
  for name in "${MULTI_HOSTS[@]}"; do
    vols=$("$DOCKER" volume ls -q --filter "name=^$name-docker\$")
    [ -z "$vols" ] || "$DOCKER" volume rm "$vols" >/dev/null
  done
}

# multi_destroy NAME...: remove these lab_multi hosts and their Docker storage (a lost VM);
# `multi-up` then starts new ones in their place (the others keep running) and pins the new
# host keys (tests/e2e/backup.py).
multi_destroy() {
  local name known=" ${MULTI_HOSTS[*]} "
  [ "$#" -gt 0 ] || die "multi-destroy needs host names (${MULTI_HOSTS[*]})"
  for name in "$@"; do
    case "$known" in *" $name "*) ;; *) die "multi-destroy: $name is not a lab_multi host (${MULTI_HOSTS[*]})" ;; esac
    "$DOCKER" rm -f "$name" >/dev/null 2>&1 || true
    if "$DOCKER" volume inspect "$name-docker" >/dev/null 2>&1; then
      "$DOCKER" volume rm "$name-docker" >/dev/null
    fi
    log "lab_multi: $name destroyed"
  done
}

hosts_down() {
  local ids
  # The demo's hosts only (mlstack-lab-host<N>), not lab_multi's (multi-down).
  ids=$("$DOCKER" ps -aq --filter label=mlstack-lab=host --filter "name=^${LAB_HOST_PREFIX}[0-9]+\$")
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    "$DOCKER" rm -f $ids >/dev/null
  fi
  local vols
  vols=$("$DOCKER" volume ls -q | grep -E "^${LAB_HOST_PREFIX}[0-9]+-docker\$" || true)
  # shellcheck disable=SC2086
  [ -z "$vols" ] || "$DOCKER" volume rm $vols >/dev/null
}

stop_engine() {
  local pidfile="$STATE_DIR/dockerd.pid"
  [ -f "$pidfile" ] || { log "dockerd was not started by the lab; leaving it"; return 0; }
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping dockerd (pid $pid)"
    as_root kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
  rm -f "$pidfile"
}

# The manifest's version of an image entry (roles/common/defaults/main.yml), read with awk
# so that the lab needs no Python YAML library.
manifest_image_field() {
  awk -v entry="    $1:" -v field="      $2:" '
    $0 == entry { inside = 1; next }
    inside && /^    [a-z_]+:/ { inside = 0 }
    inside && index($0, field) == 1 { sub(/^[^:]*: */, ""); gsub(/"/, ""); print; exit }
  ' "$LAB_DIR/../../roles/common/defaults/main.yml"
}

# The lab's registry mirror: a real registry (the lab image of Debian's docker-registry) on
# 127.0.0.1:$MIRROR_PORT, seeded with the lab images that stand for the upstream images, so
# that bundle.yml copies them as it copies from a company's pull-through mirror (Harbor,
# Artifactory): <mirror>/<path>:<tag>. Idempotent: an image already there is not pushed again.
MIRROR_PORT=${MLSTACK_LAB_MIRROR_PORT:-5055}
MIRROR_NAME=mlstack-lab-mirror
start_mirror() {
  "$LAB_DIR/images/build.sh"
  local version
  version=$(manifest_image_field seaweedfs version)
  [ -n "$version" ] || die "no images.seaweedfs.version in the manifest"
  "$LAB_DIR/images/seaweedfs/build.sh" "$version"
  # The GitLab and gitlab-runner stand-ins (tests/lab/README.md) for inventories/lab_multi.
  "$LAB_DIR/images/gitlab-standin/build.sh" standin
  "$LAB_DIR/images/gitlab-runner-standin/build.sh" standin
  if [ -z "$("$DOCKER" ps -q --filter "name=^${MIRROR_NAME}\$")" ]; then
    "$DOCKER" rm -f "$MIRROR_NAME" >/dev/null 2>&1 || true
    log "starting the lab's registry mirror on 127.0.0.1:$MIRROR_PORT"
    # Anonymous, like a pull-through mirror a company opens to its build machines (Debian's
    # default config of the package asks for htpasswd logins).
    printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n' \
      >"$STATE_DIR/mirror-config.yml"
    "$DOCKER" run -d --name "$MIRROR_NAME" --restart unless-stopped -p "127.0.0.1:$MIRROR_PORT:5000" \
      -v "$STATE_DIR/mirror-config.yml:/etc/docker/registry/config.yml:ro" mlstack-lab/registry:2.8 >/dev/null
  fi
  local i image
  for i in $(seq 1 30); do
    curl -fsS "http://127.0.0.1:$MIRROR_PORT/v2/" >/dev/null 2>&1 && break
    sleep 1
  done
  for image in $("$LAB_DIR/images/build.sh" --list) "mlstack-lab/seaweedfs:$version" \
      mlstack-lab/gitlab-standin:standin mlstack-lab/gitlab-runner-standin:standin "$BASE_IMAGE"; do
    skopeo inspect --tls-verify=false --raw "docker://127.0.0.1:$MIRROR_PORT/$image" >/dev/null 2>&1 && continue
    log "seeding the mirror with $image"
    skopeo copy --quiet --dest-tls-verify=false "docker-daemon:$image" "docker://127.0.0.1:$MIRROR_PORT/$image"
  done
}

stop_mirror() { "$DOCKER" rm -f "$MIRROR_NAME" >/dev/null 2>&1 || true; }

# The lab's bundle is made the one way bundles are made: playbooks/bundle.yml for the lab
# inventory, reading the lab's mirror. Needs the project's venv (make venv).
make_bundle() {
  local dir=${1:-$STATE_DIR/bundle} inventory=${2:-$LAB_DIR/../../inventories/lab/hosts.yml}
  start_mirror
  local ansible_playbook=${ANSIBLE_PLAYBOOK:-$LAB_DIR/../../.venv/bin/ansible-playbook}
  log "making the lab's bundle in $dir with playbooks/bundle.yml"
  "$ansible_playbook" -i "$inventory" "$LAB_DIR/../../playbooks/bundle.yml" \
    -e "mlstack_bundle_dir=$dir" -e "mlstack_bundle_registry_mirror=127.0.0.1:$MIRROR_PORT" \
    -e mlstack_bundle_registry_tls_verify=false "${@:3}"
  log "bundle ready in $dir"
}

main() {
  local cmd=${1:-up}
  shift || true
  mkdir -p "$STATE_DIR"
  case "$cmd" in
    engine) install_packages; start_engine ;;
    images) start_engine; build_base_image; build_systemd_image ;;
    up) install_packages; start_engine; build_base_image; build_systemd_image ;;
    hosts-up) hosts_up "${1:-1}" ;;
    hosts-down) hosts_down ;;
    multi-up) multi_up "${1:-online}" ;;
    multi-down) multi_down ;;
    multi-destroy) multi_destroy "$@" ;;
    bundle) make_bundle "$@" ;;
    mirror) start_engine; start_mirror ;;
    down) engine_answers && { hosts_down; multi_down; stop_mirror; }; stop_engine ;;
    *) die "unknown command '$cmd' (engine|images|up|hosts-up N|hosts-down|multi-up [online|airgap]|multi-down|multi-destroy HOST...|mirror|bundle [DIR]|down)" ;;
  esac
}

main "$@"
