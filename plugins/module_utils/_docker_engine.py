# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Docker Engine through the Docker SDK's low-level APIClient (SDK 5 and later)."""

from __future__ import annotations

import traceback
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._image_engine import EngineError, ImageEngine
from ansible_collections.mlstack.platform.plugins.module_utils._image_ref import (
    InvalidReference,
    familiar,
    normalize,
)

try:
    from docker import APIClient
    from docker.errors import DockerException
    from requests.exceptions import RequestException
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR: t.Optional[str] = traceback.format_exc()
else:
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def _errors() -> t.Tuple[t.Type[BaseException], ...]:
    return (DockerException, RequestException, OSError)


def _split(ref: str) -> t.Tuple[str, str]:
    repository, dummy, tag = ref.rpartition(":")
    if not repository or "/" in tag:
        raise EngineError("cannot tag %s: the reference has no tag" % ref)
    return familiar(repository), tag


class DockerEngine(ImageEngine):
    name = "docker"
    wants_docker_archive = True

    def __init__(self, docker_host: str = DEFAULT_DOCKER_HOST, timeout: int = 300,
                 client: t.Any = None) -> None:
        self.docker_host = docker_host
        try:
            self._client = client or APIClient(base_url=docker_host, version="auto", timeout=timeout)
        except _errors() as exc:
            raise EngineError("cannot reach the Docker Engine at %s: %s" % (docker_host, exc))
        self._refs: t.Dict[str, str] = {}
        self._ids: t.Set[str] = set()
        self.refresh()

    def refresh(self) -> None:
        try:
            images = self._client.images(all=True)
        except _errors() as exc:
            raise EngineError("cannot list the images of the Docker Engine at %s: %s" % (self.docker_host, exc))
        self._refs, self._ids = {}, set()
        for image in images:
            self._ids.add(image["Id"])
            for tag in image.get("RepoTags") or []:
                if tag == "<none>:<none>":
                    continue
                try:
                    self._refs[normalize(tag)] = image["Id"]
                except InvalidReference:
                    continue

    def refs(self) -> t.Dict[str, str]:
        return self._refs

    def image_digests(self, key: str) -> t.Set[str]:
        return {key}

    def find_image(self, digests: t.Set[str]) -> t.Optional[str]:
        found = sorted(digests & self._ids)
        return found[0] if found else None

    def load(self, path: str, reader: t.Optional[t.Any] = None) -> None:
        stream = reader if reader is not None else open(path, "rb")  # pylint: disable=consider-using-with
        try:
            for message in self._client.load_image(stream, quiet=True) or []:
                if isinstance(message, dict) and message.get("error"):
                    detail = message.get("errorDetail") or {}
                    raise EngineError(detail.get("message") or message["error"])
        except _errors() as exc:
            raise EngineError(str(exc))
        finally:
            if reader is None:
                stream.close()

    def tag(self, source: str, ref: str) -> None:
        repository, tag = _split(ref)
        try:
            self._client.tag(source, repository, tag, force=True)
        except _errors() as exc:
            raise EngineError("cannot tag %s as %s: %s" % (source, familiar(ref), exc))

    def untag(self, ref: str) -> None:
        self.remove_image(familiar(ref))

    def restore(self, ref: str, key: str) -> None:
        self.tag(key, ref)

    def remove_image(self, key: str) -> None:
        try:
            self._client.remove_image(key)
        except _errors() as exc:
            raise EngineError("cannot remove %s: %s" % (key, exc))

    def display(self, ref: str) -> str:
        return familiar(ref)
