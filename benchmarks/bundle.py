# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Bundle figures (DESIGN.md, issue 11), measured side by side in one run on the lab's bundle
(playbooks/bundle.yml for inventories/lab, from the lab's registry mirror):

- bundle size / bytes of its unique contents (every file counted once by sha256): goal <= 1.02;
- the images part (one OCI layout) against the anchors' way, one `docker save` tar per image
  of the same images (MLReef's export script and Kubespray's offline script do that);
- second bundle.yml run / first: the first into an empty directory with empty download
  caches (HOME points at a new directory, so bundle_debs', bundle_wheels', bundle_collection's
  and uv's caches start empty: everything is fetched from the mirror, Debian and PyPI), the
  second right after it with the same inputs: goal <= 0.1. Both run from a snapshot of the
  checkout taken at the start (its tracked and untracked files), so that edits others make
  in a shared working tree meanwhile are not inputs that changed;
- the delta after a new tag of one image / the full bundle;
- bundle_verify (through playbooks/bundle_verify.yml, and its module alone) against
  `sha256sum -c` over the same bundle.

Needs the lab (make lab) and the venv: `make bench-bundle`. Works in /var/tmp/mlstack-bench-bundle.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
WORK = Path(os.environ.get("MLSTACK_BENCH_DIR", "/var/tmp/mlstack-bench-bundle"))
MIRROR = "127.0.0.1:" + os.environ.get("MLSTACK_LAB_MIRROR_PORT", "5055")
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


SNAPSHOT = WORK / "collection"
SRC = SNAPSHOT / "ansible_collections" / "mlstack" / "platform"


def snapshot() -> None:
    """The checkout's files as they are now (tracked and untracked, not ignored) in SRC."""
    shutil.rmtree(SNAPSHOT, ignore_errors=True)
    listing = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                             capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listing):
        source = ROOT / rel
        if source.is_file():
            (SRC / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, SRC / rel)


def env(home: str = "") -> dict:
    out = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(SNAPSHOT), ANSIBLE_HOME=str(ROOT / ".ansible"))
    out["PATH"] = "%s:%s" % (BIN, out.get("PATH", ""))
    if home:
        out["HOME"] = home
    return out


def timed(argv: list, home: str = "") -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, cwd=ROOT, env=env(home), capture_output=True, text=True)
    return time.monotonic() - started


def bundle_yml(path: Path, *extra: str, home: str = "") -> float:
    return timed([str(BIN / "ansible-playbook"), "-i", str(SRC / "inventories/lab/hosts.yml"),
                  str(SRC / "playbooks/bundle.yml"), "-e", "mlstack_bundle_dir=%s" % path,
                  "-e", "mlstack_credentials_dir=%s" % (WORK / "credentials"),
                  "-e", "mlstack_bundle_registry_mirror=%s" % MIRROR,
                  "-e", "mlstack_bundle_registry_tls_verify=false", *extra], home=home)


def files_of(path: Path) -> list:
    return [p for p in path.rglob("*") if p.is_file()]


def unique_bytes(path: Path) -> int:
    seen = {}
    manifest = json.loads((path / "MANIFEST.json").read_text())
    for name, entry in manifest["files"].items():
        seen.setdefault(entry["sha256"], entry["size"])
    return sum(seen.values())


def mib(count: int) -> str:
    return "%.1f MiB" % (count / 1048576)


def load() -> str:
    return "%.2f %.2f %.2f" % os.getloadavg()


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.strip()
    print("commit %s%s, %s UTC, load average %s" % (
        commit, " (working tree modified)" if dirty else "", time.strftime("%Y-%m-%d %H:%M", time.gmtime()), load()))
    snapshot()
    subprocess.run([str(ROOT / "tests/lab/lab.sh"), "mirror"], check=True, env=env())
    bundle = WORK / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    home = WORK / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    first = bundle_yml(bundle, home=str(home))
    load_first = load()
    second = bundle_yml(bundle, home=str(home))
    print("load average after the first run %s, after the second %s" % (load_first, load()))
    total = sum(p.stat().st_size for p in files_of(bundle))
    unique = unique_bytes(bundle)
    print("bundle.yml, lab inventory: first run (empty caches) %.1f s, second run %.1f s: ratio %.3f (goal <= 0.1)"
          % (first, second, second / first))
    print("bundle size %s, unique contents %s: ratio %.4f (goal <= 1.02)" % (mib(total), mib(unique), total / unique))

    layout = bundle / "images" / "oci"
    layout_bytes = sum(p.stat().st_size for p in files_of(layout))
    index = json.loads((layout / "index.json").read_text())
    names = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    saved = 0
    for name in names:
        local = name.split("/", 1)[1] if name.startswith("docker.io/") else name
        proc = subprocess.run([DOCKER, "save", local], check=True, capture_output=True)
        saved += len(proc.stdout)
    print("images: one OCI layout %s for %d images; one `docker save` tar per image %s: ratio %.3f"
          % (mib(layout_bytes), len(names), mib(saved), layout_bytes / saved))

    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                    "docker://%s/mlstack-lab/seaweedfs:4.48" % MIRROR,
                    "docker://%s/mlstack-lab/seaweedfs:4.48-bench" % MIRROR], check=True)
    updated = WORK / "updated"
    shutil.rmtree(updated, ignore_errors=True)
    subprocess.run(["cp", "-al", str(bundle), str(updated)], check=True)
    for small in ("MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig", "images/oci/index.json"):
        data = (updated / small).read_bytes()
        (updated / small).unlink()
        (updated / small).write_bytes(data)
    delta = WORK / "updated.delta"
    shutil.rmtree(delta, ignore_errors=True)
    overrides = json.dumps({"mlstack_artifacts_overrides": {"images": {
        "registry": {"repository": "mlstack-lab/registry", "tag": "2.8"},
        "pypiserver": {"repository": "mlstack-lab/pypiserver", "tag": "2.4.2"},
        "seaweedfs": {"repository": "mlstack-lab/seaweedfs", "tag": "4.48-bench"}}}})
    bundle_yml(updated, "-e", "mlstack_bundle_base=%s" % (bundle / "MANIFEST.json"),
               "-e", "mlstack_bundle_delta_dir=%s" % delta, "-e", overrides)
    delta_bytes = sum(p.stat().st_size for p in files_of(delta))
    print("delta after a new tag of one image: %d files, %d bytes; / full bundle: %.6f"
          % (len(files_of(delta)), delta_bytes, delta_bytes / total))

    started = time.monotonic()
    subprocess.run(["sha256sum", "--quiet", "--strict", "-c", "SHA256SUMS"], cwd=bundle, check=True)
    sums = time.monotonic() - started
    verify = timed([str(BIN / "ansible-playbook"), "-i", str(SRC / "inventories/lab/hosts.yml"),
                    str(SRC / "playbooks/bundle_verify.yml"), "-e", "mlstack_bundle_dir=%s" % bundle,
                    "-e", "mlstack_bundle_public_key=%s" % (WORK / "credentials/bundle/signing-key.pub.asc")])
    started = time.monotonic()
    proc = subprocess.run(
        [str(BIN / "ansible"), "localhost", "-m", "mlstack.platform.bundle_verify",
         "-a", "path=%s public_key=%s" % (bundle, WORK / "credentials/bundle/signing-key.pub.asc"),
         "-e", "ansible_python_interpreter=%s" % (BIN / "python")],
        check=True, cwd=ROOT, env=env(), capture_output=True, text=True)
    module = time.monotonic() - started
    seconds = re.search(r'"seconds": ([0-9.]+)', proc.stdout)
    print("verify %s: sha256sum -c %.2f s; bundle_verify module %.2f s (its own hashing %s s, %.2f x sha256sum);"
          " playbooks/bundle_verify.yml %.2f s (Ansible start-up included)"
          % (mib(total), sums, module, seconds.group(1) if seconds else "?",
             (float(seconds.group(1)) / sums) if seconds else 0.0, verify))
    shutil.rmtree(updated, ignore_errors=True)
    shutil.rmtree(delta, ignore_errors=True)


if __name__ == "__main__":
    main()
