#!/usr/bin/env bash
# The lab's egress sink: proof that nothing on an air-gapped lab network tried to leave.
#
#   egress.sh up NETWORK SUBNET SINK_IP STATE_DIR
#                        start the sink container (mlstack-lab-egress-sink) with address SINK_IP
#                        on the existing --internal NETWORK, state in STATE_DIR/state.json, and
#                        the host's counters on the network's bridge
#   egress.sh attach CONTAINER SINK_IP
#                        route CONTAINER's default route via the sink (its DNS must be given when
#                        it is started: docker run --dns SINK_IP)
#   egress.sh report STATE_DIR
#                        summary; exit 1 when anything tried to leave, 0 when nothing did, 2 when
#                        the state cannot be read
#   egress.sh down       stop the sink (it writes its final state), remove the host's counters
#   egress.sh selftest   prove the instrument sees what it must and not what it must not, on a
#                        throw-away network; prints PASS or FAIL
#
# What is counted and why: README.md beside this file.
set -euo pipefail

EGRESS_DIR=$(cd "$(dirname "$0")" && pwd)
DOCKER=${DOCKER:-/usr/bin/docker}
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}
IMAGE=${MLSTACK_EGRESS_IMAGE:-mlstack-lab/systemd:bookworm}
SINK=${MLSTACK_EGRESS_SINK:-mlstack-lab-egress-sink}
SELFTEST_SINK=mlstack-lab-egress-selftest-sink
TAG=mlstack-lab-egress
FWD_CHAIN=MLSTACK-EGRESS-FWD
HOST_CHAIN=MLSTACK-EGRESS-HOST
SELFTEST_NETWORK=mlstack-lab-egress-selftest
SELFTEST_SUBNET=${MLSTACK_EGRESS_SELFTEST_SUBNET:-10.213.250.0/24}
SELFTEST_SINK_IP=${MLSTACK_EGRESS_SELFTEST_SINK_IP:-10.213.250.254}
PROBE=mlstack-lab-egress-probe
LOOSE_PROBE=mlstack-lab-egress-loose

log() { printf '[egress] %s\n' "$*" >&2; }
die() { printf '[egress] ERROR: %s\n' "$*" >&2; exit 2; }

in_subnet() {  # ADDRESS SUBNET: true when ADDRESS is a host address of SUBNET
  "$PYTHON" -c 'import ipaddress as i, sys
a, n = i.ip_address(sys.argv[1]), i.ip_network(sys.argv[2], strict=False)
sys.exit(0 if a in n and a not in (n.network_address, n.broadcast_address) else 1)' "$1" "$2" 2>/dev/null
}

bridge_of() {  # NETWORK: the Linux bridge of a docker bridge network
  local id name
  name=$("$DOCKER" network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' "$1")
  if [ -z "$name" ] || [ "$name" = "<no value>" ]; then
    id=$("$DOCKER" network inspect -f '{{.Id}}' "$1")
    name=br-${id:0:12}
  fi
  ip link show "$name" >/dev/null 2>&1 || die "network $1: its bridge $name is not on this host"
  printf '%s\n' "$name"
}

# --------------------------------------------------------------- host counters
# Frames between two ports of the lab's bridge pass the host's iptables FORWARD chain
# (br_netfilter, bridge-nf-call-iptables=1), where Docker's isolation rule for an internal
# network drops every packet whose destination is outside the subnet, i.e. the very packets
# routed to the sink. The ACCEPT lets them reach the sink; its out-interface is the lab's own
# bridge, so nothing it accepts can leave. The two jumps to empty chains count what bypasses
# the sink: packets routed by the host towards anywhere else (a container whose default route
# is still Docker's gateway) and packets to the host's own addresses.
counter_rules() {  # BRIDGE: one rule per line, without the -A/-I/-D verb
  printf '%s\n' \
    "DOCKER-USER -i $1 ! -o $1 -m comment --comment $TAG-fwd -j $FWD_CHAIN" \
    "DOCKER-USER -i $1 -o $1 -m comment --comment $TAG-to-sink -j ACCEPT" \
    "INPUT -i $1 -m addrtype --dst-type LOCAL -m comment --comment $TAG-host -j $HOST_CHAIN"
}

counters_add() {
  local bridge=$1 rule
  iptables -L DOCKER-USER -n >/dev/null 2>&1 || die "the host has no DOCKER-USER chain: is this Docker's iptables?"
  counters_remove "$bridge"
  iptables -N "$FWD_CHAIN" 2>/dev/null || true
  iptables -N "$HOST_CHAIN" 2>/dev/null || true
  # Inserted in reverse, so that the count comes before the ACCEPT.
  while read -r rule; do
    # shellcheck disable=SC2086
    iptables -I $rule
  done < <(counter_rules "$bridge" | tac)
}

counters_remove() {  # BRIDGE: the rules this script added for BRIDGE (and the chains, once unused)
  local chain rule
  for chain in DOCKER-USER INPUT; do
    while read -r rule; do
      # shellcheck disable=SC2086
      iptables -D ${rule#-A } 2>/dev/null || true
    done < <(iptables -S "$chain" 2>/dev/null | grep -- "-i $1 " | grep -- "--comment $TAG-" || true)
  done
  iptables -X "$FWD_CHAIN" 2>/dev/null || true  # fails while another sink's rule uses it
  iptables -X "$HOST_CHAIN" 2>/dev/null || true
}

counter_of() {  # CHAIN TARGET BRIDGE: the packet count of the rule jumping to TARGET from BRIDGE
  iptables -L "$1" -v -x -n 2>/dev/null | awk -v t="$2" -v b="$3" '$3 == t && $6 == b { print $1; exit }'
}

counters_save() {  # STATE_DIR BRIDGE: write STATE_DIR/host-counter.json while the rules exist
  local dir=$1 bridge=$2 fwd host
  fwd=$(counter_of DOCKER-USER "$FWD_CHAIN" "$bridge")
  host=$(counter_of INPUT "$HOST_CHAIN" "$bridge")
  [ -n "$fwd" ] && [ -n "$host" ] || return 1
  printf '{"bridge": "%s", "forwarded": %d, "to_host": %d, "read": "%s"}\n' \
    "$bridge" "$fwd" "$host" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$dir/.host-counter.json.tmp"
  mv -f "$dir/.host-counter.json.tmp" "$dir/host-counter.json"
}

sink_label() {  # KEY: a label of the running sink container
  "$DOCKER" inspect -f "{{index .Config.Labels \"$1\"}}" "$SINK" 2>/dev/null || true
}

# --------------------------------------------------------------- commands
cmd_up() {
  [ $# -eq 4 ] || die "usage: egress.sh up NETWORK SUBNET SINK_IP STATE_DIR"
  local network=$1 subnet=$2 sink_ip=$3 state_dir=$4 internal subnets bridge
  internal=$("$DOCKER" network inspect -f '{{.Internal}}' "$network" 2>/dev/null) \
    || die "NETWORK $network does not exist"
  [ "$internal" = true ] || die "NETWORK $network was not created with --internal"
  subnets=$("$DOCKER" network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' "$network")
  case " $subnets" in *" $subnet "*) ;; *) die "SUBNET $subnet is not a subnet of $network ($subnets)" ;; esac
  in_subnet "$sink_ip" "$subnet" || die "SINK_IP $sink_ip is not a host address of $subnet"
  bridge=$(bridge_of "$network")
  mkdir -p "$state_dir"
  state_dir=$(cd "$state_dir" && pwd)
  # An earlier sink of this name (on this network or another) goes first, with its rules.
  if "$DOCKER" inspect "$SINK" >/dev/null 2>&1; then ( cmd_down ) || true; fi
  rm -f "$state_dir/state.json" "$state_dir/host-counter.json"
  counters_add "$bridge"
  log "starting $SINK at $sink_ip on $network ($subnet, bridge $bridge), state in $state_dir"
  "$DOCKER" run -d --name "$SINK" --hostname "$SINK" --network "$network" --ip "$sink_ip" \
    --cap-drop ALL --cap-add NET_RAW --cap-add NET_ADMIN --cap-add NET_BIND_SERVICE \
    --sysctl net.ipv4.ip_forward=0 --stop-signal SIGTERM \
    --label mlstack-lab=egress-sink --label "$TAG.state=$state_dir" --label "$TAG.bridge=$bridge" \
    -v "$EGRESS_DIR/sink.py:/sink.py:ro" -v "$state_dir:/state" \
    "$IMAGE" python3 /sink.py serve --interface eth0 --address "$sink_ip" --subnet "$subnet" \
    --state /state/state.json >/dev/null
  for _ in $(seq 1 50); do
    [ -s "$state_dir/state.json" ] && { log "$SINK is counting"; return 0; }
    [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$SINK" 2>/dev/null)" = true ] || break
    sleep 0.2
  done
  "$DOCKER" logs "$SINK" 2>&1 | tail -n 20 >&2
  die "$SINK did not write $state_dir/state.json"
}

cmd_attach() {
  [ $# -eq 2 ] || die "usage: egress.sh attach CONTAINER SINK_IP"
  local container=$1 sink_ip=$2 pid dns route
  pid=$("$DOCKER" inspect -f '{{if .State.Running}}{{.State.Pid}}{{end}}' "$container" 2>/dev/null) || true
  if [ -z "$pid" ] || [ "$pid" = 0 ]; then die "CONTAINER $container is not running"; fi
  # From the host, in the container's network namespace: the container needs neither
  # iproute2 nor NET_ADMIN for this.
  route=$(nsenter -t "$pid" -n ip -o route get "$sink_ip" 2>/dev/null) || true
  case "$route" in
    "$sink_ip dev "*) ;;
    *) die "SINK_IP $sink_ip is not on a network of $container (route: ${route:-none})" ;;
  esac
  nsenter -t "$pid" -n ip route replace default via "$sink_ip" \
    || die "$container: cannot set its default route via $sink_ip"
  route=$(nsenter -t "$pid" -n ip route show default)
  [ "$route" = "default via $sink_ip dev ${route##* dev }" ] || die "$container: default route is '$route'"
  dns=$("$DOCKER" inspect -f '{{range .HostConfig.Dns}}{{.}} {{end}}' "$container")
  dns=${dns% }
  case " $dns " in
    *" $sink_ip "*) log "$container: default route and DNS via $sink_ip" ;;
    *) log "$container: default route via $sink_ip; its DNS is ${dns:-that of the host}, not the sink" \
         "(start it with --dns $sink_ip to see query names; its forwarded queries still show as packets)" ;;
  esac
}

cmd_report() {
  [ $# -eq 1 ] || die "usage: egress.sh report STATE_DIR"
  local state_dir=$1 bridge counter=() running
  bridge=$(sink_label "$TAG.bridge")
  if [ -n "$bridge" ] && [ "$(sink_label "$TAG.state")" = "$(cd "$state_dir" 2>/dev/null && pwd)" ]; then
    running=$("$DOCKER" inspect -f '{{.State.Running}} (exit code {{.State.ExitCode}})' "$SINK")
    [ "${running%% *}" = true ] || {
      "$DOCKER" logs "$SINK" 2>&1 | tail -n 5 >&2
      die "$SINK stopped ${running#* } while counting: its counts are incomplete"
    }
    counters_save "$state_dir" "$bridge" || log "cannot read the host counters on $bridge"
  fi
  [ -f "$state_dir/host-counter.json" ] && counter=(--host-counter "$state_dir/host-counter.json")
  "$PYTHON" "$EGRESS_DIR/sink.py" report "$state_dir/state.json" "${counter[@]}"
}

cmd_down() {
  local state_dir bridge
  state_dir=$(sink_label "$TAG.state")
  bridge=$(sink_label "$TAG.bridge")
  if [ -n "$state_dir" ] && [ -n "$bridge" ]; then
    counters_save "$state_dir" "$bridge" || log "cannot read the host counters on $bridge"
  fi
  local code=0
  if "$DOCKER" inspect "$SINK" >/dev/null 2>&1; then
    "$DOCKER" stop -t 10 "$SINK" >/dev/null  # SIGTERM: the sink writes its final state
    code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$SINK")
    [ "$code" = 0 ] || "$DOCKER" logs "$SINK" 2>&1 | tail -n 5 >&2
    "$DOCKER" rm -f "$SINK" >/dev/null
    log "removed $SINK (exit code $code)${state_dir:+, state in $state_dir}"
  fi
  [ -z "$bridge" ] || counters_remove "$bridge"
  [ "$code" = 0 ] || die "$SINK did not stop cleanly (exit code $code): its last second may be missing"
}

# --------------------------------------------------------------- selftest
probe() {  # CONTAINER COMMAND...: prints "RC MILLISECONDS" of COMMAND run in CONTAINER
  # shellcheck disable=SC2016  # expanded by the bash inside the container
  "$DOCKER" exec "$1" bash -c 's=$(date +%s%N); "$@" >/dev/null 2>&1; rc=$?; e=$(date +%s%N); echo "$rc $(( (e - s) / 1000000 ))"' probe "${@:2}"
}

down_quietly() { ( cmd_down ) 2>/dev/null; }  # a subshell: a failing down is a failed check, not an exit

selftest_cleanup() {  # the selftest's own sink, probes, network (and state, when given)
  cmd_down >/dev/null 2>&1 || true
  "$DOCKER" rm -f "$PROBE" "$LOOSE_PROBE" >/dev/null 2>&1 || true
  "$DOCKER" network rm "$SELFTEST_NETWORK" >/dev/null 2>&1 || true
  if [ -n "${1:-}" ]; then rm -rf "$1"; fi
}

cmd_selftest() {
  local started failures=() rc ms out state
  started=$(date +%s%N)
  SINK=$SELFTEST_SINK  # its own sink: a sink already counting a real run is left alone
  selftest_cleanup ""  # leftovers of an interrupted selftest
  state=$(mktemp -d /var/tmp/mlstack-lab-egress-selftest.XXXXXX)
  # shellcheck disable=SC2064
  trap "selftest_cleanup '$state'" EXIT
  check() {  # DESCRIPTION COMMAND...: record a failure unless COMMAND succeeds
    local what=$1; shift
    if "$@"; then log "ok: $what"; else log "FAILED: $what"; failures+=("$what"); fi
  }
  "$DOCKER" network create --internal --subnet "$SELFTEST_SUBNET" "$SELFTEST_NETWORK" >/dev/null
  cmd_up "$SELFTEST_NETWORK" "$SELFTEST_SUBNET" "$SELFTEST_SINK_IP" "$state"
  "$DOCKER" run -d --name "$PROBE" --network "$SELFTEST_NETWORK" --dns "$SELFTEST_SINK_IP" \
    --cap-drop ALL "$IMAGE" sleep infinity >/dev/null
  "$DOCKER" run -d --name "$LOOSE_PROBE" --network "$SELFTEST_NETWORK" \
    --cap-drop ALL "$IMAGE" sleep infinity >/dev/null
  cmd_attach "$PROBE" "$SELFTEST_SINK_IP"

  sleep 1.5  # one write period of the sink: anything the start-up sent is in the state now
  out=$(cmd_report "$state" 2>&1) && rc=0 || rc=$?
  check "report exits 0 before anything tried to leave (got $rc)" test "$rc" = 0
  [ "$rc" = 0 ] || printf '%s\n' "$out" >&2

  read -r rc ms < <(probe "$PROBE" getent hosts "$PROBE")
  check "own container name answered by Docker, not the sink (rc $rc, $ms ms)" test "$rc" = 0
  read -r rc ms < <(probe "$PROBE" getent hosts deb.debian.org)
  log "getent hosts deb.debian.org: rc $rc in $ms ms"
  check "getent hosts deb.debian.org fails (rc $rc)" test "$rc" != 0
  read -r rc ms < <(probe "$PROBE" curl -sS -m 3 http://1.1.1.1/)
  log "curl -m 3 http://1.1.1.1/: rc $rc in $ms ms"
  check "curl to 1.1.1.1:80 is refused at once by ICMP, not timed out (rc $rc, $ms ms)" \
    test "$rc" = 7 -a "$ms" -lt 2000
  read -r rc ms < <(probe "$PROBE" python3 -c \
    'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"mlstack-egress-selftest", ("8.8.8.8", 53))')
  check "UDP datagram to 8.8.8.8:53 sent (rc $rc)" test "$rc" = 0
  read -r rc ms < <(probe "$LOOSE_PROBE" curl -sS -m 1 http://1.0.0.1/)
  check "a container not attached cannot reach 1.0.0.1 either (rc $rc)" test "$rc" != 0

  sleep 1.5
  out=$(cmd_report "$state" 2>&1) && rc=0 || rc=$?
  printf '%s\n' "$out" >&2
  check "report exits 1 after the attempts (got $rc)" test "$rc" = 1
  check "state: the attempts, the query, not the container name" "$PYTHON" - "$state/state.json" \
    "$state/host-counter.json" "$PROBE" <<'EOF'
import json, sys
state = json.load(open(sys.argv[1]))
host = json.load(open(sys.argv[2]))
probe = sys.argv[3]
flows = {(f["dst"], f["proto"], f["dport"]) for f in state["flows"]}
names = {q["name"] for q in state["queries"]}
problems = []
if state["packets"] < 1:
    problems.append("no packet counted")
for flow in (("1.1.1.1", "tcp", 80), ("8.8.8.8", "udp", 53)):
    if flow not in flows:
        problems.append("no flow %s %s/%s" % flow)
if "deb.debian.org." not in names:
    problems.append("no query for deb.debian.org")
if any(n.split(".")[0] == probe for n in names):
    problems.append("a query for the probe's own name reached the sink")
if state["rejected"] < 1:
    problems.append("no ICMP error sent")
if host["forwarded"] < 1:
    problems.append("the host counter did not see the unattached container's attempt")
for p in problems:
    print("[egress]   " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
  check "the sink stops cleanly and leaves its state" down_quietly
  check "the final state is on disk after down" test -s "$state/state.json"
  ms=$(( ($(date +%s%N) - started) / 1000000 ))
  if [ ${#failures[@]} -eq 0 ]; then
    echo "egress selftest: PASS (${ms} ms)"
    return 0
  fi
  echo "egress selftest: FAIL (${#failures[@]} checks, ${ms} ms): ${failures[*]}"
  return 1
}

main() {
  local command=${1:-}
  [ -n "$command" ] || die "usage: egress.sh up|attach|report|down|selftest ..."
  shift
  case "$command" in
    up) cmd_up "$@" ;;
    attach) cmd_attach "$@" ;;
    report) cmd_report "$@" ;;
    down) cmd_down ;;
    selftest) cmd_selftest ;;
    *) die "unknown command $command (up|attach|report|down|selftest)" ;;
  esac
}

main "$@"
