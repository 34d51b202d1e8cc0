#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: image_import
short_description: Load image archives or an OCI layout into Docker or containerd, only what is missing
version_added: 0.1.0
description:
  - Loads image archives made by C(docker save), C(skopeo copy ... oci-archive:),
    C(buildah push ... oci-archive:) or C(ctr images export), or images of an OCI image
    layout directory (the bundle's C(images/oci/), C(skopeo copy ... oci:DIR:REF)) into
    the Docker Engine, a containerd (through C(ctr)) or MicroK8s (through C(microk8s ctr)).
  - From a layout (O(layout)), only the images the engine lacks are streamed, as a tar
    built on the fly from the layout's blobs and never written to disk - a C(docker save)
    archive for the Docker Engine (Docker 20.10 cannot load OCI archives), an OCI archive
    holding only those images for containerd and MicroK8s. Each blob is hashed while it
    streams and its last bytes are only sent once it matched its digest; a missing,
    short or damaged blob fails the task naming the image and the blob. OCI archives in
    O(paths) or O(archives) are streamed to the Docker Engine the same way.
  - Reads only the archive's index, that is C(manifest.json) of a C(docker save) archive (also
    in the Docker 25+ layout with C(blobs/sha256/) paths) or C(index.json) of an OCI layout.
    Tar headers are read and layer data is skipped, so the archive is never unpacked and
    a run where every image is present takes about a second whatever the archives' size.
  - Compares the image IDs and digests and the tags each archive names with what the
    engine has; loads an archive only when one of its images is missing, retags an image
    the engine has under another name, and reports C(changed) only when it changed
    something. After a change it reads the engine's image list again and fails unless
    every image is there under every name.
  - The archive is streamed to the engine (the Docker Engine API's C(/images/load), or
    C(ctr images import)); the module never holds an archive in memory.
  - A truncated or corrupt archive, an archive without a requested image, a checksum
    mismatch or an engine that is unreachable or refuses the archive fails the task with a
    message naming the file and the problem. If a load fails half-way, the names it set are
    removed or pointed back at what they named before, so no half-tagged image stays.
  - Compressed archives (C(.tar.gz) and the like) are refused; their index cannot be read
    without decompressing the whole file.
author:
  - mlstack.platform developers (@mlstack)
options:
  paths:
    description:
      - Archive files, or directories whose files matching O(patterns) are archives
        (not recursive, in name order).
      - At least one of O(paths), O(archives) and O(layout) must be given.
    type: list
    elements: path
  patterns:
    description:
      - Shell globs selecting the archives in the directories of O(paths).
    type: list
    elements: str
    default: ['*.tar']
  archives:
    description:
      - Archives with per-archive settings.
    type: list
    elements: dict
    suboptions:
      path:
        description:
          - The archive file.
        type: path
        required: true
      sha256:
        description:
          - Expected SHA-256 of the file (hex, optionally prefixed with C(sha256:)).
          - Takes precedence over an entry for the file in O(sha256sums).
        type: str
      images:
        description:
          - Image references the archive must hold (for example C(minio/minio:RELEASE.2025-01-01)).
            The task fails before anything is loaded when one is missing.
          - The whole archive is loaded in any case; this is a check, not a filter.
        type: list
        elements: str
        default: []
  layout:
    description:
      - An OCI image layout directory on the host (C(oci-layout), C(index.json),
        C(blobs/sha256/)), such as the bundle's C(images/oci/) or the blobs of it that
        the lookup P(mlstack.platform.oci_image_files#lookup) lists.
      - Images are named by the C(io.containerd.image.name) annotation of their
        C(index.json) entry or by C(org.opencontainers.image.ref.name) when that is a
        whole reference (as the bundle and C(skopeo copy ... oci:DIR:REPO:TAG) write it).
      - Only the blobs of the images to load must be there (and every chosen image's
        manifest); O(sha256sums) and O(archives[].sha256) do not apply, blob digests do.
    type: path
  images:
    description:
      - References of the O(layout)'s images to load (any equivalent spelling,
        C(registry:2.8) is C(docker.io/library/registry:2.8)). A reference the layout does
        not hold fails the task before anything changes.
      - Default is every named image of the layout. Requires O(layout).
    type: list
    elements: str
  sha256sums:
    description:
      - A C(SHA256SUMS) file (as C(sha256sum) writes it) giving the expected digest of each
        archive; relative names are taken from the file's directory.
      - Every archive without its own O(archives[].sha256) must be listed in it.
    type: path
  checksum_mode:
    description:
      - When expected digests are checked. Archives whose images are all present are not
        read at all (the engine checked their layers when it loaded them).
      - V(before) hashes every archive that will be loaded or retagged before anything is
        changed, so a mismatch fails with nothing loaded. The file is read twice. For
        O(layout), the blobs of the images to load are hashed before, and again while
        they stream.
      - V(while) hashes an archive as it streams into the engine, reading it once. A
        mismatch is only known when the engine has read the whole file; what was loaded
        is then removed again (names removed or pointed back) and the task fails. For
        O(layout), blobs are only hashed while streaming. An OCI archive streamed to the
        Docker Engine is hashed before (only its blobs stream).
      - V(never) ignores expected digests (a layout's blobs are still checked while streaming).
    type: str
    choices: [before, while, never]
    default: before
  engine:
    description:
      - V(docker) uses the Docker Engine API through the Docker SDK for Python.
      - V(containerd) runs C(ctr) with O(containerd_address) and O(containerd_namespace).
      - V(microk8s) runs C(microk8s ctr) (which knows MicroK8s' containerd socket) in
        O(containerd_namespace).
    type: str
    choices: [docker, containerd, microk8s]
    default: docker
  docker_host:
    description:
      - The Docker Engine API address (V(engine=docker)).
      - If not set, the E(DOCKER_HOST) environment variable is used, then the local socket.
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description:
      - Seconds to wait for an answer of the Docker Engine API. A load of a large archive
        waits for the engine to unpack each layer, so keep this generous.
    type: int
    default: 600
  containerd_address:
    description:
      - containerd's socket (V(engine=containerd)); ignored for V(engine=microk8s).
    type: path
    default: /run/containerd/containerd.sock
  containerd_namespace:
    description:
      - containerd namespace to import into; Kubernetes (and MicroK8s) use V(k8s.io).
    type: str
    default: k8s.io
  ctr_path:
    description:
      - Path of C(ctr) (V(engine=containerd)) or C(microk8s) (V(engine=microk8s)).
        Looked up on E(PATH) and in C(/snap/bin) if not set.
    type: path
requirements:
  - Docker SDK for Python (C(docker)) 5.0 or later on the target, for V(engine=docker)
    (Debian 12's C(python3-docker) is enough).
  - C(ctr) (containerd 1.6 or later) for V(engine=containerd); MicroK8s for V(engine=microk8s).
attributes:
  check_mode:
    support: full
    description: Reports per image what would be loaded or retagged; checks expected digests of those archives.
  diff_mode:
    support: full
    description: Shows the engine's names for the archives' images (name and image ID) before and after.
  idempotent:
    support: full
    description: A second run with the same archives reports C(changed=false) and does not touch the engine.
notes:
  - An image counts as present when the engine reports, for each of the archive's names,
    an image whose ID, manifest digest or config digest is one the archive holds. Docker's
    image ID is the config digest (or, with the containerd image store, the manifest or
    index digest; both are recognised). containerd image records point at a manifest or
    index; for C(docker save) archives containerd writes a manifest of its own, so the
    module compares the config digest reached from it (one C(ctr content get) per name).
  - For OCI archives, image names come from the C(io.containerd.image.name) annotation, or
    from C(org.opencontainers.image.ref.name) when that is a whole reference; a bare tag
    such as C(latest) names no repository, and such an image is only identified by digest.
  - C(docker load) of Docker Engines before 25 cannot read OCI-only archives
    (C(open .../blobs/json, no such file or directory)); the module gives them a
    C(docker save) archive built from the OCI archive's or layout's blobs instead.
  - If a load fails, the names it set are removed or pointed back, every image of the
    archive that was not there before is removed (so no dangling C(<none>) image stays),
    and for containerd the blobs the failed import wrote are removed from the content
    store. A task that imported an archive completely before failing reports C(changed).
seealso:
  - module: community.docker.docker_image_load
    description: Always loads and always reports changed; no check mode.
  - plugin: mlstack.platform.oci_image_files
    plugin_type: lookup
    description: The blob files chosen images of a layout need, to copy only those to a host.
"""

EXAMPLES = r"""
- name: Load the bundle's images into Docker, verifying them against SHA256SUMS
  mlstack.platform.image_import:
    paths:
      - /srv/bundle/images
    sha256sums: /srv/bundle/SHA256SUMS

- name: Load two archives, one with its digest, and make sure it holds the registry image
  mlstack.platform.image_import:
    archives:
      - path: /srv/bundle/images/registry.tar
        sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
        images:
          - registry:2.8.3
      - path: /srv/bundle/images/postgres.tar
    checksum_mode: while

- name: Load two images of the bundle's OCI layout into Docker (only what is missing)
  mlstack.platform.image_import:
    layout: /srv/bundle/images/oci
    images:
      - docker.io/library/registry:2.8.3
      - quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z

- name: Load every image of a layout into MicroK8s, hashing each blob only as it streams
  mlstack.platform.image_import:
    layout: /var/lib/mlstack/oci
    engine: microk8s
    checksum_mode: while

- name: Import into MicroK8s' containerd (namespace k8s.io)
  mlstack.platform.image_import:
    paths: /srv/bundle/images/seldon.tar
    engine: microk8s

- name: Import into a containerd with its own socket
  mlstack.platform.image_import:
    paths: /srv/bundle/images/
    patterns: ['*.tar', '*.oci']
    engine: containerd
    containerd_address: /run/k3s/containerd/containerd.sock
  register: imported

- name: Show what was loaded
  ansible.builtin.debug:
    msg: "{{ imported.images | selectattr('status', 'equalto', 'loaded') | map(attribute='tags') | flatten }}"
"""

RETURN = r"""
archives:
  description: One entry per archive, in input order.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The archive file, or the layout directory.
      type: str
      sample: /srv/bundle/images/registry.tar
    format:
      description: V(docker-save), V(docker-save-oci) (Docker 25+ layout), V(oci) (OCI
        archive) or V(oci-layout) (O(layout)).
      type: str
      sample: docker-save
    status:
      description: V(loaded) if the archive was (or in check mode would be) loaded,
        V(retagged) if only names were set, V(present) if nothing was needed.
      type: str
      sample: loaded
    sha256:
      description: The file's SHA-256 if it was computed, else null.
      type: str
      sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
    sha256_verified:
      description: Whether the file was checked against an expected digest; for a
        layout, whether the blobs of the loaded images were checked against their digests.
      type: bool
      sample: true
    images:
      description: The archive's images, as in RV(images) without RV(images[].archive).
      type: list
      elements: dict
      sample: [{"id": "sha256:4f2c...", "tags": ["docker.io/library/registry:2.8.3"], "status": "loaded"}]
images:
  description: Every image of every archive.
  returned: success
  type: list
  elements: dict
  contains:
    archive:
      description: The archive holding the image.
      type: str
      sample: /srv/bundle/images/registry.tar
    id:
      description: The image's config digest (Docker's image ID), or for a multi-platform
        OCI entry its index digest.
      type: str
      sample: sha256:4f2c6ba0b5ea6f5e4f2e94c0bb2b4e1eaba2d7c3b8f3a6e9b5e2d8b0a3c1f2e4
    tags:
      description: The image's names in the archive, fully qualified.
      type: list
      elements: str
      sample: [docker.io/library/registry:2.8.3]
    status:
      description: V(loaded), V(retagged) or V(present).
      type: str
      sample: present
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.mlstack.platform.plugins.module_utils._archive_sources import (
    SourceError,
    check_required_images,
    collect_sources,
)
from ansible_collections.mlstack.platform.plugins.module_utils._containerd_engine import ContainerdEngine
from ansible_collections.mlstack.platform.plugins.module_utils._docker_engine import (
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    DockerEngine,
)
from ansible_collections.mlstack.platform.plugins.module_utils._image_archive import (
    ArchiveError,
    read_archive,
    read_layout,
)
from ansible_collections.mlstack.platform.plugins.module_utils._image_engine import EngineError, ImageEngine
from ansible_collections.mlstack.platform.plugins.module_utils._image_import import (
    PRESENT,
    ImageImporter,
    ImageImportError,
)
from ansible_collections.mlstack.platform.plugins.module_utils._oci_layout import LayoutError

ARGUMENT_SPEC = dict(
    paths=dict(type="list", elements="path"),
    patterns=dict(type="list", elements="str", default=["*.tar"]),
    archives=dict(type="list", elements="dict", options=dict(
        path=dict(type="path", required=True),
        sha256=dict(type="str"),
        images=dict(type="list", elements="str", default=[]),
    )),
    layout=dict(type="path"),
    images=dict(type="list", elements="str"),
    sha256sums=dict(type="path"),
    checksum_mode=dict(type="str", choices=["before", "while", "never"], default="before"),
    engine=dict(type="str", choices=["docker", "containerd", "microk8s"], default="docker"),
    docker_host=dict(type="str", default="unix:///var/run/docker.sock", fallback=(env_fallback, ["DOCKER_HOST"])),
    timeout=dict(type="int", default=600),
    containerd_address=dict(type="path", default="/run/containerd/containerd.sock"),
    containerd_namespace=dict(type="str", default="k8s.io"),
    ctr_path=dict(type="path"),
)


def connect(module: AnsibleModule) -> ImageEngine:
    params = module.params
    if params["engine"] == "docker":
        if not HAS_DOCKER:
            module.fail_json(msg=missing_required_lib("docker (Docker SDK for Python)"), exception=DOCKER_IMPORT_ERROR)
        return DockerEngine(params["docker_host"], params["timeout"])
    if params["engine"] == "microk8s":
        command = [params["ctr_path"] or module.get_bin_path("microk8s", required=True, opt_dirs=["/snap/bin"]), "ctr"]
    else:
        command = [params["ctr_path"] or module.get_bin_path("ctr", required=True), "--address", params["containerd_address"]]
    return ContainerdEngine(command, params["containerd_namespace"], module.run_command)


def imported_so_far(done: t.List[str], all_paths: t.Optional[t.List[str]]) -> str:
    """Say which archives a failure left imported (each one completely)."""
    if done:
        return "imported completely before the failure: %s" % ", ".join(done)
    if all_paths:
        return "nothing was imported from %s" % ", ".join(all_paths)
    return "nothing else was imported"


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_one_of=[("paths", "archives", "layout")],
                           required_by={"images": "layout"})
    params = module.params
    try:
        sources = []
        if params["paths"] or params["archives"]:
            sources = collect_sources(params["paths"] or [], params["patterns"], params["archives"] or [],
                                      params["sha256sums"])
        archives = []
        for source in sources:
            archive = read_archive(source.path)
            check_required_images(source, archive)
            archives.append((archive, source.sha256))
        if params["layout"]:
            archives.append((read_layout(params["layout"], params["images"]), None))
    except (SourceError, ArchiveError, LayoutError) as exc:
        module.fail_json(msg=str(exc))
    all_paths = [archive.path for archive, dummy in archives]

    done = []  # archives whose import completed before a failure, for the message
    try:
        importer = ImageImporter(connect(module), params["checksum_mode"])
        plans = importer.plan(archives)
        before = importer.names(plans)
        importer.verify_before(plans)
        if not module.check_mode:
            for plan in plans:
                importer.apply(plan)
                if plan.status != PRESENT:
                    done.append(plan.archive.path)
        after = importer.names(plans, predicted=module.check_mode)
    except EngineError as exc:
        module.fail_json(msg="%s engine: %s; %s" % (params["engine"], exc, imported_so_far(done, all_paths)),
                         changed=bool(done))
    except ImageImportError as exc:
        module.fail_json(msg="%s; %s" % (exc, imported_so_far(done, None)) if done else str(exc),
                         changed=bool(done))

    results = [plan.result() for plan in plans]
    result = dict(
        changed=any(plan.status != PRESENT for plan in plans),
        archives=results,
        images=[dict(archive=entry["path"], **image) for entry in results for image in entry["images"]],
    )
    if module._diff:
        header = "%s images" % params["engine"]
        result["diff"] = dict(before=before, after=after, before_header=header, after_header=header)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
