# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Filters of playbooks/bundle.yml (role bundle): what each fetcher is asked for, and the
artifact records of MANIFEST.json (docs/bundle-format.md) made from what they return.
Documentation beside this file (bundle_filters.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.module_utils import _artifacts, _image_ref


def _by_id(artifacts):
    return {a["id"]: a for a in artifacts or []}


def bundle_image_specs(artifacts, images):
    """``[{id, ref, digest}]`` for bundle_images, from the image artifacts and the
    manifest's images section."""
    out = []
    for artifact in artifacts or []:
        entry = (images or {}).get(artifact["key"])
        if not entry or not entry.get("repository") or not entry.get("tag"):
            raise AnsibleFilterError("bundle_image_specs: mlstack_artifacts.images.%s lacks repository or tag"
                                     % artifact["key"])
        try:
            ref = _image_ref.normalize("%s:%s" % (entry["repository"], entry["tag"]))
        except _image_ref.InvalidReference as exc:
            raise AnsibleFilterError("bundle_image_specs: %s: %s" % (artifact["id"], exc))
        out.append({"id": artifact["id"], "ref": ref, "digest": str(entry.get("digest") or "")})
    return out


def bundle_needs(artifacts, manifest):
    """What bundle_verify must find for the artifacts a site needs: each id, and for an
    image ``{id, ref}`` with its upstream name, so a bundle made for another tag of the
    same image is refused."""
    try:
        refs = _artifacts.image_refs(manifest, artifacts or [])
    except _artifacts.ArtifactError as exc:
        raise AnsibleFilterError("bundle_needs: %s" % exc)
    out = []
    for artifact in artifacts or []:
        if artifact["id"] in refs:
            out.append({"id": artifact["id"], "ref": _image_ref.normalize(refs[artifact["id"]])})
        else:
            out.append(artifact["id"])
    return out


def bundle_image_records(results, artifacts, images):
    """MANIFEST.json records of the images bundle_images holds."""
    by_id = _by_id(artifacts)
    records = []
    for result in results or []:
        artifact = by_id[result["id"]]
        entry = images[artifact["key"]]
        records.append({
            "id": result["id"], "kind": "image", "key": artifact["key"],
            "name": entry["repository"], "version": str(entry["tag"]),
            "source": result["source"], "digest": result["digest"], "ref": result["ref"],
            "files": list(result["files"]),
        })
    return records


def bundle_deb_sets(artifacts, manifest, target):
    """``{key: [apt package names]}`` of the deb artifacts of ``target``."""
    sets = {}
    for artifact in artifacts or []:
        if artifact["kind"] == "debs" and artifact.get("target") == target:
            try:
                sets[artifact["key"]] = _artifacts.deb_packages(manifest, artifact["key"], target)
            except _artifacts.ArtifactError as exc:
                raise AnsibleFilterError("bundle_deb_sets: %s" % exc)
    return sets


def bundle_deb_sources(manifest, target, repositories=None):
    """The apt sources bundle_debs reads for ``target``: the target's own, then each
    third-party repository of ``repositories`` (``{name: keyring file}``, keys fetched and
    checked by the caller). A repository with ``components`` is an archive at
    ``<url>/<distribution>`` with suite ``<release>``; one without is flat, at ``url`` with
    ``$(ARCH)`` filled in."""
    try:
        target_entry = _artifacts.check_target(manifest, target)
    except _artifacts.ArtifactError as exc:
        raise AnsibleFilterError("bundle_deb_sources: %s" % exc)
    sources = [dict(s) for s in target_entry.get("apt_sources") or []]
    if not sources:
        raise AnsibleFilterError("bundle_deb_sources: mlstack_artifacts.targets.%s has no apt_sources" % target)
    known = manifest.get("apt_repositories") or {}
    for name, keyring in sorted((repositories or {}).items()):
        entry = known.get(name)
        if not entry:
            raise AnsibleFilterError("bundle_deb_sources: no mlstack_artifacts.apt_repositories.%s" % name)
        url = str(entry["url"]).rstrip("/")
        if entry.get("components"):
            sources.append({"uri": "%s/%s" % (url, str(target_entry["distribution"]).lower()),
                            "suites": [str(target_entry["release"])],
                            "components": list(entry["components"]), "keyring": keyring})
        else:
            sources.append({"uri": url.replace("$(ARCH)", str(target_entry.get("architecture") or "amd64")),
                            "suites": ["./"], "components": [], "keyring": keyring})
    return sources


def bundle_deb_repositories(manifest, keys):
    """Names of the third-party apt repositories the deb sets ``keys`` come from."""
    debs = manifest.get("debs") or {}
    names = []
    for key in keys or []:
        name = (debs.get(key) or {}).get("repository")
        if name and name not in names:
            if name not in (manifest.get("apt_repositories") or {}):
                raise AnsibleFilterError("bundle_deb_repositories: mlstack_artifacts.debs.%s names repository %r, "
                                         "which mlstack_artifacts.apt_repositories lacks" % (key, name))
            names.append(name)
    return names


def bundle_deb_records(result_sets, artifacts, manifest, target, sources):
    """MANIFEST.json records of the deb sets bundle_debs resolved for ``target``."""
    records = []
    origin = " ".join("%s %s" % (s.get("uri"), ",".join(s.get("suites") or [])) for s in sources or [])
    for key, result in sorted((result_sets or {}).items()):
        entry = (manifest.get("debs") or {}).get(key) or {}
        records.append({
            "id": _artifacts.artifact_id("debs", key, target), "kind": "debs", "key": key, "target": target,
            "name": key, "version": str(entry.get("version") or ""), "source": origin, "digest": "",
            "files": list(result.get("files") or []),
        })
    return records


def bundle_wheel_record(result, key, target, requirements, index_url):
    """The MANIFEST.json record of one wheelhouse bundle_wheels made."""
    return {
        "id": _artifacts.artifact_id("wheels", key, target), "kind": "wheels", "key": key, "target": target,
        "name": key, "version": " ".join(requirements or []), "source": index_url, "digest": "",
        "files": sorted(f["path"] for f in result.get("files") or []),
    }


def bundle_snap_names(artifacts, snaps):
    """``[[artifact, snap name], ...]``: each snap artifact with every snap it installs
    offline (its ``offline`` list: snapd, the base snap, itself), in install order."""
    pairs = []
    for artifact in artifacts or []:
        entry = (snaps or {}).get(artifact["key"]) or {}
        names = list(entry.get("offline") or [artifact["key"]])
        for name in names:
            pairs.append([artifact, name])
    return pairs


def bundle_snap_records(artifacts, snaps, files):
    """MANIFEST.json records of the snap artifacts: each one's .snap and .assert files
    (``<name>_<revision>.snap``); fails naming a snap the bundle lacks."""
    records = []
    present = sorted(files or [])
    for artifact in artifacts or []:
        entry = (snaps or {}).get(artifact["key"]) or {}
        names = list(entry.get("offline") or [artifact["key"]])
        chosen = []
        for name in names:
            mine = [f for f in present if f.startswith(name + "_") and f.endswith((".snap", ".assert"))]
            if not any(f.endswith(".snap") for f in mine) or not any(f.endswith(".assert") for f in mine):
                raise AnsibleFilterError("bundle_snap_records: snaps/ lacks %s_<revision>.snap or its .assert "
                                         "(for %s)" % (name, artifact["id"]))
            chosen.extend("snaps/" + f for f in mine)
        records.append({"id": artifact["id"], "kind": "snap", "key": artifact["key"], "name": artifact["key"],
                        "version": str(entry.get("channel") or ""), "source": "snap store", "digest": "",
                        "files": sorted(chosen)})
    return records


def oci_index_for(index, refs):
    """The OCI layout index ``index`` (the parsed index.json) reduced to the entries named
    ``refs`` (compared normalized): the index a host's layout gets, naming only the images
    whose blobs were copied there. Fails naming a reference the index does not hold."""
    wanted = {}
    for ref in refs or []:
        try:
            wanted[_image_ref.normalize(str(ref))] = ref
        except _image_ref.InvalidReference as exc:
            raise AnsibleFilterError("oci_index_for: %s" % exc)
    kept, found = [], set()
    for entry in (index or {}).get("manifests") or []:
        name = (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name", "")
        try:
            normal = _image_ref.normalize(name) if name else ""
        except _image_ref.InvalidReference:
            continue
        if normal in wanted:
            kept.append(entry)
            found.add(normal)
    missing = [wanted[n] for n in wanted if n not in found]
    if missing:
        raise AnsibleFilterError("oci_index_for: the layout's index.json has no image %s" % ", ".join(missing))
    return dict(index, manifests=kept)


class FilterModule:
    """mlstack.platform's bundle filters."""

    def filters(self):
        return {
            "bundle_image_specs": bundle_image_specs,
            "bundle_image_records": bundle_image_records,
            "bundle_needs": bundle_needs,
            "bundle_deb_sets": bundle_deb_sets,
            "bundle_deb_sources": bundle_deb_sources,
            "bundle_deb_repositories": bundle_deb_repositories,
            "bundle_deb_records": bundle_deb_records,
            "bundle_wheel_record": bundle_wheel_record,
            "bundle_snap_names": bundle_snap_names,
            "bundle_snap_records": bundle_snap_records,
            "oci_index_for": oci_index_for,
        }
