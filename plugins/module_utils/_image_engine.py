# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What image_import needs from a container engine, whichever engine it is."""

from __future__ import annotations

import typing as t


class EngineError(Exception):
    """The engine is unreachable or refused an operation; the message says which."""


class ImageEngine:
    """The image store of one engine.

    An image is known to the engine under a *key*: Docker's image ID, or the target
    digest of a containerd image record. :meth:`image_digests` turns a key into every
    digest that identifies the image (config, manifest and index digests), which is
    what an archive's images are compared against.
    """

    name = "engine"
    # True for an engine that is given a docker-archive built from an OCI layout
    # (the Docker Engine: before version 25 it cannot load OCI archives).
    wants_docker_archive = False

    def refresh(self) -> None:
        """Read the engine's image list again (after a change)."""
        raise NotImplementedError

    def refs(self) -> t.Dict[str, str]:
        """Normalized reference -> image key, as of the last refresh."""
        raise NotImplementedError

    def image_digests(self, key: str) -> t.Set[str]:
        raise NotImplementedError

    def find_image(self, digests: t.Set[str]) -> t.Optional[str]:
        """A handle :meth:`tag` accepts as source for an image with one of
        ``digests``, or None when the engine does not have it."""
        raise NotImplementedError

    def load(self, path: str, reader: t.Optional[t.Any] = None) -> None:
        """Stream the archive at ``path``, or ``reader`` when given (a HashingReader of
        the file, or a LayoutStream built for it), into the engine."""
        raise NotImplementedError

    def content_state(self) -> t.Optional[t.Set[str]]:
        """What the engine's content store holds before a load, for
        :meth:`discard_new_content`; None for an engine that keeps no content of a
        failed load."""
        return None

    def discard_new_content(self, before: t.Set[str]) -> t.List[str]:
        """Remove content a failed load left behind (not in ``before``); returns
        problems, one line each."""
        return []

    def tag(self, source: str, ref: str) -> None:
        raise NotImplementedError

    def untag(self, ref: str) -> None:
        raise NotImplementedError

    def restore(self, ref: str, key: str) -> None:
        """Point ``ref`` back at the image ``key`` it named before a failed change."""
        raise NotImplementedError

    def remove_image(self, key: str) -> None:
        raise NotImplementedError

    def display(self, ref: str) -> str:
        """``ref`` spelled the way this engine's own tools show it."""
        return ref

    def matches(self, ref: str, digests: t.Set[str]) -> bool:
        """True when ``ref`` names an image with one of ``digests``."""
        key = self.refs().get(ref)
        return key is not None and bool(self.image_digests(key) & digests)
