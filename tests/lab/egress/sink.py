# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The lab's egress sink: the default route and DNS server of an air-gapped lab network.

    sink.py serve --interface eth0 --address 10.213.1.254 --subnet 10.213.1.0/24 --state /state/state.json
    sink.py report /state/state.json [--max-lines N] [--host-counter FILE]

`serve` counts every IPv4/IPv6 packet that arrives on the interface addressed outside the
lab subnets (an attempt to leave), answers it with ICMP "administratively prohibited" so
the sender fails at once, answers every DNS query (UDP and TCP 53) with REFUSED and logs
the name, and writes its tally as JSON (temp file + rename) every second when it changed
and on SIGTERM. It never forwards anything. `report` prints a summary and exits 1 when
anything was counted, 0 when nothing was, 2 when the state cannot be read.

Python 3 standard library only: it runs in the lab's systemd image as `python3 /sink.py`.
See README.md beside this file.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import typing as t

ETH_P_ALL = 0x0003
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = (0x8100, 0x88A8)
PACKET_OUTGOING = 4
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}
IPV6_EXTENSION_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options
IPV6_FRAGMENT = 44
ICMP4_ERROR_TYPES = (3, 4, 5, 11, 12)
DNS_TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
             28: "AAAA", 33: "SRV", 64: "SVCB", 65: "HTTPS", 255: "ANY"}
RCODE_FORMERR = 1
RCODE_REFUSED = 5
MAX_ENTRIES = 10000

IPAddress = t.Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = t.Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class Packet(t.NamedTuple):
    """What the sink needs to know about one IP packet."""
    version: int
    src: IPAddress
    dst: IPAddress
    proto: int
    sport: int | None
    dport: int | None
    icmp_type: int | None
    first_fragment: bool
    raw: bytes


class Query(t.NamedTuple):
    """The question of one DNS query."""
    ident: int
    flags: int
    name: str
    qtype: int
    question: bytes


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---------------------------------------------------------------- packets

def parse_ethernet(frame: bytes) -> tuple[int, bytes] | None:
    """(ethertype, payload) of an Ethernet frame, 802.1Q/802.1ad tags skipped."""
    if len(frame) < 14:
        return None
    offset = 12
    ethertype = struct.unpack_from("!H", frame, offset)[0]
    while ethertype in ETHERTYPE_VLAN and len(frame) >= offset + 6:
        offset += 4
        ethertype = struct.unpack_from("!H", frame, offset)[0]
    return ethertype, frame[offset + 2:]


def _ports(proto: int, payload: bytes) -> tuple[int | None, int | None, int | None]:
    """(sport, dport, icmp_type) read from the first bytes of the transport header."""
    if proto in (6, 17, 132) and len(payload) >= 4:
        sport, dport = struct.unpack_from("!HH", payload)
        return sport, dport, None
    if proto in (1, 58) and payload:
        return None, None, payload[0]
    return None, None, None


def parse_ipv4(data: bytes) -> Packet | None:
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    total = struct.unpack_from("!H", data, 2)[0]
    if ihl < 20 or len(data) < ihl:
        return None
    data = data[:total] if ihl <= total <= len(data) else data
    frag = struct.unpack_from("!H", data, 6)[0] & 0x1FFF
    proto = data[9]
    src = ipaddress.IPv4Address(data[12:16])
    dst = ipaddress.IPv4Address(data[16:20])
    sport, dport, icmp_type = _ports(proto, data[ihl:]) if frag == 0 else (None, None, None)
    return Packet(4, src, dst, proto, sport, dport, icmp_type, frag == 0, data)


def parse_ipv6(data: bytes) -> Packet | None:
    if len(data) < 40 or data[0] >> 4 != 6:
        return None
    payload_len = struct.unpack_from("!H", data, 4)[0]
    if 40 + payload_len <= len(data):
        data = data[:40 + payload_len]
    src = ipaddress.IPv6Address(data[8:24])
    dst = ipaddress.IPv6Address(data[24:40])
    proto, offset, first_fragment = data[6], 40, True
    while proto in IPV6_EXTENSION_HEADERS + (IPV6_FRAGMENT,) and len(data) >= offset + 8:
        if proto == IPV6_FRAGMENT:
            first_fragment = struct.unpack_from("!H", data, offset + 2)[0] >> 3 == 0
            proto, offset = data[offset], offset + 8
        else:
            proto, offset = data[offset], offset + (data[offset + 1] + 1) * 8
    sport, dport, icmp_type = _ports(proto, data[offset:]) if first_fragment else (None, None, None)
    return Packet(6, src, dst, proto, sport, dport, icmp_type, first_fragment, data)


def parse_frame(frame: bytes) -> Packet | None:
    parsed = parse_ethernet(frame)
    if parsed is None:
        return None
    ethertype, payload = parsed
    if ethertype == ETHERTYPE_IPV4:
        return parse_ipv4(payload)
    if ethertype == ETHERTYPE_IPV6:
        return parse_ipv6(payload)
    return None


def _special(addr: IPAddress) -> bool:
    return (addr.is_multicast or addr.is_link_local or addr.is_unspecified or addr.is_loopback
            or addr == ipaddress.IPv4Address("255.255.255.255"))


def is_egress(packet: Packet, subnets: t.Sequence[IPNetwork], own: t.Collection[IPAddress]) -> bool:
    """True when the packet is addressed outside the lab: not to a lab subnet, not to the
    sink itself, not broadcast, multicast, link-local or unspecified."""
    dst = packet.dst
    if dst in own or _special(dst):
        return False
    return not any(dst.version == net.version and dst in net for net in subnets)


def flow_key(packet: Packet) -> tuple[str, str, str, int | None]:
    return (str(packet.src), str(packet.dst), PROTO_NAMES.get(packet.proto, str(packet.proto)),
            packet.dport)


# ---------------------------------------------------------------- fail fast

def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def should_reject(packet: Packet, subnets: t.Sequence[IPNetwork]) -> bool:
    """Answer with an ICMP error only what a router may (RFC 1812 4.3.2.7): never an ICMP
    error, a later fragment, or a sender outside the lab or not unicast."""
    if not packet.first_fragment or _special(packet.src):
        return False
    if not any(packet.src.version == net.version and packet.src in net for net in subnets):
        return False
    if packet.proto == 1 and packet.icmp_type in ICMP4_ERROR_TYPES:
        return False
    if packet.proto == 58 and (packet.icmp_type is None or packet.icmp_type < 128):
        return False
    return True


def icmp4_prohibited(original: bytes) -> bytes:
    """ICMP destination unreachable, code 13 (communication administratively prohibited),
    quoting the original datagram (576-byte limit of RFC 1812). Linux fails a connecting
    TCP socket at once with EHOSTUNREACH and a connected UDP socket too (the code is fatal)."""
    body = original[:548]
    header = struct.pack("!BBHI", 3, 13, 0, 0)
    return struct.pack("!BBHI", 3, 13, checksum(header + body), 0) + body


def icmp6_prohibited(original: bytes) -> bytes:
    """ICMPv6 destination unreachable, code 1 (administratively prohibited); the kernel
    fills in the checksum of raw ICMPv6 sockets (RFC 3542 3.1)."""
    return struct.pack("!BBHI", 1, 1, 0, 0) + original[:1232 - 48]


class RateLimit:
    """A token bucket, so that a flood is counted but not answered in kind."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def allow(self) -> bool:
        stamp = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (stamp - self.stamp) * self.rate)
        self.stamp = stamp
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# ---------------------------------------------------------------- DNS

def _read_name(msg: bytes, offset: int) -> tuple[str, int]:
    """The name at offset (compression followed, loops refused) and the offset after it."""
    labels: list[str] = []
    end, jumps = None, 0
    while True:
        if offset >= len(msg):
            raise ValueError("name runs past the message")
        length = msg[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(msg) or jumps > 16:
                raise ValueError("bad compression pointer")
            end = offset + 2 if end is None else end
            offset, jumps = ((length & 0x3F) << 8) | msg[offset + 1], jumps + 1
            continue
        if length & 0xC0:
            raise ValueError("unknown label type")
        offset += 1
        if length == 0:
            break
        label = msg[offset:offset + length]
        if len(label) != length:
            raise ValueError("label runs past the message")
        labels.append("".join(chr(b) if 0x21 <= b < 0x7F and b != 0x5C else "\\%03d" % b
                              for b in label.lower()))
        offset += length
    return (".".join(labels) + ".") if labels else ".", end if end is not None else offset


def parse_query(msg: bytes) -> Query:
    """The first question of a DNS query; ValueError when the message is not one."""
    if len(msg) < 12:
        raise ValueError("shorter than a DNS header")
    ident, flags, qdcount = struct.unpack_from("!HHH", msg)
    if flags & 0x8000:
        raise ValueError("a response, not a query")
    if qdcount < 1:
        raise ValueError("no question")
    name, offset = _read_name(msg, 12)
    if offset + 4 > len(msg):
        raise ValueError("question runs past the message")
    qtype = struct.unpack_from("!H", msg, offset)[0]
    return Query(ident, flags, name, qtype, msg[12:offset + 4])


def refused(query: Query) -> bytes:
    """REFUSED: QR set, opcode and RD copied, not authoritative, no recursion available,
    the question echoed, no records."""
    flags = 0x8000 | (query.flags & 0x7900) | RCODE_REFUSED
    return struct.pack("!HHHHHH", query.ident, flags, 1, 0, 0, 0) + query.question


def formerr(msg: bytes) -> bytes | None:
    if len(msg) < 12:
        return None
    ident, flags = struct.unpack_from("!HH", msg)
    if flags & 0x8000:
        return None
    return struct.pack("!HHHHHH", ident, 0x8000 | (flags & 0x7900) | RCODE_FORMERR, 0, 0, 0, 0)


def type_name(qtype: int) -> str:
    return DNS_TYPES.get(qtype, "TYPE%d" % qtype)


# ---------------------------------------------------------------- tally and state

class Tally:
    """Counts, per flow and per query, shared by the capture and DNS threads."""

    def __init__(self, subnets: t.Sequence[IPNetwork], address: str, interface: str) -> None:
        self.lock = threading.Lock()
        self.started = now_iso()
        self.subnets = [str(n) for n in subnets]
        self.address, self.interface = address, interface
        self.packets = self.dns_queries = self.rejected = self.untracked = 0
        self.flows: dict[tuple, dict] = {}
        self.queries: dict[tuple, dict] = {}
        self.changed = True

    def _entry(self, table: dict, key: tuple, fields: dict) -> None:
        stamp = now_iso()
        entry = table.get(key)
        if entry is None:
            if len(table) >= MAX_ENTRIES:
                self.untracked += 1
                return
            entry = table[key] = dict(fields, count=0, first_seen=stamp)
        entry["count"] += 1
        entry["last_seen"] = stamp

    def packet(self, packet: Packet) -> None:
        src, dst, proto, dport = flow_key(packet)
        with self.lock:
            self.packets += 1
            self._entry(self.flows, (src, dst, proto, dport),
                        {"src": src, "dst": dst, "proto": proto, "dport": dport})
            self.changed = True

    def query(self, client: str, transport: str, name: str, qtype: str) -> None:
        with self.lock:
            self.dns_queries += 1
            self._entry(self.queries, (client, name, qtype, transport),
                        {"client": client, "name": name, "type": qtype, "transport": transport})
            self.changed = True

    def reject(self) -> None:
        with self.lock:
            self.rejected += 1

    def snapshot(self) -> dict | None:
        """The state when it changed since the last snapshot, else None."""
        with self.lock:
            if not self.changed:
                return None
            self.changed = False
            return {
                "packets": self.packets, "dns_queries": self.dns_queries,
                "flows": sorted(self.flows.values(), key=lambda e: e["first_seen"]),
                "queries": sorted(self.queries.values(), key=lambda e: e["first_seen"]),
                "rejected": self.rejected, "untracked": self.untracked,
                "started": self.started, "updated": now_iso(),
                "subnet": self.subnets[0] if self.subnets else None, "subnets": self.subnets,
                "sink": self.address, "interface": self.interface,
            }


def write_state(path: str, state: dict) -> None:
    """Write the state next to its final name, then rename: a reader never sees half."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".state.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------- serve

def capture(stop: threading.Event, tally: Tally, interface: str, subnets: t.Sequence[IPNetwork],
            own: t.Collection[IPAddress], reject: bool) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((interface, 0))
    sock.settimeout(0.5)
    senders = {4: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)}
    try:
        senders[6] = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    except OSError:
        pass  # IPv6 disabled in this container: nothing v6 to answer
    limit = RateLimit(rate=50, burst=100)
    while not stop.is_set():
        try:
            frame, address = sock.recvfrom(65535)
        except socket.timeout:
            continue
        if address[2] == PACKET_OUTGOING:
            continue
        packet = parse_frame(frame)
        if packet is None or not is_egress(packet, subnets, own):
            continue
        tally.packet(packet)
        if reject and should_reject(packet, subnets) and packet.version in senders and limit.allow():
            build = icmp4_prohibited if packet.version == 4 else icmp6_prohibited
            try:
                senders[packet.version].sendto(build(packet.raw), (str(packet.src), 0))
                tally.reject()
            except OSError as err:
                print("sink: cannot answer %s: %s" % (packet.src, err), file=sys.stderr, flush=True)


def answer(tally: Tally, msg: bytes, client: str, transport: str) -> bytes | None:
    try:
        query = parse_query(msg)
    except ValueError as err:
        tally.query(client, transport, "<malformed: %s>" % err, "-")
        return formerr(msg)
    qtype = type_name(query.qtype)
    tally.query(client, transport, query.name, qtype)
    print("sink: dns %s %s %s from %s" % (transport, query.name, qtype, client), flush=True)
    return refused(query)


def serve_udp(stop: threading.Event, tally: Tally, address: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.settimeout(0.5)
    while not stop.is_set():
        try:
            msg, peer = sock.recvfrom(65535)
        except socket.timeout:
            continue
        reply = answer(tally, msg, peer[0], "udp")
        if reply:
            sock.sendto(reply, peer)


def _tcp_client(tally: Tally, conn: socket.socket, peer: str) -> None:
    conn.settimeout(2)
    try:
        while True:
            head = conn.recv(2, socket.MSG_WAITALL)
            if len(head) < 2:
                return
            length = struct.unpack("!H", head)[0]
            msg = conn.recv(length, socket.MSG_WAITALL) if length else b""
            reply = answer(tally, msg, peer, "tcp")
            if not reply:
                return
            conn.sendall(struct.pack("!H", len(reply)) + reply)
    except OSError:
        return
    finally:
        conn.close()


def serve_tcp(stop: threading.Event, tally: Tally, address: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(64)
    sock.settimeout(0.5)
    while not stop.is_set():
        try:
            conn, peer = sock.accept()
        except socket.timeout:
            continue
        threading.Thread(target=_tcp_client, args=(tally, conn, peer[0]), daemon=True).start()


def forwarding_enabled() -> list[str]:
    """The forwarding sysctls that are on: the sink must never route a packet onwards."""
    found = []
    for path in ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"):
        try:
            with open(path) as handle:
                if handle.read().strip() != "0":
                    found.append(path)
        except OSError:
            continue
    return found


def serve(args: argparse.Namespace) -> int:
    try:
        subnets = [ipaddress.ip_network(s, strict=False) for s in args.subnet]
        own = {ipaddress.ip_address(args.address)}
    except ValueError as err:
        print("sink: --subnet/--address: %s" % err, file=sys.stderr)
        return 2
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.state))):
        print("sink: --state %s: its directory does not exist" % args.state, file=sys.stderr)
        return 2
    on = forwarding_enabled()
    if on:
        print("sink: forwarding is on (%s): start the container with --sysctl "
              "net.ipv4.ip_forward=0" % ", ".join(on), file=sys.stderr)
        return 2
    tally = Tally(subnets, args.address, args.interface)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    failures: list[str] = []

    def guarded(target: t.Callable[..., None], *targs: t.Any) -> None:
        try:
            target(*targs)
        except Exception as err:  # a dead worker must stop the sink, not leave it half-blind
            failures.append("%s: %s" % (target.__name__, err))
            stop.set()

    jobs: list[tuple[t.Callable[..., None], tuple]] = [
        (capture, (stop, tally, args.interface, subnets, own, not args.no_reject)),
        (serve_udp, (stop, tally, args.address, args.dns_port)),
        (serve_tcp, (stop, tally, args.address, args.dns_port)),
    ]
    workers = [threading.Thread(target=guarded, args=(job,) + jargs, daemon=True) for job, jargs in jobs]
    for worker in workers:
        worker.start()
    print("sink: counting on %s, DNS on %s:%d, subnets %s, state %s"
          % (args.interface, args.address, args.dns_port, ", ".join(args.subnet), args.state), flush=True)
    while not stop.wait(1.0):
        state = tally.snapshot()
        if state is not None:
            write_state(args.state, state)
    for worker in workers:
        worker.join(timeout=2)
    tally.changed = True
    write_state(args.state, tally.snapshot() or {})
    if failures:
        print("sink: stopped: %s" % "; ".join(failures), file=sys.stderr)
        return 2
    return 0


# ---------------------------------------------------------------- report

def report(path: str, max_lines: int, host_counter: str | None, out: t.TextIO | None = None) -> int:
    """Print a short summary; 1 when anything tried to leave, 0 when nothing did, 2 when
    the state (or the host counter) cannot be read."""
    out = out or sys.stdout
    try:
        with open(path) as handle:
            state = json.load(handle)
        packets, queries = int(state["packets"]), int(state["dns_queries"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        print("egress: cannot read the sink's state %s: %s" % (path, err), file=out)
        return 2
    host = None
    if host_counter:
        try:
            with open(host_counter) as handle:
                host = json.load(handle)
            forwarded, to_host = int(host["forwarded"]), int(host["to_host"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            print("egress: cannot read the host counter %s: %s" % (host_counter, err), file=out)
            return 2
    print("egress sink %s on %s since %s (updated %s): %d packets addressed outside in %d flows, "
          "%d DNS queries for %d names"
          % (state.get("sink"), ", ".join(state.get("subnets") or [str(state.get("subnet"))]),
             state.get("started"), state.get("updated"), packets, len(state.get("flows", [])),
             queries, len({q["name"] for q in state.get("queries", [])})), file=out)
    lines = ["  packet %s -> %s %s%s x%d (first %s)"
             % (f["src"], f["dst"], f["proto"], "" if f["dport"] is None else "/%s" % f["dport"],
                f["count"], f["first_seen"]) for f in state.get("flows", [])]
    lines += ["  dns    %s asked %s %s over %s x%d (first %s)"
              % (q["client"], q["name"], q["type"], q["transport"], q["count"], q["first_seen"])
              for q in state.get("queries", [])]
    for line in lines[:max_lines]:
        print(line, file=out)
    if len(lines) > max_lines:
        print("  ... %d more in %s" % (len(lines) - max_lines, path), file=out)
    if state.get("untracked"):
        print("  (%d events beyond the %d tracked entries: counted, not itemised)"
              % (state["untracked"], MAX_ENTRIES), file=out)
    failed = packets > 0 or queries > 0
    if host is not None:
        print("host counters on %s: %d packets routed towards outside, %d to the host itself"
              % (host.get("bridge"), forwarded, to_host), file=out)
        failed = failed or forwarded > 0 or to_host > 0
    print("egress: %s" % ("ATTEMPTS SEEN" if failed else "nothing tried to leave"), file=out)
    return 1 if failed else 0


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sink.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="count, refuse and record (in the sink container)")
    run.add_argument("--interface", default="eth0")
    run.add_argument("--address", required=True, help="the sink's own address (DNS listens here)")
    run.add_argument("--subnet", action="append", required=True, help="a lab subnet (repeat for more)")
    run.add_argument("--state", required=True, help="the JSON state file (its directory must exist)")
    run.add_argument("--dns-port", type=int, default=53)
    run.add_argument("--no-reject", action="store_true", help="count and drop silently (no ICMP errors)")
    rep = sub.add_parser("report", help="summarise a state file; exit 1 when anything was counted")
    rep.add_argument("state")
    rep.add_argument("--max-lines", type=int, default=20)
    rep.add_argument("--host-counter", help="JSON of the host's bridge counters (egress.sh writes it)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return report(args.state, args.max_lines, args.host_counter)


if __name__ == "__main__":
    sys.exit(main())
