#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: files
short_description: A role's configuration files and directories in one remote call
version_added: 0.1.0
description:
  - Keeps a list of files, directories and absent paths in the state O(entries) names, in one
    module execution on the host. A no-op run of M(ansible.builtin.template) or
    M(ansible.builtin.copy) costs two module executions per file (a stat, then the attributes)
    and M(ansible.builtin.file) one per directory; this module costs one for all of them.
  - Content is given as text (render templates on the controller with the
    C(ansible.builtin.template) lookup) and compared byte for byte, as UTF-8, with what
    the file holds; it is written as given, with or without a final newline.
  - Every entry's arguments are checked, every owner and group resolved and every path's current
    type looked at before anything is changed; a bad entry fails the task naming its path and
    nothing is written. Entries are then applied in their order.
  - A file's new content goes to a temporary file in the same directory, which gets its mode,
    owner and group, is synced to disk and checked with O(entries[].validate) before it replaces
    the old file by a rename. Where every changed file's directory already exists, all of them
    are written and validated before the first one replaces its old file, so a failed check
    changes nothing.
  - Symbolic links are never followed nor replaced; a path that is a link (or exists as another
    type than its entry's state) fails the task naming it.
author:
  - mlstack.platform developers (@mlstack)
options:
  entries:
    description:
      - The files, directories and absent paths, applied in this order. A path may appear once.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: The absolute path.
        type: str
        required: true
      state:
        description:
          - V(file) writes a regular file with O(entries[].content) or O(entries[].secret_content);
            its directory must exist or be created by an earlier entry.
          - V(directory) creates the directory and its missing parents (the parents it creates get
            the same mode, owner and group).
          - V(absent) removes a regular file or an empty directory; a directory that holds anything
            fails the task.
        type: str
        choices: [file, directory, absent]
        default: file
      mode:
        description:
          - The permissions as an octal string such as V("0644") or V("2775"), quoted in YAML
            (an unquoted V(0644) is read as the number 420 and refused). Required for V(file) and
            V(directory).
        type: raw
      owner:
        description:
          - The owner, a user name or a numeric uid as a string. When omitted, a new path is owned by
            the user the module runs as and a rewritten file keeps its owner.
        type: str
      group:
        description:
          - The group, a group name or a numeric gid as a string. When omitted, as for O(entries[].owner).
        type: str
      content:
        description:
          - The file's content for V(file), as it must be on disk (encoded as UTF-8). Shown in diffs
            when both old and new content are text under 64 KiB.
          - Exactly one of O(entries[].content) and O(entries[].secret_content) is given for V(file).
        type: str
      secret_content:
        description:
          - The file's content when it is a secret (a key, a password file). Never logged, returned
            or shown in a diff; the diff says only that the secret content changed.
        type: str
      validate:
        description:
          - A command run on the temporary file before it replaces the old one, with V(%s) standing for
            the temporary file's path, for example V(/usr/sbin/nginx -t -c %s). A non-zero exit fails
            the task naming the path and the command's error output, and the old file stays.
          - Not run in check mode, nor when the content is unchanged. Run without a shell.
        type: str
attributes:
  check_mode:
    support: full
    description: Reports exactly what would change, counting directories an earlier entry would create; writes nothing.
  diff_mode:
    support: full
    description:
      - One diff per changed entry; content for text files under 64 KiB, sizes and digests for larger ones,
        only the words C(secret content changed) for secrets, and attribute changes such as C(mode 0644 -> 0600).
  idempotent:
    support: full
    description: A second run with the same entries changes nothing and reports C(changed=false).
  platform:
    support: full
    platforms: posix
    description: Needs a POSIX host (users and groups from its passwd and group databases).
notes:
  - SELinux contexts are not managed; a rewritten file gets its directory's default context.
  - In check mode an owner or group that does not exist yet (a task before this one creates it, and check mode
    did not run that task) makes the entry count as a change, with a warning; outside check mode it fails.
  - When a changed file's directory is created by an earlier entry of the same task, that file is written and
    validated after the directory exists, so a failed check there leaves the earlier entries applied (the
    failure lists them in RV(changed_paths)).
seealso:
  - module: ansible.builtin.template
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Write the server's configuration
  mlstack.platform.files:
    entries:
      - path: /etc/app
        state: directory
        mode: "0755"
        owner: root
        group: root
      - path: /etc/app/app.conf
        content: "{{ lookup('ansible.builtin.template', 'app.conf.j2') }}"
        mode: "0644"
        validate: /usr/sbin/app --check-config %s
      - path: /etc/app/key.pem
        secret_content: "{{ app_key }}"
        mode: "0600"
      - path: /etc/app/old.conf
        state: absent
  register: _app_files

- name: Restart the server when its configuration changed
  ansible.builtin.systemd_service:
    name: app
    state: restarted
  when: "'/etc/app/app.conf' in _app_files.changed_paths"
"""

RETURN = r"""
changed_paths:
  description: The paths of the entries that changed (or would change, in check mode), in entry order, as given.
  returned: always
  type: list
  elements: str
  sample: [/etc/app/app.conf]
diff:
  description:
    - With C(--diff), one item per changed entry with C(before_header), C(after_header), C(before) and C(after).
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: /etc/app/app.conf
      after_header: /etc/app/app.conf
      before: "listen 80\n"
      after: "listen 8080\n"
"""

import errno
import grp
import hashlib
import os
import pwd
import re
import stat
import tempfile
import typing as t

from ansible.module_utils.basic import AnsibleModule

ENTRY_OPTIONS = dict(
    path=dict(type="str", required=True),
    state=dict(type="str", default="file", choices=["file", "directory", "absent"]),
    mode=dict(type="raw"),
    owner=dict(type="str"),
    group=dict(type="str"),
    content=dict(type="str"),
    secret_content=dict(type="str", no_log=True),
    validate=dict(type="str"),
)
ARGUMENT_SPEC = dict(entries=dict(type="list", elements="dict", required=True, options=ENTRY_OPTIONS))

DIFF_LIMIT = 64 * 1024
MODE = re.compile(r"[0-7]{3,4}")
TEMP_SUFFIX = ".mlstack-tmp"


class FilesError(Exception):
    """A problem with one entry; the message starts with the entry's path."""


class Entry:
    """One entry's arguments, checked: mode as a number, owner and group as ids."""

    def __init__(self, raw: t.Dict[str, t.Any], check_mode: bool = False) -> None:
        self.given = raw["path"]
        if not isinstance(self.given, str) or not os.path.isabs(self.given):
            raise FilesError("%r: path must be absolute" % (self.given,))
        self.path = os.path.normpath(self.given)
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")
        self.state: str = raw["state"]
        self.secret = raw.get("secret_content") is not None
        self.validate: t.Optional[str] = raw.get("validate")
        self.mode: t.Optional[int] = None
        self.uid: t.Optional[int] = None
        self.gid: t.Optional[int] = None
        # Check mode only: an owner or group that does not exist yet (a task before this one
        # creates it, and check mode did not run it): the entry counts as changing to it.
        self.pending_names: t.Dict[str, str] = {}
        self.data: t.Optional[bytes] = None
        if self.state == "absent":
            extra = [k for k in ("mode", "owner", "group", "content", "secret_content", "validate") if raw.get(k) is not None]
            if extra:
                raise FilesError("%s: state absent takes no %s" % (self.given, ", ".join(extra)))
            return
        self.mode = parse_mode(self.given, raw.get("mode"))
        try:
            self.uid = resolve_owner(self.given, raw.get("owner"))
        except FilesError:
            if not check_mode:
                raise
            self.uid, self.pending_names["owner"] = PENDING_ID, raw["owner"]
        try:
            self.gid = resolve_group(self.given, raw.get("group"))
        except FilesError:
            if not check_mode:
                raise
            self.gid, self.pending_names["group"] = PENDING_ID, raw["group"]
        if self.state == "directory":
            extra = [k for k in ("content", "secret_content", "validate") if raw.get(k) is not None]
            if extra:
                raise FilesError("%s: state directory takes no %s" % (self.given, ", ".join(extra)))
            return
        content, secret = raw.get("content"), raw.get("secret_content")
        if (content is None) == (secret is None):
            raise FilesError("%s: state file needs exactly one of content and secret_content" % self.given)
        try:
            self.data = (content if secret is None else secret).encode("utf-8")
        except UnicodeEncodeError:
            raise FilesError("%s: the content cannot be encoded as UTF-8" % self.given) from None
        if self.validate is not None and "%s" not in self.validate:
            raise FilesError("%s: validate must contain %%s (the temporary file's path)" % self.given)


def parse_mode(path: str, value: t.Any) -> int:
    if value is None:
        raise FilesError("%s: mode is required (an octal string such as \"0644\")" % path)
    if not isinstance(value, str):
        hint = " (YAML reads an unquoted 0644 as the number 420: quote it)" if isinstance(value, int) else ""
        raise FilesError("%s: mode must be an octal string such as \"0644\", got %s %r%s"
                         % (path, type(value).__name__, value, hint))
    if not MODE.fullmatch(value):
        raise FilesError("%s: mode %r is not an octal string of 3 or 4 digits such as \"0644\"" % (path, value))
    return int(value, 8)


# The id check mode gives an owner or group that does not exist yet: matches no file's.
PENDING_ID = -2


def resolve_owner(path: str, name: t.Optional[str]) -> t.Optional[int]:
    if name is None:
        return None
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        raise FilesError("%s: owner %r is not a user on this host" % (path, name)) from None


def resolve_group(path: str, name: t.Optional[str]) -> t.Optional[int]:
    if name is None:
        return None
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise FilesError("%s: group %r is not a group on this host" % (path, name)) from None


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    return "special file"


class View:
    """The paths as they are on disk, overlaid with what earlier entries will have done."""

    def __init__(self) -> None:
        self.planned: t.Dict[str, t.Optional[str]] = {}
        # The mode, uid and gid an earlier entry gives the directories it creates.
        self.created: t.Dict[str, t.Tuple[int, int, int]] = {}

    def kind(self, path: str) -> t.Optional[str]:
        if path in self.planned:
            return self.planned[path]
        try:
            return kind_of(os.lstat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def is_dir(self, path: str) -> bool:
        if path in self.planned:
            return self.planned[path] == "directory"
        return os.path.isdir(path)

    def has_children(self, path: str) -> bool:
        try:
            names = set(os.listdir(path))
        except FileNotFoundError:
            names = set()
        for planned, kind in self.planned.items():
            if planned != path and os.path.dirname(planned) == path:
                if kind is None:
                    names.discard(os.path.basename(planned))
                else:
                    names.add(os.path.basename(planned))
        return bool(names)


class Action:
    """What one entry needs: directories to create, content to write, attributes to set, a removal."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.mkdirs: t.List[str] = []
        self.write = False
        self.remove: t.Optional[str] = None
        self.attrs: t.List[t.Tuple[str, str, str]] = []
        self.before: t.Optional[os.stat_result] = None
        self.old: t.Optional[bytes] = None
        self.staged: t.Optional[str] = None

    @property
    def changed(self) -> bool:
        return bool(self.mkdirs or self.write or self.remove or self.attrs)


def attribute_changes(entry: Entry, mode: int, uid: int, gid: int) -> t.List[t.Tuple[str, str, str]]:
    changes = []
    if entry.mode is not None and mode != entry.mode:
        changes.append(("mode", "%04o" % mode, "%04o" % entry.mode))
    if entry.uid is not None and uid != entry.uid:
        changes.append(("owner", user_name(uid), entry.pending_names.get("owner") or user_name(entry.uid)))
    if entry.gid is not None and gid != entry.gid:
        changes.append(("group", group_name(gid), entry.pending_names.get("group") or group_name(entry.gid)))
    return changes


def read_file(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def plan_entry(entry: Entry, view: View, want_diff: bool) -> Action:
    action = Action(entry)
    path = entry.path
    kind = view.kind(path)
    if entry.state == "absent":
        if kind == "file":
            action.remove = "file"
        elif kind == "directory":
            if view.has_children(path):
                raise FilesError("%s: is a directory that is not empty; state absent removes only empty ones" % entry.given)
            action.remove = "directory"
        elif kind is not None:
            raise FilesError("%s: is a %s; state absent removes only a file or an empty directory" % (entry.given, kind))
        if kind is not None:
            action.before = os.lstat(path) if path not in view.planned else None
        view.planned[path] = None
        return action
    if kind is not None and kind != entry.state:
        raise FilesError("%s: exists as a %s, not a %s" % (entry.given, kind, entry.state))
    if kind is None:
        if entry.state == "directory":
            action.mkdirs = missing_dirs(entry, view)
        else:
            parent = os.path.dirname(path)
            if not view.is_dir(parent):
                raise FilesError("%s: its directory %s does not exist (create it with an earlier entry)" % (entry.given, parent))
            action.write = True
        view.planned[path] = entry.state
        return action
    if path in view.created:  # a parent an earlier entry creates: this entry's attributes apply after
        action.attrs = attribute_changes(entry, *view.created[path])
        return action
    st = os.lstat(path)
    action.before = st
    action.attrs = attribute_changes(entry, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    if entry.data is not None:
        if st.st_size == len(entry.data):
            action.old = read_file(path)
            action.write = action.old != entry.data
        else:
            action.write = True
            if want_diff and not entry.secret and st.st_size <= DIFF_LIMIT:
                action.old = read_file(path)
    return action


def missing_dirs(entry: Entry, view: View) -> t.List[str]:
    missing = []
    current = entry.path
    while True:
        kind = view.kind(current)
        if kind is not None:
            if not view.is_dir(current):
                raise FilesError("%s: %s exists as a %s, not a directory" % (entry.given, current, kind))
            break
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    missing.reverse()
    owner = (entry.mode or 0, os.geteuid() if entry.uid is None else entry.uid,
             os.getegid() if entry.gid is None else entry.gid)
    for path in missing:
        view.planned[path] = "directory"
        view.created[path] = owner
    return missing


def describe_content(data: t.Optional[bytes]) -> t.Optional[str]:
    """The content as text for a diff, or None when it is too large or not UTF-8."""
    if data is None or len(data) > DIFF_LIMIT:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def summary(data: bytes) -> str:
    return "(%d bytes, sha256 %s, not shown)\n" % (len(data), hashlib.sha256(data).hexdigest()[:16])


def diff_of(action: Action) -> t.Dict[str, str]:
    entry = action.entry
    header = entry.given
    attrs = "; ".join("%s %s -> %s" % change for change in action.attrs)
    if action.remove:
        before = "(%s)\n" % action.remove
        return dict(before_header=header, after_header=header + " (removed)", before=before, after="(absent)\n")
    if action.mkdirs:
        created = ", ".join(action.mkdirs[:-1])
        after = "(directory, mode %04o)\n" % entry.mode
        if created:
            after += "(with the parents %s)\n" % created
        return dict(before_header=header, after_header=header + " (created)", before="(absent)\n", after=after)
    after_header = header + (" (%s)" % attrs if attrs else "")
    if not action.write:
        before = "".join("%s %s\n" % (name, old) for name, old, _new in action.attrs)
        after = "".join("%s %s\n" % (name, new) for name, _old, new in action.attrs)
        return dict(before_header=header, after_header=after_header, before=before, after=after)
    data = entry.data or b""
    if entry.secret:
        after = "(secret content changed)\n" if action.before is not None else "(secret content, new file)\n"
        return dict(before_header=header, after_header=after_header, before="", after=after)
    new_text = describe_content(data)
    old_text = describe_content(action.old)
    if action.before is None:
        before, after = "", new_text if new_text is not None else summary(data)
    elif new_text is not None and old_text is not None:
        before, after = old_text, new_text
    else:
        before = summary(action.old) if action.old is not None else "(%d bytes, not shown)\n" % action.before.st_size
        after = summary(data)
    return dict(before_header=header, after_header=after_header, before=before, after=after)


class Applier:
    """Carries out the plan: stage (write, sync, validate) what it can first, then rename and change."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.done: t.List[str] = []

    def stage(self, action: Action) -> None:
        entry = action.entry
        data, mode = entry.data or b"", entry.mode or 0
        directory, name = os.path.split(entry.path)
        fd, temp = tempfile.mkstemp(prefix=".%s." % name, suffix=TEMP_SUFFIX, dir=directory)
        action.staged = temp
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            self.chown_staged(handle.fileno(), action)
            os.fchmod(handle.fileno(), mode)  # after chown, which clears setuid and setgid bits
            os.fsync(handle.fileno())
        if entry.validate:
            rc, _out, err = self.module.run_command(entry.validate % temp)
            if rc != 0:
                raise FilesError("%s: validate (%s) failed with exit code %d: %s"
                                 % (entry.given, entry.validate, rc, err.strip() or "(no error output)"))

    @staticmethod
    def chown_staged(fd: int, action: Action) -> None:
        """The wanted owner and group, or those of the file it replaces."""
        entry, keep = action.entry, action.before
        uid = entry.uid if entry.uid is not None else keep.st_uid if keep is not None else -1
        gid = entry.gid if entry.gid is not None else keep.st_gid if keep is not None else -1
        if uid == -1 and gid == -1:
            return
        try:
            os.fchown(fd, uid, gid)
        except PermissionError:
            if entry.uid is not None or entry.gid is not None:
                raise
            # Keeping another user's ownership needs privileges the module lacks: the file becomes ours.

    def apply(self, action: Action) -> None:
        entry = action.entry
        if action.mkdirs:
            for path in action.mkdirs:
                os.mkdir(path, entry.mode or 0o700)
                os.chmod(path, entry.mode or 0o700)
                if entry.uid is not None or entry.gid is not None:
                    os.lchown(path, -1 if entry.uid is None else entry.uid, -1 if entry.gid is None else entry.gid)
        elif action.remove == "file":
            os.unlink(entry.path)
        elif action.remove == "directory":
            os.rmdir(entry.path)
        elif action.write:
            staged = action.staged
            if staged is None:
                self.stage(action)
                staged = action.staged or ""
            os.rename(staged, entry.path)
            action.staged = None
            sync_dir(os.path.dirname(entry.path))
        elif action.attrs:
            self.set_attributes(action)
        self.done.append(entry.given)

    @staticmethod
    def set_attributes(action: Action) -> None:
        entry = action.entry
        if os.path.islink(entry.path):
            raise FilesError("%s: became a symbolic link while the task ran" % entry.given)
        names = {name for name, _old, _new in action.attrs}
        if "owner" in names or "group" in names:
            os.lchown(entry.path, entry.uid if "owner" in names and entry.uid is not None else -1,
                      entry.gid if "group" in names and entry.gid is not None else -1)
        if "mode" in names or "owner" in names or "group" in names:
            # chown clears setuid/setgid bits: set the mode after it.
            if entry.mode is not None and stat.S_IMODE(os.lstat(entry.path).st_mode) != entry.mode:
                os.chmod(entry.path, entry.mode)


def sync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EROFS):
            raise
    finally:
        os.close(fd)


def parse_entries(raw_entries: t.List[t.Dict[str, t.Any]], check_mode: bool = False) -> t.List[Entry]:
    entries = [Entry(raw, check_mode) for raw in raw_entries]
    seen: t.Dict[str, str] = {}
    for entry in entries:
        if entry.path in seen:
            raise FilesError("%s: listed twice (also as %s)" % (entry.given, seen[entry.path]))
        seen[entry.path] = entry.given
    return entries


def run(module: AnsibleModule) -> t.Dict[str, t.Any]:
    """Check and plan every entry, then (outside check mode) apply the plan."""
    want_diff = bool(module._diff)  # pylint: disable=protected-access
    entries = parse_entries(module.params["entries"], module.check_mode)
    for entry in entries:
        for what, name in sorted(entry.pending_names.items()):
            module.warn("Check mode: %s: %s %r does not exist yet (a task before this one creates it outside check mode);"
                        " counted as a change" % (entry.given, what, name))
    view = View()
    actions = [plan_entry(entry, view, want_diff) for entry in entries]
    changed = [action for action in actions if action.changed]
    result: t.Dict[str, t.Any] = dict(changed=bool(changed), changed_paths=[a.entry.given for a in changed])
    if want_diff:
        result["diff"] = [diff_of(action) for action in changed]
    if module.check_mode or not changed:
        return result
    applier = Applier(module)
    current = changed[0]
    try:
        for current in changed:
            if current.write and os.path.isdir(os.path.dirname(current.entry.path)):
                applier.stage(current)
        for current in changed:
            applier.apply(current)
    except (FilesError, OSError) as exc:
        for action in changed:
            if action.staged is not None:
                try:
                    os.unlink(action.staged)
                except OSError:
                    pass
        message = str(exc) if isinstance(exc, FilesError) else "%s: %s%s" % (
            current.entry.given, exc.strerror or exc, " (%s)" % exc.filename if exc.filename else "")
        raise Partial(message, applier.done) from None
    return result


class Partial(Exception):
    """A failure after the plan, with the paths already changed."""

    def __init__(self, message: str, done: t.List[str]) -> None:
        super().__init__(message)
        self.done = done


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = run(module)
    except FilesError as exc:
        module.fail_json(msg="files: %s" % exc, changed=False, changed_paths=[])
    except Partial as exc:
        module.fail_json(msg="files: %s" % exc, changed=bool(exc.done), changed_paths=exc.done)
    except OSError as exc:
        module.fail_json(msg="files: %s: %s" % (exc.filename or "a path", exc.strerror or exc), changed=False,
                         changed_paths=[])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
