# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

import pytest

from ansible_collections.mlstack.platform.plugins.module_utils._image_archive import read_archive
from ansible_collections.mlstack.platform.plugins.module_utils._image_import import (
    LOADED,
    PRESENT,
    RETAGGED,
    ImageImporter,
    ImageImportError,
)

A1 = "docker.io/mlstack-test/a:1"
B1 = "docker.io/mlstack-test/b:1"
B2 = "docker.io/mlstack-test/b:2"


@pytest.fixture
def two_images(archives):
    a = archives.image("a", ["mlstack-test/a:1"])
    b = archives.image("b", ["mlstack-test/b:1", "mlstack-test/b:2"])
    return a, b, archives.docker_save("ab.tar", [a, b])


def _plans(importer, *paths_and_digests):
    return importer.plan([(read_archive(path), digest) for path, digest in paths_and_digests])


def test_everything_present_touches_nothing(fake_engine, two_images):
    a, b, path = two_images
    engine = fake_engine({A1: a.id, B1: b.id, B2: b.id})
    importer = ImageImporter(engine)
    plans = _plans(importer, (path, "0" * 64))
    importer.verify_before(plans)
    for plan in plans:
        importer.apply(plan)
    assert [p.status for p in plans[0].images] == [PRESENT, PRESENT]
    assert plans[0].status == PRESENT
    assert plans[0].actual_sha256 is None  # a present archive is not even read
    assert engine.changes == []


def test_missing_tag_is_retagged_without_loading(fake_engine, two_images):
    a, b, path = two_images
    engine = fake_engine({A1: a.id, B1: b.id, B2: "sha256:other"})
    importer = ImageImporter(engine)
    plan = _plans(importer, (path, None))[0]
    assert [p.status for p in plan.images] == [PRESENT, RETAGGED]
    importer.apply(plan)
    assert plan.status == RETAGGED
    assert engine.changes == [("tag", b.id, B2)]
    assert engine.refs()[B2] == b.id


def test_untagged_present_image_is_retagged(fake_engine, two_images):
    a, b, path = two_images
    engine = fake_engine({A1: a.id}, ids=[b.id])
    importer = ImageImporter(engine)
    plan = _plans(importer, (path, None))[0]
    importer.apply(plan)
    assert [p.status for p in plan.images] == [PRESENT, RETAGGED]
    assert sorted(engine.changes) == [("tag", b.id, B1), ("tag", b.id, B2)]


def test_absent_image_is_loaded(fake_engine, two_images):
    a, b, path = two_images
    engine = fake_engine({A1: a.id})
    importer = ImageImporter(engine)
    plan = _plans(importer, (path, None))[0]
    importer.apply(plan)
    assert [p.status for p in plan.images] == [PRESENT, LOADED]
    assert plan.status == LOADED
    assert engine.changes == [("load", path)]
    assert engine.refs() == {A1: a.id, B1: b.id, B2: b.id}


def test_untagged_image_in_archive(fake_engine, archives):
    image = archives.image("u")
    path = archives.docker_save("u.tar", [image])
    engine = fake_engine()
    importer = ImageImporter(engine)
    plan = _plans(importer, (path, None))[0]
    assert plan.images[0].status == LOADED
    importer.apply(plan)
    assert image.id in engine.ids
    assert _plans(importer, (path, None))[0].status == PRESENT


def test_before_mode_checks_every_archive_before_loading_any(fake_engine, archives):
    good = archives.docker_save("good.tar", [archives.image("a", ["mlstack-test/a:1"])])
    bad = archives.docker_save("bad.tar", [archives.image("b", ["mlstack-test/b:1"])])
    engine = fake_engine()
    importer = ImageImporter(engine, "before")
    plans = _plans(importer, (good, archives.sha256(good)), (bad, "0" * 64))
    with pytest.raises(ImageImportError, match="bad.tar: sha256 mismatch: expected 0{64}, the file has "
                                               "%s; nothing was loaded" % archives.sha256(bad)):
        importer.verify_before(plans)
    assert engine.changes == []
    assert plans[0].sha256_verified


def test_while_mode_streams_then_undoes_on_mismatch(fake_engine, archives):
    old_b = archives.image("old", [])
    b = archives.image("b", ["mlstack-test/b:1", "mlstack-test/b:2"])
    path = archives.docker_save("b.tar", [b])
    engine = fake_engine({B1: old_b.id})  # b:1 names an older image, b:2 is absent
    importer = ImageImporter(engine, "while")
    plans = _plans(importer, (path, "0" * 64))
    importer.verify_before(plans)
    assert plans[0].actual_sha256 is None  # not hashed ahead in while mode
    with pytest.raises(ImageImportError, match="b.tar: sha256 mismatch: .* what was loaded from it has been "
                                               "removed again"):
        importer.apply(plans[0])
    assert ("load", path) in engine.changes
    assert engine.refs() == {B1: old_b.id}
    assert b.id not in engine.ids


def test_while_mode_with_correct_digest(fake_engine, archives):
    path = archives.docker_save("b.tar", [archives.image("b", ["mlstack-test/b:1"])])
    engine = fake_engine()
    importer = ImageImporter(engine, "while")
    plan = _plans(importer, (path, archives.sha256(path)))[0]
    importer.verify_before([plan])
    importer.apply(plan)
    assert plan.sha256_verified
    assert plan.actual_sha256 == archives.sha256(path)


def test_while_mode_hashes_retag_only_archives_before(fake_engine, two_images):
    a, b, path = two_images
    engine = fake_engine({A1: a.id, B1: b.id})
    importer = ImageImporter(engine, "while")
    plans = _plans(importer, (path, "0" * 64))
    with pytest.raises(ImageImportError, match="sha256 mismatch"):
        importer.verify_before(plans)
    assert engine.changes == []


def test_never_mode_ignores_digest(fake_engine, archives):
    path = archives.docker_save("b.tar", [archives.image("b", ["mlstack-test/b:1"])])
    engine = fake_engine()
    importer = ImageImporter(engine, "never")
    plan = _plans(importer, (path, "0" * 64))[0]
    importer.verify_before([plan])
    importer.apply(plan)
    assert plan.status == LOADED and not plan.sha256_verified


def test_failed_load_leaves_no_half_tagged_image(fake_engine, two_images):
    a, b, path = two_images
    engine = fake_engine({B1: "sha256:older"}, ids=["sha256:older"])
    engine.fail_load_after_images = 1  # a gets loaded and tagged, then the engine fails
    importer = ImageImporter(engine)
    plan = _plans(importer, (path, None))[0]
    with pytest.raises(ImageImportError, match="ab.tar: loading into fake failed: archive/tar: invalid tar header"):
        importer.apply(plan)
    assert engine.refs() == {B1: "sha256:older"}
    assert a.id not in engine.ids


def test_engine_that_forgets_a_tag_gets_it_set(fake_engine, archives):
    image = archives.image("a", ["mlstack-test/a:1"])
    path = archives.docker_save("a.tar", [image])
    engine = fake_engine()
    engine.load_without_tags = True  # like ctr storing another spelling of the name
    importer = ImageImporter(engine)
    plan = _plans(importer, (path, None))[0]
    importer.apply(plan)
    assert engine.refs() == {A1: image.id}
    assert ("tag", image.id, A1) in engine.changes


def test_engine_that_loses_the_image_fails(fake_engine, archives):
    path = archives.docker_save("a.tar", [archives.image("a", ["mlstack-test/a:1"])])
    engine = fake_engine()
    engine.fail_load_after_images = 0
    engine.load = lambda path, reader=None: None  # claims success, loads nothing
    importer = ImageImporter(engine)
    plan = _plans(importer, (path, None))[0]
    with pytest.raises(ImageImportError, match="a.tar: the engine does not have image sha256:"):
        importer.apply(plan)


def test_names_for_diff(fake_engine, two_images):
    a, b, path = two_images
    engine = fake_engine({A1: a.id, B1: "sha256:older"})
    importer = ImageImporter(engine)
    plans = _plans(importer, (path, None))
    assert importer.names(plans) == ("mlstack-test/a:1 %s\nmlstack-test/b:1 sha256:older\n" % a.id).replace(
        "mlstack-test/", "docker.io/mlstack-test/")
    predicted = importer.names(plans, predicted=True)
    assert predicted.splitlines() == ["docker.io/mlstack-test/a:1 " + a.id, "docker.io/mlstack-test/b:1 " + b.id,
                                      "docker.io/mlstack-test/b:2 " + b.id]


def test_image_in_two_archives_is_loaded_once(fake_engine, archives):
    image = archives.image("a", ["mlstack-test/a:1"])
    first = archives.docker_save("first.tar", [image])
    second = archives.docker_save("second.tar", [image])
    engine = fake_engine()
    importer = ImageImporter(engine)
    plans = _plans(importer, (first, None), (second, None))
    assert [plan.status for plan in plans] == [LOADED, LOADED]
    for plan in plans:
        importer.apply(plan)
    assert [plan.status for plan in plans] == [LOADED, PRESENT]
    assert engine.changes == [("load", first)]
