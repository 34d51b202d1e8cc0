# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Backup -> new hosts -> restore -> read back (issue 15, point 2).

In `make test` (tests/e2e/run.py all): the two halves run in the two tiers, which already
converge the site twice on fresh hosts, so no extra converge is paid for:
- end of the multi tier (online, this machine is the controller): backup_and_refuse() writes
  the probe data, runs playbooks/backup.yml into STATE/backup-multi/backups, checks the run
  (modes, `sha256sum -c`), then restore.yml on a copy with one byte changed: refused, naming the
  file, no host changed, the data as written. state.json beside it holds what was written;
- airgap tier (fresh hosts on the --internal network, the offline controller): after the
  offline converge and its changed=0 run, run.py copies the backup run to the controller,
  runs mlstack.platform.restore there, then readback() compares with what was written and
  verify.yml runs again (the restored site must still be healthy); the egress sink's
  0 packets / 0 DNS queries cover the restore and the read-back.

Alone, on the lab_multi hosts of this machine (online):
  .venv/bin/python tests/e2e/backup.py            on the lab_multi hosts, already converged
  .venv/bin/python tests/e2e/backup.py --fresh    bring them up and converge them first
1. writes data: rows in a table of each consumer database (PostgreSQL on m1), S3 objects in
   every bucket with their SHA-256 (the store on m1, seaweedfs), a Label Studio project with
   tasks through its API (m2), an image pushed to the site registry with its digest (m1);
2. runs playbooks/backup.yml into a fresh mlstack_backup_dir;
3. tampers with one byte of a copy of the backup and runs restore.yml on it: refused, naming the
   file, and every host's data is as it was (the snapshot compared);
4. restores the backup onto the site that still holds the same data and compares (nothing
   duplicated); destroys the hosts that hold state, m1 and m2 (lab.sh multi-destroy), brings up
   new ones in their place and converges site.yml on them (m3 runs only runners);
5. runs restore.yml, then reads everything back and compares it with what was written
   (rows, object checksums, the project and its tasks, the image pulled by digest on m2).
GitLab is left out (mlstack_backup_services): its stand-in has no gitlab-backup
(tests/lab/README.md); the gitlab role's dump/restore follow omnibus-gitlab's documented
commands and are not exercised here.
Everything is written and read through the lab's engine (docker exec on the hosts, the lab's
out-of-band channel; Label Studio's API from a script on m2 itself), never from this machine
over the site's network: on the air-gapped network nothing of the test passes the egress sink.
S3 objects that the new site holds beside the backup's are kept by restore.yml (documented in
docs/operations.md) and are reported, not counted as a difference.
Figures go to .cache/e2e/backup.json; run.py puts its own into multi.json and airgap.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as e2e  # noqa: E402  (tests/e2e/run.py: run, log, ansible_env, recap, make_bundle)

ROOT = e2e.ROOT
INVENTORY = e2e.INVENTORY
CREDENTIALS = INVENTORY / "credentials"
DOCKER = e2e.DOCKER
M1, M2, M3 = e2e.HOSTS
SERVICES = ["postgres", "object_store", "labeling", "registry"]
DATA_HOSTS = (M1, M2)
LS_PORT = 8090
LS_ADMIN = "admin@labelstudio.invalid"
PROBE_TABLE = "mlstack_backup_probe"


def sh(host: str, script: str, *, user: str = "root", stdin: str | None = None) -> str:
    """Run a shell script on a lab host through the engine; its stdout, or exit naming it."""
    proc = subprocess.run([DOCKER, "exec", "-i", "-u", user, host, "bash", "-euo", "pipefail", "-c", script],
                          input=stdin, text=True, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"[backup] FAILED on {host}: {script[:200]!r}: {proc.stderr[-2000:]}")
    return proc.stdout


def psql(sql: str, db: str = "postgres") -> str:
    return sh(M1, f"cd /tmp && sudo -u postgres psql -X -q -At -v ON_ERROR_STOP=1 -d {db}", stdin=sql)


def address(host: str) -> str:
    """The host's address on the site's network (online or air-gapped), from the engine."""
    out = subprocess.run([DOCKER, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", host],
                         text=True, capture_output=True, check=True).stdout.split()
    if not out:
        raise SystemExit(f"[backup] FAILED: {host} has no address")
    return out[0]


def copy_script(host: str, text: str, name: str) -> str:
    """Put a probe script on a host (docker cp); its path there."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(text)
    try:
        subprocess.run([DOCKER, "cp", script.name, f"{host}:/tmp/{name}"], check=True)
    finally:
        os.unlink(script.name)
    return f"/tmp/{name}"


# --- PostgreSQL -----------------------------------------------------------------------
def consumer_databases() -> List[str]:
    out = psql("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND datname <> 'postgres' ORDER BY 1;")
    return [line for line in out.splitlines() if line]


def write_rows(stamp: str) -> None:
    for db in consumer_databases():
        owner = psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}';").strip()
        psql(f"SET ROLE {owner};\nCREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id int PRIMARY KEY, stamp text, payload text);\n"
             f"INSERT INTO {PROBE_TABLE} SELECT g, '{stamp}', md5(random()::text) || md5(g::text) "
             f"FROM generate_series(1, 500) g ON CONFLICT (id) DO UPDATE SET stamp = excluded.stamp, payload = excluded.payload;", db)


def read_rows() -> Dict[str, Any]:
    """Per consumer database: the probe table's rows (count and digest, or absent) and the row
    counts of Label Studio's project and task tables where the database has them (tables
    Label Studio writes to on its own, such as django_session, are left out)."""
    out: Dict[str, Any] = {}
    for db in consumer_databases():
        entry: Dict[str, Any] = {}
        for table in (PROBE_TABLE, "project", "task"):
            if psql(f"SELECT to_regclass('public.{table}') IS NOT NULL;", db).strip() != "t":
                entry[table] = "absent"
            elif table == PROBE_TABLE:
                entry[table] = psql(f"SELECT count(*) || ' ' || md5(string_agg(id || ':' || stamp || ':' || payload, ',' "
                                    f"ORDER BY id)) FROM {PROBE_TABLE};", db).strip()
            else:
                entry[table] = psql(f"SELECT count(*) FROM public.{table};", db).strip()
        out[db] = entry
    return out


# --- S3 (boto3 on m1, installed there by the minio role) -----------------------------------
S3_SCRIPT = r"""
import boto3, hashlib, json, os, sys
from botocore.config import Config
keys = json.load(sys.stdin)
s3 = boto3.client("s3", endpoint_url=keys["endpoint"], aws_access_key_id=keys["a"],
                  aws_secret_access_key=keys["s"], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, connect_timeout=10, read_timeout=30,
                                retries={"mode": "standard", "max_attempts": 5}))
if sys.argv[1] == "write":
    for b in s3.list_buckets()["Buckets"]:
        for i, size in enumerate([0, 1, 1000, 65536, 5 * 1024 * 1024 + 3]):
            s3.put_object(Bucket=b["Name"], Key="backup-probe/%s/object-%d.bin" % (keys["stamp"], i), Body=os.urandom(size))
out = {}
for b in s3.list_buckets()["Buckets"]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b["Name"]):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=b["Name"], Key=o["Key"])["Body"].read()
            out["%s/%s" % (b["Name"], o["Key"])] = hashlib.sha256(body).hexdigest()
print(json.dumps(out, sort_keys=True))
"""


def s3_objects(mode: str = "read", stamp: str = "") -> Dict[str, str]:
    keys = {"a": (CREDENTIALS / "object-store" / "root.access_key").read_text().strip(),
            "s": (CREDENTIALS / "object-store" / "root.secret_key").read_text().strip(), "stamp": stamp,
            "endpoint": f"http://{address(M1)}:9000"}
    path = copy_script(M1, S3_SCRIPT, "mlstack-s3-probe.py")
    return json.loads(sh(M1, f"python3 {path} {mode}", stdin=json.dumps(keys)))


# --- Label Studio (its API, from a script on m2: Python's standard library only) -------------
LS_SCRIPT = r"""
import http.cookiejar, json, sys, urllib.error, urllib.parse, urllib.request
args = json.load(sys.stdin)
url = args["url"]
jar = http.cookiejar.CookieJar()


class Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *dummy, **unused):
        return None


web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), Keep)


def cookie(name):
    return next((c.value for c in jar if c.name == name), None)


web.open(url + "/user/login/", timeout=30).read()
form = urllib.parse.urlencode({"email": args["email"], "password": args["password"],
                               "csrfmiddlewaretoken": cookie("csrftoken")}).encode()
try:
    status = web.open(urllib.request.Request(url + "/user/login/", data=form,
                                             headers={"Referer": url + "/user/login/"}), timeout=30).status
except urllib.error.HTTPError as error:
    status = error.code
if status != 302 or not cookie("sessionid"):
    sys.exit("Label Studio refused the administrator's login: HTTP %s" % status)


def api(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers={
        "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken"), "Referer": url + "/"})
    with web.open(request, timeout=120) as answer:
        return json.loads(answer.read() or b"null")


if sys.argv[1] == "write":
    project = api("POST", "/api/projects/", {"title": args["title"], "label_config": args["label_config"]})
    api("POST", "/api/projects/%d/import" % project["id"], args["tasks"])
out = {}
for project in sorted(api("GET", "/api/projects/?page_size=100")["results"], key=lambda p: p["id"]):
    body = api("GET", "/api/tasks/?project=%d&page_size=1000" % project["id"])
    items = body["tasks"] if isinstance(body, dict) else body
    out["%d:%s" % (project["id"], project["title"])] = {
        "label_config": project.get("label_config"),
        "tasks": sorted(json.dumps(t["data"], sort_keys=True) for t in items)}
print(json.dumps(out, sort_keys=True))
"""


def label_studio(mode: str = "read", stamp: str = "") -> Dict[str, Any]:
    """Every project with its tasks' data, read through the API on m2 (after writing a probe
    project with 25 tasks when mode is write), logged in as the administrator with the
    password this controller holds."""
    args: Dict[str, Any] = {"url": f"http://{address(M2)}:{LS_PORT}", "email": LS_ADMIN,
                            "password": (CREDENTIALS / "label-studio" / "admin_password").read_text().strip()}
    if mode == "write":
        args.update(title=f"Backup probe {stamp}",
                    label_config='<View><Text name="text" value="$text"/><Choices name="c" toName="text">'
                                 '<Choice value="yes"/><Choice value="no"/></Choices></View>',
                    tasks=[{"text": f"task {i} of {stamp}: {hashlib.sha256(f'{stamp}{i}'.encode()).hexdigest()}"}
                           for i in range(25)])
    path = copy_script(M2, LS_SCRIPT, "mlstack-ls-probe.py")
    return json.loads(sh(M2, f"python3 {path} {mode}", stdin=json.dumps(args)))


def write_project(stamp: str) -> None:
    label_studio("write", stamp)


def read_projects() -> Dict[str, Any]:
    return label_studio()


# --- Registry ---------------------------------------------------------------------------------
REGISTRY_AUTH = "/etc/mlstack/registry-push-auth.json"


def push_image(stamp: str) -> str:
    """A small image made on m1 with random content, pushed to the site registry (push
    endpoint, skopeo as the role does); its manifest digest."""
    ref = f"127.0.0.1:5001/mlstack-probe/backup:{stamp.lower()}"
    sh(M1, f"""d=$(mktemp -d); head -c 300000 /dev/urandom > $d/payload; echo {stamp} > $d/stamp
tar -C $d -c payload stamp | docker import - mlstack-probe/backup:{stamp.lower()} >/dev/null; rm -rf $d
skopeo copy -q --authfile {REGISTRY_AUTH} docker-daemon:mlstack-probe/backup:{stamp.lower()} docker://{ref}""")
    return sh(M1, f"skopeo inspect --authfile {REGISTRY_AUTH} --format '{{{{.Digest}}}}' docker://{ref}").strip()


def pull_by_digest(digest: str) -> Dict[str, str]:
    """Pull on m2 (logged in to the site registry by the role) by digest; the stamp file's text."""
    ref = f"{M1}:5000/mlstack-probe/backup@{digest}"
    sh(M2, f"docker rmi -f {ref} >/dev/null 2>&1 || true; docker pull -q {ref} >/dev/null")
    stamp = sh(M2, f"c=$(docker create {ref} /stamp); docker cp $c:/stamp - | tar -xO; docker rm $c >/dev/null")
    return {"digest": digest, "stamp": stamp.strip()}


def registry_tags() -> str:
    return sh(M1, f"skopeo list-tags --authfile {REGISTRY_AUTH} docker://127.0.0.1:5001/mlstack-probe/backup").strip()


# --- the test ---------------------------------------------------------------------------------
def snapshot(digest: str) -> Dict[str, Any]:
    return {"rows": read_rows(), "objects": s3_objects(), "projects": read_projects(),
            "image": pull_by_digest(digest), "tags": registry_tags()}


def differences(before: Dict[str, Any], after: Dict[str, Any], prefix: str = "") -> List[str]:
    out: List[str] = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(differences(a, b, f"{prefix}{key}/"))
        elif a != b:
            out.append(f"{prefix}{key}: {str(a)[:120]!r} -> {str(b)[:120]!r}")
    return out


def restored_differences(written: Dict[str, Any], restored: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """What a restore got wrong, and the S3 objects the site holds beside the backup's.
    Rows, projects with their tasks, the image and the registry's tags must be as written;
    every written object must be there with its checksum, other objects are kept by
    restore.yml (they were written by the new site itself) and only listed."""
    diff = differences({k: v for k, v in written.items() if k != "objects"},
                       {k: v for k, v in restored.items() if k != "objects"})
    objects_written, objects_now = written.get("objects", {}), restored.get("objects", {})
    diff += [f"objects/{key}: {sha!r} -> {objects_now.get(key)!r}"
             for key, sha in sorted(objects_written.items()) if objects_now.get(key) != sha]
    return diff, sorted(set(objects_now) - set(objects_written))


def playbook(name: str, extra: List[str], log_file: Path, check: bool = True):
    command = [str(e2e.BIN / "ansible-playbook"), "-i", str(INVENTORY / "hosts.yml"), f"playbooks/{name}", *extra]
    return e2e.run(command, log_file=log_file, env=e2e.ansible_env(), check=check)


def new_data_hosts(logs: Path) -> float:
    """Destroy the hosts that hold state (m1: PostgreSQL, S3, registry; m2: Label Studio,
    GitLab), start new ones in their place and converge them with site.yml. m3 holds no state
    (runners) and is left as it is."""
    e2e.run([str(e2e.LAB), "multi-destroy", *DATA_HOSTS])
    e2e.run([str(e2e.LAB), "multi-up", "online"], log_file=logs / "multi-up-new.log")
    seconds, dummy = playbook("site.yml", ["--limit", ",".join(DATA_HOSTS)], logs / "site-new-hosts.log")
    return seconds


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def backup_and_refuse(log_dir: Path, backup_root: Path) -> Dict[str, Any]:
    """On converged lab_multi hosts: write the probe data, back up into
    <backup_root>/backups, check the run, refuse a tampered copy. Writes
    <backup_root>/state.json (what was written, the run, the digest) for the restore; returns
    the figures. Exits naming what is wrong on failure."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if backup_root.exists():
        shutil.rmtree(backup_root)
    backup_root.mkdir(mode=0o700, parents=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    backup_dir = backup_root / "backups"
    services = ["-e", json.dumps({"mlstack_backup_dir": str(backup_dir), "mlstack_backup_services": SERVICES})]
    figures: Dict[str, Any] = {"services": SERVICES}

    e2e.log("write: rows in each consumer database, S3 objects, a Label Studio project with tasks, an image")
    started = time.monotonic()
    write_rows(stamp)
    s3_objects("write", stamp)
    write_project(stamp)
    digest = push_image(stamp)
    written = snapshot(digest)
    figures["write_s"] = round(time.monotonic() - started, 1)
    figures["written"] = {"databases": len(written["rows"]), "objects": len(written["objects"]),
                          "projects": len(written["projects"]),
                          "tasks": sum(len(p["tasks"]) for p in written["projects"].values()), "image": digest}

    e2e.log(f"backup.yml into {backup_dir}")
    seconds, dummy = playbook("backup.yml", services, log_dir / "backup.log")
    figures["backup_s"] = round(seconds, 1)
    runs = sorted(p for p in backup_dir.iterdir() if p.is_dir())
    if len(runs) != 1 or (runs[0] / "SHA256SUMS").stat().st_mode & 0o077 or runs[0].stat().st_mode & 0o077:
        raise SystemExit(f"[backup] FAILED: expected one run, mode 0700/0600, in {backup_dir}: {runs}")
    run_dir = runs[0]
    manifest = json.loads((run_dir / "MANIFEST.json").read_text())
    check = subprocess.run(["sha256sum", "--check", "--strict", "--quiet", "SHA256SUMS"], cwd=run_dir, check=False)
    if check.returncode != 0:
        raise SystemExit(f"[backup] FAILED: sha256sum -c SHA256SUMS in {run_dir}")
    loose = [str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file() and p.stat().st_mode & 0o077]
    if loose:
        raise SystemExit(f"[backup] FAILED: files readable by others in {run_dir}: {loose}")
    figures["backup_bytes"] = manifest["bytes"]
    figures["backup_files"] = {f["path"]: f["size"] for f in manifest["files"]}

    e2e.log("a copy of the backup with one byte changed: restore.yml refuses it, naming the file")
    tampered = backup_root / "tampered"
    shutil.copytree(run_dir, tampered / run_dir.name)
    victim = tampered / run_dir.name / "postgres" / "labelstudio.dump"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    seconds, out = playbook("restore.yml", ["-e", json.dumps({"mlstack_backup_dir": str(tampered), "mlstack_backup_services": SERVICES})],
                            log_dir / "restore-tampered.log", check=False)
    if "checksum mismatch: postgres/labelstudio.dump" not in out:
        raise SystemExit(f"[backup] FAILED: the tampered backup was not refused naming postgres/labelstudio.dump (log {log_dir}/restore-tampered.log)")
    touched = {h: c for h, c in e2e.recap(out).items() if h in e2e.HOSTS and c["changed"]}
    after_refusal = snapshot(digest)
    if touched or differences(written, after_refusal):
        raise SystemExit(f"[backup] FAILED: a refused restore changed something: {touched} {differences(written, after_refusal)}")
    figures["tampered_refused"] = re.search(r"checksum mismatch: [^\"\\\n]*", out).group(0)[:200]
    figures["tampered_s"] = round(seconds, 1)
    shutil.rmtree(tampered)
    state = {"backup_dir": str(backup_dir), "run_dir": str(run_dir), "digest": digest, "written": written, "figures": figures}
    (backup_root / "state.json").write_text(json.dumps(state, sort_keys=True))
    os.chmod(backup_root / "state.json", 0o600)
    return figures


def readback(state: Dict[str, Any]) -> Dict[str, Any]:
    """After a restore: read everything back and compare with what was written; the
    figures, or exit naming every difference."""
    started = time.monotonic()
    written = state["written"]
    diff, extra = restored_differences(written, snapshot(state["digest"]))
    if diff:
        raise SystemExit("[backup] FAILED: restored data differs from what was written:\n  " + "\n  ".join(diff))
    return {"readback_s": round(time.monotonic() - started, 1),
            "identical": {"databases": len(written["rows"]), "objects": len(written["objects"]),
                          "projects": len(written["projects"]),
                          "tasks": sum(len(p["tasks"]) for p in written["projects"].values()),
                          "image_by_digest": state["digest"]},
            "objects_kept_beside": len(extra)}


def backup_restore(log_dir: Path, backup_root: Path | None = None, same: bool = True) -> Dict[str, Any]:
    """On converged lab_multi hosts: write, back up, refuse a tampered copy, destroy, converge,
    restore, compare. Returns the figures; exits naming what differs on failure."""
    backup_root = backup_root or Path(tempfile.mkdtemp(prefix="mlstack-backup-e2e."))
    figures: Dict[str, Any] = {"tier": "backup", "date": time.strftime("%Y-%m-%d")}
    figures.update(backup_and_refuse(log_dir, backup_root))
    state = json.loads((backup_root / "state.json").read_text())
    (log_dir / "state.json").write_text(json.dumps(state, sort_keys=True))
    services = ["-e", json.dumps({"mlstack_backup_dir": state["backup_dir"], "mlstack_backup_services": SERVICES})]
    if same:
        e2e.log("restore.yml onto the site that still holds the same data: replaced, nothing duplicated")
        figures["restore_same_s"], dummy = playbook("restore.yml", services, log_dir / "restore-same.log")
        diff = differences(state["written"], snapshot(state["digest"]))
        if diff:
            raise SystemExit("[backup] FAILED: a restore onto the same data changed it:\n  " + "\n  ".join(diff))

    e2e.log(f"destroy the hosts holding state ({', '.join(DATA_HOSTS)}), bring up new ones, converge site.yml on them")
    figures["converge_s"] = new_data_hosts(log_dir)
    return restore_and_compare(log_dir, figures)


def restore_and_compare(log_dir: Path, figures: Dict[str, Any] | None = None, resumed: bool = False) -> Dict[str, Any]:
    """The second half, on the new hosts (also alone: --resume, after a fix, from state.json)."""
    state = json.loads((log_dir / "state.json").read_text())
    figures = figures or state["figures"]
    services = ["-e", json.dumps({"mlstack_backup_dir": state["backup_dir"], "mlstack_backup_services": SERVICES})]
    if not resumed and not differences(state["written"]["rows"], read_rows()):
        raise SystemExit("[backup] FAILED: the new hosts already hold the data: nothing was destroyed")

    e2e.log(f"restore.yml from {state['run_dir']}")
    figures["restore_s"], dummy = playbook("restore.yml", services, log_dir / "restore.log")
    figures.update(readback(state))
    figures["backup_run"] = state["run_dir"]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh", action="store_true", help="bring the lab_multi hosts up and converge them first")
    parser.add_argument("--resume", action="store_true",
                        help="only restore and compare, on hosts converged after the backup (state.json of a cut-off run)")
    parser.add_argument("--no-same", action="store_true",
                        help="skip the restore onto the site that still holds the data (before the hosts are destroyed)")
    args = parser.parse_args()
    logs = e2e.CACHE / "backup"
    logs.mkdir(parents=True, exist_ok=True)
    figures: Dict[str, Any] = {}
    if args.fresh:
        e2e.log("fresh lab_multi hosts, the bundle, site.yml")
        e2e.run([str(e2e.LAB), "multi-down"])
        e2e.run([str(e2e.LAB), "multi-up", "online"], log_file=logs / "multi-up.log")
        figures["bundle_s"] = e2e.make_bundle([], logs / "bundle.log")
        figures["first_converge_s"], dummy = playbook("site.yml", [], logs / "site-first.log")
    figures.update(restore_and_compare(logs, resumed=True) if args.resume else backup_restore(logs, same=not args.no_same))
    for key in ("backup_s", "restore_s", "restore_same_s", "converge_s"):
        if key in figures:
            figures[key] = round(figures[key], 1)
    (e2e.CACHE / ("backup-resume.json" if args.resume else "backup.json")).write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    e2e.log(f"backup {figures.get('backup_s', '-')} s ({figures.get('backup_bytes', '-')} bytes in {len(figures.get('backup_files', {}))} files), "
            f"converge of new hosts {figures.get('converge_s', '-')} s, restore {figures['restore_s']} s, "
            f"onto the same data {figures.get('restore_same_s', '-')} s; tampered copy refused: {figures.get('tampered_refused', '-')}")
    print(json.dumps(figures, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
