"""benchmarks/load.py: its statistics, its S3 request signing and its HTTP load client."""

from __future__ import annotations

import datetime
import hashlib
import http.server
import importlib.util
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SPEC = importlib.util.spec_from_file_location("bench_load", ROOT / "benchmarks" / "load.py")
assert SPEC and SPEC.loader
load = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(load)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert load.percentile(values, 0.50) == 50.0
    assert load.percentile(values, 0.99) == 99.0
    assert load.percentile(values, 1.0) == 100.0
    assert load.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert load.percentile([], 0.99) == 0.0


def test_merge_sums_requests_and_errors_over_the_longest_time() -> None:
    merged = load.merge([
        {"latencies": [0.1, 0.2], "errors": {"HTTP 502": 1}, "seconds": 2.0},
        {"latencies": [0.3, 0.4], "errors": {"HTTP 502": 2, "TimeoutError": 1}, "seconds": 4.0},
    ])
    assert merged["requests"] == 4 and merged["errors"] == 4
    assert merged["error_kinds"] == {"HTTP 502": 3, "TimeoutError": 1}
    assert merged["per_second"] == 1.0 and merged["p50"] == 0.2 and merged["p99"] == 0.4


def test_sigv4_matches_awss_published_example() -> None:
    # "Example: GET Object" of the S3 API reference, Signature Version 4, single chunk.
    headers = load.sigv4_headers(
        "GET", "examplebucket.s3.amazonaws.com", "/test.txt", hashlib.sha256(b"").hexdigest(),
        "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1",
        datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc), extra={"Range": "bytes=0-9"},
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        status = 200 if self.path.startswith("/ok") and self.headers.get("X-Key") == "k" else 503
        body = b"x" * 100
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_load_counts_answers_and_errors_for_the_time_given(server: str) -> None:
    result = load.http_load({"clients": 3, "seconds": 0.5, "requests": [
        {"url": f"{server}/ok?a=1", "headers": {"X-Key": "k"}},
        {"url": f"{server}/fails", "headers": {"X-Key": "k"}},
    ]})
    summary = load.merge([result])
    assert summary["requests"] > 10
    # every client alternates: about as many 503s as answers, and nothing else
    assert set(summary["error_kinds"]) == {"HTTP 503"}
    assert abs(summary["errors"] - summary["requests"]) <= 3
    assert 0.5 <= result["seconds"] < 2.0
    assert all(latency > 0 for latency in result["latencies"])


def test_http_load_reports_a_refused_connection_as_an_error() -> None:
    result = load.http_load({"clients": 1, "seconds": 0.2, "requests": [{"url": "http://127.0.0.1:9/"}]})
    assert result["latencies"] == [] and sum(result["errors"].values()) >= 1


def test_s3_summary_is_over_every_host_from_first_start_to_last_end() -> None:
    results = [
        {"marks": {"put_start": [0.0], "put_end": [2.0], "get_start": [2.0], "get_end": [3.0]},
         "bytes": {"put": 100 * load.MB, "get": 100 * load.MB}, "errors": {}},
        {"marks": {"put_start": [0.5], "put_end": [4.0], "get_start": [4.0], "get_end": [5.0]},
         "bytes": {"put": 100 * load.MB, "get": 0}, "errors": {"GET checksum mismatch": 1}},
    ]
    summary = load.s3_summary(results)
    assert summary["put"] == {"mb": 200.0, "seconds": 4.0, "mb_per_s": 50.0}
    assert summary["get"] == {"mb": 100.0, "seconds": 3.0, "mb_per_s": 33.3}
    assert summary["errors"] == 1 and summary["error_kinds"] == {"GET checksum mismatch": 1}


def test_table_prints_every_row() -> None:
    rows = [
        {"part": "label_studio", "server": "uWSGI", "clients": 50, "per_second": 40.0, "p50": 1.0, "p99": 2.0,
         "errors": 0},
        {"part": "registry", "user": "cost 5", "clients": 24, "per_second": 300.0, "p50": 0.05, "p99": 0.2,
         "errors": 0},
        {"part": "s3", "hosts": 3, "objects": 12, "size_mb": 100, "threads": 6, "errors": 0,
         "put": {"mb_per_s": 80.0}, "get": {"mb_per_s": 120.0}},
    ]
    text = load.table(rows)
    assert "| label_studio | uWSGI | 50 | 40.0 | 1.0 | 2.0 | 0 |" in text
    assert "| registry | cost 5 | 24 | 300.0 | 0.05 | 0.2 | 0 |" in text
    assert "| 3 hosts | 12 x 100 | 6 | 80.0 | 120.0 | 0 |" in text
