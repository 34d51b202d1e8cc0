#!/usr/bin/env bash
# Build the collection's execution environment with ansible-builder (v3) from the lab's own
# Debian image, offline: no registry, no Galaxy, and no PyPI from inside containers here
# (ENVIRONMENT.md). Then check it: ansible-doc of a module and a syntax check of site.yml,
# both run inside the image.
#
#   tests/ee/build.sh            build mlstack-platform-ee:<version> and check it
#   EE_TAG=name:tag tests/ee/build.sh
#   tests/ee/build.sh --cold     first remove what a fresh machine lacks (.cache/ee,
#                                .cache/ee-venv, the mlstack-platform-ee images and their
#                                build layers) and build without Docker's cache: the figure CI sees
#
# Staged under .cache/ee/ (the definition, a wheelhouse, the collection tarballs and the
# galaxy requirements naming them, collections.yml):
# - this collection: `ansible-galaxy collection build`;
# - its dependencies (galaxy.yml's, and theirs): packed from the pinned `ansible` package in the venv, as
#   an installed collection is (MANIFEST.json, FILES.json and its files) - what an air-gapped
#   site's controller kit carries;
# - Python: every requirement ansible-builder's introspection finds in those collections
#   (meta/execution-environment.yml here, theirs, requirements.txt) plus ansible-core,
#   ansible-runner, bindep and dumb-init, as a wheelhouse for the EE's Python (Debian 12's
#   3.11.2, roles/common's target debian-bookworm) made by the collection's own
#   mlstack.platform.bundle_wheels, the module that makes the bundle's wheelhouses. It keeps
#   wheels in the same cache as bundle.yml (~/.cache/mlstack/bundle_wheels, EE_WHEEL_CACHE),
#   so what the lab bundle already fetched (ansible-core and its dependencies: the controller
#   kit) is not downloaded again.
# Prints the seconds of each step at the end, and of the slowest steps of the image build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
WORK=${EE_WORK:-$ROOT/.cache/ee}
BUILDER_VENV=${EE_BUILDER_VENV:-$ROOT/.cache/ee-venv}
WHEEL_CACHE=${EE_WHEEL_CACHE:-$HOME/.cache/mlstack/bundle_wheels}
BUILDER_PIN=ansible-builder==3.2.0
DOCKER=${DOCKER:-/usr/bin/docker}
EE_TARGET=debian-bookworm
version=$(awk '$1 == "version:" {print $2; exit}' "$ROOT/galaxy.yml")
TAG=${EE_TAG:-mlstack-platform-ee:$version}
COLD=
case "${1:-}" in
  --cold) COLD=1 ;;
  "") ;;
  *) echo "ee: unknown argument '$1' (only --cold)" >&2; exit 2 ;;
esac

timings=() current='' current_start=0
step() {
  [ -z "$current" ] || timings+=("$((SECONDS - current_start)) s  $current")
  current=$* current_start=$SECONDS
  printf '\n== %s (%ss)\n' "$*" "$SECONDS"
}

[ -x "$DOCKER" ] || { echo "ee: no Docker client at $DOCKER" >&2; exit 1; }
[ -x "$VENV/bin/uv" ] || { echo "ee: no uv in $VENV/bin (requirements.txt pins it)" >&2; exit 1; }
"$DOCKER" image inspect mlstack-lab/debian:bookworm >/dev/null 2>&1 \
  || { echo "ee: base image mlstack-lab/debian:bookworm missing (tests/lab/lab.sh up builds it)" >&2; exit 1; }

if [ -n "$COLD" ]; then
  step "cold: remove .cache/ee, .cache/ee-venv, the mlstack-platform-ee images and their build layers"
  rm -rf "$WORK" "$BUILDER_VENV"
  "$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | { grep '^mlstack-platform-ee' || true; } \
    | xargs -r "$DOCKER" rmi >/dev/null
  # Untagged layers of earlier EE builds (the legacy builder keeps each stage as an image):
  # only those whose history shows this build's apt wrapper, never anybody else's.
  for _ in 1 2 3; do
    for id in $("$DOCKER" images -q -f dangling=true); do
      history=$("$DOCKER" history --no-trunc --format '{{.CreatedBy}}' "$id" 2>/dev/null || true)
      if grep -q ee-apt <<<"$history"; then "$DOCKER" rmi "$id" >/dev/null 2>&1 || true; fi
    done
  done
fi

if [ "$("$BUILDER_VENV/bin/ansible-builder" --version 2>/dev/null || true)" != "${BUILDER_PIN#*==}" ]; then
  step "ansible-builder into $BUILDER_VENV"
  "$VENV/bin/uv" venv -q --clear --python "$VENV/bin/python" "$BUILDER_VENV"
  "$VENV/bin/uv" pip install -q --python "$BUILDER_VENV/bin/python" "$BUILDER_PIN"
fi

rm -rf "$WORK/def" "$WORK/context" "$WORK/introspect"
mkdir -p "$WORK/def/collections" "$WORK/introspect/ansible_collections"
cp "$ROOT/tests/ee/execution-environment.yml" "$WORK/def/"

step "collection tarballs"
"$VENV/bin/ansible-galaxy" collection build --force --output-path "$WORK/def/collections" "$ROOT" >/dev/null
mv "$WORK/def/collections/mlstack-platform-$version.tar.gz" "$WORK/def/collections/mlstack-platform.tar.gz"
# galaxy.yml's dependencies and theirs (MANIFEST.json), packed from the venv's ansible package.
# That package leaves out some files FILES.json lists (.github/ and the like), and
# ansible-galaxy refuses a tarball that lacks one, so FILES.json is cut to the files that are
# there (each still checked against its sha256 when installed).
SITE_PACKAGES=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
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
    f"  - name: /build/collections/{n}.tar.gz\n    type: file\n" for n in names))
print(f"{len(names)} collections: " + " ".join(names))
PYEOF
for tarball in "$WORK"/def/collections/*.tar.gz; do
  name=$(basename "$tarball" .tar.gz)
  dest=$WORK/introspect/ansible_collections/${name/-//}
  mkdir -p "$dest" && tar -C "$dest" -xzf "$tarball"
done

step "Python requirements (ansible-builder introspect) and the wheelhouse (mlstack.platform.bundle_wheels)"
"$BUILDER_VENV/bin/ansible-builder" introspect --sanitize "$WORK/introspect" \
  --write-pip "$WORK/requirements.txt" --write-bindep "$WORK/bindep.txt" >/dev/null
# The module's arguments: the introspected requirements (without their "# from collection"
# comments), ansible-core as requirements.txt pins it, the EE definition's ansible-runner and
# dumb-init, and what ansible-builder's builder stage installs (bindep pyyaml packaging); the
# target's Python and platform from roles/common's artifact manifest.
"$VENV/bin/python" - "$ROOT" "$WORK" "$EE_TARGET" "$WHEEL_CACHE" >"$WORK/wheels-args.json" <<'PYEOF'
import json, re, sys, yaml
root, work, target, cache = sys.argv[1:5]
requirements = [line.split("#")[0].strip() for line in open(f"{work}/requirements.txt")]
requirements = [r for r in requirements if r]
requirements += [line.strip() for line in open(f"{root}/requirements.txt") if line.startswith("ansible-core==")]
definition = open(f"{work}/def/execution-environment.yml").read()
requirements += re.findall(r"package_pip: ((?:ansible-runner|dumb-init)==\S+)", definition)
requirements += ["bindep", "pyyaml", "packaging"]
defaults = yaml.safe_load(open(f"{root}/roles/common/defaults/main.yml"))
spec = defaults["mlstack_artifacts_builtin"]["targets"][target]
print(json.dumps(dict(dest=f"{work}/def/wheels", requirements=requirements, python_version=spec["python"],
                      platform=spec["wheel_platform"], cache_dir=cache, verify="size")))
PYEOF
ANSIBLE_COLLECTIONS_PATH="$WORK/introspect" ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_STDOUT_CALLBACK=json \
  "$VENV/bin/ansible" localhost -i localhost, -c local -e "ansible_python_interpreter=$VENV/bin/python" \
  -m mlstack.platform.bundle_wheels -a "$(cat "$WORK/wheels-args.json")" >"$WORK/wheels-result.json" \
  || { cat "$WORK/wheels-result.json" >&2; echo "ee: mlstack.platform.bundle_wheels failed (above)" >&2; exit 1; }
"$VENV/bin/python" - "$WORK/wheels-result.json" <<'PYEOF'
import collections, json, sys
result = json.load(open(sys.argv[1]))["plays"][0]["tasks"][0]["hosts"]["localhost"]
actions = collections.Counter(p["action"] for p in result["packages"])
size = sum(p["size"] for p in result["packages"])
print(f"{len(result['packages'])} wheels, {size / 1e6:.0f} MB: " + ", ".join(f"{n} {a}" for a, n in sorted(actions.items())))
PYEOF

step "ansible-builder build $TAG"
# The image build's output, each line with the seconds since it started; the slowest
# Dockerfile steps are listed at the end.
PATH=$(dirname "$DOCKER"):$PATH "$BUILDER_VENV/bin/ansible-builder" build \
  --file "$WORK/def/execution-environment.yml" --context "$WORK/context" \
  --container-runtime docker --tag "$TAG" --verbosity 3 ${COLD:+--no-cache} 2>&1 \
  | { start=${EPOCHREALTIME/./}
      while IFS= read -r line; do
        tenths=$(( (${EPOCHREALTIME/./} - start) / 100000 ))
        printf '[%4d.%d] %s\n' $((tenths / 10)) $((tenths % 10)) "$line"
      done; } | tee "$WORK/build.log"
echo "built $TAG in $((SECONDS - current_start)) s; $("$DOCKER" image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
slowest=$(awk '
  / Step [0-9]+\/[0-9]+ : / || / Successfully built / {
    t = substr($0, 2, index($0, "]") - 2) + 0
    if (what != "") printf "%6.1f s  %s\n", t - since, substr(what, 1, 100)
    what = substr($0, index($0, " Step ") + 1); since = t
  }' "$WORK/build.log" | sort -rn | head -8)

step "check: ansible-doc mlstack.platform.image_import inside the EE"
doc=$("$DOCKER" run --rm "$TAG" ansible-doc mlstack.platform.image_import)
grep -F '> MODULE' <<<"$doc" | grep -F mlstack.platform.image_import \
  || { echo "ee: ansible-doc in $TAG did not show mlstack.platform.image_import" >&2; exit 1; }
echo "$(wc -l <<<"$doc") lines of documentation"
step "check: ansible-playbook --syntax-check mlstack.platform.site inside the EE (inventories/single_node)"
"$DOCKER" run --rm -v "$ROOT/inventories/single_node:/runner/inventory:ro" "$TAG" \
  ansible-playbook --syntax-check -i /runner/inventory/hosts.yml mlstack.platform.site
step "done"
printf '\nee: seconds per step (%s s in all)\n' "$SECONDS"
printf '  %s\n' "${timings[@]}"
printf 'ee: slowest steps of the image build\n%s\n' "$slowest"
