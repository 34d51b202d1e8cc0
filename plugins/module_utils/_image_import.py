# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Plan and apply the import of image archives into an engine.

Per image of an archive the plan says ``present`` (the engine has the image under
every name the archive gives it), ``retagged`` (the engine has the image, some names
are missing or name another image) or ``loaded`` (the engine lacks the image). An
archive is streamed into the engine only when one of its images must be loaded.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.mlstack.platform.plugins.module_utils._checksum import HashingReader, file_sha256
from ansible_collections.mlstack.platform.plugins.module_utils._image_archive import ArchiveImage, ImageArchive
from ansible_collections.mlstack.platform.plugins.module_utils._image_engine import EngineError, ImageEngine

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
    return ImageImportError("image archive %s: %s" % (plan.archive.path, problem))


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

    def verify_before(self, plans: t.Sequence[ArchivePlan]) -> None:
        """Hash, before anything changes, every archive that will be used and has an
        expected digest (in ``while`` mode only those that are not streamed)."""
        if self.checksum_mode == CHECKSUM_NEVER:
            return
        for plan in plans:
            if plan.sha256 is None or plan.status == PRESENT:
                continue
            if self.checksum_mode == CHECKSUM_WHILE and plan.status == LOADED:
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
        try:
            if plan.status == LOADED:
                self._load(plan)
            self.engine.refresh()
            self._point_names(plan)
            self._recheck(plan)
        except (EngineError, ImageImportError) as exc:
            problems = self._rollback(plan, before, present_before)
            message = str(exc)
            if not message.startswith("image archive "):
                message = "image archive %s: loading into %s failed: %s" % (plan.archive.path, self.engine.name, message)
            if problems:
                message += "; undoing the partial import also failed: " + "; ".join(problems)
            raise ImageImportError(message)

    def _load(self, plan: ArchivePlan) -> None:
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

    def _rollback(self, plan: ArchivePlan, before: t.Dict[str, str], present_before: t.Set[str]) -> t.List[str]:
        problems = []
        try:
            self.engine.refresh()
            for ref in plan.archive.refs:
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
            for image in plan.archive.images:
                key = self.engine.find_image(image.digests)
                if image.id not in present_before and key is not None and not image.refs:
                    self.engine.remove_image(key)
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
