# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The engine clients against stand-ins: a fake Docker APIClient, and a fake ``ctr``
(a function for the listing commands, a shell script for the streamed import)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils._checksum import HashingReader
from ansible_collections.mlstack.platform.plugins.module_utils._containerd_engine import ContainerdEngine
from ansible_collections.mlstack.platform.plugins.module_utils._docker_engine import DockerEngine
from ansible_collections.mlstack.platform.plugins.module_utils._image_engine import EngineError

docker = pytest.importorskip("docker")


class FakeAPIClient:
    def __init__(self, images, load_messages=None, load_error=None):
        self._images = images
        self.load_messages = load_messages or [{"stream": "Loaded image: a:1\n"}]
        self.load_error = load_error
        self.calls = []
        self.loaded_bytes = 0

    def images(self, all=False):  # pylint: disable=redefined-builtin
        self.calls.append(("images", all))
        return self._images

    def load_image(self, data, quiet=None):
        self.calls.append(("load_image", quiet))
        for chunk in iter(lambda: data.read(65536), b""):
            self.loaded_bytes += len(chunk)
        if self.load_error:
            raise self.load_error
        return iter(self.load_messages)

    def tag(self, image, repository, tag=None, force=False):
        self.calls.append(("tag", image, repository, tag, force))
        return True

    def remove_image(self, image, force=False, noprune=False):
        self.calls.append(("remove_image", image))


IMAGES = [
    {"Id": "sha256:aaa", "RepoTags": ["mlstack-test/a:1", "busybox:latest"]},
    {"Id": "sha256:bbb", "RepoTags": ["<none>:<none>"]},
    {"Id": "sha256:ccc", "RepoTags": None},
]


def test_docker_lists_refs_normalized():
    engine = DockerEngine(client=FakeAPIClient(IMAGES))
    assert engine.refs() == {"docker.io/mlstack-test/a:1": "sha256:aaa", "docker.io/library/busybox:latest": "sha256:aaa"}
    assert engine.find_image({"sha256:ccc", "sha256:zzz"}) == "sha256:ccc"
    assert engine.find_image({"sha256:zzz"}) is None
    assert engine.matches("docker.io/library/busybox:latest", {"sha256:aaa"})
    assert engine.display("docker.io/library/busybox:latest") == "busybox:latest"


def test_docker_load_streams_the_file(tmp_path):
    path = tmp_path / "a.tar"
    path.write_bytes(b"x" * 300000)
    client = FakeAPIClient(IMAGES)
    DockerEngine(client=client).load(str(path))
    assert client.loaded_bytes == 300000
    assert ("load_image", True) in client.calls
    with HashingReader(str(path)) as reader:
        DockerEngine(client=client).load(str(path), reader)
        assert reader.complete


def test_docker_load_error_in_stream(tmp_path):
    path = tmp_path / "a.tar"
    path.write_bytes(b"x")
    client = FakeAPIClient(IMAGES, load_messages=[{"errorDetail": {"message": "invalid diffID"}, "error": "x"}])
    with pytest.raises(EngineError, match="invalid diffID"):
        DockerEngine(client=client).load(str(path))


def test_docker_load_api_error(tmp_path):
    path = tmp_path / "a.tar"
    path.write_bytes(b"x")
    client = FakeAPIClient(IMAGES, load_error=docker.errors.APIError("500 Server Error: unexpected EOF"))
    with pytest.raises(EngineError, match="unexpected EOF"):
        DockerEngine(client=client).load(str(path))


def test_docker_tag_and_untag():
    client = FakeAPIClient(IMAGES)
    engine = DockerEngine(client=client)
    engine.tag("sha256:aaa", "docker.io/library/busybox:1")
    engine.tag("sha256:aaa", "registry.local:5000/team/app:2")
    engine.untag("docker.io/mlstack-test/a:1")
    assert client.calls[-3:] == [
        ("tag", "sha256:aaa", "busybox", "1", True),
        ("tag", "sha256:aaa", "registry.local:5000/team/app", "2", True),
        ("remove_image", "mlstack-test/a:1"),
    ]


def test_docker_unreachable():
    class Broken(FakeAPIClient):
        def images(self, all=False):  # pylint: disable=redefined-builtin
            raise docker.errors.DockerException("Error while fetching server API version")

    with pytest.raises(EngineError, match="cannot list the images of the Docker Engine at unix://"):
        DockerEngine(client=Broken([]))


CTR_LIST = """REF                            TYPE                                                 DIGEST  SIZE      PLATFORMS   LABELS
docker.io/mlstack-test/a:1     application/vnd.docker.distribution.manifest.v2+json sha256:m1 134.9 MiB linux/amd64 -
docker.io/mlstack-test/a:alias application/vnd.docker.distribution.manifest.v2+json sha256:m1 134.9 MiB linux/amd64 -
docker.io/library/multi:1      application/vnd.oci.image.index.v1+json              sha256:i1 1.0 MiB   linux/amd64,linux/arm64 -
"""
CONTENT = {
    "sha256:m1": {"config": {"digest": "sha256:c1"}, "layers": []},
    "sha256:i1": {"manifests": [{"digest": "sha256:m2"}, {"digest": "sha256:m3"}]},
    "sha256:m2": {"config": {"digest": "sha256:c2"}},
}


class FakeCtr:
    def __init__(self):
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        assert argv[:3] == ["ctr", "--namespace", "k8s.io"]
        args = argv[3:]
        if args == ["images", "list"]:
            return 0, CTR_LIST, ""
        if args[:2] == ["content", "get"]:
            if args[2] in CONTENT:
                return 0, json.dumps(CONTENT[args[2]]), ""
            return 1, "", "ctr: content digest %s: not found" % args[2]
        if args[:2] in (["images", "tag"], ["images", "remove"], ["images", "import"]):
            return 0, "", ""
        return 1, "", "unexpected %s" % args


def test_containerd_digests_through_content():
    run = FakeCtr()
    engine = ContainerdEngine(["ctr"], "k8s.io", run)
    assert engine.refs()["docker.io/mlstack-test/a:1"] == "sha256:m1"
    assert engine.image_digests("sha256:m1") == {"sha256:m1", "sha256:c1"}
    assert engine.image_digests("sha256:i1") == {"sha256:i1", "sha256:m2", "sha256:m3", "sha256:c2"}
    assert engine.matches("docker.io/mlstack-test/a:1", {"sha256:c1"})
    gets = [argv for argv in run.calls if argv[3:5] == ["content", "get"]]
    engine.image_digests("sha256:m1")
    assert [argv for argv in run.calls if argv[3:5] == ["content", "get"]] == gets  # cached


def test_containerd_find_image_by_target_then_config():
    engine = ContainerdEngine(["ctr"], "k8s.io", FakeCtr())
    assert engine.find_image({"sha256:m1"}) == "docker.io/mlstack-test/a:1"
    assert engine.find_image({"sha256:c2"}) == "docker.io/library/multi:1"
    assert engine.find_image({"sha256:none"}) is None


def test_containerd_commands():
    run = FakeCtr()
    engine = ContainerdEngine(["ctr"], "k8s.io", run)
    engine.load("/x/a.tar")
    engine.tag("docker.io/mlstack-test/a:1", "docker.io/mlstack-test/a:2")
    engine.untag("docker.io/mlstack-test/a:2")
    engine.restore("docker.io/mlstack-test/a:alias", "sha256:m1")
    engine.remove_image("sha256:i1")
    assert [argv[3:] for argv in run.calls if argv[3:5] != ["content", "get"] and argv[3:] != ["images", "list"]] == [
        ["images", "import", "/x/a.tar"],
        ["images", "tag", "--force", "docker.io/mlstack-test/a:1", "docker.io/mlstack-test/a:2"],
        ["images", "remove", "docker.io/mlstack-test/a:2"],
        ["images", "tag", "--force", "docker.io/mlstack-test/a:1", "docker.io/mlstack-test/a:alias"],
        ["images", "remove", "docker.io/library/multi:1"],
    ]
    with pytest.raises(EngineError, match="no other name holds that image"):
        engine.restore("docker.io/library/multi:1", "sha256:i1")


def test_containerd_failure_names_the_command():
    def run(argv):
        return 1, "", "ctr: failed to dial \"/run/containerd/containerd.sock\": connection refused"

    with pytest.raises(EngineError, match="ctr --namespace k8s.io images list failed \\(rc=1\\): ctr: failed to dial"):
        ContainerdEngine(["ctr"], "k8s.io", run)


def _fake_ctr_script(tmp_path, body):
    script = tmp_path / "ctr"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_containerd_streamed_import_through_stdin(tmp_path):
    received = tmp_path / "received"
    script = _fake_ctr_script(tmp_path, 'cat > "%s"\n' % received)
    archive = tmp_path / "a.tar"
    archive.write_bytes(os.urandom(3 * 1024 * 1024))
    engine = ContainerdEngine([script], "k8s.io", lambda argv: (0, "REF TYPE DIGEST\n", ""))
    with HashingReader(str(archive)) as reader:
        engine.load(str(archive), reader)
        assert reader.complete
    assert received.read_bytes() == archive.read_bytes()


def test_containerd_streamed_import_that_stops_reading(tmp_path):
    script = _fake_ctr_script(tmp_path, 'head -c 1000 >/dev/null; echo "ctr: unexpected EOF" >&2; exit 1\n')
    archive = tmp_path / "a.tar"
    archive.write_bytes(os.urandom(4 * 1024 * 1024))
    engine = ContainerdEngine([script], "k8s.io", lambda argv: (0, "REF TYPE DIGEST\n", ""))
    with HashingReader(str(archive)) as reader:
        with pytest.raises(EngineError, match="images import - failed \\(rc=1\\): ctr: unexpected EOF"):
            engine.load(str(archive), reader)
        assert reader.complete  # the rest was still read, so the digest is of the whole file


class RaisingStream:
    """A stream that fails half-way, as a LayoutStream does on a damaged blob."""

    def __init__(self):
        self.drained = False

    def __iter__(self):
        yield b"x" * 70000
        raise ValueError("blob blobs/sha256/abc does not match its digest")

    def drain(self):
        self.drained = True


def test_containerd_stream_that_fails_ends_ctr_and_raises(tmp_path):
    received = tmp_path / "received"
    script = _fake_ctr_script(tmp_path, 'cat > "%s"; echo "ctr: unexpected EOF" >&2; exit 1\n' % received)
    engine = ContainerdEngine([script], "k8s.io", lambda argv: (0, "REF TYPE DIGEST\n", ""))
    with pytest.raises(ValueError, match="does not match its digest"):
        engine.load("/layout", RaisingStream())
    assert received.read_bytes() == b"x" * 70000  # ctr got the cut stream and ended


def test_containerd_discards_only_new_content():
    content = {"before": ["sha256:old"], "after": ["sha256:old", "sha256:new1", "sha256:new2"]}
    state = {"now": "before"}
    calls = []

    def run(argv):
        calls.append(argv[3:])
        if argv[3:] == ["images", "list"]:
            return 0, "REF TYPE DIGEST\n", ""
        if argv[3:] == ["content", "list", "--quiet"]:
            return 0, "".join(line + "\n" for line in content[state["now"]]), ""
        return 0, "", ""

    engine = ContainerdEngine(["ctr"], "k8s.io", run)
    before = engine.content_state()
    assert before == {"sha256:old"}
    state["now"] = "after"
    assert engine.discard_new_content(before) == []
    assert calls[-1] == ["content", "remove", "sha256:new1", "sha256:new2"]
    state["now"] = "before"
    calls.clear()
    engine.discard_new_content(before)
    assert calls == [["content", "list", "--quiet"]]  # nothing new: nothing removed


def test_docker_takes_docker_archives_and_keeps_no_content():
    engine = DockerEngine(client=FakeAPIClient(IMAGES))
    assert engine.wants_docker_archive is True
    assert engine.content_state() is None
    assert ContainerdEngine.wants_docker_archive is False
