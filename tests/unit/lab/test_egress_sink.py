# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The lab's egress sink (tests/lab/egress/sink.py), without network or root: packets and
DNS messages are built here byte by byte and handed to the sink's parsers, the state file
is written to a temporary directory, and `report` is run on states made here."""

from __future__ import annotations

import importlib.util
import io
import ipaddress
import json
import os
import stat
import struct
import sys

import pytest

SINK_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "lab", "egress", "sink.py")


def _load_sink():
    spec = importlib.util.spec_from_file_location("mlstack_egress_sink", SINK_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sink = _load_sink()

LAB = [ipaddress.ip_network("10.213.250.0/24")]
SINK_IP = ipaddress.ip_address("10.213.250.254")
MACS = bytes.fromhex("0242 0ad5 fafe 0242 0ad5 fa02".replace(" ", ""))


# ---------------------------------------------------------------- packet builders

def tcp(sport: int, dport: int) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 0x01020304, 0, 5 << 4, 0x02, 64240, 0, 0)


def udp(sport: int, dport: int, body: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body


def ipv4(src: str, dst: str, proto: int, payload: bytes, frag_offset: int = 0, more: bool = False) -> bytes:
    flags = (0x2000 if more else 0) | frag_offset
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x1234, flags, 64, proto, 0,
                       ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed) + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), next_header, 64,
                       ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed) + payload


def ether(ethertype: int, payload: bytes, vlan: int | None = None) -> bytes:
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return MACS + tag + struct.pack("!H", ethertype) + payload


def dns_query(name: str, qtype: int = 1, ident: int = 0xBEEF, flags: int = 0x0100, edns: bool = True) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"
    additional = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0) if edns else b""
    return (struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 1 if edns else 0)
            + labels + struct.pack("!HH", qtype, 1) + additional)


def packet(dst: str, src: str = "10.213.250.2", proto: int = 6, dport: int = 80):
    payload = tcp(40000, dport) if proto == 6 else udp(40000, dport)
    return sink.parse_frame(ether(0x0800, ipv4(src, dst, proto, payload)))


# ---------------------------------------------------------------- packets

def test_ipv4_tcp_frame_gives_addresses_protocol_and_ports():
    parsed = sink.parse_frame(ether(0x0800, ipv4("10.213.250.2", "1.1.1.1", 6, tcp(40000, 80))))
    assert (parsed.version, str(parsed.src), str(parsed.dst)) == (4, "10.213.250.2", "1.1.1.1")
    assert (parsed.proto, parsed.sport, parsed.dport, parsed.first_fragment) == (6, 40000, 80, True)
    assert sink.flow_key(parsed) == ("10.213.250.2", "1.1.1.1", "tcp", 80)


def test_ipv4_udp_behind_a_vlan_tag_and_trailing_ethernet_padding():
    datagram = ipv4("10.213.250.2", "8.8.8.8", 17, udp(5353, 53))
    parsed = sink.parse_frame(ether(0x0800, datagram + b"\0" * 10, vlan=5))
    assert (str(parsed.dst), parsed.proto, parsed.dport) == ("8.8.8.8", 17, 53)
    assert parsed.raw == datagram  # padding cut at the IP total length


def test_ipv4_later_fragment_has_no_ports():
    parsed = sink.parse_frame(ether(0x0800, ipv4("10.213.250.2", "1.1.1.1", 17, b"\x00" * 16, frag_offset=185)))
    assert parsed.first_fragment is False
    assert (parsed.sport, parsed.dport) == (None, None)


def test_icmp_records_its_type_not_a_port():
    parsed = sink.parse_frame(ether(0x0800, ipv4("10.213.250.2", "1.1.1.1", 1, b"\x08\x00\x00\x00\x00\x01\x00\x01")))
    assert (parsed.icmp_type, parsed.dport) == (8, None)
    assert sink.flow_key(parsed)[2:] == ("icmp", None)


def test_ipv6_udp_behind_hop_by_hop_header():
    hop_by_hop = bytes([17, 0]) + b"\x01\x04\x00\x00\x00\x00"  # next header UDP, 8 bytes, PadN
    parsed = sink.parse_frame(ether(0x86DD, ipv6("fd00::2", "2001:db8::53", 0, hop_by_hop + udp(40000, 53))))
    assert (parsed.version, str(parsed.dst), parsed.proto, parsed.dport) == (6, "2001:db8::53", 17, 53)


def test_ipv6_fragments_first_has_ports_later_does_not():
    first = struct.pack("!BBHI", 6, 0, 0x0001, 7) + tcp(40000, 443)   # offset 0, more fragments
    later = struct.pack("!BBHI", 6, 0, (64 << 3), 7) + b"\0" * 20      # offset 64 * 8 bytes
    head = sink.parse_frame(ether(0x86DD, ipv6("fd00::2", "2001:db8::1", 44, first)))
    tail = sink.parse_frame(ether(0x86DD, ipv6("fd00::2", "2001:db8::1", 44, later)))
    assert (head.proto, head.dport, head.first_fragment) == (6, 443, True)
    assert (tail.proto, tail.dport, tail.first_fragment) == (6, None, False)


@pytest.mark.parametrize("frame", [
    b"",
    MACS + b"\x08",                                               # cut in the ethertype
    ether(0x0806, b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\0" * 20),  # ARP
    ether(0x0800, b"\x45\x00\x00"),                               # IPv4 header cut short
    ether(0x0800, ipv6("fd00::2", "2001:db8::1", 17, b"")),      # version 6 under the IPv4 type
    ether(0x86DD, b"\x60" + b"\0" * 20),                          # IPv6 header cut short
])
def test_frames_that_are_not_ip_packets_are_ignored(frame):
    assert sink.parse_frame(frame) is None


@pytest.mark.parametrize("dst, outside", [
    ("1.1.1.1", True),
    ("10.213.0.7", True),              # another lab network is still outside this one
    ("10.213.250.3", False),           # a lab host
    ("10.213.250.254", False),         # the sink itself
    ("10.213.250.255", False),         # the subnet's broadcast is inside the subnet
    ("255.255.255.255", False),
    ("224.0.0.22", False),             # IGMP
    ("169.254.169.254", False),        # link-local (a cloud metadata address)
    ("0.0.0.0", False),
])
def test_ipv4_destinations_inside_and_outside(dst, outside):
    assert sink.is_egress(packet(dst), LAB, {SINK_IP}) is outside


@pytest.mark.parametrize("dst, subnets, outside", [
    ("2001:db8::1", LAB, True),                                     # v6 anywhere when only v4 is the lab
    ("fd00:213::5", LAB + [ipaddress.ip_network("fd00:213::/64")], False),
    ("fe80::42:aff:fed5:fa02", LAB, False),
    ("ff02::16", LAB, False),                                       # MLD
])
def test_ipv6_destinations_inside_and_outside(dst, subnets, outside):
    parsed = sink.parse_frame(ether(0x86DD, ipv6("fd00:213::2", dst, 17, udp(1, 2))))
    assert sink.is_egress(parsed, subnets, {SINK_IP}) is outside


# ---------------------------------------------------------------- fail fast

def test_icmp_prohibited_quotes_the_datagram_with_a_valid_checksum():
    original = ipv4("10.213.250.2", "1.1.1.1", 6, tcp(40000, 80))
    message = sink.icmp4_prohibited(original)
    assert message[:2] == b"\x03\x0d"                 # destination unreachable, administratively prohibited
    assert message[4:8] == b"\0\0\0\0"
    assert message[8:] == original
    assert sink.checksum(message) == 0                 # a correct checksum sums to 0xffff


def test_icmp_prohibited_is_cut_to_the_576_byte_limit():
    original = ipv4("10.213.250.2", "1.1.1.1", 17, udp(1, 53, b"x" * 1400))
    message = sink.icmp4_prohibited(original)
    assert len(message) == 8 + 548 and 20 + len(message) <= 576
    assert sink.checksum(message) == 0


def test_icmp6_prohibited_quotes_within_the_minimum_mtu():
    original = ipv6("fd00::2", "2001:db8::1", 17, udp(1, 53, b"y" * 1400))
    message = sink.icmp6_prohibited(original)
    assert message[:2] == b"\x01\x01"
    assert message[8:] == original[:len(message) - 8]
    assert 40 + len(message) <= 1280


@pytest.mark.parametrize("frame, answer", [
    (ether(0x0800, ipv4("10.213.250.2", "1.1.1.1", 6, tcp(40000, 80))), True),
    (ether(0x0800, ipv4("10.213.250.2", "1.1.1.1", 1, b"\x08\x00" + b"\0" * 6)), True),    # echo request
    (ether(0x0800, ipv4("10.213.250.2", "1.1.1.1", 1, b"\x03\x03" + b"\0" * 6)), False),   # an ICMP error
    (ether(0x0800, ipv4("192.0.2.9", "1.1.1.1", 6, tcp(40000, 80))), False),               # sender outside
    (ether(0x0800, ipv4("10.213.250.2", "1.1.1.1", 17, b"\0" * 8, frag_offset=3)), False),  # later fragment
    (ether(0x86DD, ipv6("fd00::2", "2001:db8::1", 58, b"\x01\x04" + b"\0" * 6)), False),   # ICMPv6 error
])
def test_only_what_a_router_may_answer_is_answered(frame, answer):
    subnets = LAB + [ipaddress.ip_network("fd00::/64")]
    assert sink.should_reject(sink.parse_frame(frame), subnets) is answer


def test_rate_limit_allows_a_burst_then_refills(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(sink.time, "monotonic", lambda: clock[0])
    limit = sink.RateLimit(rate=10, burst=3)
    assert [limit.allow() for call in range(4)] == [True, True, True, False]
    clock[0] += 0.15  # 1.5 tokens: one call, not two
    assert (limit.allow(), limit.allow()) == (True, False)


# ---------------------------------------------------------------- DNS

def test_query_name_and_type_are_read_lowercased():
    query = sink.parse_query(dns_query("Deb.Debian.ORG", qtype=28))
    assert (query.ident, query.name, query.qtype) == (0xBEEF, "deb.debian.org.", 28)
    assert sink.type_name(query.qtype) == "AAAA"


def test_refused_answer_bytes():
    msg = dns_query("deb.debian.org", qtype=1, ident=0x1234, flags=0x0100)
    expected = (b"\x12\x34"          # the query's id
                b"\x81\x05"          # QR, RD copied, RA clear, RCODE 5 (REFUSED)
                b"\x00\x01\x00\x00\x00\x00\x00\x00"
                b"\x03deb\x06debian\x03org\x00\x00\x01\x00\x01")
    assert sink.refused(sink.parse_query(msg)) == expected


def test_refused_copies_the_opcode_and_drops_the_edns_record():
    msg = dns_query("example.com", ident=7, flags=0x2000 | 0x0100)    # opcode 4 (NOTIFY), RD
    reply = sink.refused(sink.parse_query(msg))
    ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", reply)
    assert (ident, flags >> 15, (flags >> 11) & 0xF, flags & 0xF) == (7, 1, 4, 5)
    assert (qd, an, ns, ar) == (1, 0, 0, 0)


def test_compressed_names_are_followed_and_loops_refused():
    header = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0)
    pointer_to_itself = header + b"\xc0\x0c" + b"\0\x01\0\x01"
    with pytest.raises(ValueError, match="compression"):
        sink.parse_query(pointer_to_itself)
    # the question's name points into a second copy placed after it
    follows = header + b"\xc0\x12" + b"\0\x01\0\x01" + b"\x03lab\x00"
    assert sink.parse_query(follows).name == "lab."


@pytest.mark.parametrize("msg, why", [
    (b"\x00\x01", "shorter"),
    (struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0) + b"\x00\0\x01\0\x01", "response"),
    (struct.pack("!HHHHHH", 1, 0x0100, 0, 0, 0, 0), "no question"),
    (struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x05ab", "past the message"),
    (struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x02ab\x00\x00", "question runs past"),
])
def test_messages_that_are_not_queries_are_refused_to_parse(msg, why):
    with pytest.raises(ValueError, match=why):
        sink.parse_query(msg)


def test_answer_counts_every_query_and_formerr_for_the_malformed():
    tally = sink.Tally(LAB, str(SINK_IP), "eth0")
    reply = sink.answer(tally, dns_query("pypi.org"), "10.213.250.2", "udp")
    assert reply[3] & 0x0F == 5
    bad = struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0) + b"\xc0"
    reply = sink.answer(tally, bad, "10.213.250.3", "tcp")
    assert reply == struct.pack("!HHHHHH", 9, 0x8101, 0, 0, 0, 0)
    state = tally.snapshot()
    assert state["dns_queries"] == 2
    assert [(q["client"], q["name"], q["type"], q["transport"]) for q in state["queries"]][0] == \
        ("10.213.250.2", "pypi.org.", "A", "udp")
    assert state["queries"][1]["name"].startswith("<malformed")


def test_type_names():
    assert [sink.type_name(n) for n in (1, 65, 999)] == ["A", "HTTPS", "TYPE999"]


# ---------------------------------------------------------------- tally, state, report

def test_tally_counts_per_flow_and_snapshots_only_changes():
    tally = sink.Tally(LAB, str(SINK_IP), "eth0")
    for repeat in range(3):
        tally.packet(packet("1.1.1.1"))
    tally.packet(packet("8.8.8.8", proto=17, dport=53))
    state = tally.snapshot()
    assert (state["packets"], state["subnet"], state["sink"]) == (4, "10.213.250.0/24", "10.213.250.254")
    counts = {(f["dst"], f["proto"], f["dport"]): f["count"] for f in state["flows"]}
    assert counts == {("1.1.1.1", "tcp", 80): 3, ("8.8.8.8", "udp", 53): 1}
    assert all(f["first_seen"] <= f["last_seen"] for f in state["flows"])
    assert tally.snapshot() is None
    tally.packet(packet("1.1.1.1"))
    assert tally.snapshot()["packets"] == 5


def test_tally_stops_itemising_but_keeps_counting(monkeypatch):
    monkeypatch.setattr(sink, "MAX_ENTRIES", 2)
    tally = sink.Tally(LAB, str(SINK_IP), "eth0")
    for last in range(1, 5):
        tally.packet(packet("192.0.2.%d" % last))
    state = tally.snapshot()
    assert (state["packets"], len(state["flows"]), state["untracked"]) == (4, 2, 2)


def test_state_is_written_whole_and_readable(tmp_path):
    path = tmp_path / "state.json"
    sink.write_state(str(path), {"packets": 1, "dns_queries": 0})
    sink.write_state(str(path), {"packets": 2, "dns_queries": 0})
    assert json.loads(path.read_text())["packets"] == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_write_keeps_the_previous_state_and_no_temp_file(tmp_path):
    path = tmp_path / "state.json"
    sink.write_state(str(path), {"packets": 1, "dns_queries": 0})
    with pytest.raises(TypeError):
        sink.write_state(str(path), {"packets": object()})
    assert json.loads(path.read_text())["packets"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def _state(tmp_path, tally):
    path = tmp_path / "state.json"
    sink.write_state(str(path), tally.snapshot())
    return str(path)


def _report(*args):
    out = io.StringIO()
    return sink.report(*args, out=out), out.getvalue()


def test_report_of_nothing_exits_0(tmp_path):
    rc, text = _report(_state(tmp_path, sink.Tally(LAB, str(SINK_IP), "eth0")), 20, None)
    assert rc == 0
    assert "0 packets" in text and "0 DNS queries" in text and "nothing tried to leave" in text


def test_report_of_a_packet_exits_1_and_names_the_flow(tmp_path):
    tally = sink.Tally(LAB, str(SINK_IP), "eth0")
    tally.packet(packet("1.1.1.1"))
    rc, text = _report(_state(tmp_path, tally), 20, None)
    assert rc == 1
    assert "10.213.250.2 -> 1.1.1.1 tcp/80 x1" in text and "ATTEMPTS SEEN" in text


def test_report_of_a_query_alone_exits_1(tmp_path):
    tally = sink.Tally(LAB, str(SINK_IP), "eth0")
    tally.query("10.213.250.2", "udp", "pypi.org.", "A")
    rc, text = _report(_state(tmp_path, tally), 20, None)
    assert rc == 1 and "asked pypi.org. A over udp" in text


def test_report_lines_are_capped(tmp_path):
    tally = sink.Tally(LAB, str(SINK_IP), "eth0")
    for last in range(1, 8):
        tally.packet(packet("192.0.2.%d" % last))
    rc, text = _report(_state(tmp_path, tally), 3, None)
    assert rc == 1
    assert text.count("  packet ") == 3 and "... 4 more in" in text


def test_report_counts_the_host_counters(tmp_path):
    state = _state(tmp_path, sink.Tally(LAB, str(SINK_IP), "eth0"))
    counter = tmp_path / "host-counter.json"
    counter.write_text(json.dumps({"bridge": "br-x", "forwarded": 0, "to_host": 0}))
    assert _report(state, 20, str(counter))[0] == 0
    counter.write_text(json.dumps({"bridge": "br-x", "forwarded": 2, "to_host": 0}))
    rc, text = _report(state, 20, str(counter))
    assert rc == 1 and "2 packets routed towards outside" in text


@pytest.mark.parametrize("content", [None, "{not json", json.dumps({"packets": 0})])
def test_report_of_an_unreadable_state_exits_2(tmp_path, content):
    path = tmp_path / "state.json"
    if content is not None:
        path.write_text(content)
    rc, text = _report(str(path), 20, None)
    assert rc == 2 and str(path) in text


def test_report_of_an_unreadable_host_counter_exits_2(tmp_path):
    state = _state(tmp_path, sink.Tally(LAB, str(SINK_IP), "eth0"))
    rc, text = _report(state, 20, str(tmp_path / "absent.json"))
    assert rc == 2 and "host counter" in text


def test_main_report_command_returns_the_exit_code(tmp_path, capsys):
    tally = sink.Tally(LAB, str(SINK_IP), "eth0")
    tally.query("10.213.250.2", "tcp", "deb.debian.org.", "AAAA")
    assert sink.main(["report", _state(tmp_path, tally), "--max-lines", "1"]) == 1
    assert "deb.debian.org." in capsys.readouterr().out


def test_serve_refuses_a_bad_subnet_or_missing_state_directory(tmp_path, capsys):
    assert sink.main(["serve", "--address", "10.213.250.254", "--subnet", "10.213.250.0/33",
                      "--state", str(tmp_path / "s.json")]) == 2
    assert "--subnet" in capsys.readouterr().err
    assert sink.main(["serve", "--address", "10.213.250.254", "--subnet", "10.213.250.0/24",
                      "--state", str(tmp_path / "absent" / "s.json")]) == 2
    assert "directory does not exist" in capsys.readouterr().err
