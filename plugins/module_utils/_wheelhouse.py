# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""A wheelhouse for a TARGET Python: resolve, fetch, build sdists into wheels, stage.

1. ``uv pip compile --python-version X.Y.Z --python-platform ARCH-manylinux_A_B --format
   pylock.toml`` resolves the requirements for the target interpreter (not the one running
   this code: markers such as ``python_full_version < "3.11.3"`` differ) and lists, per pin,
   the index's sdist and the wheels that fit the platform, with URL, size and sha256.
2. Per pin the best wheel for the target is downloaded (checked against the index's
   sha256); a pin without one has its sdist downloaded and built with ``pip wheel
   --no-deps``, so the target never runs setup.py.
3. Every wheel lands in a content-addressed cache, ``<cache>/wheels/<sha256 of what was
   downloaded>/``; the resolution is kept in ``<cache>/locks/<inputs key>.toml``.
4. DEST is staged in a temporary directory beside it (hard links from the cache) with a
   ``requirements.txt`` of the pins and the sha256 of each wheel, then renamed into place.
   Its header records the inputs key: a re-run with the same inputs finds DEST current
   and touches nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

try:
    import tomllib  # Python 3.11+, which every ansible-core 2.19 controller has
except ImportError:  # pragma: no cover
    tomllib = None  # type: ignore[assignment]

from ansible_collections.mlstack.platform.plugins.module_utils._checksum import file_sha256

FORMAT = 1
REQUIREMENTS = "requirements.txt"
_INPUTS_LINE = "# bundle_wheels-inputs: "
_FILE_LINE = "# bundle_wheels-file: "
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
_PYTHON_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_PLATFORM = re.compile(r"^(x86_64|aarch64)-manylinux(?:_(\d+)_(\d+)|(2014))$")
_MANYLINUX_TAG = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class WheelhouseError(Exception):
    """A wheelhouse that cannot be made; the message names the input or file at fault."""


@dataclass(frozen=True)
class Target:
    python: t.Tuple[int, int, int]
    arch: str
    glibc: t.Tuple[int, int]
    platform: str  # as given, e.g. x86_64-manylinux_2_36 (uv's --python-platform)

    @property
    def python_version(self) -> str:
        return "%d.%d.%d" % self.python

    def describe(self) -> str:
        return "Python %s on %s" % (self.python_version, self.platform)


def parse_target(python_version: str, platform: str) -> Target:
    match = _PYTHON_VERSION.match(python_version or "")
    if not match:
        raise WheelhouseError("python_version %r is not an exact version such as 3.11.2 (markers such as "
                              "python_full_version < \"3.11.3\" need all three parts)" % python_version)
    plat = _PLATFORM.match(platform or "")
    if not plat:
        raise WheelhouseError("platform %r is not ARCH-manylinux_MAJOR_MINOR (e.g. x86_64-manylinux_2_36 for "
                              "glibc 2.36) or ARCH-manylinux2014, with ARCH x86_64 or aarch64" % platform)
    glibc = (2, 17) if plat.group(4) else (int(plat.group(2)), int(plat.group(3)))
    return Target(tuple(int(part) for part in match.groups()), plat.group(1), glibc, platform)  # type: ignore[arg-type]


def normalize_name(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def inputs_key(requirements: t.Sequence[str], target: Target, index_url: str,
               extra_index_urls: t.Sequence[str]) -> str:
    """What the resolution depends on; the same key means the same wheelhouse."""
    document = dict(format=FORMAT, requirements=sorted(r.strip() for r in requirements),
                    python=target.python_version, platform=target.platform,
                    index_url=index_url, extra_index_urls=list(extra_index_urls))
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def check_requirements(requirements: t.Sequence[str]) -> None:
    if not requirements:
        raise WheelhouseError("requirements is empty: give at least one requirement, e.g. label-studio==1.23.2")
    for requirement in requirements:
        text = requirement.strip()
        if not text or "\n" in text or text.startswith("-"):
            raise WheelhouseError("requirements: %r is not one requirement (options and empty lines are not "
                                  "allowed; indexes are set with index_url/extra_index_urls)" % requirement)


# --- command lines ---------------------------------------------------------------------

def uv_compile_argv(uv: str, requirements_in: str, output: str, target: Target, index_url: str,
                    extra_index_urls: t.Sequence[str], uv_cache_dir: str) -> t.List[str]:
    """``uv pip compile`` for the target; --no-config so no uv.toml of the machine changes it."""
    argv = [uv, "pip", "compile", requirements_in, "--output-file", output, "--format", "pylock.toml",
            "--python-version", target.python_version, "--python-platform", target.platform,
            "--no-config", "--quiet", "--no-header", "--cache-dir", uv_cache_dir, "--index-url", index_url]
    for url in extra_index_urls:
        argv += ["--extra-index-url", url]
    return argv


def pip_wheel_argv(python: str, sdist: str, output_dir: str, index_url: str,
                   extra_index_urls: t.Sequence[str]) -> t.List[str]:
    """``pip wheel`` of one downloaded sdist; the index serves only its build requirements."""
    argv = [python, "-m", "pip", "wheel", "--no-deps", "--isolated", "--disable-pip-version-check",
            "--no-cache-dir", "--wheel-dir", output_dir, "--index-url", index_url]
    for url in extra_index_urls:
        argv += ["--extra-index-url", url]
    return argv + [sdist]


def pip_environment(environ: t.Mapping[str, str]) -> t.Dict[str, str]:
    """The caller's environment without pip settings: no pip.conf or PIP_* variable (a
    find-links or constraint of the machine) may change what is built. pip's build
    isolation starts pip again for the build requirements; it inherits this environment."""
    env = {key: value for key, value in environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def explain_uv_failure(stderr: str, requirements: t.Sequence[str], target: Target,
                       index_urls: t.Sequence[str]) -> str:
    """One line saying why ``uv pip compile`` failed: the index it could not reach, or
    the requirements it could not resolve for the target."""
    causes = [line.strip()[len("cause:"):].strip() if line.strip().startswith("cause:") else line.strip()
              for line in stderr.splitlines() if line.strip()]
    detail = "; ".join(causes[:4]) or "no output"
    fetch = re.search(r"Failed to (?:fetch|download|read)[^:]*: [`']?(\S+?)[`']?(?:\s|$)", stderr)
    if fetch:
        url = fetch.group(1)
        index = next((i for i in index_urls if url.startswith(i.rstrip("/"))), url)
        return "cannot reach the package index %s (uv: %s)" % (index, detail)
    names = {normalize_name(_PIN.match(r.strip()).group(1)) if _PIN.match(r.strip())
             else normalize_name(re.split(r"[\s\[<>=!~;]", r.strip(), 1)[0]): r.strip() for r in requirements}
    mentioned = [names[n] for n in names if re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(n),
                                                      normalize_name(stderr))]
    named = ", ".join(mentioned or [r.strip() for r in requirements])
    return "cannot resolve %s for %s (uv: %s)" % (named, target.describe(), detail)


# --- the resolution (pylock.toml) ------------------------------------------------------

@dataclass(frozen=True)
class Dist:
    filename: str
    url: str
    sha256: str
    size: t.Optional[int] = None

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass
class Package:
    name: str
    version: str
    wheels: t.List[Dist] = field(default_factory=list)
    sdist: t.Optional[Dist] = None

    @property
    def pin(self) -> str:
        return "%s==%s" % (self.name, self.version)


def _dist(entry: t.Mapping[str, t.Any], package: str, lock_path: str) -> Dist:
    url = entry.get("url")
    sha256 = (entry.get("hashes") or {}).get("sha256")
    if not url or not sha256:
        raise WheelhouseError("%s: a file of %s has no url or sha256 (only index files are supported)"
                              % (lock_path, package))
    filename = entry.get("name") or url.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return Dist(filename, url, sha256.lower(), entry.get("size"))


def parse_lock(text: str, lock_path: str) -> t.List[Package]:
    """The packages of a PEP 751 lock file as uv writes it."""
    if tomllib is None:  # pragma: no cover
        raise WheelhouseError("reading %s needs Python 3.11 or later (tomllib)" % lock_path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WheelhouseError("%s: not a pylock.toml file: %s" % (lock_path, exc)) from exc
    packages = []
    for entry in document.get("packages", []):
        name, version = entry.get("name"), entry.get("version")
        if not name or not version:
            raise WheelhouseError("%s: a package without name or version" % lock_path)
        if not entry.get("wheels") and not entry.get("sdist"):
            raise WheelhouseError("%s: %s %s comes from a %s, not from an index; give it as a pinned requirement "
                                  "of an index" % (lock_path, name, version,
                                                   next((k for k in ("vcs", "directory", "archive") if k in entry),
                                                        "source without files")))
        packages.append(Package(
            normalize_name(name), version,
            [_dist(wheel, name, lock_path) for wheel in entry.get("wheels", [])],
            _dist(entry["sdist"], name, lock_path) if entry.get("sdist") else None))
    if not packages:
        raise WheelhouseError("%s: the resolution holds no package" % lock_path)
    return packages


# --- wheel tags (the binary distribution format: name-version[-build]-python-abi-platform.whl)

def wheel_tags(filename: str) -> t.Tuple[t.List[str], t.List[str], t.List[str]]:
    parts = filename[:-len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise WheelhouseError("%s is not a wheel file name (name-version-python-abi-platform.whl)" % filename)
    return parts[-3].split("."), parts[-2].split("."), parts[-1].split(".")


def _platform_rank(tag: str, target: Target) -> t.Optional[t.Tuple[int, int, int]]:
    if tag == "any":
        return (0, 0, 0)
    if tag == "linux_" + target.arch:  # built here, for this machine's glibc (checked by the caller)
        return (1, 0, 0)
    legacy = tag.split("_", 1)
    if legacy[0] in _LEGACY_MANYLINUX and len(legacy) == 2 and legacy[1] == target.arch:
        glibc = _LEGACY_MANYLINUX[legacy[0]]
    else:
        match = _MANYLINUX_TAG.match(tag)
        if not match or match.group(3) != target.arch:
            return None
        glibc = (int(match.group(1)), int(match.group(2)))
    return (2,) + glibc if glibc <= target.glibc else None


def _python_rank(python: str, abi: str, target: Target) -> t.Optional[t.Tuple[int, int]]:
    """pip's order: the exact CPython ABI, then abi3 (newest first), then pure Python tags."""
    major, minor = target.python[0], target.python[1]
    exact = "cp%d%d" % (major, minor)
    if python == exact and abi == exact:
        return (4, minor)
    cpython = re.match(r"^cp%d(\d+)$" % major, python)
    if cpython and abi == "abi3" and int(cpython.group(1)) <= minor:
        return (3, int(cpython.group(1)))
    if abi != "none":
        return None
    if python == exact:
        return (2, minor)
    pure = re.match(r"^py%d(\d*)$" % major, python)
    if pure and (not pure.group(1) or int(pure.group(1)) <= minor):
        return (1, int(pure.group(1) or 0))
    return None


def wheel_rank(filename: str, target: Target) -> t.Optional[t.Tuple[int, ...]]:
    """How well a wheel fits the target (higher is better), or None if it does not."""
    pythons, abis, platforms = wheel_tags(filename)
    best = None
    for python in pythons:
        for abi in abis:
            python_rank = _python_rank(python, abi, target)
            if python_rank is None:
                continue
            for platform in platforms:
                platform_rank = _platform_rank(platform, target)
                if platform_rank is not None:
                    rank = python_rank + platform_rank
                    best = rank if best is None or rank > best else best
    return best


def choose_source(package: Package, target: Target) -> Dist:
    """The best wheel for the target, else the sdist to build."""
    ranked = [(wheel_rank(wheel.filename, target), wheel) for wheel in package.wheels]
    fitting = [(rank, wheel) for rank, wheel in ranked if rank is not None]
    if fitting:
        return max(fitting, key=lambda item: (item[0], item[1].filename))[1]
    if package.sdist is not None:
        return package.sdist
    raise WheelhouseError("%s has no wheel for %s and no sdist to build (wheels: %s)"
                          % (package.pin, target.describe(), ", ".join(w.filename for w in package.wheels)))


def check_built_wheel(filename: str, package: Package, target: Target, local_arch: str,
                      local_glibc: t.Optional[t.Tuple[int, int]]) -> None:
    """A wheel built here must fit the target: a C extension built by another minor Python,
    or against a newer glibc than the target's, would not load there."""
    if normalize_name(filename.split("-", 1)[0]) != package.name:
        raise WheelhouseError("building the sdist of %s made %s, a wheel of another project"
                              % (package.pin, filename))
    if wheel_rank(filename, target) is None:
        raise WheelhouseError("the sdist of %s built into %s, which does not fit %s: build it with a Python "
                              "%d.%d (option build_python)"
                              % (package.pin, filename, target.describe(), target.python[0], target.python[1]))
    platforms = wheel_tags(filename)[2]
    if "linux_" + target.arch in platforms and (local_arch != target.arch or local_glibc is None
                                                or local_glibc > target.glibc):
        raise WheelhouseError("the sdist of %s built into %s for this machine (%s, glibc %s), which is newer than "
                              "or not %s; build on a machine like the target"
                              % (package.pin, filename, local_arch,
                                 ".".join(map(str, local_glibc)) if local_glibc else "unknown", target.platform))


# --- the cache of wheels ---------------------------------------------------------------

@dataclass(frozen=True)
class Wheel:
    """A wheel of the wheelhouse: which pin, which file, its digest and size."""
    name: str
    version: str
    filename: str
    sha256: str
    size: int
    built: bool = False
    path: t.Optional[str] = None  # where the bytes are (the cache), when known

    @property
    def pin(self) -> str:
        return "%s==%s" % (self.name, self.version)


class WheelCache:
    """``<root>/wheels/<sha256 of the downloaded file>/``: the wheel (the file itself, or
    the wheel its sdist built into) and ``wheel.json``; ``<root>/locks/<key>.toml``."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _entry_dir(self, source_sha256: str) -> str:
        return os.path.join(self.root, "wheels", source_sha256)

    def lookup(self, package: Package, source: Dist) -> t.Optional[Wheel]:
        directory = self._entry_dir(source.sha256)
        try:
            with open(os.path.join(directory, "wheel.json"), encoding="utf-8") as stream:
                record = json.load(stream)
            path = os.path.join(directory, record["file"])
            if os.path.getsize(path) != record["size"]:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return Wheel(package.name, package.version, record["file"], record["sha256"], record["size"],
                     not source.is_wheel, path)

    def store(self, package: Package, source: Dist, wheel_path: str) -> Wheel:
        """Move a wheel into the cache (atomically: a half-written entry is never seen)."""
        filename = os.path.basename(wheel_path)
        wheels_dir = os.path.join(self.root, "wheels")
        os.makedirs(wheels_dir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".%s." % source.sha256[:12], dir=wheels_dir)
        try:
            shutil.move(wheel_path, os.path.join(staging, filename))
            wheel = Wheel(package.name, package.version, filename, file_sha256(os.path.join(staging, filename)),
                          os.path.getsize(os.path.join(staging, filename)), not source.is_wheel)
            with open(os.path.join(staging, "wheel.json"), "w", encoding="utf-8") as stream:
                json.dump(dict(file=filename, sha256=wheel.sha256, size=wheel.size, source=source.url), stream)
            final = self._entry_dir(source.sha256)
            if os.path.isdir(final):
                shutil.rmtree(final)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Wheel(wheel.name, wheel.version, filename, wheel.sha256, wheel.size, wheel.built,
                     os.path.join(final, filename))

    def lock_path(self, key: str) -> str:
        return os.path.join(self.root, "locks", key + ".toml")

    def read_lock(self, key: str) -> t.Optional[str]:
        try:
            with open(self.lock_path(key), encoding="utf-8") as stream:
                return stream.read()
        except OSError:
            return None

    def write_lock(self, key: str, text: str) -> None:
        write_atomically(self.lock_path(key), text)


def write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# --- requirements.txt: the pins, each wheel's file and sha256, and the inputs key -----------

def render_requirements(key: str, target: Target, requirements: t.Sequence[str],
                        wheels: t.Sequence[Wheel]) -> str:
    lines = ["# Wheels for %s, made by mlstack.platform.bundle_wheels from:" % target.describe()]
    lines += ["#   %s" % requirement.strip() for requirement in requirements]
    lines += ["# Install them without a network (pip checks every --hash):",
              "#   pip install --no-index --find-links DIR -r DIR/%s" % REQUIREMENTS,
              _INPUTS_LINE + key]
    for wheel in sorted(wheels, key=lambda w: w.name):
        lines += ["%s%s %d" % (_FILE_LINE, wheel.filename, wheel.size),
                  "%s \\" % wheel.pin, "    --hash=sha256:%s" % wheel.sha256]
    return "\n".join(lines) + "\n"


def parse_requirements(text: str) -> t.Tuple[t.Optional[str], t.List[Wheel]]:
    """The inputs key and the wheels a requirements.txt of render_requirements lists."""
    key, wheels, pending = None, [], None
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.startswith(_INPUTS_LINE):
            key = line[len(_INPUTS_LINE):].strip()
        elif line.startswith(_FILE_LINE):
            filename, dummy, size = line[len(_FILE_LINE):].strip().rpartition(" ")
            pending = (filename, int(size)) if size.isdigit() else None
        elif _PIN.match(line) and pending:
            pin = _PIN.match(line)
            digest = _HASH.search(line + " " + (lines[number + 1] if number + 1 < len(lines) else ""))
            if digest:
                wheels.append(Wheel(normalize_name(pin.group(1)), pin.group(2), pending[0], digest.group(1),
                                    pending[1]))
            pending = None
    return key, wheels


def current_wheels(dest: str, key: str, verify: str) -> t.Tuple[t.Optional[t.List[Wheel]], str]:
    """The wheels of DEST if it is the wheelhouse of these inputs, intact; else None and why."""
    try:
        with open(os.path.join(dest, REQUIREMENTS), encoding="utf-8") as stream:
            found_key, wheels = parse_requirements(stream.read())
        names = set(os.listdir(dest))
    except OSError:
        return None, "%s does not exist yet" % os.path.join(dest, REQUIREMENTS)
    if found_key != key:
        return None, "%s was made from other inputs" % os.path.join(dest, REQUIREMENTS)
    expected = {wheel.filename for wheel in wheels} | {REQUIREMENTS}
    if names != expected:
        odd = sorted((names - expected) | (expected - names))
        return None, "%s differs from its requirements.txt: %s" % (dest, ", ".join(odd[:5]))
    for wheel in wheels:
        path = os.path.join(dest, wheel.filename)
        if os.path.getsize(path) != wheel.size or (verify == "sha256" and file_sha256(path) != wheel.sha256):
            return None, "%s does not match its line in requirements.txt" % path
    return wheels, "current"


def stage(dest: str, text: str, wheels: t.Sequence[Wheel]) -> None:
    """Write DEST anew in a temporary directory beside it, then rename it into place."""
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="." + os.path.basename(dest) + ".", dir=parent)
    try:
        for wheel in wheels:
            link_or_copy(t.cast(str, wheel.path), os.path.join(staging, wheel.filename))
        with open(os.path.join(staging, REQUIREMENTS), "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(os.path.join(staging, REQUIREMENTS), 0o644)
        os.chmod(staging, 0o755)
        if os.path.lexists(dest):
            retired = staging + ".old"
            os.rename(dest, retired)
            os.rename(staging, dest)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def link_or_copy(source: str, target: str) -> None:
    """A hard link from the cache when it is on the same file system, else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    os.chmod(target, 0o644)


def relative_files(dest: str, relative_to: str, wheels: t.Sequence[Wheel]) -> t.List[t.Dict[str, t.Any]]:
    """Every file of DEST, with size and sha256, relative to RELATIVE_TO ('/' separated)."""
    prefix = os.path.relpath(os.path.abspath(dest), os.path.abspath(relative_to)).replace(os.sep, "/")
    prefix = "" if prefix == "." else prefix + "/"
    requirements = os.path.join(dest, REQUIREMENTS)
    files = [dict(path=prefix + wheel.filename, size=wheel.size, sha256=wheel.sha256) for wheel in wheels]
    if os.path.exists(requirements):
        files.append(dict(path=prefix + REQUIREMENTS, size=os.path.getsize(requirements),
                          sha256=file_sha256(requirements)))
    return sorted(files, key=lambda entry: entry["path"])


# --- resolving and fetching -------------------------------------------------------------

Runner = t.Callable[[t.List[str], t.Optional[t.Dict[str, str]]], t.Tuple[int, str, str]]
Downloader = t.Callable[[str, str], None]  # (url, path); raises WheelhouseError naming the URL


@dataclass
class Step:
    """What one pin needs: its source and, if the cache has it already, the wheel."""
    package: Package
    source: Dist
    cached: t.Optional[Wheel]

    @property
    def action(self) -> str:
        if self.cached is not None:
            return "cached"
        return "download" if self.source.is_wheel else "build"


@dataclass
class WheelhouseSpec:
    target: Target
    requirements: t.List[str]
    index_url: str
    extra_index_urls: t.List[str]

    @property
    def key(self) -> str:
        return inputs_key(self.requirements, self.target, self.index_url, self.extra_index_urls)

    @property
    def index_urls(self) -> t.List[str]:
        return [self.index_url] + list(self.extra_index_urls)


class WheelhouseBuilder:
    """Resolves with uv, fetches into the cache and builds sdists; commands and downloads
    go through the callables given, so the logic is tested without a network."""

    def __init__(self, spec: WheelhouseSpec, cache: WheelCache, uv: str, build_python: str,
                 run: Runner, download: Downloader, environ: t.Mapping[str, str],
                 local_arch: str, local_glibc: t.Optional[t.Tuple[int, int]], parallel: int = 4) -> None:
        self.spec = spec
        self.cache = cache
        self.uv = uv
        self.build_python = build_python
        self.run = run
        self.download = download
        self.environ = environ
        self.local_arch = local_arch
        self.local_glibc = local_glibc
        self.parallel = parallel

    def resolve(self, refresh: bool, save: bool) -> t.Tuple[t.List[Package], bool]:
        """The packages, from the cached resolution of these inputs unless REFRESH.
        Returns them and whether uv ran."""
        key = self.spec.key
        text = None if refresh else self.cache.read_lock(key)
        if text is not None:
            return parse_lock(text, self.cache.lock_path(key)), False
        work = tempfile.mkdtemp(prefix="bundle_wheels.")
        try:
            requirements_in = os.path.join(work, "requirements.in")
            with open(requirements_in, "w", encoding="utf-8") as stream:
                stream.write("".join(r.strip() + "\n" for r in self.spec.requirements))
            output = os.path.join(work, "pylock.toml")
            argv = uv_compile_argv(self.uv, requirements_in, output, self.spec.target, self.spec.index_url,
                                   self.spec.extra_index_urls, os.path.join(self.cache.root, "uv"))
            rc, _out, err = self.run(argv, None)
            if rc != 0:
                raise WheelhouseError(explain_uv_failure(err, self.spec.requirements, self.spec.target,
                                                         self.spec.index_urls))
            with open(output, encoding="utf-8") as stream:
                text = stream.read()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        packages = parse_lock(text, "uv's resolution for %s" % self.spec.target.describe())
        if save:
            self.cache.write_lock(key, text)
        return packages, True

    def plan(self, packages: t.Sequence[Package]) -> t.List[Step]:
        steps = []
        for package in packages:
            source = choose_source(package, self.spec.target)
            steps.append(Step(package, source, self.cache.lookup(package, source)))
        return steps

    def fetch(self, steps: t.Sequence[Step]) -> t.List[Wheel]:
        """Every step's wheel, in the cache: downloads side by side, then sdist builds."""
        work = tempfile.mkdtemp(prefix="bundle_wheels.")
        try:
            missing = [step for step in steps if step.cached is None]
            with ThreadPoolExecutor(max_workers=max(1, self.parallel)) as pool:
                downloaded = list(pool.map(lambda step: self._download(step, work), missing))
            # Downloaded wheels go into the cache before any build: a failed build costs no download.
            fetched = list(zip(missing, downloaded))
            for step, path in sorted(fetched, key=lambda item: not item[0].source.is_wheel):
                wheel_path = path if step.source.is_wheel else self._build(step, path, work)
                step.cached = self.cache.store(step.package, step.source, wheel_path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return [t.cast(Wheel, step.cached) for step in steps]

    def _download(self, step: Step, work: str) -> str:
        directory = os.path.join(work, step.source.sha256)
        os.makedirs(directory)
        path = os.path.join(directory, step.source.filename)
        self.download(step.source.url, path)
        digest = file_sha256(path)
        if digest != step.source.sha256:
            raise WheelhouseError("%s from %s has sha256 %s, the index said %s"
                                  % (step.source.filename, step.source.url, digest, step.source.sha256))
        return path

    def _build(self, step: Step, sdist: str, work: str) -> str:
        output = os.path.join(work, step.source.sha256, "wheel")
        os.makedirs(output)
        argv = pip_wheel_argv(self.build_python, sdist, output, self.spec.index_url, self.spec.extra_index_urls)
        rc, out, err = self.run(argv, pip_environment(self.environ))
        if rc != 0:
            tail = " | ".join((err or out).strip().splitlines()[-3:])
            raise WheelhouseError("cannot build %s from %s into a wheel (pip wheel: %s)"
                                  % (step.package.pin, step.source.filename, tail))
        built = sorted(name for name in os.listdir(output) if name.endswith(".whl"))
        if len(built) != 1:
            raise WheelhouseError("building %s from %s made %d wheels (%s), not one"
                                  % (step.package.pin, step.source.filename, len(built), ", ".join(built)))
        check_built_wheel(built[0], step.package, self.spec.target, self.local_arch, self.local_glibc)
        return os.path.join(output, built[0])
