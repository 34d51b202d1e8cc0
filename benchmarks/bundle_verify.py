# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Benchmark of mlstack.platform.bundle_verify against ``sha256sum -c`` on the same files.

Makes a test bundle of random files (about 1 GB by default: a few large "layers" in an
OCI layout, and many small files as a wheelhouse has them) under /var/tmp, makes a
throw-away signing key, seals the bundle with bundle_seal, then measures, side by side
in one run and alternating round by round:

* ``sha256sum -c SHA256SUMS`` in the bundle directory (coreutils, one thread);
* bundle_verify (signature, every checksum, completeness of the one image), as Ansible
  runs it: its own Python process fed a JSON argument file; with the default workers
  and with ``workers: 1``;
* bundle_seal's first seal (hashes everything) and a re-seal of the unchanged bundle
  (the hash cache: reads nothing).

The files are in the page cache after the first pass (the machine has far more memory
than the bundle), so the figures compare hashing speed, not the disk. Usage:

    .venv/bin/python benchmarks/bundle_verify.py [--size-mb 1024] [--rounds 3] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".ansible", "collections")
MODULES = os.path.join(ROOT, "plugins", "modules")
MB = 1000 * 1000
CHUNK = 4 * 1024 * 1024


def log(message: str) -> None:
    print("[bench] " + message, file=sys.stderr, flush=True)


def ensure_collection_link() -> None:
    link = os.path.join(COLLECTIONS, "ansible_collections", "mlstack", "platform")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)


def run_module(workdir: str, name: str, args: t.Dict[str, t.Any]) -> t.Tuple[float, t.Dict[str, t.Any]]:
    """Run a module in its own process as Ansible would; (wall seconds, result)."""
    args_file = os.path.join(workdir, "args.json")
    with open(args_file, "w", encoding="utf-8") as stream:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, stream)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    start = time.monotonic()
    process = subprocess.run([sys.executable, os.path.join(MODULES, name + ".py"), args_file],
                             stdout=subprocess.PIPE, env=env, check=False)
    seconds = time.monotonic() - start
    result = json.loads(process.stdout)
    if result.get("failed"):
        raise RuntimeError("%s failed: %s" % (name, result.get("msg")))
    return seconds, result


def random_blob(root: str, size: int) -> t.Tuple[str, int]:
    """A content-addressed blob of random bytes; (digest, size)."""
    blobs = os.path.join(root, "images", "oci", "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    digest = hashlib.sha256()
    fd, temp = tempfile.mkstemp(dir=blobs, prefix=".mlstack-tmp-")
    with os.fdopen(fd, "wb") as stream:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            digest.update(chunk)
            stream.write(chunk)
            left -= len(chunk)
    os.replace(temp, os.path.join(blobs, digest.hexdigest()))
    return "sha256:" + digest.hexdigest(), size


def make_bundle(root: str, size_mb: int) -> t.List[t.Dict[str, t.Any]]:
    """About ``size_mb`` MB: 90 % in eight layers of one image, 10 % in 256 small wheels."""
    os.makedirs(root, exist_ok=True)
    layer_size = int(size_mb * MB * 0.9 / 8)
    layers = [random_blob(root, layer_size) for _n in range(8)]
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    with open(os.path.join(root, "images/oci/blobs/sha256", config_digest[7:]), "wb") as stream:
        stream.write(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_digest, "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": digest, "size": size} for digest, size in layers]}).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    with open(os.path.join(root, "images/oci/blobs/sha256", manifest_digest[7:]), "wb") as stream:
        stream.write(manifest)
    ref = "docker.io/mlstack-test/bench:1"
    with open(os.path.join(root, "images/oci/index.json"), "w", encoding="utf-8") as stream:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
            "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": ref}}]}, stream)
    with open(os.path.join(root, "images/oci/oci-layout"), "w", encoding="utf-8") as stream:
        stream.write('{"imageLayoutVersion": "1.0.0"}')
    wheels = os.path.join(root, "python", "debian-bookworm", "bench")
    os.makedirs(wheels, exist_ok=True)
    wheel_size = int(size_mb * MB * 0.1 / 256)
    files = []
    for number in range(256):
        name = "bench_%03d-1.0-py3-none-any.whl" % number
        with open(os.path.join(wheels, name), "wb") as stream:
            stream.write(os.urandom(wheel_size))
        files.append("python/debian-bookworm/bench/" + name)
    blob_files = ["images/oci/blobs/sha256/" + digest[7:] for digest, _size in layers]
    blob_files += ["images/oci/blobs/sha256/" + config_digest[7:], "images/oci/blobs/sha256/" + manifest_digest[7:]]
    return [
        {"id": "image/bench", "kind": "image", "key": "bench", "name": ref.rsplit(":", 1)[0], "version": "1",
         "source": ref, "digest": manifest_digest, "ref": ref, "files": blob_files},
        {"id": "wheels/bench@debian-bookworm", "kind": "wheels", "key": "bench", "target": "debian-bookworm",
         "name": "bench", "version": "1.0", "source": "https://pypi.org/simple", "files": files},
    ]


def make_key(directory: str) -> t.Tuple[str, str]:
    home = tempfile.mkdtemp(prefix="mlstack-gpg-b", dir="/tmp")
    gpg = ["gpg", "--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        subprocess.run(gpg + ["--quick-generate-key", "bench <bench@mlstack.invalid>", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        secret, public = os.path.join(directory, "bench.key"), os.path.join(directory, "bench.pub.asc")
        subprocess.run(gpg + ["--armor", "--output", secret, "--export-secret-keys"], check=True, capture_output=True)
        os.chmod(secret, 0o600)
        subprocess.run(gpg + ["--armor", "--output", public, "--export"], check=True, capture_output=True)
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)
    return secret, public


def sha256sum_c(root: str) -> float:
    start = time.monotonic()
    subprocess.run(["sha256sum", "--quiet", "--strict", "-c", "SHA256SUMS"], cwd=root, check=True)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", default="/var/tmp/mlstack-bench-bundle")
    parser.add_argument("--keep", action="store_true", help="keep the test bundle for the next run")
    options = parser.parse_args()
    ensure_collection_link()
    workdir = options.workdir
    root = os.path.join(workdir, "bundle")
    os.makedirs(workdir, exist_ok=True)
    records_file = os.path.join(workdir, "records.json")
    if os.path.exists(records_file) and os.path.isdir(root):
        log("reusing the test bundle in %s" % root)
        records = json.load(open(records_file, encoding="utf-8"))
    else:
        shutil.rmtree(root, ignore_errors=True)
        log("making a %d MB test bundle in %s" % (options.size_mb, root))
        records = make_bundle(root, options.size_mb)
        with open(records_file, "w", encoding="utf-8") as stream:
            json.dump(records, stream)
    secret, public = make_key(workdir)
    cache = os.path.join(workdir, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    for name in ("MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig"):
        if os.path.exists(os.path.join(root, name)):
            os.unlink(os.path.join(root, name))
    seal_args = {"path": root, "artifacts": records, "signing_key": secret, "hash_cache_dir": cache,
                 "collection": {"name": "mlstack.platform", "version": "0.1.0"}}
    seal_first, sealed = run_module(workdir, "bundle_seal", seal_args)
    seal_again, resealed = run_module(workdir, "bundle_seal", seal_args)
    total = sealed["bytes"]
    needs = [{"id": "image/bench", "ref": "docker.io/mlstack-test/bench:1"}, "wheels/bench@debian-bookworm"]
    verify_args = {"path": root, "public_key": public, "needs": needs}
    sha256sum_c(root)  # warm the page cache for everyone alike
    times: t.Dict[str, t.List[float]] = {"sha256sum -c": [], "bundle_verify": [], "bundle_verify workers=1": []}
    inner: t.List[float] = []
    for round_number in range(options.rounds):
        times["sha256sum -c"].append(sha256sum_c(root))
        seconds, result = run_module(workdir, "bundle_verify", verify_args)
        times["bundle_verify"].append(seconds)
        inner.append(result["seconds"])
        seconds, _result = run_module(workdir, "bundle_verify", dict(verify_args, workers=1))
        times["bundle_verify workers=1"].append(seconds)
        log("round %d: %s" % (round_number + 1, ", ".join("%s %.2f s" % (k, v[-1]) for k, v in times.items())))
    print("bundle_verify benchmark: %d files, %.0f MB (%d rounds, medians, page cache warm, %d CPUs)"
          % (result["files"], total / MB, options.rounds, os.cpu_count() or 1))
    base = statistics.median(times["sha256sum -c"])
    for name, values in times.items():
        median = statistics.median(values)
        print("  %-26s %6.2f s  %6.0f MB/s  %.2fx the time of sha256sum -c"
              % (name, median, total / MB / median, median / base))
    print("  bundle_verify hashing alone %6.2f s  %6.0f MB/s (its own figure: seconds, throughput_mb_s)"
          % (statistics.median(inner), total / MB / statistics.median(inner)))
    print("  bundle_seal first seal     %6.2f s  (hashed %d MB)" % (seal_first, sealed["bytes_hashed"] / MB))
    print("  bundle_seal re-seal        %6.2f s  (hashed %d bytes, changed=%s)"
          % (seal_again, resealed["bytes_hashed"], resealed["changed"]))
    if not options.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
