# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""bundle_wheels end to end, with uv, pip and the index replaced by the fakes of
test_wheelhouse (no network): changed/unchanged, check mode, diff, errors."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlstack.platform.plugins.modules import bundle_wheels
from ansible_collections.mlstack.platform.tests.unit.plugins.module_utils.test_wheelhouse import (
    UV_UNREACHABLE,
    FakeIndex,
    FakeTools,
    lock_text,
)


@pytest.fixture
def world(tmp_path, monkeypatch):
    index = FakeIndex()
    tools = FakeTools(lock_text(index))
    monkeypatch.setattr(bundle_wheels, "run", tools)
    monkeypatch.setattr(bundle_wheels, "downloader", lambda timeout: index.download)
    uv = tmp_path / "uv"
    uv.write_text("#!/bin/sh\nexit 99\n")
    uv.chmod(0o755)
    args = dict(dest=str(tmp_path / "bundle" / "python" / "debian-bookworm" / "label_studio"),
                requirements=["label-studio==1.23.2"], python_version="3.11.2", uv=str(uv),
                cache_dir=str(tmp_path / "cache"), relative_to=str(tmp_path / "bundle"))
    return index, tools, args


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            bundle_wheels.main()
    return json.loads(capsys.readouterr().out)


def snapshot(directory):
    return {name: os.stat(os.path.join(directory, name)).st_mtime_ns for name in os.listdir(directory)}


def test_first_run_makes_the_wheelhouse_second_run_touches_nothing(capsys, world):
    index, tools, args = world
    result = run_module(capsys, args)
    assert result["changed"] is True and result["resolved"] is True
    assert result["pins"] == ["async-timeout==5.0.1", "label-studio==1.23.2", "oldpkg==0.9"]
    assert result["downloaded"] == 3 and result["built"] == ["oldpkg==0.9"]
    assert [p["action"] for p in result["packages"]] == ["download", "download", "build"]
    assert [f["path"] for f in result["files"]] == [
        "python/debian-bookworm/label_studio/async_timeout-5.0.1-py3-none-any.whl",
        "python/debian-bookworm/label_studio/label_studio-1.23.2-py3-none-any.whl",
        "python/debian-bookworm/label_studio/oldpkg-0.9-py3-none-any.whl",
        "python/debian-bookworm/label_studio/requirements.txt"]
    text = open(result["requirements_file"]).read()
    assert "oldpkg==0.9 \\\n    --hash=sha256:" in text and "# Wheels for Python 3.11.2 on x86_64-manylinux_2_36" in text

    before = snapshot(args["dest"])
    calls, downloads = len(tools.calls), len(index.downloads)
    again = run_module(capsys, args)
    assert again["changed"] is False and again["resolved"] is False and again["downloaded"] == 0
    assert again["pins"] == result["pins"] and again["files"] == result["files"]
    assert {p["action"] for p in again["packages"]} == {"present"}
    assert (len(tools.calls), len(index.downloads)) == (calls, downloads)
    assert snapshot(args["dest"]) == before


def test_a_new_dest_from_a_warm_cache_fetches_nothing(capsys, world, tmp_path):
    index, tools, args = world
    run_module(capsys, args)
    calls, downloads = len(tools.calls), len(index.downloads)
    result = run_module(capsys, dict(args, dest=str(tmp_path / "elsewhere")))
    assert result["changed"] is True and result["downloaded"] == 0 and result["resolved"] is False
    assert {p["action"] for p in result["packages"]} == {"cached"}
    assert (len(tools.calls), len(index.downloads)) == (calls, downloads)


def test_a_damaged_dest_is_made_again_from_the_cache(capsys, world):
    index, _tools, args = world
    run_module(capsys, args)
    wheel = os.path.join(args["dest"], "oldpkg-0.9-py3-none-any.whl")
    os.unlink(wheel)
    with open(wheel, "wb") as stream:
        stream.write(b"damaged")
    result = run_module(capsys, args)
    assert result["changed"] is True and result["downloaded"] == 0
    assert open(wheel, "rb").read() == b"built from oldpkg-0.9.tar.gz"


def test_refresh_with_the_same_resolution_changes_nothing(capsys, world):
    _index, tools, args = world
    run_module(capsys, args)
    before = snapshot(args["dest"])
    result = run_module(capsys, dict(args, refresh=True))
    assert result["changed"] is False and result["resolved"] is True
    assert len(tools.commands("uv")) == 2 and snapshot(args["dest"]) == before


def test_check_mode_reports_and_writes_nothing(capsys, world, tmp_path):
    index, _tools, args = world
    result = run_module(capsys, dict(args, _ansible_check_mode=True, _ansible_diff=True))
    assert result["changed"] is True
    assert [p["action"] for p in result["packages"]] == ["download", "download", "build"]
    assert result["diff"]["before"] == ""
    assert "label-studio==1.23.2 label_studio-1.23.2-py3-none-any.whl\n" in result["diff"]["after"]
    assert not os.path.exists(args["dest"]) and index.downloads == []
    assert not os.path.exists(tmp_path / "cache" / "locks")
    run_module(capsys, args)
    result = run_module(capsys, dict(args, _ansible_check_mode=True))
    assert result["changed"] is False


def test_new_requirements_rewrite_dest_and_keep_the_cache(capsys, world):
    index, _tools, args = world
    run_module(capsys, args)
    downloads = len(index.downloads)
    result = run_module(capsys, dict(args, requirements=["label-studio==1.23.2", "oldpkg==0.9"],
                                     _ansible_diff=True))
    assert result["changed"] is True and result["resolved"] is True and result["downloaded"] == 0
    assert len(index.downloads) == downloads


@pytest.mark.parametrize("override, message", [
    (dict(python_version="3.11"), "python_version '3.11' is not an exact version"),
    (dict(platform="x86_64-linux"), "platform 'x86_64-linux' is not"),
    (dict(requirements=[]), "requirements is empty"),
    (dict(uv="/nonexistent/uv"), "uv: /nonexistent/uv is not an executable file"),
])
def test_bad_input_fails_before_anything_changes(capsys, world, override, message):
    index, tools, args = world
    result = run_module(capsys, dict(args, **override))
    assert result["failed"] is True and message in result["msg"]
    assert not os.path.exists(args["dest"]) and tools.calls == [] and index.downloads == []


def test_dest_that_is_a_file_is_refused(capsys, world, tmp_path):
    _index, _tools, args = world
    (tmp_path / "afile").write_text("x")
    result = run_module(capsys, dict(args, dest=str(tmp_path / "afile")))
    assert result["msg"] == "dest: %s exists and is not a directory" % (tmp_path / "afile")


def test_unreachable_index_is_named_and_dest_is_left_alone(capsys, world):
    _index, tools, args = world
    run_module(capsys, args)
    before = snapshot(args["dest"])
    tools.uv_result = (2, UV_UNREACHABLE)
    result = run_module(capsys, dict(args, requirements=["ansible-core==2.19.14"],
                                     index_url="http://127.0.0.1:9/simple"))
    assert result["failed"] is True
    assert result["msg"].startswith("cannot reach the package index http://127.0.0.1:9/simple")
    assert snapshot(args["dest"]) == before


def test_uv_is_found_next_to_the_python_then_on_path(capsys, world, tmp_path, monkeypatch):
    _index, _tools, args = world
    args = dict(args)
    del args["uv"]
    monkeypatch.setattr(bundle_wheels.sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = run_module(capsys, args)
    assert result["msg"] == ("uv is not next to {0} nor on PATH: install it with '{0} -m pip install uv' "
                             "(PyPI package uv), or set the option uv".format(tmp_path / "venv" / "bin" / "python"))
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "uv").rename(tmp_path / "venv" / "bin" / "uv")
    assert run_module(capsys, args)["changed"] is True


def test_documentation_matches_the_argument_spec():
    import yaml

    for block in (bundle_wheels.DOCUMENTATION, bundle_wheels.EXAMPLES, bundle_wheels.RETURN):
        assert yaml.safe_load(block)
    options = yaml.safe_load(bundle_wheels.DOCUMENTATION)["options"]
    assert set(options) == set(bundle_wheels.ARGUMENT_SPEC)
    for name, spec in bundle_wheels.ARGUMENT_SPEC.items():
        assert (options[name]["type"], options[name].get("default"), options[name].get("required", False)) == \
            (spec["type"], spec.get("default"), spec.get("required", False)), name


def test_several_wheelhouses_in_one_run(capsys, world, tmp_path):
    """wheelhouses: each made as a single run makes it, in order; a re-run changes none."""
    index, tools, args = world
    other = str(tmp_path / "bundle" / "controller" / "wheels")
    common = {k: v for k, v in args.items() if k not in ("dest", "requirements", "python_version")}
    houses = [dict(dest=args["dest"], requirements=args["requirements"], python_version="3.11.2"),
              dict(dest=other, requirements=args["requirements"], python_version="3.11.2")]
    first = run_module(capsys, dict(common, wheelhouses=houses))
    assert first["changed"] is True and [r["dest"] for r in first["wheelhouses"]] == [args["dest"], other]
    assert [r["changed"] for r in first["wheelhouses"]] == [True, True]
    assert first["wheelhouses"][1]["downloaded"] == 0  # the second came from the cache the first filled
    assert [f["path"] for f in first["wheelhouses"][1]["files"]][0] == "controller/wheels/async_timeout-5.0.1-py3-none-any.whl"
    single = run_module(capsys, args)
    assert single["changed"] is False
    again = run_module(capsys, dict(common, wheelhouses=houses))
    assert again["changed"] is False and [r["changed"] for r in again["wheelhouses"]] == [False, False]
    assert again["wheelhouses"][0]["pins"] == single["pins"]


def test_a_failing_wheelhouse_is_named_with_its_number(capsys, world, tmp_path):
    index, tools, args = world
    common = {k: v for k, v in args.items() if k not in ("dest", "requirements", "python_version")}
    bad = str(tmp_path / "bad")
    houses = [dict(dest=args["dest"], requirements=args["requirements"], python_version="3.11.2"),
              dict(dest=bad, requirements=args["requirements"], python_version="3.11")]
    result = run_module(capsys, dict(common, wheelhouses=houses))
    assert result["failed"] is True and result["msg"].startswith("wheelhouses[2] (%s): " % bad)
    assert "python_version '3.11' is not an exact version" in result["msg"]
    assert result["changed"] is True and result["wheelhouses"][0]["changed"] is True
    assert not os.path.exists(bad)


@pytest.mark.parametrize("override, message", [
    (dict(wheelhouses=[]), "mutually exclusive"),
    (dict(dest=None, requirements=None, python_version=None), "one of the following is required"),
    (dict(python_version=None), "parameters are required together"),
])
def test_wheelhouses_or_one_dest(capsys, world, override, message):
    index, tools, args = world
    result = run_module(capsys, {k: v for k, v in dict(args, **override).items() if v is not None})
    assert result["failed"] is True and message in result["msg"], result["msg"]
