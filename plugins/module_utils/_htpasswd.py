# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""htpasswd files of bcrypt entries at a chosen cost, as the distribution registry reads
them (registry/auth/htpasswd/htpasswd.go: one ``user:hash`` per line, ``#`` comments, only
bcrypt hashes accepted, the password checked with bcrypt on every request).

An entry is kept when its cost is the wanted one and the password verifies against it;
otherwise it is hashed again. Lines of other users and comments are kept as they are, in
their order; new users are appended. Nothing here prints or returns a hash or a password."""

from __future__ import annotations

import os
import re
import tempfile
import typing as t

MIN_COST = 4   # Go's bcrypt.MinCost (golang.org/x/crypto/bcrypt), what the registry checks with
MAX_COST = 31  # bcrypt.MaxCost

_BCRYPT = re.compile(r"^\$(2[abxy])\$([0-9]{2})\$[./A-Za-z0-9]{53}$")


class HtpasswdError(ValueError):
    """An input or a file that cannot be used as asked."""


class Hasher(t.Protocol):
    """What the module needs of a bcrypt implementation."""

    name: str

    def hash(self, password: str, cost: int) -> str: ...

    def verify(self, password: str, hashed: str) -> bool: ...


class BcryptHasher:
    """The ``bcrypt`` package (Debian's and Ubuntu's python3-bcrypt)."""

    name = "bcrypt"

    def __init__(self) -> None:
        import bcrypt  # pylint: disable=import-outside-toplevel
        self._bcrypt = bcrypt

    def hash(self, password: str, cost: int) -> str:
        return self._bcrypt.hashpw(password.encode("utf-8"), self._bcrypt.gensalt(cost)).decode("ascii")

    def verify(self, password: str, hashed: str) -> bool:
        try:
            return bool(self._bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii")))
        except ValueError:
            return False


class CryptHasher:
    """The C library's crypt(3) through Python's ``crypt`` module (Python <= 3.12): libxcrypt,
    Debian's and Ubuntu's libcrypt, implements bcrypt ($2b$, $2y$)."""

    name = "crypt"

    def __init__(self) -> None:
        import warnings  # pylint: disable=import-outside-toplevel
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # pylint: disable=import-outside-toplevel,deprecated-module
        self._crypt = crypt
        probe = crypt.crypt("probe", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2 ** MIN_COST))
        if not probe or not _BCRYPT.match(probe):
            raise ImportError("the C library's crypt(3) does not implement bcrypt")

    def hash(self, password: str, cost: int) -> str:
        return self._crypt.crypt(password, self._crypt.mksalt(self._crypt.METHOD_BLOWFISH, rounds=2 ** cost))

    def verify(self, password: str, hashed: str) -> bool:
        try:
            return self._crypt.crypt(password, hashed) == hashed
        except (OSError, ValueError):
            return False


def find_hasher() -> Hasher:
    """python3-bcrypt when it is installed, else crypt(3) where it does bcrypt."""
    errors = []
    for kind in (BcryptHasher, CryptHasher):
        try:
            return kind()
        except ImportError as exc:
            errors.append("%s: %s" % (kind.name, exc))
    raise HtpasswdError("no bcrypt implementation on this host (%s): install python3-bcrypt" % "; ".join(errors))


def cost_of(hashed: str) -> t.Optional[int]:
    """The cost of a bcrypt hash, None for anything else (an entry the registry refuses)."""
    match = _BCRYPT.match(hashed)
    return int(match.group(2)) if match else None


class Line(t.NamedTuple):
    user: t.Optional[str]  # None for comments, blank lines and lines without a colon
    text: str


def parse(text: str) -> t.List[Line]:
    lines = []
    for raw in text.splitlines():
        name, sep, _value = raw.strip().partition(":")
        is_entry = bool(sep) and not raw.lstrip().startswith("#")
        lines.append(Line(name if is_entry else None, raw))
    return lines


def _hash_of(line: Line) -> str:
    return line.text.strip().partition(":")[2]


class Plan(t.NamedTuple):
    text: str             # the file's new content (to write when changed)
    kept: t.List[str]     # users whose entry verifies at the cost
    rehashed: t.List[str]  # users whose entry was there but is rewritten (other cost, other password, not bcrypt)
    added: t.List[str]    # users the file did not have
    before: str           # users and costs before, for a diff (no hashes)
    after: str            # users and costs after

    @property
    def changed(self) -> bool:
        return bool(self.rehashed or self.added)


def _summary(lines: t.Sequence[Line]) -> str:
    out = []
    for line in lines:
        if line.user is None:
            continue
        cost = cost_of(_hash_of(line))
        out.append("%s: %s" % (line.user, "bcrypt cost %d" % cost if cost is not None else "not bcrypt"))
    return "".join(entry + "\n" for entry in out)


def check_users(users: t.Sequence[t.Mapping[str, t.Any]]) -> None:
    names = [str(user.get("name") or "") for user in users]
    for name in names:
        if not name or ":" in name or name.strip() != name or "\n" in name:
            raise HtpasswdError("users: the name %r cannot be an htpasswd user (empty, a colon, spaces or a newline)"
                                % name)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise HtpasswdError("users: %s listed more than once" % ", ".join(duplicates))
    for user in users:
        if not isinstance(user.get("password"), str) or not user["password"]:
            raise HtpasswdError("users: the password of %s is empty" % user["name"])
        if len(user["password"].encode("utf-8")) > 72:
            # bcrypt reads the first 72 bytes only; Go's bcrypt refuses longer passwords.
            raise HtpasswdError("users: the password of %s is longer than 72 bytes, which bcrypt cannot check"
                                % user["name"])


def plan(current: str, users: t.Sequence[t.Mapping[str, str]], cost: int, hasher: Hasher) -> Plan:
    """What the file should hold: ``current`` with every user of ``users`` at ``cost``."""
    if not MIN_COST <= cost <= MAX_COST:
        raise HtpasswdError("cost %d is outside bcrypt's %d..%d" % (cost, MIN_COST, MAX_COST))
    check_users(users)
    lines = parse(current)
    wanted = {user["name"]: user["password"] for user in users}
    kept, rehashed, added = [], [], []
    new_lines: t.List[Line] = []
    seen = set()
    for line in lines:
        if line.user is None or line.user not in wanted:
            new_lines.append(line)
            continue
        if line.user in seen:
            # A second line for a user (the registry would read the last one): one is kept.
            if line.user not in rehashed:
                rehashed.append(line.user)
            continue
        seen.add(line.user)
        hashed = _hash_of(line)
        if cost_of(hashed) == cost and hasher.verify(wanted[line.user], hashed):
            kept.append(line.user)
            new_lines.append(line)
        else:
            if line.user not in rehashed:
                rehashed.append(line.user)
            new_lines.append(Line(line.user, "%s:%s" % (line.user, hasher.hash(wanted[line.user], cost))))
    for name, password in wanted.items():
        if name not in seen:
            added.append(name)
            new_lines.append(Line(name, "%s:%s" % (name, hasher.hash(password, cost))))
    # A kept user whose duplicate line was dropped counts as rewritten, not as kept.
    kept = [name for name in kept if name not in rehashed]
    text = "".join(line.text + "\n" for line in new_lines)
    return Plan(text, kept, rehashed, added, _summary(lines), _summary(new_lines))


def read(path: str) -> t.Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise HtpasswdError("%s cannot be read: %s" % (path, exc)) from exc


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` (mode 0600 from the start) and rename it."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise HtpasswdError("the directory %s of %s does not exist" % (directory, path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".mlstack-tmp-htpasswd-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
