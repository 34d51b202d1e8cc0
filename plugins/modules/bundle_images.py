#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: bundle_images
short_description: Copy images into the bundle's one OCI image layout, only what is missing
version_added: 0.1.0
description:
  - Runs on the connected side (the controller that makes the bundle). Copies each image
    with C(skopeo copy) from its upstream registry, or from a registry mirror (a pull-through
    cache such as Harbor or Artifactory), into ONE OCI image layout (C(images/oci) of the
    bundle), so a layer shared by several images is stored once.
  - Each image is named in the layout's C(index.json) by its upstream reference
    (C(org.opencontainers.image.ref.name) = C(repository:tag), registry host spelt out),
    the name C(image_import) and the offline registry's push look it up by.
  - Incremental, an image already named in the layout (with the pinned digest, when one is
    given) is not fetched again. Blobs no image of the layout uses any more (an image
    replaced by a newer tag) are removed, so the layout holds only what it names.
  - Copies by digest when the manifest pins one (C(repository:tag@sha256:...)) and records,
    for every image, the digest of the manifest stored, so a site can pin what it fetched.
  - One platform per image (C(linux/amd64) by default).
author:
  - mlstack.platform developers (@mlstack)
options:
  layout:
    description:
      - The OCI image layout directory (created when missing).
    type: path
    required: true
  images:
    description:
      - The images to hold.
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description:
          - The artifact id (C(image/<key>)), returned with the result.
        type: str
        required: true
      ref:
        description:
          - The upstream reference C(registry/path:tag).
        type: str
        required: true
      digest:
        description:
          - The digest upstream publishes for the tag (pinned in the manifest), or empty.
        type: str
        default: ""
      source:
        description:
          - Where to copy this image from, as skopeo names a source with its transport
            (C(docker-daemon:NAME:TAG), C(docker-archive:PATH), C(oci-archive:PATH),
            C(oci:DIR:REF) or C(docker://REGISTRY/PATH:TAG)), instead of its upstream
            registry or O(mirror). For images no registry holds, such as the execution
            environment built on this machine (C(make ee)); O(tls_verify) and O(authfile)
            apply to a C(docker://) source only.
          - As for the others, an image already named in the layout is not copied again, so
            a rebuilt image needs a new tag (or its digest) to replace it.
        type: str
        default: ""
  mirror:
    description:
      - A registry mirror to copy from instead of the upstream registries, as
        C(host[:port][/prefix]). An image C(registry/path:tag) is read as
        C(<mirror>/path:tag), or C(<mirror>/registry/path:tag) with O(mirror_includes_registry).
    type: str
    default: ""
  mirror_includes_registry:
    description:
      - The mirror keeps each upstream registry under its host name (C(<mirror>/quay.io/...)).
    type: bool
    default: false
  tls_verify:
    description:
      - Verify the source registry's TLS certificate (false for a plain-HTTP lab mirror).
    type: bool
    default: true
  authfile:
    description:
      - A registry credentials file for skopeo (C(auth.json) format) for the source.
    type: path
  os:
    description: The platform's OS.
    type: str
    default: linux
  arch:
    description: The platform's architecture.
    type: str
    default: amd64
  prune:
    description:
      - Drop from the layout's index the images not in O(images) (the site does not need them
        any more), then their blobs.
    type: bool
    default: true
  skopeo:
    description: The skopeo binary.
    type: path
    default: skopeo
  timeout:
    description: Seconds one image copy may take.
    type: int
    default: 1800
attributes:
  check_mode:
    description: Says which images would be copied and which blobs removed, and changes nothing.
    support: full
  diff_mode:
    description: No diff.
    support: none
  idempotent:
    description: Images already in the layout are not copied again; a second run reports no change.
    support: full
notes:
  - Needs skopeo on the connected side (Debian's C(skopeo) package).
"""

EXAMPLES = r"""
- name: Copy the site's images into the bundle
  mlstack.platform.bundle_images:
    layout: /media/bundle/images/oci
    images:
      - {id: image/minio, ref: "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", digest: "sha256:14ce..."}
    mirror: harbor.example.com/proxy
  delegate_to: localhost
"""

RETURN = r"""
images:
  description: Per image, what was done and what the layout holds.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: The artifact id., type: str}
    ref: {description: The name in the layout., type: str}
    source: {description: "What skopeo read (mirror, upstream by digest when pinned, or the image's own O(images[].source)).", type: str}
    digest: {description: The digest of the manifest stored (empty in check mode for a new image)., type: str}
    action: {description: "C(present), C(copied), or C(would copy) in check mode.", type: str}
    files: {description: "Paths relative to the layout's parent's parent (C(images/oci/blobs/sha256/...))", type: list}
removed_images:
  description: Images dropped from the layout's index (not needed by the site any more).
  returned: always
  type: list
  elements: str
removed_blobs:
  description: Blobs no image of the layout uses any more, removed.
  returned: always
  type: list
  elements: str
"""

import json
import os
import shutil
import subprocess
import tempfile
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils import _image_ref, _oci_layout


def source_of(ref: str, digest: str, mirror: str, includes_registry: bool) -> str:
    """The reference skopeo reads: upstream, or its place in the mirror; by digest when pinned."""
    repository, tag = _image_ref.parse(ref)[:2]
    registry, path = repository.split("/", 1)
    if mirror:
        mirror = mirror.rstrip("/")
        repository = "%s/%s/%s" % (mirror, registry, path) if includes_registry else "%s/%s" % (mirror, path)
    return "%s@%s" % (repository, digest) if digest else "%s:%s" % (repository, tag)


def copy_argv(skopeo: str, params: t.Dict[str, t.Any], source: str, dest: str) -> t.List[str]:
    """skopeo copy from ``source`` (with its transport) into the layout; the registry options
    only for a registry source (for docker-daemon: skopeo would read --src-tls-verify as the
    daemon's TLS, which these options are not about)."""
    argv = [skopeo, "copy", "--quiet", "--override-os", params["os"], "--override-arch", params["arch"]]
    if source.startswith("docker://"):
        argv.append("--src-tls-verify=%s" % ("true" if params["tls_verify"] else "false"))
        if params["authfile"]:
            argv += ["--src-authfile", params["authfile"]]
    return argv + [source, dest]


SOURCE_TRANSPORTS = ("docker://", "docker-daemon:", "docker-archive:", "oci-archive:", "oci:")


def first_missing_dir(path: str) -> str:
    """The outermost of ``path`` and its parents that does not exist yet ("" if it exists)."""
    missing = ""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        missing, parent = path, os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def layout_images(layout: str) -> t.Dict[str, _oci_layout.LayoutImage]:
    if not os.path.isfile(os.path.join(layout, "index.json")):
        return {}
    store = _oci_layout.open_layout(layout)
    return {image.ref: image for image in _oci_layout.read_images(store) if image.ref}


def collect_garbage(layout: str, images: t.Iterable[_oci_layout.LayoutImage], check: bool) -> t.List[str]:
    used = {blob.path for image in images for blob in image.blobs}
    blob_dir = os.path.join(layout, "blobs", "sha256")
    removed = []
    if not os.path.isdir(blob_dir):
        return removed
    for name in sorted(os.listdir(blob_dir)):
        path = "blobs/sha256/" + name
        if path not in used:
            removed.append(path)
            if not check:
                os.unlink(os.path.join(layout, path))
    return removed


def prune_index(layout: str, keep: t.Set[str], check: bool) -> t.List[str]:
    """Removes index.json entries whose image is not in ``keep``; returns their names."""
    path = os.path.join(layout, "index.json")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as handle:
        index = json.load(handle)
    kept, dropped = [], []
    for entry in index.get("manifests") or []:
        name = (entry.get("annotations") or {}).get(_oci_layout.ANNOTATION_REF_NAME, "")
        try:
            normal = _image_ref.normalize(name) if name else ""
        except _image_ref.InvalidReference:
            normal = ""
        (kept if normal in keep else dropped).append(entry)
    if dropped and not check:
        index["manifests"] = kept
        handle, temp = tempfile.mkstemp(dir=layout, prefix=".index.json.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(index, out)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    return [(entry.get("annotations") or {}).get(_oci_layout.ANNOTATION_REF_NAME, entry.get("digest", ""))
            for entry in dropped]


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            layout=dict(type="path", required=True),
            images=dict(type="list", elements="dict", required=True, options=dict(
                id=dict(type="str", required=True),
                ref=dict(type="str", required=True),
                digest=dict(type="str", default=""),
                source=dict(type="str", default=""),
            )),
            mirror=dict(type="str", default=""),
            mirror_includes_registry=dict(type="bool", default=False),
            tls_verify=dict(type="bool", default=True),
            authfile=dict(type="path"),
            os=dict(type="str", default="linux"),
            arch=dict(type="str", default="amd64"),
            prune=dict(type="bool", default=True),
            skopeo=dict(type="path", default="skopeo"),
            timeout=dict(type="int", default=1800),
        ),
        supports_check_mode=True,
    )
    params = module.params
    layout = params["layout"]
    skopeo = module.get_bin_path(params["skopeo"]) if "/" not in params["skopeo"] else params["skopeo"]
    if not skopeo:
        module.fail_json(msg="bundle_images: skopeo is not installed on the connected side (apt-get install skopeo)")
    try:
        held = layout_images(layout)
    except _oci_layout.LayoutError as exc:
        module.fail_json(msg="bundle_images: %s" % exc)

    for image in params["images"]:
        if image["source"] and not image["source"].startswith(SOURCE_TRANSPORTS):
            module.fail_json(msg="bundle_images: %s: source %r names no skopeo transport (one of %s)"
                             % (image["id"], image["source"], ", ".join(SOURCE_TRANSPORTS)))
    results, changed = [], False
    bundle_root = os.path.dirname(os.path.dirname(layout.rstrip("/")))
    created = first_missing_dir(layout)

    def fail(msg: str) -> None:
        """Fail; a layout this run began and copied nothing into is removed again (with the
        directories made for it), so a failed first run leaves no half-made bundle."""
        if created and not os.path.isfile(os.path.join(layout, "index.json")):
            shutil.rmtree(created, ignore_errors=True)
        module.fail_json(msg=msg, images=results)
    for image in params["images"]:
        try:
            ref = _image_ref.normalize(image["ref"])
            source = image["source"] or source_of(ref, image["digest"], params["mirror"],
                                                  params["mirror_includes_registry"])
        except _image_ref.InvalidReference as exc:
            module.fail_json(msg="bundle_images: %s: %s" % (image["id"], exc))
        present = held.get(ref)
        if present is not None and (not image["digest"] or image["digest"] in present.digests):
            results.append(dict(id=image["id"], ref=ref, source=source, digest=present.manifest.digest,
                                action="present"))
            continue
        changed = True
        if module.check_mode:
            results.append(dict(id=image["id"], ref=ref, source=source, digest="", action="would copy"))
            continue
        os.makedirs(layout, exist_ok=True)
        argv = copy_argv(skopeo, params, source if image["source"] else "docker://" + source,
                         "oci:%s:%s" % (layout, ref))
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=params["timeout"], check=False)
        except subprocess.TimeoutExpired:
            fail("bundle_images: copying %s from %s took more than %d s" % (ref, source, params["timeout"]))
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            fail("bundle_images: cannot copy %s from %s: %s" % (ref, source, detail))
        held = layout_images(layout)
        if ref not in held:
            module.fail_json(msg="bundle_images: skopeo copied %s but %s/index.json does not name it" % (ref, layout))
        results.append(dict(id=image["id"], ref=ref, source=source, digest=held[ref].manifest.digest,
                            action="copied"))

    dropped: t.List[str] = []
    if params["prune"]:
        wanted = {result["ref"] for result in results}
        dropped = prune_index(layout, wanted, module.check_mode)
        if not module.check_mode:
            held = layout_images(layout)
        else:
            held = {ref: image for ref, image in held.items() if ref in wanted}
    removed = collect_garbage(layout, held.values(), module.check_mode) if held else []
    changed = changed or bool(removed) or bool(dropped)
    prefix = os.path.relpath(layout, bundle_root).replace(os.sep, "/")
    for result in results:
        image = held.get(result["ref"])
        result["files"] = sorted("%s/%s" % (prefix, blob.path) for blob in image.blobs) if image else []
    module.exit_json(changed=changed, images=results, removed_images=dropped, removed_blobs=removed)


if __name__ == "__main__":
    main()
