#!/usr/bin/env bash
# Build the collection's execution environment with ansible-builder (v3) from the lab's own
# Debian image, offline: no registry, no Galaxy, and no PyPI from inside containers here
# (ENVIRONMENT.md). Then check it: ansible-doc of a module and a syntax check of site.yml,
# both run inside the image.
#
#   tests/ee/build.sh            build mlstack-platform-ee:<version> and check it
#   EE_TAG=name:tag tests/ee/build.sh
#
# Staged under .cache/ee/ (the definition, a wheelhouse, the collection tarballs and the
# galaxy requirements naming them, collections.yml):
# - this collection: `ansible-galaxy collection build`;
# - its dependencies (galaxy.yml's, and theirs): packed from the pinned `ansible` package in the venv, as
#   an installed collection is (MANIFEST.json, FILES.json and its files) - what an air-gapped
#   site's controller kit carries;
# - Python: every requirement ansible-builder's introspection finds in those collections
#   (meta/execution-environment.yml here, theirs, requirements.txt) plus ansible-core,
#   ansible-runner, bindep and dumb-init, built into wheels on this machine (`pip wheel`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
WORK=${EE_WORK:-$ROOT/.cache/ee}
BUILDER_VENV=${EE_BUILDER_VENV:-$ROOT/.cache/ee-venv}
BUILDER_PIN=ansible-builder==3.2.0
DOCKER=${DOCKER:-/usr/bin/docker}
version=$(awk '$1 == "version:" {print $2; exit}' "$ROOT/galaxy.yml")
TAG=${EE_TAG:-mlstack-platform-ee:$version}
SITE_PACKAGES=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }

[ -x "$DOCKER" ] || { echo "ee: no Docker client at $DOCKER" >&2; exit 1; }
"$DOCKER" image inspect mlstack-lab/debian:bookworm >/dev/null 2>&1 \
  || { echo "ee: base image mlstack-lab/debian:bookworm missing (tests/lab/lab.sh up builds it)" >&2; exit 1; }
installed=$("$BUILDER_VENV/bin/pip" show ansible-builder 2>/dev/null || true)  # (grep -q in a pipe: SIGPIPE)
if ! grep -qx "Version: ${BUILDER_PIN#*==}" <<<"$installed"; then
  step "ansible-builder into $BUILDER_VENV"
  "$VENV/bin/python" -m venv --clear "$BUILDER_VENV"
  "$BUILDER_VENV/bin/pip" install -q "$BUILDER_PIN" 2>&1 | grep -v '^WARNING: Location' || true
fi

rm -rf "$WORK/def" "$WORK/context" "$WORK/introspect"
mkdir -p "$WORK/def/collections" "$WORK/def/wheels" "$WORK/introspect/ansible_collections"
cp "$ROOT/tests/ee/execution-environment.yml" "$WORK/def/"

step "collection tarballs"
"$VENV/bin/ansible-galaxy" collection build --force --output-path "$WORK/def/collections" "$ROOT" >/dev/null
mv "$WORK/def/collections/mlstack-platform-$version.tar.gz" "$WORK/def/collections/mlstack-platform.tar.gz"
# galaxy.yml's dependencies and theirs (MANIFEST.json), packed from the venv's ansible package.
# That package leaves out some files FILES.json lists (.github/ and the like), and
# ansible-galaxy refuses a tarball that lacks one, so FILES.json is cut to the files that are
# there (each still checked against its sha256 when installed).
"$VENV/bin/python" - "$ROOT/galaxy.yml" "$SITE_PACKAGES/ansible_collections" "$WORK/def" <<'PYEOF'
import io, json, pathlib, sys, tarfile, yaml
galaxy, installed, out = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])


def pack(src, dest):
    files = json.loads((src / "FILES.json").read_text())
    present = [f for f in files["files"] if f["name"] == "." or (src / f["name"]).exists()]
    listing = json.dumps(dict(files, files=present), indent=4).encode()
    with tarfile.open(dest, "w:gz") as tar:
        for entry in present:
            if entry["name"] != ".":
                tar.add(src / entry["name"], arcname=entry["name"], recursive=False)
        tar.add(src / "MANIFEST.json", arcname="MANIFEST.json")
        info = tarfile.TarInfo("FILES.json")
        info.size, info.mode = len(listing), 0o644
        tar.addfile(info, io.BytesIO(listing))
    return len(files["files"]) - len(present)


wanted, seen = list(yaml.safe_load(open(galaxy))["dependencies"]), []
while wanted:
    fqcn = wanted.pop()
    if fqcn in seen:
        continue
    src = installed / fqcn.replace(".", "/")
    if not (src / "MANIFEST.json").is_file():
        sys.exit(f"ee: {fqcn} (a dependency in galaxy.yml or of one) is not in the venv's ansible package: {src}")
    seen.append(fqcn)
    wanted += list(json.loads((src / "MANIFEST.json").read_text())["collection_info"].get("dependencies") or {})
    left_out = pack(src, out / "collections" / (fqcn.replace(".", "-") + ".tar.gz"))
    print(f"{fqcn}: {left_out} FILES.json entries the ansible package does not carry")
names = ["mlstack-platform"] + sorted(f.replace(".", "-") for f in seen)
(out / "collections.yml").write_text("---\ncollections:\n" + "".join(
    f"  - name: /output/collections/{n}.tar.gz\n    type: file\n" for n in names))
print(f"{len(names)} collections: " + " ".join(names))
PYEOF
for tarball in "$WORK"/def/collections/*.tar.gz; do
  name=$(basename "$tarball" .tar.gz)
  dest=$WORK/introspect/ansible_collections/${name/-//}
  mkdir -p "$dest" && tar -C "$dest" -xzf "$tarball"
done

step "Python requirements (ansible-builder introspect) and wheels"
"$BUILDER_VENV/bin/ansible-builder" introspect --sanitize "$WORK/introspect" \
  --write-pip "$WORK/requirements.txt" --write-bindep "$WORK/bindep.txt" >/dev/null
core=$(grep -E '^ansible-core==' "$ROOT/requirements.txt")
runner=$(awk '/package_pip: ansible-runner==/ {print $2}' "$WORK/def/execution-environment.yml")
init=$(awk '/package_pip: dumb-init==/ {print $2}' "$WORK/def/execution-environment.yml")
# The introspected lines carry "# from collection ..." comments; pip reads them as comments.
"$VENV/bin/python" -m pip wheel -q --wheel-dir "$WORK/def/wheels" -r "$WORK/requirements.txt" \
  "$core" "$runner" "$init" bindep pyyaml packaging 2>&1 | grep -v '^WARNING: Location' || true
echo "$(find "$WORK/def/wheels" -name '*.whl' | wc -l) wheels, $(du -sh "$WORK/def/wheels" | cut -f1)"

step "ansible-builder build $TAG"
start=$SECONDS
PATH=$(dirname "$DOCKER"):$PATH "$BUILDER_VENV/bin/ansible-builder" build \
  --file "$WORK/def/execution-environment.yml" --context "$WORK/context" \
  --container-runtime docker --tag "$TAG" --verbosity 2
echo "built $TAG in $((SECONDS - start)) s; $("$DOCKER" image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"

step "check: ansible-doc mlstack.platform.image_import inside the EE"
doc=$("$DOCKER" run --rm "$TAG" ansible-doc mlstack.platform.image_import)
grep -F '> MODULE' <<<"$doc" | grep -F mlstack.platform.image_import \
  || { echo "ee: ansible-doc in $TAG did not show mlstack.platform.image_import" >&2; exit 1; }
echo "$(wc -l <<<"$doc") lines of documentation"
step "check: ansible-playbook --syntax-check mlstack.platform.site inside the EE (inventories/single_node)"
"$DOCKER" run --rm -v "$ROOT/inventories/single_node:/runner/inventory:ro" "$TAG" \
  ansible-playbook --syntax-check -i /runner/inventory/hosts.yml mlstack.platform.site
step "done"
