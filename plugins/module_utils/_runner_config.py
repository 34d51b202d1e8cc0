# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""gitlab-runner's config.toml as data: find a runner, merge settings into it, mask
secrets for a diff, and write the file atomically with its mode and owner kept."""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
import re
import secrets
import string
import tempfile
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._runner_toml import TomlDateTime, TomlError, dumps, loads

# What GitLab and gitlab-runner own in a [[runners]] entry; settings never change them.
RUNNER_OWNED_KEYS = ("id", "token", "token_obtained_at", "token_expires_at")
MASK = "********"
_SECRET_KEY = re.compile(r"token|secret|password|accesskey|access_key", re.IGNORECASE)
GPU_POD_SPEC_NAME = "mlstack-gpus"


class RunnerConfigError(Exception):
    """config.toml cannot be read, or settings cannot be applied; the message says why."""


def normalize_url(url: str) -> str:
    return (url or "").strip().rstrip("/")


def read_config(path: str) -> t.Tuple[str, t.Dict[str, t.Any]]:
    """The file's text and data; an absent file is an empty document."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        return "", {}
    except OSError as exc:
        raise RunnerConfigError("cannot read %s: %s" % (path, exc))
    try:
        return text, loads(text)
    except TomlError as exc:
        raise RunnerConfigError("%s is not valid TOML (%s); fix or remove the file" % (path, exc))


def runners(document: t.Dict[str, t.Any]) -> t.List[t.Dict[str, t.Any]]:
    entries = document.get("runners", [])
    if not isinstance(entries, list):
        raise RunnerConfigError("'runners' in config.toml is not an array of tables ([[runners]])")
    return entries


def find_runners(document: t.Dict[str, t.Any], url: str, token: t.Optional[str] = None,
                 name: t.Optional[str] = None) -> t.List[int]:
    """Indexes of the [[runners]] entries for ``url`` with the given token and/or name."""
    found = []
    for index, entry in enumerate(runners(document)):
        if normalize_url(entry.get("url", "")) != normalize_url(url):
            continue
        if token is not None and entry.get("token") != token:
            continue
        if name is not None and entry.get("name") != name:
            continue
        found.append(index)
    return found


def public_runner(entry: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    """The entry as a module may return it: every secret masked."""
    return mask_secrets(entry)


def _is_secret(key: str, value: t.Any) -> bool:
    """token, SecretKey, password ... but not token_obtained_at / token_expires_at."""
    return (bool(_SECRET_KEY.search(key)) and not key.endswith("_at") and isinstance(value, str)
            and not isinstance(value, TomlDateTime) and bool(value))


def mask_secrets(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        return {key: (MASK if _is_secret(key, item) else mask_secrets(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def masked_text(document: t.Dict[str, t.Any]) -> str:
    return dumps(mask_secrets(document)) if document else ""


def _same(current: t.Any, wanted: t.Any) -> bool:
    if isinstance(wanted, bool) or isinstance(current, bool):
        return type(current) is type(wanted) and current == wanted
    return current == wanted


def _merge_named_list(current: t.List[t.Any], wanted: t.List[t.Dict[str, t.Any]], path: str,
                      changed: t.List[str]) -> t.List[t.Any]:
    """Lists of tables with a ``name`` (kubernetes pod_spec): merge by name, keep the others."""
    result = list(current)
    for item in wanted:
        positions = [n for n, old in enumerate(result) if isinstance(old, dict) and old.get("name") == item["name"]]
        if not positions:
            result.append(copy.deepcopy(item))
            changed.append("%s[%s]" % (path, item["name"]))
            continue
        merged = copy.deepcopy(result[positions[0]])
        merge_settings(merged, item, changed, "%s[%s]" % (path, item["name"]))
        result[positions[0]] = merged
    return result


def merge_settings(target: t.Dict[str, t.Any], wanted: t.Dict[str, t.Any], changed: t.List[str],
                   prefix: str = "") -> None:
    """Set ``wanted`` into ``target`` in place; tables merge key by key, anything else is
    replaced. Appends the dotted path of every value that changed to ``changed``."""
    for key, value in wanted.items():
        path = prefix + "." + key if prefix else key
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge_settings(current, value, changed, path)
        elif (isinstance(value, list) and value and all(isinstance(i, dict) and "name" in i for i in value)
              and isinstance(current, list)):
            merged = _merge_named_list(current, value, path, changed)
            if merged != current:
                target[key] = merged
        elif key not in target or not _same(current, value):
            target[key] = copy.deepcopy(value)
            changed.append(path)


def check_settings(settings: t.Dict[str, t.Any]) -> None:
    owned = sorted(set(settings) & set(RUNNER_OWNED_KEYS))
    if owned:
        raise RunnerConfigError("%s belong to GitLab and gitlab-runner and cannot be set through settings"
                                % ", ".join(owned))


def gpu_pod_spec(gpus: int) -> t.Dict[str, t.Any]:
    """A pod_spec patch asking Kubernetes for ``gpus`` NVIDIA GPUs for the build container
    (gitlab-runner applies pod_spec patches with FF_USE_ADVANCED_POD_SPEC_CONFIGURATION)."""
    patch = ("containers:\n"
             "  - name: build\n"
             "    resources:\n"
             "      requests:\n"
             "        nvidia.com/gpu: %d\n"
             "      limits:\n"
             "        nvidia.com/gpu: %d\n") % (gpus, gpus)
    return {"name": GPU_POD_SPEC_NAME, "patch_type": "strategic", "patch": patch}


def with_environment(entry: t.Dict[str, t.Any], variables: t.Dict[str, str]) -> t.List[str]:
    """The entry's ``environment`` list with ``variables`` set (others kept, in order)."""
    result = []
    seen = set()
    for item in entry.get("environment", []) or []:
        name = item.split("=", 1)[0]
        if name in variables:
            item = "%s=%s" % (name, variables[name])
            seen.add(name)
        result.append(item)
    result.extend("%s=%s" % (name, value) for name, value in variables.items() if name not in seen)
    return result


def apply_runner_settings(document: t.Dict[str, t.Any], index: int, settings: t.Dict[str, t.Any],
                          concurrent: t.Optional[int] = None) -> t.List[str]:
    """Merge ``settings`` into the runner at ``index`` and the global ``concurrent``; the
    dotted paths that changed (``concurrent`` for the global one)."""
    check_settings(settings)
    changed: t.List[str] = []
    if concurrent is not None and not _same(document.get("concurrent"), concurrent):
        document["concurrent"] = concurrent
        changed.append("concurrent")
    entry = runners(document)[index]
    settings = dict(settings)
    if "environment" in settings:
        settings["environment"] = with_environment(entry, settings["environment"])
    merge_settings(entry, settings, changed)
    return changed


def write_atomic(path: str, text: str, default_mode: int = 0o600) -> None:
    """Write ``text`` to a temporary file in the same directory and rename it over ``path``,
    keeping the old file's mode and owner (a new file gets ``default_mode``)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        stat = None
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".config.toml.", dir=directory)
    except OSError as exc:
        raise RunnerConfigError("cannot write in %s: %s" % (directory, exc))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, stat.st_mode & 0o7777 if stat else default_mode)
        if stat and os.geteuid() == 0:
            os.chown(temporary, stat.st_uid, stat.st_gid)
        os.replace(temporary, path)
    except OSError as exc:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise RunnerConfigError("cannot write %s: %s" % (path, exc))


# gitlab-runner v18.5.0 commands/internal/configfile/system_id_state.go: the file beside
# config.toml, what it may hold, and how a missing one is made.
SYSTEM_ID_FILE = ".runner_system_id"
SYSTEM_ID_PATTERN = re.compile(r"^[sr]_[0-9a-zA-Z]{12}$")
MACHINE_ID_FILES = ("/var/lib/dbus/machine-id", "/etc/machine-id")


def system_id_path(config_path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), SYSTEM_ID_FILE)


def make_system_id(machine_id_files: t.Sequence[str] = MACHINE_ID_FILES) -> str:
    """As GenerateUniqueSystemID: "s_" and 12 hex digits of HMAC-SHA256(machine ID,
    "gitlab-runner"), or "r_" and 12 random letters and digits without a machine ID."""
    for source in machine_id_files:
        try:
            with open(source, encoding="utf-8") as stream:
                machine = stream.read().strip()
        except OSError:
            continue
        if machine:
            return "s_" + hmac.new(machine.encode("utf-8"), b"gitlab-runner", hashlib.sha256).hexdigest()[:12]
    alphabet = string.ascii_letters + string.digits
    return "r_" + "".join(secrets.choice(alphabet) for dummy in range(12))


def ensure_system_id(path: str, write: bool = True) -> t.Tuple[str, bool]:
    """The system ID in ``path`` (a value gitlab-runner accepts), or a new one written there
    with mode 0600 as gitlab-runner writes it (not written when ``write`` is false, for check
    mode); and whether it was made."""
    try:
        with open(path, encoding="utf-8") as stream:
            found = stream.read().strip()
        if SYSTEM_ID_PATTERN.match(found):
            return found, False
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RunnerConfigError("cannot read %s: %s" % (path, exc))
    made = make_system_id()
    if write:
        write_atomic(path, made, default_mode=0o600)
    return made, True
