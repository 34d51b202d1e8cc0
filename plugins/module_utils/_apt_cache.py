# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The last resolution of a target, reused while its inputs are unchanged.

The key is the SHA-256 of everything the resolution depends on: the verified text of
every suite's InRelease (which holds the digest of every Packages index), the sets and
the options. InRelease is fetched and verified on every run; only when each one says
exactly what it said last time are the (large) Packages indexes not read again and the
chosen paragraphs taken from the cache, so a no-op run costs a few small downloads.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._apt_index import Source
from ansible_collections.mlstack.platform.plugins.module_utils._apt_resolve import Candidate

# Bump when the resolver's results change for the same inputs.
RESOLVER_VERSION = 1


def resolution_key(releases: t.Sequence[str], inputs: t.Dict[str, t.Any]) -> str:
    document = json.dumps({"version": RESOLVER_VERSION, "releases": list(releases), "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def _dump(candidate: Candidate) -> t.Dict[str, t.Any]:
    source = candidate.source
    return {"paragraph": candidate.paragraph, "component": candidate.component,
            "source": [source.uri, source.suite, list(source.components), source.keyring]}


def _load(entry: t.Dict[str, t.Any]) -> Candidate:
    uri, suite, components, keyring = entry["source"]
    paragraph = entry["paragraph"]
    return Candidate(paragraph["package"], paragraph["version"], paragraph.get("architecture", ""), paragraph,
                     Source(uri, suite, tuple(components), keyring), entry["component"])


class ResolutionCache:
    """One JSON file per target: {"key": ..., "sets": {key: [candidate]}, "baseline": [name=version]}."""

    def __init__(self, directory: t.Optional[str], target: str) -> None:
        self.path = os.path.join(directory, "resolved-%s.json" % target) if directory else None

    def get(self, key: str) -> t.Optional[t.Tuple[t.Dict[str, t.List[Candidate]], t.List[str]]]:
        if not self.path or not os.path.isfile(self.path):
            return None
        try:
            with open(self.path, encoding="utf-8") as stream:
                data = json.load(stream)
            if data.get("key") != key:
                return None
            sets = {name: [_load(entry) for entry in entries] for name, entries in data["sets"].items()}
            return sets, list(data["baseline"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, sets: t.Dict[str, t.List[Candidate]], baseline: t.List[str]) -> None:
        if not self.path:
            return
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".resolved-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump({"key": key, "baseline": baseline,
                       "sets": {name: [_dump(c) for c in candidates] for name, candidates in sets.items()}}, stream)
        os.replace(tmp, self.path)
