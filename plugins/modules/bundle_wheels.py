#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_wheels
short_description: Make a wheelhouse for a target Python, on a connected machine
version_added: 0.1.0
description:
  - Resolves O(requirements) for the B(target's) Python (O(python_version), O(platform)), not
    for the Python running the module, fetches every resolved pin as a wheel into O(dest)
    and writes O(dest)/C(requirements.txt) with the pins and the sha256 of each wheel, so the
    target installs with C(pip install --no-index --find-links DEST -r DEST/requirements.txt),
    with no network, no compiler, no C(setup.py) run there.
  - Resolution is C(uv pip compile --python-version --python-platform --format pylock.toml),
    so environment markers such as C(python_full_version < "3.11.3") are evaluated for the
    target (Debian 12 has Python 3.11.2; a controller with 3.11.7 would resolve otherwise).
  - Per pin the best wheel for the target is downloaded and checked against the index's
    sha256. A pin with no fitting wheel has its sdist downloaded and built into a wheel here
    with C(pip wheel --no-deps) (pip's configuration files and E(PIP_*) variables are
    ignored, so a machine's find-links or constraints cannot change what is built).
  - Wheels are kept in O(cache_dir) by the sha256 of what was downloaded, and the resolution
    by a key of the inputs (requirements, target, indexes). A run whose O(dest) holds the
    wheelhouse of the same inputs, intact, fetches, builds and writes nothing (C(changed=false)).
    A run with new inputs fetches only what the cache lacks.
  - O(dest) is written whole in a temporary directory beside it and renamed into place; it is
    owned by the module (other files in it are removed). A failure leaves O(dest) as it was.
author:
  - mlstack.platform developers (@mlstack)
options:
  dest:
    description:
      - The wheelhouse directory, for example C(<bundle>/python/debian-bookworm/label_studio)
        or C(<bundle>/controller/wheels).
      - Required unless O(wheelhouses) is given.
    type: path
  requirements:
    description:
      - Requirements as pip reads them (C(label-studio==1.23.2), C(ansible-core>=2.19,<2.20)),
        one per item; no options. Pin them for a reproducible bundle.
      - Required unless O(wheelhouses) is given.
    type: list
    elements: str
  python_version:
    description:
      - The target's exact Python version, all three parts (C(3.11.2) for Debian 12,
        C(3.10.12) for Ubuntu 22.04, C(3.12.3) for Ubuntu 24.04).
      - Required unless O(wheelhouses) is given.
    type: str
  platform:
    description:
      - The target's platform as uv's C(--python-platform) spells it, C(ARCH-manylinux_MAJOR_MINOR)
        with the target's glibc version (Debian 12 has glibc 2.36, Ubuntu 22.04 2.35, 24.04 2.39).
    type: str
    default: x86_64-manylinux_2_36
  wheelhouses:
    description:
      - Several wheelhouses made in one module run (one Python start-up for all, which is most
        of what a run over current wheelhouses costs), each with its O(dest), O(requirements),
        O(python_version) and O(platform); the other options apply to each. Made in order; the
        first that fails stops the run, naming its O(dest). Mutually exclusive with O(dest),
        O(requirements) and O(python_version).
      - The result then has RV(wheelhouses), one result per wheelhouse as a single run returns it.
    type: list
    elements: dict
    suboptions:
      dest:
        description: As O(dest).
        type: path
        required: true
      requirements:
        description: As O(requirements).
        type: list
        elements: str
        required: true
      python_version:
        description: As O(python_version).
        type: str
        required: true
      platform:
        description: As O(platform).
        type: str
        default: x86_64-manylinux_2_36
  index_url:
    description:
      - The package index (PEP 503 simple API), for example a company mirror.
    type: str
    default: https://pypi.org/simple
  extra_index_urls:
    description:
      - Further indexes. uv takes each package from the first index that has it.
    type: list
    elements: str
    default: []
  uv:
    description:
      - Path of the C(uv) binary (PyPI package C(uv)).
      - If not set, C(uv) next to the Python running the module (its venv's C(bin/)), then on E(PATH).
    type: path
  build_python:
    description:
      - The Python that builds sdists into wheels (it needs pip). Wheels with C extensions
        must be built by a Python of the target's major.minor version; the module fails when
        a built wheel does not fit the target.
      - If not set, the Python running the module.
    type: path
  cache_dir:
    description:
      - Where wheels, resolutions and uv's own cache are kept between runs.
    type: path
    default: ~/.cache/mlstack/bundle_wheels
  refresh:
    description:
      - Resolve again even when the cache holds a resolution of the same inputs (a requirement
        that is not pinned may then resolve to a newer release). O(dest) changes only if the
        resolution or its wheels did.
    type: bool
    default: false
  verify:
    description:
      - How a present O(dest) is checked against its C(requirements.txt) before it counts as
        current. V(sha256) hashes every wheel, V(size) compares sizes only (faster for large
        wheelhouses; the bundle's verification hashes everything anyway).
    type: str
    choices: [sha256, size]
    default: sha256
  relative_to:
    description:
      - The directory the returned RV(files) paths are relative to, for example the bundle
        directory for C(MANIFEST.json). If not set, O(dest).
    type: path
  timeout:
    description:
      - Seconds to wait for an answer of the index for each download.
    type: int
    default: 120
requirements:
  - C(uv) 0.6 or later (C(pylock.toml) output of C(uv pip compile)); the collection is tested with 0.13.9.
  - pip in O(build_python), and the network to the indexes (only when something is missing).
attributes:
  check_mode:
    support: full
    description: Resolves (when the cache has no resolution of the inputs) and reports the pins
      and what would be downloaded or built; writes nothing.
  diff_mode:
    support: full
    description: Shows the wheelhouse's pins and files before and after.
  idempotent:
    support: full
    description: A second run with the same inputs reports C(changed=false) and touches nothing.
notes:
  - uv's TLS verification uses its own roots unless E(SSL_CERT_FILE) names a CA bundle; set it
    for a mirror with a private CA.
  - Runs on the connected machine (delegated to C(localhost)); the target only installs.
seealso:
  - name: The bundle's format
    description: python/<target>/<set>/ and controller/wheels/ in docs/bundle-format.md.
    link: https://github.com/mlstack/platform/blob/main/docs/bundle-format.md
"""

EXAMPLES = r"""
- name: Make Label Studio's wheelhouse for Debian 12 hosts
  mlstack.platform.bundle_wheels:
    dest: "{{ mlstack_bundle_dir }}/python/debian-bookworm/label_studio"
    requirements: ["label-studio==1.23.2"]
    python_version: 3.11.2
    platform: x86_64-manylinux_2_36
    relative_to: "{{ mlstack_bundle_dir }}"
  delegate_to: localhost
  register: label_studio_wheels

- name: Make the offline controller's kit from a company mirror
  mlstack.platform.bundle_wheels:
    dest: "{{ mlstack_bundle_dir }}/controller/wheels"
    requirements: [ansible-core==2.19.14, ansible==12.3.0]
    python_version: 3.11.2
    index_url: https://pypi.mirror.example.com/simple
  delegate_to: localhost
"""

RETURN = r"""
dest:
  description: The wheelhouse directory.
  returned: success
  type: str
  sample: /media/bundle/python/debian-bookworm/label_studio
pins:
  description: The resolved pins, sorted by name.
  returned: success
  type: list
  elements: str
  sample: [asgiref==3.8.1, django==5.1.13, label-studio==1.23.2]
packages:
  description: One entry per pin.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The normalized project name.
      type: str
      sample: label-studio
    version:
      description: The pinned version.
      type: str
      sample: 1.23.2
    file:
      description: The wheel's file name in O(dest).
      type: str
      sample: label_studio-1.23.2-py3-none-any.whl
    sha256:
      description: The wheel's sha256.
      type: str
      sample: 9f0c4f2c9e0d5b9e2f6a3c1d8e7b6a5f4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f
    size:
      description: The wheel's size in bytes.
      type: int
      sample: 84211002
    action:
      description: V(cached) (nothing fetched), V(download) or V(build) (sdist built here);
        V(present) when O(dest) was current.
      type: str
      sample: cached
files:
  description: Every file of O(dest) (the wheels and C(requirements.txt)) with size and sha256,
    paths relative to O(relative_to), C(/)-separated, for the bundle's C(MANIFEST.json).
  returned: success
  type: list
  elements: dict
  sample: [{"path": "python/debian-bookworm/label_studio/requirements.txt", "size": 31950, "sha256": "4c1f..."}]
requirements_file:
  description: Path of the wheelhouse's C(requirements.txt).
  returned: success
  type: str
  sample: /media/bundle/python/debian-bookworm/label_studio/requirements.txt
resolved:
  description: Whether uv resolved in this run (false when the cache held the resolution, or O(dest) was current).
  returned: success
  type: bool
  sample: false
downloaded:
  description: Number of files downloaded in this run (wheels and sdists).
  returned: success
  type: int
  sample: 0
built:
  description: Pins whose sdists were built into wheels in this run.
  returned: success
  type: list
  elements: str
  sample: []
wheelhouses:
  description:
    - With O(wheelhouses), one result per wheelhouse in their order, each with C(changed) and the
      fields above (RV(dest), RV(pins), RV(packages), RV(files), RV(requirements_file), RV(resolved),
      RV(downloaded), RV(built)); the top-level fields are then absent.
  returned: success, with O(wheelhouses)
  type: list
  elements: dict
  sample: [{"dest": "/media/bundle/controller/wheels", "changed": false, "pins": ["ansible==12.3.0"], "files": []}]
"""

import os
import platform as host_platform
import shutil
import subprocess
import sys
import typing as t

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.mlstack.platform.plugins.module_utils._wheelhouse import (
    REQUIREMENTS,
    Step,
    Wheel,
    WheelCache,
    WheelhouseBuilder,
    WheelhouseError,
    WheelhouseSpec,
    check_requirements,
    current_wheels,
    parse_target,
    relative_files,
    render_requirements,
    stage,
)

ARGUMENT_SPEC = dict(
    dest=dict(type="path"),
    requirements=dict(type="list", elements="str"),
    python_version=dict(type="str"),
    platform=dict(type="str", default="x86_64-manylinux_2_36"),
    wheelhouses=dict(type="list", elements="dict", options=dict(
        dest=dict(type="path", required=True),
        requirements=dict(type="list", elements="str", required=True),
        python_version=dict(type="str", required=True),
        platform=dict(type="str", default="x86_64-manylinux_2_36"),
    )),
    index_url=dict(type="str", default="https://pypi.org/simple"),
    extra_index_urls=dict(type="list", elements="str", default=[]),
    uv=dict(type="path"),
    build_python=dict(type="path"),
    cache_dir=dict(type="path", default="~/.cache/mlstack/bundle_wheels"),
    refresh=dict(type="bool", default=False),
    verify=dict(type="str", choices=["sha256", "size"], default="sha256"),
    relative_to=dict(type="path"),
    timeout=dict(type="int", default=120),
)


def find_uv(module: AnsibleModule) -> str:
    if module.params["uv"]:
        if not os.access(module.params["uv"], os.X_OK):
            module.fail_json(msg="uv: %s is not an executable file" % module.params["uv"])
        return module.params["uv"]
    beside = os.path.join(os.path.dirname(sys.executable), "uv")
    if os.access(beside, os.X_OK):
        return beside
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    module.fail_json(msg="uv is not next to %s nor on PATH: install it with '%s -m pip install uv' "
                         "(PyPI package uv), or set the option uv" % (sys.executable, sys.executable))
    raise AssertionError  # not reached


def run(argv: t.List[str], env: t.Optional[t.Dict[str, str]]) -> t.Tuple[int, str, str]:
    """subprocess rather than module.run_command: pip's build needs an environment with
    variables REMOVED (PIP_*), which run_command cannot do."""
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        return 127, "", "%s: %s" % (argv[0], exc)
    return done.returncode, done.stdout, done.stderr


def downloader(timeout: int) -> t.Callable[[str, str], None]:
    def download(url: str, path: str) -> None:
        try:
            response = open_url(url, timeout=timeout, http_agent="mlstack.platform.bundle_wheels")
            with open(path, "wb") as stream:
                shutil.copyfileobj(response, stream, 1024 * 1024)
        except Exception as exc:  # pylint: disable=broad-except  # URLError, HTTPError, socket and SSL errors
            raise WheelhouseError("cannot download %s: %s" % (url, exc)) from exc
    return download


def local_glibc() -> t.Optional[t.Tuple[int, int]]:
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
        major, minor = version.split()[1].split(".")[:2]
        return int(major), int(minor)
    except (AttributeError, ValueError, IndexError, OSError):
        return None


def describe(wheels: t.Sequence[Wheel]) -> str:
    return "".join("%s %s\n" % (wheel.pin, wheel.filename) for wheel in sorted(wheels, key=lambda w: w.name))


def same(wheels: t.Sequence[Wheel], other: t.Optional[t.Sequence[Wheel]]) -> bool:
    return other is not None and {(w.filename, w.sha256) for w in wheels} == {(w.filename, w.sha256) for w in other}


def packages(wheels: t.Sequence[Wheel], actions: t.Mapping[str, str]) -> t.List[t.Dict[str, t.Any]]:
    return [dict(name=w.name, version=w.version, file=w.filename, sha256=w.sha256, size=w.size,
                 action=actions.get(w.name, "present")) for w in sorted(wheels, key=lambda w: w.name)]


def predicted(steps: t.Sequence[Step]) -> t.List[Wheel]:
    """What check mode can say per pin: the cached wheel, or the file that would be fetched."""
    return [step.cached or Wheel(step.package.name, step.package.version, step.source.filename,
                                 step.source.sha256 if step.source.is_wheel else "", step.source.size or 0,
                                 not step.source.is_wheel) for step in steps]


class Failed(Exception):
    """One wheelhouse failed: the message and the result so far."""

    def __init__(self, msg: str, result: t.Dict[str, t.Any]) -> None:
        super().__init__(msg)
        self.result = result


def make_wheelhouse(module: AnsibleModule, params: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    """One wheelhouse (``params``: the module's options, with this wheelhouse's dest,
    requirements, python_version and platform); its result with ``changed``."""
    dest = params["dest"]
    try:
        target = parse_target(params["python_version"], params["platform"])
        check_requirements(params["requirements"])
    except WheelhouseError as exc:
        raise Failed(str(exc), {})
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise Failed("dest: %s exists and is not a directory" % dest, {})

    spec = WheelhouseSpec(target, [r.strip() for r in params["requirements"]], params["index_url"],
                          params["extra_index_urls"])
    relative_to = params["relative_to"] or dest
    result: t.Dict[str, t.Any] = dict(dest=dest, requirements_file=os.path.join(dest, REQUIREMENTS),
                                      resolved=False, downloaded=0, built=[])
    current, _why = current_wheels(dest, spec.key, params["verify"])
    if current is not None and not params["refresh"]:
        result.update(changed=False, pins=[w.pin for w in sorted(current, key=lambda w: w.name)], packages=packages(current, {}),
                      files=relative_files(dest, relative_to, current))
        return result

    cache = WheelCache(params["cache_dir"])
    builder = WheelhouseBuilder(spec, cache, find_uv(module), params["build_python"] or sys.executable, run,
                                downloader(params["timeout"]), dict(os.environ), host_platform.machine(),
                                local_glibc())
    try:
        found, result["resolved"] = builder.resolve(params["refresh"], save=not module.check_mode)
        steps = builder.plan(found)
        actions = {step.package.name: step.action for step in steps}
        if module.check_mode:
            wheels = predicted(steps)
        else:
            wheels = builder.fetch(steps)
            result["downloaded"] = sum(1 for action in actions.values() if action != "cached")
            result["built"] = sorted(step.package.pin for step in steps if actions[step.package.name] == "build")
        changed = not same(wheels, current)
        if changed and not module.check_mode:
            stage(dest, render_requirements(spec.key, target, spec.requirements, wheels), wheels)
    except (WheelhouseError, OSError) as exc:
        raise Failed(str(exc), result)

    result.update(changed=changed, pins=[w.pin for w in sorted(wheels, key=lambda w: w.name)], packages=packages(wheels, actions),
                  files=[] if module.check_mode and changed else relative_files(dest, relative_to, wheels))
    if module._diff:
        result["diff"] = dict(before=describe(current or []), after=describe(wheels),
                              before_header=dest, after_header=dest)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           mutually_exclusive=[("wheelhouses", "dest"), ("wheelhouses", "requirements"),
                                               ("wheelhouses", "python_version")],
                           required_one_of=[("wheelhouses", "dest")],
                           required_together=[("dest", "requirements", "python_version")])
    params = module.params
    if params["wheelhouses"] is None:
        try:
            module.exit_json(**make_wheelhouse(module, params))
        except Failed as exc:
            module.fail_json(msg=str(exc), **exc.result)
    results: t.List[t.Dict[str, t.Any]] = []
    for number, one in enumerate(params["wheelhouses"], start=1):
        try:
            results.append(make_wheelhouse(module, dict(params, **one)))
        except Failed as exc:
            results.append(dict(exc.result, dest=one["dest"], failed=True, msg=str(exc)))
            module.fail_json(msg="wheelhouses[%d] (%s): %s" % (number, one["dest"], exc),
                             changed=any(r.get("changed") for r in results), wheelhouses=results)
    diffs = [r.pop("diff") for r in results if "diff" in r]
    out: t.Dict[str, t.Any] = dict(changed=any(r["changed"] for r in results), wheelhouses=results)
    if diffs:
        out["diff"] = diffs
    module.exit_json(**out)


if __name__ == "__main__":
    main()
