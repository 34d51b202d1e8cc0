# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The lab site under load (issue 15, point 5): Label Studio's API, the registry, the S3 store.

Bounded load from other lab hosts against the `make demo` site on mlstack-lab-host1
(inventories/lab): the clients run INSIDE mlstack-lab-host2..4 (`docker exec`, this file
copied there and run by the host's own python3: the client part is stdlib only), so requests
cross the lab network as they would between VMs. Everything shares the machine's two cores
with the server: figures are ratios measured side by side in one run.

* Label Studio: N concurrent clients (N = 10 and 50 by default) for a fixed time, each with
  a personal access token (JWT: POST /api/token/ in a browser-like session, then
  /api/token/refresh/ for the access token), alternating GET /api/projects/ and a task list
  (GET /api/tasks/?project=ID) of a project of 100 tasks the benchmark makes. Throughput,
  p50/p99 latency and errors, for the production server (uWSGI, the role's service) and,
  side by side, Django's development server (`label-studio start`, the role's previous way,
  started for the run on another port with the same settings and stopped after).
* Registry: parallel pulls (the manifest, then the config blob, HTTP basic auth) from hosts
  2..4 at once, as the pull user (bcrypt cost of the role, 5) and as a second user whose
  entry the benchmark writes at cost 12 (the cost the role wrote before) into the pull
  endpoint's htpasswd file, which the registry re-reads when it changes; removed after.
* S3: parallel PUT then GET of 100 MB objects of random data (AWS Signature V4, path style)
  from hosts 2..4 at once, the sha256 of every object read back compared with what was
  written; MB/s and errors; the objects are deleted after.

Usage (lab hosts 1..4 up, host1 converged with inventories/lab; see docs/performance.md):

    .venv/bin/python benchmarks/load.py run [--parts ls registry s3] [--seconds 30]
        [--clients 10 50] [--registry-clients 8] [--s3-threads 2] [--s3-objects 2]
        [--json FILE]
    python3 load.py client < job.json      (inside a lab host: one job, JSON result on stdout)
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime
import hashlib
import hmac
import http.client
import http.cookiejar
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
MB = 1000 * 1000
CLIENT_SCRIPT = "/tmp/mlstack-load.py"
CLIENT_CA = "/tmp/mlstack-load-ca.crt"
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
)


def log(message: str) -> None:
    print("[bench-load] " + message, file=sys.stderr, flush=True)


# --- statistics ---------------------------------------------------------------------------


def percentile(values: t.Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of values (0 < fraction <= 1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, int(-(-fraction * len(ordered) // 1)))  # ceil without math
    return ordered[min(rank, len(ordered)) - 1]


def summarize(latencies: t.Sequence[float], errors: t.Mapping[str, int], seconds: float) -> dict[str, t.Any]:
    """Throughput of the successful requests, their latency percentiles (s), the errors by kind."""
    return {
        "requests": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(sorted(errors.items())),
        "seconds": round(seconds, 3),
        "per_second": round(len(latencies) / seconds, 2) if seconds > 0 else 0.0,
        "p50": round(percentile(latencies, 0.50), 4),
        "p99": round(percentile(latencies, 0.99), 4),
        "max": round(max(latencies), 4) if latencies else 0.0,
    }


def merge(results: t.Sequence[dict[str, t.Any]]) -> dict[str, t.Any]:
    """One summary of the raw results of several clients run at the same time."""
    latencies = [value for result in results for value in result["latencies"]]
    errors: collections.Counter[str] = collections.Counter()
    for result in results:
        errors.update(result["errors"])
    seconds = max((result["seconds"] for result in results), default=0.0)
    return summarize(latencies, errors, seconds)


# --- AWS Signature V4 (S3, path style) ----------------------------------------------------


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def sigv4_headers(
    method: str, host: str, path: str, payload_sha256: str, access_key: str, secret_key: str,
    region: str, now: datetime.datetime, extra: t.Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers that sign an S3 request with AWS Signature Version 4 (no query string).

    path must already be URI-encoded as S3 expects (each segment, '/' kept)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers = {"host": host, "x-amz-content-sha256": payload_sha256, "x-amz-date": amz_date}
    headers.update({name.lower(): value.strip() for name, value in (extra or {}).items()})
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, path, "", *(f"{name}:{headers[name]}" for name in sorted(headers)), "", signed, payload_sha256]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode("utf-8"), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    return headers


# --- clients (run inside a lab host) ------------------------------------------------------


def _connection(url: str, cafile: str | None, timeout: float) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        return http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout, context=context)
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)


def _path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def http_load(job: dict[str, t.Any]) -> dict[str, t.Any]:
    """job: clients, seconds, requests [{url, headers, expect}], cafile, timeout.

    Each client (a thread with its own connection) sends the requests in turn, starting at
    its own offset, until the time is up; a request counts when its status is expected."""
    requests: list[dict[str, t.Any]] = job["requests"]
    deadline_box: list[float] = []
    start = threading.Barrier(int(job["clients"]) + 1)
    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def client(index: int) -> None:
        conn = _connection(requests[0]["url"], job.get("cafile"), float(job.get("timeout", 60)))
        mine: list[float] = []
        failed: collections.Counter[str] = collections.Counter()
        start.wait()
        turn = index
        while time.monotonic() < deadline_box[0]:
            request = requests[turn % len(requests)]
            turn += 1
            began = time.monotonic()
            try:
                conn.request("GET", _path(request["url"]), headers=request.get("headers", {}))
                response = conn.getresponse()
                response.read()
                if response.status in request.get("expect", [200]):
                    mine.append(time.monotonic() - began)
                else:
                    failed[f"HTTP {response.status}"] += 1
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as error:
                failed[type(error).__name__] += 1
                conn.close()
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.update(failed)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(int(job["clients"]))]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    deadline_box.append(began + float(job["seconds"]))
    start.wait()
    for thread in threads:
        thread.join()
    return {"latencies": [round(value, 5) for value in latencies], "errors": dict(errors),
            "seconds": time.monotonic() - began}


def ls_access_token(base_url: str, refresh: str, timeout: float = 60) -> str:
    """Label Studio's access token (JWT) for a personal access token (its refresh token)."""
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/token/refresh/", data=json.dumps({"refresh": refresh}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec: the lab's URL
        return json.load(response)["access"]


def s3_load(job: dict[str, t.Any]) -> dict[str, t.Any]:
    """job: endpoint, bucket, prefix, access_key, secret_key, region, size_mb, threads, objects.

    Each thread PUTs its objects (random data), then GETs them back and compares sha256,
    then DELETEs them. Times of the PUT phase and of the GET phase are over all threads."""
    endpoint = urllib.parse.urlsplit(job["endpoint"])
    host = endpoint.netloc
    size = int(job["size_mb"]) * MB
    barrier = threading.Barrier(int(job["threads"]))
    marks: dict[str, list[float]] = collections.defaultdict(list)
    errors: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    moved = {"put": 0, "get": 0}

    def send(conn: http.client.HTTPConnection, method: str, key: str, body: bytes = b"",
             digest: str | None = None) -> http.client.HTTPResponse:
        path = "/" + urllib.parse.quote(job["bucket"]) + "/" + urllib.parse.quote(key)
        payload = digest or hashlib.sha256(body).hexdigest()
        headers = sigv4_headers(method, host, path, payload, job["access_key"], job["secret_key"], job["region"],
                                datetime.datetime.now(datetime.timezone.utc))
        if method == "PUT":
            headers["content-length"] = str(len(body))
        conn.request(method, path, body=body if method == "PUT" else None, headers=headers)
        return conn.getresponse()

    def worker(index: int) -> None:
        conn = _connection(job["endpoint"], None, 600)
        written: dict[str, str] = {}
        try:
            blobs = [os.urandom(size) for _number in range(int(job["objects"]))]
            barrier.wait()
            with lock:
                marks["put_start"].append(time.monotonic())
            for number, blob in enumerate(blobs):
                key = f"{job['prefix']}/{index}-{number}"
                digest = hashlib.sha256(blob).hexdigest()
                response = send(conn, "PUT", key, blob, digest)
                response.read()
                if response.status == 200:
                    written[key] = digest
                    with lock:
                        moved["put"] += len(blob)
                else:
                    with lock:
                        errors[f"PUT HTTP {response.status}"] += 1
            del blobs
            with lock:
                marks["put_end"].append(time.monotonic())
            barrier.wait()
            with lock:
                marks["get_start"].append(time.monotonic())
            for key, digest in written.items():
                response = send(conn, "GET", key)
                hasher, count = hashlib.sha256(), 0
                while chunk := response.read(1 << 20):
                    hasher.update(chunk)
                    count += len(chunk)
                with lock:
                    if response.status != 200:
                        errors[f"GET HTTP {response.status}"] += 1
                    elif hasher.hexdigest() != digest:
                        errors["GET checksum mismatch"] += 1
                    else:
                        moved["get"] += count
            with lock:
                marks["get_end"].append(time.monotonic())
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as error:
            with lock:
                errors[type(error).__name__] += 1
            barrier.abort()
        finally:
            for key in written:
                try:
                    send(conn, "DELETE", key).read()
                except (OSError, http.client.HTTPException):
                    conn.close()
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(int(job["threads"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"marks": dict(marks.items()), "bytes": moved, "errors": dict(errors)}


def run_client(job: dict[str, t.Any]) -> dict[str, t.Any]:
    """One job of the kinds above, as the orchestrator sends it."""
    if job["kind"] == "ls":
        access = ls_access_token(job["base_url"], job["refresh"])
        for request in job["requests"]:
            request.setdefault("headers", {})["Authorization"] = f"Bearer {access}"
        return http_load(job)
    if job["kind"] == "http":
        return http_load(job)
    if job["kind"] == "s3":
        return s3_load(job)
    raise ValueError(f"unknown job kind {job['kind']!r}")


def s3_summary(results: t.Sequence[dict[str, t.Any]]) -> dict[str, t.Any]:
    """MB/s of each phase over every host's threads (first start to last end), errors."""
    out: dict[str, t.Any] = {"errors": 0, "error_kinds": {}}
    kinds: collections.Counter[str] = collections.Counter()
    for result in results:
        kinds.update(result["errors"])
    out["errors"] = sum(kinds.values())
    out["error_kinds"] = dict(sorted(kinds.items()))
    for phase in ("put", "get"):
        starts = [v for r in results for v in r["marks"].get(f"{phase}_start", [])]
        ends = [v for r in results for v in r["marks"].get(f"{phase}_end", [])]
        moved = sum(r["bytes"][phase] for r in results)
        seconds = (max(ends) - min(starts)) if starts and ends else 0.0
        out[phase] = {"mb": round(moved / MB, 1), "seconds": round(seconds, 2),
                      "mb_per_s": round(moved / MB / seconds, 1) if seconds > 0 else 0.0}
    return out


# --- orchestration (on the controller) ----------------------------------------------------


def docker(*args: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run([DOCKER, *args], input=stdin, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}: {result.stderr.strip()[-500:]}")
    return result.stdout


def host_address(name: str) -> str:
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name).split()[0]


def start_jobs(jobs: t.Sequence[tuple[str, dict[str, t.Any]]]) -> list[dict[str, t.Any]]:
    """Run each (host, job) at the same time inside its lab host; their JSON results."""
    procs = []
    for host, job in jobs:
        errors = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen([DOCKER, "exec", "-i", host, "python3", CLIENT_SCRIPT, "client"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        procs.append((host, proc, errors))
    results = []
    for host, proc, errors in procs:
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.wait()
        errors.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"client on {host} failed: {errors.read().strip()[-1500:]}")
        errors.close()
        results.append(json.loads(out))
    return results


def read_secret(inventory: str, *parts: str) -> str:
    with open(os.path.join(ROOT, inventory, "credentials", *parts), encoding="ascii") as handle:
        return handle.read().split()[0]


class LabelStudioSession:
    """A browser-like session (login form, CSRF), to make a personal access token and the data."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def _cookie(self, name: str) -> str:
        return next((cookie.value or "" for cookie in self.jar if cookie.name == name), "")

    def call(self, method: str, path: str, body: t.Any = None, form: bool = False) -> t.Any:
        data, headers = None, {"Referer": self.base_url + "/", "X-CSRFToken": self._cookie("csrftoken")}
        if body is not None:
            data = urllib.parse.urlencode(body).encode() if form else json.dumps(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        with self.opener.open(request, timeout=120) as response:  # nosec: the lab's URL
            text = response.read().decode()
        return json.loads(text) if text and not form else text

    def login(self, email: str, password: str) -> None:
        self.call("GET", "/user/login/", form=True)
        self.call("POST", "/user/login/", {"email": email, "password": password,
                                           "csrfmiddlewaretoken": self._cookie("csrftoken")}, form=True)
        if not self._cookie("sessionid"):
            raise RuntimeError(f"Label Studio refused the login of {email}")


def personal_access_token(session: LabelStudioSession) -> str:
    """A new personal access token; Label Studio keeps one per user, so an earlier one is revoked
    first (its list shows tokens truncated, which is what the blacklist endpoint takes)."""
    try:
        return session.call("POST", "/api/token/", {})["token"]
    except urllib.error.HTTPError as error:
        if error.code != 409:
            raise
    for token in session.call("GET", "/api/token/"):
        session.call("POST", "/api/token/blacklist/", {"refresh": token["token"]})
    return session.call("POST", "/api/token/", {})["token"]


def ls_prepare(base_url: str, email: str, password: str, tasks: int = 100) -> tuple[str, int]:
    """A personal access token and the id of the benchmark's project (made with its tasks once)."""
    session = LabelStudioSession(base_url)
    session.login(email, password)
    refresh = personal_access_token(session)
    title = "Load benchmark"
    found = session.call("GET", "/api/projects/?page_size=100&title=" + urllib.parse.quote(title))["results"]
    project = next((p for p in found if p["title"] == title), None)
    if project is None:
        project = session.call("POST", "/api/projects/", {
            "title": title,
            "label_config": '<View><Text name="text" value="$text"/><Choices name="c" toName="text">'
                            '<Choice value="a"/><Choice value="b"/></Choices></View>'})
    if (project.get("task_number") or 0) < tasks:
        session.call("POST", f"/api/projects/{project['id']}/import",
                     [{"text": f"benchmark task {i}"} for i in range(tasks)])
    return refresh, int(project["id"])


def bench_label_studio(args: argparse.Namespace, site: str) -> list[dict[str, t.Any]]:
    email = "admin@labelstudio.invalid"
    password = read_secret(args.inventory, "label-studio", "admin_password")
    rows = []
    servers = [("uWSGI (the role's service)", 8090)]
    if not args.no_devserver:
        servers.append(("Django development server (label-studio start)", 8091))
    for label, port in servers:
        base_url = f"http://{site}:{port}"
        if port == 8091:
            start_devserver(site, port)
        try:
            refresh, project = ls_prepare(base_url, email, password)
            # Each uWSGI worker (and the development server's one process) imports the views on
            # its first requests: warm every worker up before the figures count.
            if args.warmup > 0:
                log(f"Label Studio, {label}: warming up for {args.warmup} s")
                start_jobs([(args.ls_client, {
                    "kind": "ls", "base_url": base_url, "refresh": refresh, "clients": max(args.clients),
                    "seconds": args.warmup, "timeout": 120, "requests": [
                        {"url": f"{base_url}/api/projects/?page_size=10"},
                        {"url": f"{base_url}/api/tasks/?project={project}&page_size=25"}]})])
            for clients in args.clients:
                job = {"kind": "ls", "base_url": base_url, "refresh": refresh, "clients": clients,
                       "seconds": args.seconds, "timeout": 120, "requests": [
                           {"url": f"{base_url}/api/projects/?page_size=10"},
                           {"url": f"{base_url}/api/tasks/?project={project}&page_size=25"}]}
                log(f"Label Studio, {label}: {clients} clients for {args.seconds} s from {args.ls_client}")
                result = merge(start_jobs([(args.ls_client, job)]))
                rows.append({"part": "label_studio", "server": label, "clients": clients, **result})
                log(json.dumps(rows[-1]))
        finally:
            if port == 8091:
                docker("exec", "mlstack-lab-host1", "systemctl", "stop", "mlstack-bench-devserver", check=False)
    return rows


def start_devserver(site: str, port: int) -> None:
    """Label Studio's development server beside the service, same settings, for comparison."""
    docker("exec", "mlstack-lab-host1", "systemctl", "stop", "mlstack-bench-devserver", check=False)
    docker("exec", "mlstack-lab-host1", "systemctl", "reset-failed", "mlstack-bench-devserver", check=False)
    docker("exec", "mlstack-lab-host1", "systemd-run", "--unit", "mlstack-bench-devserver",
           "-p", "User=label-studio", "-p", "EnvironmentFile=/etc/mlstack/label-studio/label-studio.env",
           "-p", "WorkingDirectory=/var/lib/mlstack/label-studio",
           "/opt/mlstack/label-studio/venv/bin/label-studio", "start", "--no-browser",
           "--internal-host", site, "--port", str(port), "--data-dir", "/var/lib/mlstack/label-studio")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{site}:{port}/health/", timeout=10) as response:  # nosec
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(3)
    raise RuntimeError(f"the development server did not answer on {site}:{port} within 300 s")


BENCH_USER = "bench-cost12"
ADD_USER = (
    "import bcrypt, os, sys, tempfile; path, user = sys.argv[1], sys.argv[2]; password = sys.stdin.read().encode(); "
    "lines = [l for l in open(path).read().splitlines() if not l.startswith(user + ':')]; "
    "lines += [user + ':' + bcrypt.hashpw(password, bcrypt.gensalt(12)).decode()] if password else []; "
    "fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path)); os.write(fd, ('\\n'.join(lines) + '\\n').encode()); "
    "os.close(fd); os.chmod(tmp, 0o600); os.replace(tmp, path)"
)


def registry_requests(site: str, user: str, password: str, cafile: str) -> list[dict[str, t.Any]]:
    """A pull as a client makes it: the manifest, then its config blob, both with basic auth."""
    auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    context = ssl.create_default_context(cafile=cafile)
    base = f"https://{site}:5000/v2"

    def get(path: str, accept: str | None = None) -> t.Any:
        headers = dict(auth, **({"Accept": accept} if accept else {}))
        request = urllib.request.Request(base + path, headers=headers)
        with urllib.request.urlopen(request, context=context, timeout=60) as response:  # nosec: the lab's URL
            return json.load(response)

    repository = sorted(get("/_catalog")["repositories"])[0]
    tag = sorted(get(f"/{repository}/tags/list")["tags"])[0]
    manifest = get(f"/{repository}/manifests/{tag}", MANIFEST_TYPES)
    return [
        {"url": f"{base}/{repository}/manifests/{tag}", "headers": dict(auth, Accept=MANIFEST_TYPES)},
        {"url": f"{base}/{repository}/blobs/{manifest['config']['digest']}", "headers": auth},
    ]


def bench_registry(args: argparse.Namespace, site: str) -> list[dict[str, t.Any]]:
    cafile = os.path.join(ROOT, args.inventory, "credentials", "offline_registry", "ca.crt")
    pull = read_secret(args.inventory, "offline_registry", "pull-password")
    second = base64.b32encode(os.urandom(20)).decode().rstrip("=")
    htpasswd = "/etc/mlstack/registry/htpasswd-pull"
    docker("exec", "-i", "mlstack-lab-host1", "python3", "-c", ADD_USER, htpasswd, BENCH_USER, stdin=second)
    rows = []
    try:
        time.sleep(2)  # the registry re-reads the file when its modification time changes
        for label, user, password in (("cost 12 (before)", BENCH_USER, second), ("cost 5 (the role)", "pull", pull)):
            requests = registry_requests(site, user, password, cafile)
            jobs = [(host, {"kind": "http", "clients": args.registry_clients, "seconds": args.seconds,
                            "cafile": CLIENT_CA, "timeout": 120,
                            "requests": [dict(r, url=r["url"]) for r in requests]})
                    for host in args.registry_clients_hosts]
            log(f"registry, {label}: {args.registry_clients} clients on each of {', '.join(args.registry_clients_hosts)}")
            result = merge(start_jobs(jobs))
            rows.append({"part": "registry", "user": label, "hosts": len(jobs),
                         "clients": args.registry_clients * len(jobs), **result})
            log(json.dumps(rows[-1]))
    finally:
        docker("exec", "-i", "mlstack-lab-host1", "python3", "-c", ADD_USER, htpasswd, BENCH_USER, stdin="")
    return rows


def bench_s3(args: argparse.Namespace, site: str) -> list[dict[str, t.Any]]:
    access = read_secret(args.inventory, "object-store", "label_studio.access_key")
    secret = read_secret(args.inventory, "object-store", "label_studio.secret_key")
    run = time.strftime("%Y%m%dT%H%M%S")
    jobs = [(host, {"kind": "s3", "endpoint": f"http://{site}:9000", "bucket": "label-studio",
                    "prefix": f"mlstack-bench-load/{run}/{host}", "access_key": access, "secret_key": secret,
                    "region": "us-east-1", "size_mb": args.s3_size_mb, "threads": args.s3_threads,
                    "objects": args.s3_objects})
            for host in args.registry_clients_hosts]
    log(f"S3: {args.s3_threads} threads x {args.s3_objects} objects of {args.s3_size_mb} MB on each of "
        f"{', '.join(args.registry_clients_hosts)}")
    summary = s3_summary(start_jobs(jobs))
    row = {"part": "s3", "hosts": len(jobs), "threads": args.s3_threads * len(jobs),
           "objects": args.s3_objects * args.s3_threads * len(jobs), "size_mb": args.s3_size_mb, **summary}
    log(json.dumps(row))
    return [row]


def table(rows: t.Sequence[dict[str, t.Any]]) -> str:
    lines = ["| part | case | clients | requests/s | p50 s | p99 s | errors |", "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        if row["part"] == "s3":
            continue
        case = row.get("server") or row.get("user")
        lines.append(f"| {row['part']} | {case} | {row['clients']} | {row['per_second']} | {row['p50']} | "
                     f"{row['p99']} | {row['errors']} |")
    for row in rows:
        if row["part"] == "s3":
            lines += ["", "| S3 | objects x MB | threads | PUT MB/s | GET MB/s | errors (incl. checksum) |",
                      "|---|---:|---:|---:|---:|---:|",
                      f"| {row['hosts']} hosts | {row['objects']} x {row['size_mb']} | {row['threads']} | "
                      f"{row['put']['mb_per_s']} | {row['get']['mb_per_s']} | {row['errors']} |"]
    return "\n".join(lines)


def main_run(args: argparse.Namespace) -> int:
    site = host_address("mlstack-lab-host1")
    clients = sorted({args.ls_client, *args.registry_clients_hosts})
    cafile = os.path.join(ROOT, args.inventory, "credentials", "offline_registry", "ca.crt")
    for host in clients:
        docker("cp", os.path.abspath(__file__), f"{host}:{CLIENT_SCRIPT}")
        docker("cp", cafile, f"{host}:{CLIENT_CA}")
    rows: list[dict[str, t.Any]] = []
    if "ls" in args.parts:
        rows += bench_label_studio(args, site)
    if "registry" in args.parts:
        rows += bench_registry(args, site)
    if "s3" in args.parts:
        rows += bench_s3(args, site)
    print(table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}, handle, indent=1)
    return 1 if any(row["errors"] for row in rows if row.get("server", "").startswith("uWSGI")) else 0


def parse_args(argv: t.Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("client", help="inside a lab host: run the JSON job on stdin")
    run = sub.add_parser("run", help="the benchmark against the lab site on mlstack-lab-host1")
    run.add_argument("--inventory", default="inventories/lab")
    run.add_argument("--parts", nargs="+", choices=["ls", "registry", "s3"], default=["ls", "registry", "s3"])
    run.add_argument("--seconds", type=float, default=30)
    run.add_argument("--clients", type=int, nargs="+", default=[10, 50])
    run.add_argument("--ls-client", default="mlstack-lab-host2")
    run.add_argument("--warmup", type=float, default=15, help="seconds of unmeasured load on each server first")
    run.add_argument("--no-devserver", action="store_true", help="skip the development server's figures")
    run.add_argument("--registry-clients", type=int, default=8, help="client threads on each client host")
    run.add_argument("--registry-clients-hosts", nargs="+",
                     default=["mlstack-lab-host2", "mlstack-lab-host3", "mlstack-lab-host4"])
    run.add_argument("--s3-threads", type=int, default=2, help="threads on each client host")
    run.add_argument("--s3-objects", type=int, default=2, help="objects per thread")
    run.add_argument("--s3-size-mb", type=int, default=100)
    run.add_argument("--json", help="also write the rows to this file")
    return parser.parse_args(argv)


def main(argv: t.Sequence[str]) -> int:
    args = parse_args(argv)
    if args.command == "client":
        print(json.dumps(run_client(json.load(sys.stdin))))
        return 0
    return main_run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
