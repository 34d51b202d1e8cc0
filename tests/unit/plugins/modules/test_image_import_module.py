# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The module end to end, with the engine replaced by the in-memory one."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlstack.platform.plugins.modules import image_import


def run_module(capsys, monkeypatch, args, engine=None):
    if engine is not None:
        monkeypatch.setattr(image_import, "connect", lambda module: engine)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            image_import.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def setup(archives, fake_engine):
    a = archives.image("a", ["mlstack-test/a:1"])
    b = archives.image("b", ["mlstack-test/b:1"])
    archives.docker_save("a.tar", [a])
    archives.oci("b.tar", [b])
    return archives, fake_engine(), a, b


def test_first_run_loads_second_run_is_unchanged(capsys, monkeypatch, setup):
    archives, engine, a, b = setup
    args = {"paths": [archives.directory]}
    result = run_module(capsys, monkeypatch, args, engine)
    assert result["changed"] is True
    assert [(i["archive"].rsplit("/", 1)[1], i["id"], i["tags"], i["status"]) for i in result["images"]] == [
        ("a.tar", a.id, ["docker.io/mlstack-test/a:1"], "loaded"),
        ("b.tar", b.id, ["docker.io/mlstack-test/b:1"], "loaded"),
    ]
    assert [arch["format"] for arch in result["archives"]] == ["docker-save", "oci"]
    loads = len(engine.changes)
    result = run_module(capsys, monkeypatch, args, engine)
    assert result["changed"] is False
    assert {i["status"] for i in result["images"]} == {"present"}
    assert len(engine.changes) == loads


def test_check_mode_reports_without_loading(capsys, monkeypatch, setup):
    archives, engine, a, _b = setup
    result = run_module(capsys, monkeypatch, {"paths": [archives.path("a.tar")], "_ansible_check_mode": True,
                                              "_ansible_diff": True}, engine)
    assert result["changed"] is True
    assert result["images"][0]["status"] == "loaded"
    assert engine.changes == []
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"] == "docker.io/mlstack-test/a:1 %s\n" % a.id


def test_diff_after_retag(capsys, monkeypatch, setup, fake_engine):
    archives, _engine, a, _b = setup
    engine = fake_engine({"docker.io/mlstack-test/a:1": "sha256:older"}, ids=[a.id])
    result = run_module(capsys, monkeypatch, {"paths": [archives.path("a.tar")], "_ansible_diff": True}, engine)
    assert result["images"][0]["status"] == "retagged"
    assert result["diff"]["before"] == "docker.io/mlstack-test/a:1 sha256:older\n"
    assert result["diff"]["after"] == "docker.io/mlstack-test/a:1 %s\n" % a.id
    assert "diff" not in run_module(capsys, monkeypatch, {"paths": [archives.path("a.tar")]}, engine)


def test_checksum_mismatch_fails_and_loads_nothing(capsys, monkeypatch, setup):
    archives, engine, _a, _b = setup
    result = run_module(capsys, monkeypatch, {"archives": [
        {"path": archives.path("a.tar"), "sha256": archives.sha256(archives.path("a.tar"))},
        {"path": archives.path("b.tar"), "sha256": "1" * 64}]}, engine)
    assert result["failed"] is True
    assert "b.tar: sha256 mismatch" in result["msg"]
    assert engine.changes == []


def test_checksums_from_sha256sums(capsys, monkeypatch, setup, tmp_path):
    archives, engine, _a, _b = setup
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("".join("%s  %s\n" % (archives.sha256(archives.path(n)), n) for n in ("a.tar", "b.tar")))
    result = run_module(capsys, monkeypatch, {"paths": [archives.directory], "sha256sums": str(sums)}, engine)
    assert result["changed"] is True
    assert [arch["sha256_verified"] for arch in result["archives"]] == [True, True]


def test_corrupt_archive_fails_naming_the_file(capsys, monkeypatch, setup):
    archives, engine, _a, _b = setup
    archives.truncate(archives.path("a.tar"), 3000)
    result = run_module(capsys, monkeypatch, {"paths": [archives.directory]}, engine)
    assert result["failed"] is True
    assert result["msg"].startswith("image archive %s: truncated" % archives.path("a.tar"))
    assert engine.changes == []


def test_requested_tag_missing(capsys, monkeypatch, setup):
    archives, engine, _a, _b = setup
    result = run_module(capsys, monkeypatch, {"archives": [
        {"path": archives.path("a.tar"), "images": ["mlstack-test/a:1", "mlstack-test/a:2"]}]}, engine)
    assert result["failed"] is True
    assert result["msg"] == ("image archive %s: it does not contain docker.io/mlstack-test/a:2 (it holds: "
                             "docker.io/mlstack-test/a:1)" % archives.path("a.tar"))


def test_engine_failure_names_engine_and_archive(capsys, monkeypatch, setup):
    archives, engine, _a, _b = setup
    engine.fail_load_after_images = 0
    result = run_module(capsys, monkeypatch, {"paths": [archives.path("a.tar")]}, engine)
    assert result["failed"] is True
    assert result["msg"] == ("image archive %s: loading into fake failed: archive/tar: invalid tar header"
                             % archives.path("a.tar"))


def test_failure_on_a_later_archive_names_what_was_imported(capsys, monkeypatch, setup):
    archives, engine, a, _b = setup
    load = engine.load

    def load_failing_on_b(path, reader=None):
        if path.endswith("b.tar"):
            engine.fail_load_after_images = 0
        return load(path, reader)

    monkeypatch.setattr(engine, "load", load_failing_on_b)
    result = run_module(capsys, monkeypatch, {"paths": [archives.directory]}, engine)
    assert result["failed"] is True
    assert result["msg"].startswith("image archive %s: loading into fake failed" % archives.path("b.tar"))
    assert result["msg"].endswith("imported completely before the failure: %s" % archives.path("a.tar"))
    assert engine.find_image({a.id}) == a.id


def test_paths_or_archives_required(capsys, monkeypatch):
    result = run_module(capsys, monkeypatch, {})
    assert result["failed"] is True
    assert "one of the following is required: paths, archives" in result["msg"]


def test_missing_docker_sdk(capsys, monkeypatch, setup):
    archives, _engine, _a, _b = setup
    monkeypatch.setattr(image_import, "HAS_DOCKER", False)
    result = run_module(capsys, monkeypatch, {"paths": [archives.path("a.tar")]})
    assert result["failed"] is True
    assert "docker (Docker SDK for Python)" in result["msg"]


def test_unreachable_docker_engine(capsys, monkeypatch, setup, tmp_path):
    archives, _engine, _a, _b = setup
    pytest.importorskip("docker")
    result = run_module(capsys, monkeypatch, {"paths": [archives.path("a.tar")],
                                              "docker_host": "unix://%s/nothing.sock" % tmp_path})
    assert result["failed"] is True
    assert result["msg"].startswith("docker engine: cannot ")
    assert "nothing.sock" in result["msg"]
    assert result["msg"].endswith("nothing was imported from %s" % archives.path("a.tar"))


def test_containerd_command_line(monkeypatch):
    seen = {}

    class Module:
        params = {"engine": "containerd", "ctr_path": "/usr/bin/ctr", "containerd_address": "/tmp/c.sock",
                  "containerd_namespace": "k8s.io"}

        def run_command(self, argv):
            seen.setdefault("argv", argv)
            return 0, "REF TYPE DIGEST\n", ""

    image_import.connect(Module())
    assert seen["argv"] == ["/usr/bin/ctr", "--address", "/tmp/c.sock", "--namespace", "k8s.io", "images", "list"]
    Module.params = dict(Module.params, engine="microk8s", ctr_path="/snap/bin/microk8s")
    seen.clear()
    image_import.connect(Module())
    assert seen["argv"] == ["/snap/bin/microk8s", "ctr", "--namespace", "k8s.io", "images", "list"]


@pytest.fixture
def layout(tmp_path):
    from oci_fixtures import OciImage, layer, write_layout
    base = layer("base")
    images = [OciImage("docker.io/mlstack-lab/debian:bookworm", "debian", shared=base),
              OciImage("docker.io/mlstack-lab/registry:2.8", "registry", shared=base)]
    return str(tmp_path / "oci"), images, write_layout(str(tmp_path / "oci"), images)


def test_layout_images_check_mode_then_load_then_present(capsys, monkeypatch, layout, fake_engine):
    path, images, dummy = layout
    engine = fake_engine()
    loaded = []
    engine.load = lambda archive_path, reader=None: loaded.append((archive_path, reader is not None and len(reader)))
    args = {"layout": path, "images": ["mlstack-lab/registry:2.8"]}
    result = run_module(capsys, monkeypatch, dict(args, _ansible_check_mode=True), engine)
    assert result["changed"] is True and loaded == []
    assert [(i["tags"], i["status"]) for i in result["images"]] == [(["docker.io/mlstack-lab/registry:2.8"], "loaded")]
    assert result["archives"][0]["format"] == "oci-layout"


def test_layout_unknown_image_is_named(capsys, monkeypatch, layout, fake_engine):
    path = layout[0]
    result = run_module(capsys, monkeypatch, {"layout": path, "images": ["quay.io/minio/minio:1"]}, fake_engine())
    assert result["failed"] is True
    assert result["msg"].startswith("image layout %s: index.json has no image quay.io/minio/minio:1 (it holds: "
                                    "docker.io/mlstack-lab/debian:bookworm, docker.io/mlstack-lab/registry:2.8)" % path)


def test_images_need_a_layout(capsys, monkeypatch, setup):
    archives = setup[0]
    result = run_module(capsys, monkeypatch, {"paths": [archives.directory], "images": ["a:1"]}, setup[1])
    assert result["failed"] is True
    assert "images" in result["msg"] and "layout" in result["msg"]


def test_failure_after_a_complete_import_reports_changed(capsys, monkeypatch, setup):
    archives, engine, a, _b = setup
    load = engine.load

    def load_failing_on_b(path, reader=None):
        if path.endswith("b.tar"):
            engine.fail_load_after_images = 0
        return load(path, reader)

    monkeypatch.setattr(engine, "load", load_failing_on_b)
    result = run_module(capsys, monkeypatch, {"paths": [archives.directory]}, engine)
    assert result["failed"] is True
    assert result["changed"] is True


def test_failure_with_nothing_imported_reports_unchanged(capsys, monkeypatch, setup):
    archives, engine, _a, _b = setup
    engine.fail_load_after_images = 0
    result = run_module(capsys, monkeypatch, {"paths": [archives.path("a.tar")]}, engine)
    assert result["failed"] is True
    assert result["changed"] is False
