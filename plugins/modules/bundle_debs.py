#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_debs
short_description: Resolve .deb sets for a target release's minimal host into a signed flat apt repository
version_added: 0.1.0
description:
  - Runs on the connected controller. Reads the target release's own apt indexes from its
    mirrors, never this machine's dpkg or apt state.
  - For every suite of every source, C(InRelease) is verified with C(gpgv) against the
    source's O(sources[].keyring) and only the signed text is used; each C(Packages) index
    (C(.xz), else C(.gz), else plain) is checked against the size and SHA-256 the Release
    lists. Flat repositories (a suite ending in C(/), such as C(./) for NVIDIA's
    libnvidia-container) are read the same way.
  - Resolves each package set of O(sets) for a minimal host of the release, the packages
    C(debootstrap --variant=minbase) installs, computed from the release suite's index
    as debootstrap does (C(Priority) V(required), C(apt), first alternatives of Depends and
    Pre-Depends; bookworm adds C(usr-is-merged)). Everything else a set needs is
    bundled, following Depends and Pre-Depends (and Recommends with O(recommends)), the first
    alternative that can be satisfied, versioned relations, Provides, C(:any); the newest
    version across suites unless pinned with C(name=version). A host package that a
    relation needs newer (a security update of libc6, say) is bundled at the newer
    version, with the host packages that version would otherwise break.
  - Fetches each .deb once into O(dest) (a file already there with the index's size and
    SHA-256 is kept; digests are cached by path, size and mtime, so unchanged files are
    not hashed again), checks it against the index, and writes a flat repository
    there (C(Packages), C(Packages.gz), C(Release) and C(InRelease) clear-signed with
    O(signing_key)), each written to a temporary name and renamed into place, InRelease last.
    .deb files no set needs any more are removed.
  - Every set is resolved before anything is fetched or written, so a package that is not
    in the release, an unsatisfiable relation, an unreachable mirror or a bad signature
    fails the task with nothing changed.
author:
  - mlstack.platform developers (@mlstack)
options:
  target:
    description:
      - The target's name, C(<distribution>-<release>) in lower case (C(debian-bookworm)),
        as in the manifest's C(mlstack_artifacts.targets). Used in messages, in the
        repository's Release and in the returned paths (C(apt/<target>/<file>)).
    type: str
    required: true
  distribution:
    description:
      - The target's distribution, C(Debian) or C(Ubuntu); debootstrap's minimal set
        differs between them.
    type: str
    required: true
    choices: [Debian, Ubuntu]
  release:
    description:
      - The release's codename (C(bookworm), C(jammy), C(noble)). The minimal host is
        computed from the suite of that name (see O(minbase_suite)).
    type: str
    required: true
  architecture:
    description:
      - The hosts' dpkg architecture; packages of this architecture and C(all) are used.
    type: str
    default: amd64
  sources:
    description:
      - The target's apt sources, as the manifest's C(apt_sources) gives them.
    type: list
    elements: dict
    required: true
    suboptions:
      uri:
        description:
          - The archive root (C(http://deb.debian.org/debian)); C(http:), C(https:) and C(file:).
        type: str
        required: true
      suites:
        description:
          - Suites of the archive (C(bookworm), C(bookworm-updates)); a flat repository
            is one suite ending in C(/) (C(./)) and has no components.
        type: list
        elements: str
        required: true
      components:
        description:
          - Components of each suite (C(main), C(universe)); empty for a flat repository.
        type: list
        elements: str
        default: []
      keyring:
        description:
          - OpenPGP keyring on the controller that signs this source's InRelease files
            (binary or ASCII-armoured), e.g. C(/usr/share/keyrings/debian-archive-keyring.gpg).
        type: path
        required: true
  minbase_suite:
    description:
      - The suite whose C(main) component debootstrap would install the minimal host
        from; defaults to O(release). Read from the first source that has it.
    type: str
  sets:
    description:
      - Package sets by key, each a list of C(name), C(name=version) or C(name (>= version)).
    type: dict
    required: true
  recommends:
    description:
      - Also bundle what the packages recommend (when it can be had). apt installs
        Recommends by default; missing ones are skipped without error.
    type: bool
    default: false
  dest:
    description:
      - The repository directory, the bundle's C(apt/<target>/). Created when missing.
    type: path
    required: true
  signing_key:
    description:
      - ASCII-armoured (or binary) OpenPGP secret key file that signs the repository's
        InRelease. Hosts trust it through the public key their inventory names.
    type: path
    required: true
  signing_key_passphrase:
    description:
      - Passphrase of O(signing_key), if it has one.
    type: str
  cache_dir:
    description:
      - Directory on the controller for what saves work on the next run, outside the
        bundle. C(sha256.json) remembers the SHA-256 of the repository's files by path,
        size and mtime, so unchanged .debs are not hashed again. C(resolved-<target>.json)
        keeps the last resolution with the verified InRelease texts it came from; while
        every InRelease (fetched and verified on every run) is unchanged and the sets and
        options are the same, the Packages indexes are not read again.
      - Empty disables both.
    type: path
    default: ~/.cache/mlstack/bundle_debs
  timeout:
    description:
      - Seconds to wait for a mirror to answer.
    type: int
    default: 60
requirements:
  - C(gpg) and C(gpgv) on the controller.
attributes:
  check_mode:
    support: full
    description: Reads and verifies the indexes and resolves the sets; reports what would be fetched, written and removed.
  diff_mode:
    support: full
    description: Shows the repository's package list (name=version) before and after.
  idempotent:
    support: full
    description: A second run fetches nothing, rewrites nothing and reports C(changed=false).
notes:
  - The minimal host follows debootstrap 1.0.128 (scripts/debian-common, scripts/gutsy,
    functions resolve_deps). A host that has more installed than a minimal one simply
    does not need some of the bundled .debs.
  - Conflicts between packages are not resolved; apt on the host decides among the
    versions the repository holds.
seealso:
  - name: The bundle's format
    description: docs/bundle-format.md in this collection.
    link: https://github.com/mlstack/platform/blob/main/docs/bundle-format.md
"""

EXAMPLES = r"""
- name: Bundle PostgreSQL for Debian 12 hosts
  mlstack.platform.bundle_debs:
    target: debian-bookworm
    distribution: Debian
    release: bookworm
    sources:
      - uri: http://deb.debian.org/debian
        suites: [bookworm, bookworm-updates]
        components: [main]
        keyring: /usr/share/keyrings/debian-archive-keyring.gpg
      - uri: http://deb.debian.org/debian-security
        suites: [bookworm-security]
        components: [main]
        keyring: /usr/share/keyrings/debian-archive-keyring.gpg
    sets:
      postgresql: [postgresql-15, postgresql-client-15, python3-psycopg2, acl]
    dest: /media/bundle/apt/debian-bookworm
    signing_key: "{{ mlstack_bundle_signing_key }}"
  register: debs

- name: Bundle NVIDIA's container toolkit from its flat repository, pinned
  mlstack.platform.bundle_debs:
    target: ubuntu-noble
    distribution: Ubuntu
    release: noble
    sources:
      - uri: http://archive.ubuntu.com/ubuntu
        suites: [noble, noble-updates, noble-security]
        components: [main, universe]
        keyring: /usr/share/keyrings/ubuntu-archive-keyring.gpg
      - uri: https://nvidia.github.io/libnvidia-container/stable/deb/amd64
        suites: ["./"]
        keyring: /etc/mlstack/nvidia-container-toolkit-keyring.asc
    sets:
      nvidia_container_toolkit:
        - nvidia-container-toolkit=1.17.8-1
        - nvidia-container-toolkit-base=1.17.8-1
    dest: /media/bundle/apt/ubuntu-noble
    signing_key: /srv/keys/bundle-signing.asc
"""

RETURN = r"""
sets:
  description: Per set key, what it resolved to.
  returned: success
  type: dict
  contains:
    packages:
      description: The bundled packages as C(name=version), sorted.
      type: list
      elements: str
      sample: [libpq5=15.14-0+deb12u1, postgresql-15=15.14-0+deb12u1]
    files:
      description: The bundle files of the set, relative to the bundle (C(apt/<target>/<file>)).
      type: list
      elements: str
      sample: [apt/debian-bookworm/postgresql-15_15.14-0+deb12u1_amd64.deb]
  sample: {"postgresql": {"packages": ["acl=2.3.1-3"], "files": ["apt/debian-bookworm/acl_2.3.1-3_amd64.deb"]}}
packages:
  description: Every package of the repository, C(name=version), sorted.
  returned: success
  type: list
  elements: str
baseline:
  description: The minimal host's packages (C(name=version)), as debootstrap --variant=minbase would install them.
  returned: success
  type: list
  elements: str
  sample: [apt=2.6.1, base-files=12.4+deb12u12]
fetched:
  description: .deb files fetched on this run (or, in check mode, that would be).
  returned: success
  type: list
  elements: str
removed:
  description: .deb files removed (or that would be) because no set needs them.
  returned: success
  type: list
  elements: str
index_changed:
  description: Whether Packages, Release and InRelease were (or would be) rewritten.
  returned: success
  type: bool
size:
  description: Total size in bytes of the repository's .deb files.
  returned: success
  type: int
  sample: 24117248
from_cache:
  description: Whether the resolution was the cached one (every InRelease unchanged since it was made).
  returned: success
  type: bool
fingerprint:
  description: Fingerprint of the key that signs InRelease.
  returned: success
  type: str
  sample: 3F1C0E5E7A7C2D0A1B2C3D4E5F60718293A4B5C6
"""

import concurrent.futures
import os
import typing as t

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.mlstack.platform.plugins.module_utils._apt_cache import ResolutionCache, resolution_key
from ansible_collections.mlstack.platform.plugins.module_utils._apt_index import (
    AptIndexError,
    Source,
    load_packages,
    read_release,
)
from ansible_collections.mlstack.platform.plugins.module_utils._apt_repo import (
    HashCache,
    RepoError,
    SigningKey,
    deb_name,
    download,
    index_is_current,
    is_present,
    packages_text,
    stale_debs,
    write_index,
)
from ansible_collections.mlstack.platform.plugins.module_utils._apt_resolve import (
    Candidate,
    Resolver,
    ResolveError,
    Universe,
    minbase,
)

ARGUMENT_SPEC = dict(
    target=dict(type="str", required=True),
    distribution=dict(type="str", required=True, choices=["Debian", "Ubuntu"]),
    release=dict(type="str", required=True),
    architecture=dict(type="str", default="amd64"),
    sources=dict(type="list", elements="dict", required=True, options=dict(
        uri=dict(type="str", required=True),
        suites=dict(type="list", elements="str", required=True),
        components=dict(type="list", elements="str", default=[]),
        keyring=dict(type="path", required=True),
    )),
    minbase_suite=dict(type="str"),
    sets=dict(type="dict", required=True),
    recommends=dict(type="bool", default=False),
    dest=dict(type="path", required=True),
    signing_key=dict(type="path", required=True),
    signing_key_passphrase=dict(type="str", no_log=True),
    cache_dir=dict(type="path", default="~/.cache/mlstack/bundle_debs"),
    timeout=dict(type="int", default=60),
)


def expand_sources(params: t.Dict[str, t.Any]) -> t.List[Source]:
    sources = []
    for number, entry in enumerate(params["sources"]):
        if not entry["suites"]:
            raise ValueError("sources[%d] (%s) names no suites" % (number, entry["uri"]))
        for suite in entry["suites"]:
            if suite.endswith("/") and entry["components"]:
                raise ValueError("sources[%d] (%s): the flat suite %r takes no components" % (number, entry["uri"], suite))
            if not suite.endswith("/") and not entry["components"]:
                raise ValueError("sources[%d] (%s): suite %r needs components" % (number, entry["uri"], suite))
            sources.append(Source(entry["uri"], suite, tuple(entry["components"]), entry["keyring"]))
    return sources


def check_sets(sets: t.Dict[str, t.Any]) -> t.Dict[str, t.List[str]]:
    checked = {}
    for key, packages in sets.items():
        if not isinstance(packages, list) or not all(isinstance(item, str) and item.strip() for item in packages):
            raise ValueError("sets.%s must be a list of package names (name or name=version)" % key)
        checked[key] = packages
    return checked


def describe(sources: t.Sequence[Source]) -> str:
    by_uri: t.Dict[str, t.List[str]] = {}
    for source in sources:
        by_uri.setdefault(source.uri.rstrip("/"), []).append(source.suite)
    return "; ".join("%s %s" % (uri, ", ".join(suites)) for uri, suites in by_uri.items())


def host_baseline(params: t.Dict[str, t.Any], indexes: t.List[t.Any]) -> t.Dict[str, Candidate]:
    suite = params["minbase_suite"] or params["release"]
    release = next((index for index in indexes if index.source.suite == suite), None)
    if release is None:
        raise ValueError("minbase_suite %s is not one of the sources' suites" % suite)
    main = type(release)(release.source, release.release,
                         [(component, p) for component, p in release.packages if component in ("main", "")])
    return minbase(Universe(params["architecture"], [main]), params["release"], params["distribution"])


def resolve(params: t.Dict[str, t.Any], sets: t.Dict[str, t.List[str]], sources: t.List[Source],
            cache: ResolutionCache) -> t.Tuple[t.Dict[str, t.List[Candidate]], t.List[str], str, bool]:
    """Each set's packages, the minimal host (name=version), the inputs' key, and
    whether the result came from the cache."""
    # The InRelease files are what says whether anything changed upstream: fetched (and
    # verified) every run, all at once, so a re-run waits for one round trip, not one per suite.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(8, len(sources)))) as pool:
        releases = list(pool.map(lambda source: read_release(source, open_url, params["timeout"]), sources))
    inputs = {name: params[name] for name in ("target", "distribution", "release", "architecture", "minbase_suite",
                                              "recommends")}
    inputs.update(sets=sets, sources=[[s.uri, s.suite, list(s.components), s.keyring] for s in sources])
    key = resolution_key(releases, inputs)
    cached = cache.get(key)
    if cached is not None:
        return cached[0], cached[1], key, True
    indexes = [load_packages(source, text, params["architecture"], open_url, params["timeout"])
               for source, text in zip(sources, releases)]
    universe = Universe(params["architecture"], indexes)
    baseline = host_baseline(params, indexes)
    resolver = Resolver(params["target"], universe, baseline, describe(sources), params["recommends"])
    resolved = {name: resolver.resolve(packages) for name, packages in sets.items()}
    return resolved, [c.key for _name, c in sorted(baseline.items())], key, False


def repository_packages(dest: str) -> str:
    """name=version lines of the repository's current Packages, for the diff."""
    path = os.path.join(dest, "Packages")
    if not os.path.isfile(path):
        return ""
    lines, name = [], None
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            if line.startswith("Package:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("Version:") and name:
                lines.append("%s=%s" % (name, line.split(":", 1)[1].strip()))
    return "".join(line + "\n" for line in sorted(lines))


def unique_files(candidates: t.Iterable[Candidate]) -> t.Dict[str, Candidate]:
    files: t.Dict[str, Candidate] = {}
    for candidate in candidates:
        name = deb_name(candidate)
        other = files.get(name)
        if other is not None and other.sha256 != candidate.sha256:
            raise RepoError("%s and %s would both be stored as %s" % (other.url, candidate.url, name))
        files[name] = candidate
    return files


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    dest, target = params["dest"], params["target"]
    prefix = "apt/%s/" % target
    try:
        sources = expand_sources(params)
        sets = check_sets(params["sets"])
        cache_dir = params["cache_dir"] or None
        resolutions = ResolutionCache(cache_dir, target)
        resolved, baseline, key, from_cache = resolve(params, sets, sources, resolutions)
    except (ValueError, AptIndexError, ResolveError) as exc:
        module.fail_json(msg=str(exc))

    everything = [c for candidates in resolved.values() for c in candidates]
    try:
        files = unique_files(everything)
    except RepoError as exc:
        module.fail_json(msg=str(exc))
    packages = packages_text(files.values()).encode("utf-8")
    before = repository_packages(dest)
    cache = HashCache(os.path.join(cache_dir, "sha256.json") if cache_dir else None)
    fetched: t.List[str] = []
    try:
        with SigningKey(params["signing_key"], params["signing_key_passphrase"],
                        module.get_bin_path("gpg", required=True), module.get_bin_path("gpgv", required=True)) as signer:
            if not module.check_mode:
                os.makedirs(dest, exist_ok=True)
            for name, candidate in sorted(files.items()):
                path = os.path.join(dest, name)
                if is_present(path, candidate, cache):
                    continue
                fetched.append(prefix + name)
                if not module.check_mode:
                    download(candidate, path, open_url, params["timeout"], cache)
            index_changed = not index_is_current(dest, packages, signer)
            if index_changed and not module.check_mode:
                write_index(dest, target, params["architecture"], packages, signer)
            fingerprint = signer.fingerprint
        removed = stale_debs(dest, set(files))
        if not module.check_mode:
            for name in removed:
                os.unlink(os.path.join(dest, name))
            cache.save()
            if not from_cache:
                resolutions.put(key, resolved, baseline)
    except (RepoError, OSError) as exc:
        module.fail_json(msg="%s; fetched before the failure: %s" % (exc, ", ".join(fetched) or "nothing"))

    result: t.Dict[str, t.Any] = dict(
        changed=bool(fetched or removed or index_changed),
        sets={name: dict(packages=[c.key for c in candidates],
                         files=sorted({prefix + deb_name(c) for c in candidates}))
              for name, candidates in resolved.items()},
        packages=sorted({c.key for c in everything}),
        baseline=baseline,
        from_cache=from_cache,
        fetched=fetched,
        removed=[prefix + name for name in removed],
        index_changed=index_changed,
        size=sum(c.size for c in files.values()),
        fingerprint=fingerprint,
    )
    if module._diff:
        after = "".join(line + "\n" for line in sorted(result["packages"]))
        result["diff"] = dict(before=before, after=after, before_header=os.path.join(dest, "Packages"),
                              after_header=os.path.join(dest, "Packages"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
