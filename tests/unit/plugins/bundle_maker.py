# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Real bundles for the bundle modules' tests: an OCI layout of two images that share
a layer, a flat apt directory, a chart and a collection tarball, with the artifact
records the artifact layer would hand bundle_seal; real OpenPGP keys made with gpg;
and a runner for the modules in-process."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import typing as t

import pytest

from ansible.module_utils.testing import patch_module_args

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def write(root: str, rel: str, data: bytes) -> str:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as stream:
        stream.write(data)
    return rel


def blob(root: str, data: bytes) -> t.Tuple[str, str]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return digest, write(root, "images/oci/blobs/sha256/" + digest[7:], data)


def add_image(root: str, ref: str, layers: t.Sequence[bytes]) -> t.Dict[str, t.Any]:
    """Add one image to the layout (index.json rewritten); its artifact record."""
    files = []
    descriptors = []
    for layer in layers:
        digest, rel = blob(root, layer)
        files.append(rel)
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest,
                            "size": len(layer)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "ref": ref}).encode()
    config_digest, rel = blob(root, config)
    files.append(rel)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": descriptors,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_digest, "size": len(config)}}).encode()
    manifest_digest, rel = blob(root, manifest)
    files.append(rel)
    index_path = os.path.join(root, "images/oci/index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path, encoding="utf-8") as stream:
            index = json.load(stream)
    index["manifests"] = [m for m in index["manifests"]
                          if m["annotations"]["org.opencontainers.image.ref.name"] != ref]
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest),
                               "annotations": {"org.opencontainers.image.ref.name": ref}})
    write(root, "images/oci/index.json", json.dumps(index, indent=1).encode())
    write(root, "images/oci/oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
    key = ref.rsplit("/", 1)[1].split(":")[0]
    return {"id": "image/" + key, "kind": "image", "key": key, "name": ref.rsplit(":", 1)[0],
            "version": ref.rsplit(":", 1)[1], "source": ref, "digest": manifest_digest, "ref": ref,
            "files": files}


def make_bundle(root: str, size: int = 4096) -> t.List[t.Dict[str, t.Any]]:
    """A small real bundle in ``root`` (not sealed); its artifact records."""
    shared = os.urandom(size)
    records = [
        add_image(root, "docker.io/library/registry:2.8.3", [shared, os.urandom(size)]),
        add_image(root, "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", [shared, os.urandom(size // 2)]),
    ]
    debs = [write(root, "apt/debian-bookworm/postgresql-15_15.14-0+deb12u1_amd64.deb", os.urandom(size)),
            write(root, "apt/debian-bookworm/libpq5_15.14-0+deb12u1_amd64.deb", os.urandom(size // 4))]
    write(root, "apt/debian-bookworm/Packages", b"Package: postgresql-15\n")
    records.append({"id": "debs/postgresql@debian-bookworm", "kind": "debs", "key": "postgresql",
                    "target": "debian-bookworm", "name": "postgresql", "version": "15",
                    "source": "http://deb.debian.org/debian bookworm", "digest": None, "files": debs})
    records.append({"id": "chart/seldon", "kind": "chart", "key": "seldon", "name": "seldon-core-operator",
                    "version": "1.17.1", "source": "https://storage.googleapis.com/seldon-charts",
                    "files": [write(root, "charts/seldon-core-operator-1.17.1.tgz", os.urandom(size))]})
    records.append({"id": "collection/mlstack.platform", "kind": "collection", "key": "mlstack.platform",
                    "name": "mlstack.platform", "version": "0.1.0", "source": "ansible-galaxy collection build",
                    "files": [write(root, "controller/mlstack-platform-0.1.0.tar.gz", os.urandom(size))]})
    return records


def needs_of(records: t.Sequence[t.Dict[str, t.Any]]) -> t.List[t.Any]:
    return [{"id": r["id"], "ref": r["ref"]} if r["kind"] == "image" else r["id"] for r in records]


class Key:
    """A real ed25519 signing key made with gpg: secret and public key files."""

    __test__ = False

    def __init__(self, directory: str, name: str, passphrase: str = "") -> None:
        home = tempfile.mkdtemp(prefix="mlstack-gpg-t", dir="/tmp")
        with open(os.path.join(home, "gpg-agent.conf"), "w") as stream:
            stream.write("s2k-count 1048576\n")  # test keys: no calibration (seconds here)
        gpg = ["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback"]
        try:
            subprocess.run(gpg + ["--passphrase", passphrase, "--quick-generate-key",
                                  "%s <%s@mlstack.invalid>" % (name, name), "ed25519", "sign", "never"],
                           check=True, capture_output=True)
            listing = subprocess.run(gpg + ["--with-colons", "--list-secret-keys"], check=True,
                                     capture_output=True, text=True).stdout
            self.fingerprint = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")][0]
            self.secret = os.path.join(directory, name + ".key")
            self.public = os.path.join(directory, name + ".pub.asc")
            with open(self.secret, "wb") as stream:
                stream.write(subprocess.run(gpg + ["--passphrase", passphrase, "--armor", "--export-secret-keys"],
                                            check=True, capture_output=True).stdout)
            os.chmod(self.secret, 0o600)
            with open(self.public, "wb") as stream:
                stream.write(subprocess.run(gpg + ["--armor", "--export"], check=True, capture_output=True).stdout)
        finally:
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
            shutil.rmtree(home, ignore_errors=True)


def run_module(capsys: t.Any, module: t.Any, args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def flip_byte(path: str, offset: int = 0) -> None:
    with open(path, "r+b") as stream:
        stream.seek(offset)
        byte = stream.read(1)
        stream.seek(offset)
        stream.write(bytes([byte[0] ^ 0x01]))


@pytest.fixture(scope="session")
def keys(tmp_path_factory: t.Any) -> t.Dict[str, Key]:
    """The site's signing key and another one (the "wrong key")."""
    directory = str(tmp_path_factory.mktemp("keys"))
    return {"site": Key(directory, "site"), "other": Key(directory, "other")}


@pytest.fixture
def cache_dir(tmp_path: t.Any) -> str:
    return str(tmp_path / "cache")


def seal(capsys: t.Any, root: str, records: t.Sequence[t.Dict[str, t.Any]], key: Key, cache: str,
         **extra: t.Any) -> t.Dict[str, t.Any]:
    from ansible_collections.mlstack.platform.plugins.modules import bundle_seal
    args = {"path": root, "artifacts": list(records), "signing_key": key.secret, "hash_cache_dir": cache,
            "collection": {"name": "mlstack.platform", "version": "0.1.0"}}
    args.update(extra)
    return run_module(capsys, bundle_seal, args)


def verify(capsys: t.Any, root: str, key: Key, needs: t.Sequence[t.Any] = (), **extra: t.Any) -> t.Dict[str, t.Any]:
    from ansible_collections.mlstack.platform.plugins.modules import bundle_verify
    args = {"path": root, "public_key": key.public, "needs": list(needs)}
    args.update(extra)
    return run_module(capsys, bundle_verify, args)


def run_module_quietly(module: t.Any, args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    """run_module for session fixtures (no capsys there)."""
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(out.getvalue())


@pytest.fixture(scope="session")
def sealed_template(tmp_path_factory: t.Any, keys: t.Dict[str, Key]) -> t.Tuple[str, t.List[t.Dict[str, t.Any]]]:
    """One bundle sealed per session by bundle_seal; tests get copies of it."""
    from ansible_collections.mlstack.platform.plugins.modules import bundle_seal
    root = str(tmp_path_factory.mktemp("template") / "bundle")
    os.makedirs(root)
    records = make_bundle(root)
    result = run_module_quietly(bundle_seal, {
        "path": root, "artifacts": records, "signing_key": keys["site"].secret, "hash_cache_dir": "",
        "collection": {"name": "mlstack.platform", "version": "0.1.0"}})
    assert result["changed"] is True, result
    return root, records


@pytest.fixture
def sealed(tmp_path: t.Any, sealed_template: t.Tuple[str, t.List[t.Dict[str, t.Any]]]) -> t.Tuple[str, t.List[t.Dict[str, t.Any]]]:
    """A sealed bundle of its own for the test, and its records."""
    template, records = sealed_template
    root = str(tmp_path / "bundle")
    shutil.copytree(template, root)
    return root, copy.deepcopy(records)


def forge_seal(root: str, key: Key, artifacts: t.Optional[t.List[t.Dict[str, t.Any]]] = None) -> None:
    """Seal ``root`` the way a careless writer would: MANIFEST.json of what is on disk
    with the given (or the present) artifacts, SHA256SUMS and a good signature, without
    bundle_seal's checks. For bundles that are signed and still incomplete."""
    manifest_path = os.path.join(root, "MANIFEST.json")
    with open(manifest_path, encoding="utf-8") as stream:
        manifest = json.load(stream)
    if artifacts is not None:
        manifest["artifacts"] = artifacts
    manifest["files"] = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(directory, name), root)
            if rel not in ("MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig"):
                with open(os.path.join(directory, name), "rb") as stream:
                    data = stream.read()
                manifest["files"][rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    data = json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n"
    with open(manifest_path, "wb") as stream:
        stream.write(data)
    sums = {rel: entry["sha256"] for rel, entry in manifest["files"].items()}
    sums["MANIFEST.json"] = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "SHA256SUMS"), "w", encoding="utf-8") as stream:
        stream.write("".join("%s  %s\n" % (sums[rel], rel) for rel in sorted(sums)))
    home = tempfile.mkdtemp(prefix="mlstack-gpg-t", dir="/tmp")
    try:
        subprocess.run(["gpg", "--homedir", home, "--batch", "--import", key.secret], check=True, capture_output=True)
        subprocess.run(["gpg", "--homedir", home, "--batch", "--yes", "--armor", "--detach-sign", "--output",
                        os.path.join(root, "SHA256SUMS.sig"), os.path.join(root, "SHA256SUMS")],
                       check=True, capture_output=True)
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)
