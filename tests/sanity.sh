#!/usr/bin/env bash
# ansible-test sanity on a copy of the tracked tree, placed where ansible-test wants a
# collection: <tmp>/ansible_collections/mlstack/platform.
#
# `--venv` cannot be used on these machines (it downloads a pip bootstrap script from a
# CI host that is unreachable), so this runs `--local --requirements` and places a
# bootstrap stand-in in ansible-test's cache: it runs ensurepip and then pip with the
# arguments ansible-test gives, minus --no-setuptools/--no-wheel.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# A venv of its own: --requirements installs ansible-test's pinned linters into it,
# which must not change the versions the project's venv pins.
VENV=${SANITY_VENV:-$ROOT/.cache/sanity-venv}
PY=$VENV/bin/python
core=$(grep -E '^ansible-core==' "$ROOT/requirements.txt")
if [ ! -x "$VENV/bin/ansible-test" ] || ! "$VENV/bin/pip" show ansible-core 2>/dev/null | grep -qx "Version: ${core#ansible-core==}"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "$core" 2>&1 | grep -v '^WARNING: Location' || true
fi
command -v shellcheck >/dev/null 2>&1 || {
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get install -y -qq shellcheck >/dev/null
}

pip_version=$("$PY" -c 'from ansible_test._internal.python_requirements import get_venv_packages
class P: version = "3.11"
print(get_venv_packages(P())["pip"])')
cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -f "$cache" ] || ! grep -q mlstack-standin "$cache"; then
  mkdir -p "$(dirname "$cache")"
  cat >"$cache" <<'PYEOF'
# mlstack-standin for ansible-test's pip bootstrap script (get-pip.py): the real one is
# downloaded from a host these machines cannot reach. Same contract: install pip and
# the given packages into the running interpreter.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PYEOF
fi

work=$(mktemp -d /var/tmp/mlstack-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/mlstack/platform
mkdir -p "$dest"
# Tracked files plus new files git does not ignore: what a commit would hold. Outside a
# git checkout (an unpacked tarball), everything but the local tool directories.
list_files() {
  if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do [ -e "$ROOT/$f" ] && printf '%s\0' "$f"; done
  else
    (cd "$ROOT" && find . \( -path ./.venv -o -path ./.ansible -o -path ./.cache -o -path ./.git \
      -o -path ./tests/output -o -path ./build -o -name __pycache__ \) -prune -o -type f -print0)
  fi
}
list_files | (cd "$ROOT" && tar --null -T - -cf -) | tar -C "$dest" -xf -
cd "$dest"
# Changelog (antsibull-changelog, pinned in requirements.txt): every fragment and
# changelogs/changelog.yaml lint, and CHANGELOG.md is what changelog.yaml renders to.
CHANGELOG_TOOL=${CHANGELOG_TOOL:-$ROOT/.venv/bin/antsibull-changelog}
"$CHANGELOG_TOOL" lint
"$CHANGELOG_TOOL" lint-changelog-yaml changelogs/changelog.yaml
"$CHANGELOG_TOOL" generate --output "$work/CHANGELOG.md"
cmp -s "$work/CHANGELOG.md" CHANGELOG.md || {
  echo "CHANGELOG.md is not what changelogs/changelog.yaml renders: run antsibull-changelog release (docs/changelog.md)" >&2
  exit 1
}
git init -q . && git add -A >/dev/null 2>&1  # ansible-test lists files through git
"$VENV/bin/ansible-test" sanity --local --python 3.11 --requirements --color no "$@"
