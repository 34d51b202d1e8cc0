# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Plan and apply the import of image archives into an engine.

Per image of an archive the plan says ``present`` (the engine has the image under
every name the archive gives it), ``retagged`` (the engine has the image, some names
are missing or name another image) or ``loaded`` (the engine lacks the image). An
archive is streamed into the engine only when one of its images must be loaded.

An OCI layout (or an OCI archive for the Docker Engine, which before version 25
cannot load one) is not streamed as it is: a tar stream holding only the images to
load is built from its blobs (_image_stream), each blob verified against its digest
while it streams.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.mlstack.platform.plugins.module_utils._checksum import HashingReader, file_sha256
from ansible_collections.mlstack.platform.plugins.module_utils._image_archive import (
    FORMAT_LAYOUT,
    FORMAT_OCI,
    ArchiveImage,
    ImageArchive,
)
from ansible_collections.mlstack.platform.plugins.module_utils._image_engine import EngineError, ImageEngine
from ansible_collections.mlstack.platform.plugins.module_utils._image_stream import (
    DOCKER_ARCHIVE,
    OCI_ARCHIVE,
    LayoutStream,
)
from ansible_collections.mlstack.platform.plugins.module_utils._oci_layout import (
    LayoutError,
    LayoutImage,
    check_present,
    verify_blobs,
)

PRESENT = "present"
RETAGGED = "retagged"
LOADED = "loaded"

CHECKSUM_BEFORE = "before"
CHECKSUM_WHILE = "while"
CHECKSUM_NEVER = "never"


class ImageImportError(Exception):
    """An import that failed; the message names the archive and what went wrong."""


@dataclass
class ImagePlan:
    image: ArchiveImage
    status: str
    source: t.Optional[str] = None  # engine handle to retag from
    missing: t.List[str] = field(default_factory=list)  # refs to (re)point at the image


@dataclass
class ArchivePlan:
    archive: ImageArchive
    sha256: t.Optional[str]
    images: t.List[ImagePlan] = field(default_factory=list)
    sha256_verified: bool = False
    actual_sha256: t.Optional[str] = None

    @property
    def status(self) -> str:
        statuses = {image.status for image in self.images}
        for status in (LOADED, RETAGGED):
            if status in statuses:
                return status
        return PRESENT

    def result(self) -> t.Dict[str, t.Any]:
        return {
            "path": self.archive.path,
            "format": self.archive.format,
            "status": self.status,
            "sha256": self.actual_sha256,
            "sha256_verified": self.sha256_verified,
            "images": [{"id": p.image.id, "tags": list(p.image.refs), "status": p.status} for p in self.images],
        }


def _failure(plan: ArchivePlan, problem: str) -> ImageImportError:
    return ImageImportError("%s: %s" % (plan.archive.what, problem))


class ImageImporter:
    def __init__(self, engine: ImageEngine, checksum_mode: str = CHECKSUM_BEFORE) -> None:
        self.engine = engine
        self.checksum_mode = checksum_mode
        self._engine_changed = False

    def _plan_image(self, image: ArchiveImage) -> ImagePlan:
        missing = [ref for ref in image.refs if not self.engine.matches(ref, image.digests)]
        if image.refs and not missing:
            return ImagePlan(image, PRESENT)
        source = self.engine.find_image(image.digests)
        if source is None:
            return ImagePlan(image, LOADED, missing=missing)
        return ImagePlan(image, RETAGGED if missing else PRESENT, source=source, missing=missing)

    def plan(self, archives: t.Sequence[t.Tuple[ImageArchive, t.Optional[str]]]) -> t.List[ArchivePlan]:
        return [ArchivePlan(archive, sha256, [self._plan_image(image) for image in archive.images])
                for archive, sha256 in archives]

    def stream_shape(self, archive: ImageArchive) -> t.Optional[str]:
        """The shape of the stream built for ``archive``, or None when the file itself
        is streamed."""
        if archive.oci is None:
            return None
        if archive.format == FORMAT_LAYOUT:
            return DOCKER_ARCHIVE if self.engine.wants_docker_archive else OCI_ARCHIVE
        if archive.format == FORMAT_OCI and self.engine.wants_docker_archive:
            return DOCKER_ARCHIVE
        return None

    def _images_to_stream(self, plan: ArchivePlan) -> t.List[LayoutImage]:
        if plan.archive.oci is None:
            raise AssertionError("a layout stream needs the archive's OCI index")
        return plan.archive.oci.images_for(p.image.id for p in plan.images if p.status == LOADED)

    def verify_before(self, plans: t.Sequence[ArchivePlan]) -> None:
        """Check, before anything changes, what will be used: the blobs a built stream
        needs (present with the right size; in ``before`` mode also hashed), and the
        expected digest of every archive file that will be used (in ``while`` mode only
        of those not streamed as they are)."""
        for plan in plans:
            if plan.status == LOADED and self.stream_shape(plan.archive):
                if plan.archive.oci is None:
                    raise AssertionError("a layout stream needs the archive's OCI index")
                images = self._images_to_stream(plan)
                try:
                    if self.checksum_mode == CHECKSUM_BEFORE:
                        verify_blobs(plan.archive.oci.store, images)
                        plan.sha256_verified = plan.archive.format == FORMAT_LAYOUT
                    else:
                        check_present(plan.archive.oci.store, images)
                except LayoutError as exc:
                    raise ImageImportError("%s; nothing was loaded from it" % exc)
        if self.checksum_mode == CHECKSUM_NEVER:
            return
        for plan in plans:
            if plan.sha256 is None or plan.status == PRESENT:
                continue
            if self.checksum_mode == CHECKSUM_WHILE and plan.status == LOADED and not self.stream_shape(plan.archive):
                continue
            try:
                plan.actual_sha256 = file_sha256(plan.archive.path)
            except OSError as exc:
                raise _failure(plan, "cannot read it (%s)" % exc)
            self._check_digest(plan)

    @staticmethod
    def _check_digest(plan: ArchivePlan) -> None:
        if plan.actual_sha256 != plan.sha256:
            raise _failure(plan, "sha256 mismatch: expected %s, the file has %s; nothing was loaded from it"
                           % (plan.sha256, plan.actual_sha256))
        plan.sha256_verified = True

    def apply(self, plan: ArchivePlan) -> None:
        """Load or retag what ``plan`` says; on any failure, undo this archive's
        changes to the engine's names and raise ImageImportError."""
        if self._engine_changed:  # an earlier archive may have brought these images
            plan.images = [self._plan_image(image_plan.image) for image_plan in plan.images]
        if plan.status == PRESENT:
            return
        self._engine_changed = True
        before = dict(self.engine.refs())
        present_before = {image.id for image in plan.archive.images if self.engine.find_image(image.digests)}
        content_before = self.engine.content_state() if plan.status == LOADED else None
        try:
            if plan.status == LOADED:
                self._load(plan)
            self.engine.refresh()
            self._point_names(plan)
            self._recheck(plan)
        except (EngineError, ImageImportError, LayoutError) as exc:
            problems = self._rollback(plan, before, present_before)
            if content_before is not None:
                problems.extend(self.engine.discard_new_content(content_before))
            message = str(exc)
            if isinstance(exc, LayoutError):
                message += "; nothing of it is left in the engine"
            elif not message.startswith(("image archive ", "image layout ")):
                message = "%s: loading into %s failed: %s" % (plan.archive.what, self.engine.name, message)
            if problems:
                message += "; undoing the partial import also failed: " + "; ".join(problems)
            raise ImageImportError(message)

    def _load(self, plan: ArchivePlan) -> None:
        shape = self.stream_shape(plan.archive)
        if shape is not None:
            if plan.archive.oci is None:
                raise AssertionError("a layout stream needs the archive's OCI index")
            with LayoutStream(plan.archive.oci.store, self._images_to_stream(plan), shape) as stream:
                self.engine.load(plan.archive.path, stream)
            plan.sha256_verified = plan.sha256_verified or plan.archive.format == FORMAT_LAYOUT
            return
        if self.checksum_mode == CHECKSUM_WHILE and plan.sha256 is not None:
            with HashingReader(plan.archive.path) as reader:
                self.engine.load(plan.archive.path, reader)
                plan.actual_sha256 = reader.hexdigest()
            try:
                self._check_digest(plan)
            except ImageImportError:
                raise _failure(plan, "sha256 mismatch: expected %s, the file has %s; what was loaded from it "
                               "has been removed again" % (plan.sha256, plan.actual_sha256))
        else:
            self.engine.load(plan.archive.path)

    def _point_names(self, plan: ArchivePlan) -> None:
        """Give every image all its names (retag; after a load this also covers
        engines that stored a name in another spelling than the archive's)."""
        changed = False
        for image_plan in plan.images:
            for ref in image_plan.image.refs:
                if self.engine.matches(ref, image_plan.image.digests):
                    continue
                source = self.engine.find_image(image_plan.image.digests)
                if source is None:
                    raise _failure(plan, "the engine does not have image %s after the import" % image_plan.image.id)
                self.engine.tag(source, ref)
                changed = True
        if changed:
            self.engine.refresh()

    def _recheck(self, plan: ArchivePlan) -> None:
        for image_plan in plan.images:
            image = image_plan.image
            wrong = [self.engine.display(ref) for ref in image.refs if not self.engine.matches(ref, image.digests)]
            if wrong or self.engine.find_image(image.digests) is None:
                raise _failure(plan, "after the import the engine does not have image %s%s"
                               % (image.id, " as " + ", ".join(wrong) if wrong else ""))

    def _names_to_undo(self, plan: ArchivePlan, before: t.Dict[str, str]) -> t.List[str]:
        """The archive's names, and any name that appeared during the import and holds
        one of its images (an engine may add names of its own)."""
        digests: t.Set[str] = set()
        for image in plan.archive.images:
            digests |= image.digests
        refs = list(plan.archive.refs)
        for ref, key in sorted(self.engine.refs().items()):
            if ref not in before and ref not in refs and self.engine.image_digests(key) & digests:
                refs.append(ref)
        return refs

    def _rollback(self, plan: ArchivePlan, before: t.Dict[str, str], present_before: t.Set[str]) -> t.List[str]:
        """Point every name back at what it named before (or remove it), then remove
        every image of the archive that was not there before: whatever names it got, no
        image of a failed import stays (not even one that no name points at)."""
        problems = []
        try:
            self.engine.refresh()
            for ref in self._names_to_undo(plan, before):
                old, new = before.get(ref), self.engine.refs().get(ref)
                if old == new:
                    continue
                try:
                    if old is None:
                        self.engine.untag(ref)
                    else:
                        self.engine.restore(ref, old)
                except EngineError as exc:
                    problems.append(str(exc))
            self.engine.refresh()
            removed = False
            for image in plan.archive.images:
                key = self.engine.find_image(image.digests)
                if image.id not in present_before and key is not None:
                    self.engine.remove_image(key)
                    removed = True
            if removed:
                self.engine.refresh()
        except EngineError as exc:
            problems.append(str(exc))
        return problems

    def names(self, plans: t.Sequence[ArchivePlan], predicted: bool = False) -> str:
        """The engine's view of the archives' names, one ``name id`` line each, for --diff.

        A name is shown with the archive image's ID when it holds that image, else with
        the engine's own key. ``predicted`` shows the state the plans lead to."""
        lines = []
        refs = self.engine.refs()
        for plan in plans:
            for image_plan in plan.images:
                image = image_plan.image
                for ref in image.refs:
                    if predicted or self.engine.matches(ref, image.digests):
                        lines.append("%s %s" % (self.engine.display(ref), image.id))
                    elif ref in refs:
                        lines.append("%s %s" % (self.engine.display(ref), refs[ref]))
        return "".join(line + "\n" for line in sorted(set(lines)))
