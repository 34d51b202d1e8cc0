# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The wheelhouse logic without a network: uv and pip are replaced by callables that do
what they do (write the pylock.toml, write the built wheel), downloads by a dict of bytes."""

from __future__ import annotations

import hashlib
import os
import typing as t

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils import _wheelhouse as wh

TARGET = wh.parse_target("3.11.2", "x86_64-manylinux_2_36")
INDEX = "https://pypi.org/simple"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeIndex:
    """Files by URL; a pylock.toml (PEP 751, as uv 0.13 writes it) for them."""

    BASE = "https://files.example.org/packages/"

    def __init__(self) -> None:
        self.files: t.Dict[str, bytes] = {}
        self.downloads: t.List[str] = []

    def add(self, filename: str, data: t.Optional[bytes] = None) -> str:
        data = data if data is not None else ("contents of %s" % filename).encode()
        self.files[self.BASE + filename] = data
        return '{ url = "%s%s", size = %d, hashes = { sha256 = "%s" } }' % (self.BASE, filename, len(data), sha(data))

    def download(self, url: str, path: str) -> None:
        self.downloads.append(url)
        if url not in self.files:
            raise wh.WheelhouseError("cannot download %s: HTTP Error 404: Not Found" % url)
        with open(path, "wb") as stream:
            stream.write(self.files[url])


def lock_text(index: FakeIndex) -> str:
    return """lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.11.2"

[[packages]]
name = "Label_Studio"
version = "1.23.2"
wheels = [%s]

[[packages]]
name = "async-timeout"
version = "5.0.1"
marker = "python_full_version < '3.11.3'"
sdist = %s
wheels = [%s]

[[packages]]
name = "oldpkg"
version = "0.9"
sdist = %s
""" % (index.add("label_studio-1.23.2-py3-none-any.whl"), index.add("async_timeout-5.0.1.tar.gz"),
       index.add("async_timeout-5.0.1-py3-none-any.whl"), index.add("oldpkg-0.9.tar.gz"))


class FakeTools:
    """uv pip compile writes LOCK to --output-file; pip wheel writes a wheel into --wheel-dir."""

    def __init__(self, lock: str, built_name: str = "oldpkg-0.9-py3-none-any.whl") -> None:
        self.lock = lock
        self.built_name = built_name
        self.calls: t.List[t.Tuple[t.List[str], t.Optional[t.Dict[str, str]]]] = []
        self.uv_result: t.Tuple[int, str] = (0, "")

    def __call__(self, argv: t.List[str], env: t.Optional[t.Dict[str, str]]) -> t.Tuple[int, str, str]:
        self.calls.append((argv, env))
        if argv[1:3] == ["pip", "compile"]:
            if self.uv_result[0]:
                return self.uv_result[0], "", self.uv_result[1]
            with open(argv[argv.index("--output-file") + 1], "w", encoding="utf-8") as stream:
                stream.write(self.lock)
            return 0, "", ""
        assert argv[1:4] == ["-m", "pip", "wheel"]
        with open(os.path.join(argv[argv.index("--wheel-dir") + 1], self.built_name), "wb") as stream:
            stream.write(b"built from " + os.path.basename(argv[-1]).encode())
        return 0, "", ""

    def commands(self, kind: str) -> t.List[t.List[str]]:
        return [argv for argv, _env in self.calls if (argv[1:3] == ["pip", "compile"]) == (kind == "uv")]


def builder(tmp_path, index: FakeIndex, tools: FakeTools, requirements=("label-studio==1.23.2",),
            environ=None) -> wh.WheelhouseBuilder:
    spec = wh.WheelhouseSpec(TARGET, list(requirements), INDEX, ["https://mirror.example.com/simple"])
    return wh.WheelhouseBuilder(spec, wh.WheelCache(str(tmp_path / "cache")), "/opt/uv/bin/uv", "/usr/bin/python3",
                                tools, index.download, environ or {"PIP_FIND_LINKS": "/opt/wheels", "HOME": "/root"},
                                "x86_64", (2, 36), parallel=2)


# --- inputs ------------------------------------------------------------------------------

@pytest.mark.parametrize("version, platform, message", [
    ("3.11", "x86_64-manylinux_2_36", "python_version '3.11' is not an exact version"),
    ("3.11.2", "linux", "platform 'linux' is not ARCH-manylinux_MAJOR_MINOR"),
    ("3.11.2", "armv7-manylinux_2_36", "platform 'armv7-manylinux_2_36'"),
])
def test_bad_target_is_named(version, platform, message):
    with pytest.raises(wh.WheelhouseError, match=message):
        wh.parse_target(version, platform)


def test_target_parts():
    target = wh.parse_target("3.12.3", "aarch64-manylinux_2_39")
    assert (target.python, target.arch, target.glibc) == ((3, 12, 3), "aarch64", (2, 39))
    assert wh.parse_target("3.11.2", "x86_64-manylinux2014").glibc == (2, 17)


@pytest.mark.parametrize("requirements", [[], [""], ["--index-url=https://x"], ["a==1\nb==2"]])
def test_bad_requirements_are_refused(requirements):
    with pytest.raises(wh.WheelhouseError, match="requirements"):
        wh.check_requirements(requirements)


def test_inputs_key_depends_on_every_input_but_not_on_order():
    key = wh.inputs_key(["a==1", "b==2"], TARGET, INDEX, [])
    assert key == wh.inputs_key(["b==2", "a==1"], TARGET, INDEX, [])
    assert key != wh.inputs_key(["a==1", "b==2"], wh.parse_target("3.11.7", "x86_64-manylinux_2_36"), INDEX, [])
    assert key != wh.inputs_key(["a==1", "b==2"], TARGET, "https://mirror/simple", [])
    assert key != wh.inputs_key(["a==1", "b==2"], TARGET, INDEX, ["https://extra/simple"])
    assert key != wh.inputs_key(["a==1"], TARGET, INDEX, [])


# --- command lines -----------------------------------------------------------------------

def test_uv_command_resolves_for_the_target_and_ignores_uv_config():
    argv = wh.uv_compile_argv("/venv/bin/uv", "/w/requirements.in", "/w/pylock.toml", TARGET, INDEX,
                              ["https://a/simple", "https://b/simple"], "/cache/uv")
    assert argv == ["/venv/bin/uv", "pip", "compile", "/w/requirements.in", "--output-file", "/w/pylock.toml",
                    "--format", "pylock.toml", "--python-version", "3.11.2", "--python-platform",
                    "x86_64-manylinux_2_36", "--no-config", "--quiet", "--no-header", "--cache-dir", "/cache/uv",
                    "--index-url", INDEX, "--extra-index-url", "https://a/simple",
                    "--extra-index-url", "https://b/simple"]


def test_pip_command_builds_one_sdist_without_dependencies():
    argv = wh.pip_wheel_argv("/usr/bin/python3", "/w/x/oldpkg-0.9.tar.gz", "/w/x/wheel", INDEX, ["https://a/simple"])
    assert argv == ["/usr/bin/python3", "-m", "pip", "wheel", "--no-deps", "--isolated",
                    "--disable-pip-version-check", "--no-cache-dir", "--wheel-dir", "/w/x/wheel",
                    "--index-url", INDEX, "--extra-index-url", "https://a/simple", "/w/x/oldpkg-0.9.tar.gz"]


def test_pip_environment_drops_the_machines_pip_settings():
    env = wh.pip_environment({"PIP_FIND_LINKS": "/opt/wheels", "PIP_CONSTRAINT": "/etc/c.txt", "HOME": "/root",
                              "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"})
    assert env == {"HOME": "/root", "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
                   "PIP_CONFIG_FILE": os.devnull}


# uv 0.13.9's own messages, captured on this machine.
UV_UNRESOLVABLE = ("  x No solution found when resolving dependencies:\n"
                   "  `-> Because label-studio==99.0 was not found in the package registry and you require "
                   "label-studio==99.0, we can conclude that your requirements are unsatisfiable.\n")
UV_UNREACHABLE = ("error: Request failed after 3 retries in 5.1s\n"
                  "  cause: Failed to fetch: http://127.0.0.1:9/simple/ansible-core/\n"
                  "  cause: error sending request for url (http://127.0.0.1:9/simple/ansible-core/)\n"
                  "  cause: client error (Connect)\n")


def test_unresolvable_requirement_names_it_and_the_target_python():
    message = wh.explain_uv_failure(UV_UNRESOLVABLE, ["ansible==12.3.0", "label-studio==99.0"], TARGET, [INDEX])
    assert message.startswith("cannot resolve label-studio==99.0 for Python 3.11.2 on x86_64-manylinux_2_36 (uv: ")
    assert "ansible==12.3.0" not in message.split(" (uv")[0]


def test_unreachable_index_names_its_url():
    message = wh.explain_uv_failure(UV_UNREACHABLE, ["ansible-core==2.19.14"], TARGET,
                                    [INDEX, "http://127.0.0.1:9/simple"])
    assert message.startswith("cannot reach the package index http://127.0.0.1:9/simple (uv: ")


# --- the resolution and the choice of files ------------------------------------------------

def test_parse_lock_reads_packages_wheels_and_sdists():
    index = FakeIndex()
    packages = wh.parse_lock(lock_text(index), "lock")
    assert [(p.name, p.version, len(p.wheels), p.sdist is not None) for p in packages] == [
        ("label-studio", "1.23.2", 1, False), ("async-timeout", "5.0.1", 1, True), ("oldpkg", "0.9", 0, True)]
    assert packages[2].sdist.filename == "oldpkg-0.9.tar.gz"
    assert packages[2].sdist.sha256 == sha(index.files[FakeIndex.BASE + "oldpkg-0.9.tar.gz"])


def test_parse_lock_refuses_sources_that_are_not_index_files():
    text = '[[packages]]\nname = "mine"\nversion = "1.0"\nvcs = { type = "git", url = "https://git/x" }\n'
    with pytest.raises(wh.WheelhouseError, match="lock: mine 1.0 comes from a vcs"):
        wh.parse_lock(text, "lock")
    with pytest.raises(wh.WheelhouseError, match="not a pylock.toml"):
        wh.parse_lock("[[packages]\n", "lock")


CRYPTOGRAPHY_WHEELS = [  # cryptography 50.0.2's x86_64 Linux wheels, as uv listed them
    "cryptography-50.0.2-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    "cryptography-50.0.2-cp311-abi3-manylinux_2_28_x86_64.whl",
    "cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl",
    "cryptography-50.0.2-cp39-abi3-manylinux_2_34_x86_64.whl",
    "cryptography-50.0.2-cp311-abi3-manylinux_2_39_x86_64.whl",  # too new a glibc for Debian 12
    "cryptography-50.0.2-cp311-abi3-musllinux_1_2_x86_64.whl",
]


def package(name, wheels, sdist=None):
    return wh.Package(name, "1.0", [wh.Dist(w, "https://f/" + w, "0" * 64) for w in wheels],
                      wh.Dist(sdist, "https://f/" + sdist, "1" * 64) if sdist else None)


def test_best_wheel_is_the_newest_abi_and_glibc_the_target_has():
    chosen = wh.choose_source(package("cryptography", CRYPTOGRAPHY_WHEELS), TARGET)
    assert chosen.filename == "cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl"


def test_exact_abi_beats_abi3_and_pure_python():
    chosen = wh.choose_source(package("x", ["x-1.0-py3-none-any.whl", "x-1.0-cp38-abi3-manylinux_2_17_x86_64.whl",
                                            "x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"]), TARGET)
    assert chosen.filename == "x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"


@pytest.mark.parametrize("filename", [
    "x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",   # another Python
    "x-1.0-cp311-cp311-manylinux_2_17_aarch64.whl",  # another architecture
    "x-1.0-cp311-cp311-manylinux_2_38_x86_64.whl",   # a newer glibc than 2.36
    "x-1.0-py2-none-any.whl",
    "x-1.0-cp312-abi3-manylinux_2_17_x86_64.whl",    # abi3 from a newer Python
])
def test_wheels_that_do_not_fit_the_target_are_not_taken(filename):
    assert wh.wheel_rank(filename, TARGET) is None
    assert wh.choose_source(package("x", [filename], "x-1.0.tar.gz"), TARGET).filename == "x-1.0.tar.gz"


def test_a_pin_without_wheel_or_sdist_names_it_and_the_target():
    with pytest.raises(wh.WheelhouseError, match=r"x==1.0 has no wheel for Python 3.11.2 on x86_64-manylinux_2_36"):
        wh.choose_source(package("x", ["x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"]), TARGET)


def test_built_wheels_must_fit_the_target():
    oldpkg = package("oldpkg", [], "oldpkg-0.9.tar.gz")
    wh.check_built_wheel("oldpkg-0.9-py3-none-any.whl", oldpkg, TARGET, "x86_64", (2, 36))
    wh.check_built_wheel("oldpkg-0.9-cp311-cp311-linux_x86_64.whl", oldpkg, TARGET, "x86_64", (2, 36))
    with pytest.raises(wh.WheelhouseError, match="does not fit Python 3.11.2.*build_python"):
        wh.check_built_wheel("oldpkg-0.9-cp312-cp312-linux_x86_64.whl", oldpkg, TARGET, "x86_64", (2, 36))
    with pytest.raises(wh.WheelhouseError, match="glibc 2.39"):
        wh.check_built_wheel("oldpkg-0.9-cp311-cp311-linux_x86_64.whl", oldpkg, TARGET, "x86_64", (2, 39))
    with pytest.raises(wh.WheelhouseError, match="another project"):
        wh.check_built_wheel("other-0.9-py3-none-any.whl", oldpkg, TARGET, "x86_64", (2, 36))


# --- requirements.txt and the incremental decision -----------------------------------------

def make_dest(tmp_path, key="k" * 64, files=None) -> t.Tuple[str, t.List[wh.Wheel]]:
    dest = tmp_path / "dest"
    dest.mkdir()
    wheels = []
    for name, data in (files or {"a-1.0-py3-none-any.whl": b"aaaa", "b_c-2.0-py3-none-any.whl": b"bb"}).items():
        (dest / name).write_bytes(data)
        project, version = name.split("-")[:2]
        wheels.append(wh.Wheel(wh.normalize_name(project), version, name, sha(data), len(data)))
    (dest / "requirements.txt").write_text(wh.render_requirements(key, TARGET, ["a==1.0"], wheels))
    return str(dest), wheels


def test_requirements_round_trip_with_hashes(tmp_path):
    dest, wheels = make_dest(tmp_path)
    text = open(os.path.join(dest, "requirements.txt")).read()
    assert "b-c==2.0 \\\n    --hash=sha256:%s\n" % sha(b"bb") in text
    assert wh.parse_requirements(text) == ("k" * 64, wheels)


def test_current_dest_is_recognised(tmp_path):
    dest, wheels = make_dest(tmp_path)
    assert wh.current_wheels(dest, "k" * 64, "sha256") == (wheels, "current")


def test_other_inputs_mean_not_current(tmp_path):
    dest, dummy = make_dest(tmp_path)
    assert wh.current_wheels(dest, "x" * 64, "sha256")[0] is None


def test_a_missing_or_extra_file_means_not_current(tmp_path):
    dest, dummy = make_dest(tmp_path)
    open(os.path.join(dest, "stray.whl"), "w").close()
    wheels, why = wh.current_wheels(dest, "k" * 64, "size")
    assert wheels is None and "stray.whl" in why
    os.unlink(os.path.join(dest, "stray.whl"))
    os.unlink(os.path.join(dest, "a-1.0-py3-none-any.whl"))
    assert wh.current_wheels(dest, "k" * 64, "size")[0] is None


def test_same_size_other_bytes_is_caught_by_sha256_only(tmp_path):
    dest, dummy = make_dest(tmp_path)
    with open(os.path.join(dest, "a-1.0-py3-none-any.whl"), "wb") as stream:
        stream.write(b"AAAA")
    assert wh.current_wheels(dest, "k" * 64, "size")[0] is not None
    wheels, why = wh.current_wheels(dest, "k" * 64, "sha256")
    assert wheels is None and "a-1.0-py3-none-any.whl does not match" in why


def test_stage_replaces_dest_whole_and_a_failure_leaves_it_as_it_was(tmp_path):
    dest, old = make_dest(tmp_path)
    source = tmp_path / "c-3.0-py3-none-any.whl"
    source.write_bytes(b"ccc")
    new = [wh.Wheel("c", "3.0", source.name, sha(b"ccc"), 3, path=str(source))]
    broken = new + [wh.Wheel("d", "1.0", "d-1.0-py3-none-any.whl", "0" * 64, 1, path=str(tmp_path / "absent"))]
    with pytest.raises(OSError):
        wh.stage(dest, "text\n", broken)
    assert sorted(os.listdir(dest)) == sorted([w.filename for w in old] + ["requirements.txt"])
    assert [name for name in os.listdir(tmp_path) if name.startswith(".dest.")] == []
    wh.stage(dest, "text\n", new)
    assert sorted(os.listdir(dest)) == ["c-3.0-py3-none-any.whl", "requirements.txt"]
    assert os.stat(os.path.join(dest, source.name)).st_ino == source.stat().st_ino  # a hard link
    assert sorted(os.listdir(tmp_path)) == sorted(["c-3.0-py3-none-any.whl", "dest"])


def test_relative_files_for_the_manifest(tmp_path):
    dest, wheels = make_dest(tmp_path)
    files = wh.relative_files(dest, str(tmp_path), wheels)
    assert [f["path"] for f in files] == ["dest/a-1.0-py3-none-any.whl", "dest/b_c-2.0-py3-none-any.whl",
                                          "dest/requirements.txt"]
    assert files[0] == {"path": "dest/a-1.0-py3-none-any.whl", "size": 4, "sha256": sha(b"aaaa")}


# --- resolve, fetch, build, cache -------------------------------------------------------------

def test_first_build_downloads_wheels_and_builds_sdists_then_the_cache_answers(tmp_path):
    index = FakeIndex()
    tools = FakeTools(lock_text(index))
    first = builder(tmp_path, index, tools)
    packages, resolved = first.resolve(refresh=False, save=True)
    assert resolved is True
    steps = first.plan(packages)
    assert [(s.package.name, s.action, s.source.filename) for s in steps] == [
        ("label-studio", "download", "label_studio-1.23.2-py3-none-any.whl"),
        ("async-timeout", "download", "async_timeout-5.0.1-py3-none-any.whl"),
        ("oldpkg", "build", "oldpkg-0.9.tar.gz")]
    wheels = first.fetch(steps)
    assert [w.filename for w in wheels] == ["label_studio-1.23.2-py3-none-any.whl",
                                            "async_timeout-5.0.1-py3-none-any.whl", "oldpkg-0.9-py3-none-any.whl"]
    assert [w.built for w in wheels] == [False, False, True]
    assert sorted(os.path.basename(u) for u in index.downloads) == [
        "async_timeout-5.0.1-py3-none-any.whl", "label_studio-1.23.2-py3-none-any.whl", "oldpkg-0.9.tar.gz"]
    (pip_argv,) = tools.commands("pip")
    assert pip_argv[-1].endswith("/oldpkg-0.9.tar.gz")
    assert tools.calls[-1][1]["PIP_CONFIG_FILE"] == os.devnull and "PIP_FIND_LINKS" not in tools.calls[-1][1]
    assert wheels[2].sha256 == sha(b"built from oldpkg-0.9.tar.gz")

    index.downloads.clear()
    second = builder(tmp_path, index, tools)
    packages, resolved = second.resolve(refresh=False, save=True)
    assert resolved is False and len(tools.commands("uv")) == 1  # the cached resolution
    steps = second.plan(packages)
    assert {s.action for s in steps} == {"cached"}
    assert second.fetch(steps) == wheels
    assert index.downloads == [] and len(tools.commands("pip")) == 1


def test_refresh_resolves_again(tmp_path):
    index = FakeIndex()
    tools = FakeTools(lock_text(index))
    builder(tmp_path, index, tools).resolve(refresh=False, save=True)
    builder(tmp_path, index, tools).resolve(refresh=True, save=True)
    assert len(tools.commands("uv")) == 2


def test_check_mode_resolution_is_not_kept(tmp_path):
    index = FakeIndex()
    tools = FakeTools(lock_text(index))
    builder(tmp_path, index, tools).resolve(refresh=False, save=False)
    assert not os.path.exists(tmp_path / "cache" / "locks")


def test_uv_failure_becomes_one_line_naming_the_requirement(tmp_path):
    tools = FakeTools("")
    tools.uv_result = (1, UV_UNRESOLVABLE)
    with pytest.raises(wh.WheelhouseError, match=r"^cannot resolve label-studio==99.0 for Python 3.11.2"):
        builder(tmp_path, FakeIndex(), tools, requirements=["label-studio==99.0"]).resolve(False, True)


def test_a_download_with_another_sha256_is_refused_and_nothing_is_cached(tmp_path):
    index = FakeIndex()
    tools = FakeTools(lock_text(index))
    index.files[FakeIndex.BASE + "oldpkg-0.9.tar.gz"] = b"tampered"
    first = builder(tmp_path, index, tools)
    steps = first.plan(first.resolve(False, True)[0])
    with pytest.raises(wh.WheelhouseError, match=r"oldpkg-0.9.tar.gz from https://files.example.org/packages/"
                                                 r"oldpkg-0.9.tar.gz has sha256 [0-9a-f]{64}, the index said"):
        first.fetch(steps)
    assert first.cache.lookup(steps[2].package, steps[2].source) is None


def test_a_failed_build_names_the_pin_and_the_sdist(tmp_path):
    index = FakeIndex()

    class FailingPip(FakeTools):
        def __call__(self, argv, env):
            if argv[1:3] == ["-m", "pip"]:
                return 1, "", "error: subprocess-exited-with-error\nsetup.py egg_info did not run successfully."
            return super().__call__(argv, env)

    first = builder(tmp_path, index, FailingPip(lock_text(index)))
    with pytest.raises(wh.WheelhouseError, match=r"cannot build oldpkg==0.9 from oldpkg-0.9.tar.gz into a wheel "
                                                 r"\(pip wheel: .*egg_info"):
        first.fetch(first.plan(first.resolve(False, True)[0]))


def test_downloaded_wheels_are_kept_when_a_build_fails(tmp_path):
    index = FakeIndex()

    class FailingPip(FakeTools):
        def __call__(self, argv, env):
            if argv[1:3] == ["-m", "pip"]:
                return 1, "", "error"
            return super().__call__(argv, env)

    first = builder(tmp_path, index, FailingPip(lock_text(index)))
    steps = first.plan(first.resolve(False, True)[0])
    with pytest.raises(wh.WheelhouseError):
        first.fetch(steps)
    again = first.plan(first.resolve(False, True)[0])
    assert [s.action for s in again] == ["cached", "cached", "build"]
