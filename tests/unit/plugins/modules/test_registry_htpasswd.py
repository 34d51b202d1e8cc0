# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""registry_htpasswd on real files with real bcrypt: the C library's crypt(3) (libxcrypt,
always here) and python3-bcrypt's package where it is installed. Every entry the module
writes is checked with the other implementation when both are present, and always against
the format the distribution registry reads (registry/auth/htpasswd/htpasswd.go)."""

from __future__ import annotations

import json
import os
import stat
import typing as t

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlstack.platform.plugins.module_utils import _htpasswd
from ansible_collections.mlstack.platform.plugins.modules import registry_htpasswd

PULL = "pull-pw-3f1c9e0d"
PUSH = "push-pw-77ab2e41"


def hashers() -> t.List[t.Any]:
    params = [pytest.param(_htpasswd.CryptHasher, id="crypt")]
    try:
        import bcrypt  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        params.append(pytest.param(_htpasswd.BcryptHasher, id="bcrypt"))
    except ImportError:
        params.append(pytest.param(_htpasswd.BcryptHasher, id="bcrypt",
                                   marks=pytest.mark.skip(reason="the bcrypt package is not installed here")))
    return params


@pytest.fixture(params=hashers())
def hasher(request: t.Any, monkeypatch: t.Any) -> t.Any:
    chosen = request.param()
    monkeypatch.setattr(registry_htpasswd, "find_hasher", lambda: chosen)
    return chosen


def run(capsys: t.Any, args: t.Dict[str, t.Any], check: bool = False, diff: bool = False) -> t.Dict[str, t.Any]:
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            registry_htpasswd.main()
    out = capsys.readouterr().out
    for secret in (PULL, PUSH):
        assert secret not in out
    return json.loads(out)


def users(pull: str = PULL, push: str = PUSH) -> t.List[t.Dict[str, str]]:
    return [{"name": "pull", "password": pull}, {"name": "push", "password": push}]


def entries(path: str) -> t.Dict[str, str]:
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))


def verifiers() -> t.List[t.Any]:
    found = [_htpasswd.CryptHasher()]
    try:
        found.append(_htpasswd.BcryptHasher())
    except ImportError:
        pass
    return found


def assert_verifies(hashed: str, password: str, cost: int) -> None:
    assert _htpasswd.cost_of(hashed) == cost, hashed
    for verifier in verifiers():
        assert verifier.verify(password, hashed), verifier.name
        assert not verifier.verify(password + "x", hashed), verifier.name


def test_new_file_gets_both_users_at_the_cost_mode_0600(capsys, tmp_path, hasher):
    path = str(tmp_path / "htpasswd-pull")
    result = run(capsys, {"path": path, "users": users(), "cost": 5, "mode": "0600"})
    assert result["changed"] is True
    assert result["added"] == ["pull", "push"] and result["rehashed"] == [] and result["kept"] == []
    assert result["implementation"] == hasher.name
    got = entries(path)
    assert sorted(got) == ["pull", "push"]
    assert_verifies(got["pull"], PULL, 5)
    assert_verifies(got["push"], PUSH, 5)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # No temporary file is left beside it.
    assert os.listdir(tmp_path) == ["htpasswd-pull"]


def test_second_run_keeps_every_entry_and_does_not_write(capsys, tmp_path, hasher):
    path = str(tmp_path / "htpasswd")
    run(capsys, {"path": path, "users": users(), "cost": 5})
    before = os.stat(path)
    with open(path, "rb") as handle:
        content = handle.read()
    result = run(capsys, {"path": path, "users": users(), "cost": 5})
    assert result["changed"] is False
    assert result["kept"] == ["pull", "push"] and result["rehashed"] == [] and result["added"] == []
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    with open(path, "rb") as handle:
        assert handle.read() == content


def test_entry_at_another_cost_is_rewritten_once_others_kept(capsys, tmp_path, hasher):
    path = tmp_path / "htpasswd"
    # As `htpasswd -B -C 6` writes it ($2y$), a user the task does not name, and a comment.
    old_pull = hasher.hash(PULL, 6).replace("$2b$", "$2y$", 1)
    other = hasher.hash("someone-else", 4)
    path.write_text("# site registry\npull:%s\nalice:%s\n" % (old_pull, other), encoding="utf-8")
    result = run(capsys, {"path": str(path), "users": users(), "cost": 5})
    assert result["changed"] is True
    assert result["rehashed"] == ["pull"] and result["added"] == ["push"]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# site registry"
    assert lines[2] == "alice:" + other
    assert [line.split(":")[0] for line in lines] == ["# site registry", "pull", "alice", "push"]
    assert_verifies(entries(str(path))["pull"], PULL, 5)
    again = run(capsys, {"path": str(path), "users": users(), "cost": 5})
    assert again["changed"] is False and again["kept"] == ["pull", "push"]


def test_an_entry_at_the_cost_is_kept_whatever_its_prefix(capsys, tmp_path, hasher):
    path = tmp_path / "htpasswd"
    kept = hasher.hash(PULL, 5).replace("$2b$", "$2y$", 1)
    path.write_text("pull:%s\n" % kept, encoding="utf-8")
    result = run(capsys, {"path": str(path), "users": users()[:1], "cost": 5})
    assert result["changed"] is False and result["kept"] == ["pull"]
    assert entries(str(path))["pull"] == kept


def test_changed_password_or_other_scheme_is_rewritten(capsys, tmp_path, hasher):
    path = tmp_path / "htpasswd"
    path.write_text("pull:%s\npush:$apr1$abcdefgh$0123456789abcdefghijkl\n" % hasher.hash("old-password", 5),
                    encoding="utf-8")
    result = run(capsys, {"path": str(path), "users": users(), "cost": 5})
    assert result["rehashed"] == ["pull", "push"] and result["changed"] is True
    got = entries(str(path))
    assert_verifies(got["pull"], PULL, 5)
    assert_verifies(got["push"], PUSH, 5)


def test_a_user_listed_twice_keeps_one_line(capsys, tmp_path, hasher):
    path = tmp_path / "htpasswd"
    good = hasher.hash(PULL, 5)
    path.write_text("pull:%s\npull:%s\n" % (good, hasher.hash("stale", 5)), encoding="utf-8")
    result = run(capsys, {"path": str(path), "users": users()[:1], "cost": 5})
    assert result["changed"] is True and result["rehashed"] == ["pull"] and result["kept"] == []
    assert path.read_text(encoding="utf-8") == "pull:%s\n" % good


def test_check_mode_reports_and_writes_nothing(capsys, tmp_path, hasher):
    path = tmp_path / "htpasswd"
    result = run(capsys, {"path": str(path), "users": users(), "cost": 5}, check=True)
    assert result["changed"] is True and result["added"] == ["pull", "push"]
    assert not path.exists()
    old = "pull:%s\npush:%s\n" % (hasher.hash(PULL, 5), hasher.hash(PUSH, 6))
    path.write_text(old, encoding="utf-8")
    result = run(capsys, {"path": str(path), "users": users(), "cost": 5}, check=True)
    assert result["changed"] is True and result["kept"] == ["pull"] and result["rehashed"] == ["push"]
    assert path.read_text(encoding="utf-8") == old


def test_diff_names_users_and_costs_never_hashes(capsys, tmp_path, hasher):
    path = tmp_path / "htpasswd"
    old_push = hasher.hash(PUSH, 6)
    path.write_text("push:%s\n" % old_push, encoding="utf-8")
    result = run(capsys, {"path": str(path), "users": users(), "cost": 5}, diff=True)
    assert result["diff"]["before"] == "push: bcrypt cost 6\n"
    assert result["diff"]["after"] == "push: bcrypt cost 5\npull: bcrypt cost 5\n"
    dumped = json.dumps(result)
    assert old_push not in dumped
    for hashed in entries(str(path)).values():
        assert hashed not in dumped


def test_mode_of_an_existing_file_is_set_and_reported(capsys, tmp_path, hasher):
    path = tmp_path / "htpasswd"
    run(capsys, {"path": str(path), "users": users(), "cost": 5})
    os.chmod(path, 0o644)
    result = run(capsys, {"path": str(path), "users": users(), "cost": 5, "mode": "0600"})
    assert result["changed"] is True and result["kept"] == ["pull", "push"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("args, message", [
    ({"cost": 3}, "cost 3 is outside bcrypt's 4..31"),
    ({"cost": 32}, "cost 32 is outside bcrypt's 4..31"),
    ({"users": [{"name": "a:b", "password": "pw-one-4d2"}]}, "the name 'a:b' cannot be an htpasswd user"),
    ({"users": [{"name": "pull", "password": "pw-one-4d2"}, {"name": "pull", "password": "pw-two-9e1"}]}, "pull listed more than once"),
    ({"users": [{"name": "pull", "password": ""}]}, "the password of pull is empty"),
    ({"users": [{"name": "pull", "password": "p" * 73}]}, "the password of pull is longer than 72 bytes"),
])
def test_bad_input_fails_naming_it_and_writes_nothing(capsys, tmp_path, hasher, args, message):
    path = tmp_path / "htpasswd"
    result = run(capsys, dict({"path": str(path), "users": users(), "cost": 5}, **args))
    assert result["failed"] is True
    assert message in result["msg"] and result["msg"].startswith("registry_htpasswd: ")
    assert not path.exists()


def test_missing_directory_fails_naming_it(capsys, tmp_path, hasher):
    path = tmp_path / "absent" / "htpasswd"
    result = run(capsys, {"path": str(path), "users": users(), "cost": 5})
    assert result["failed"] is True
    assert "the directory %s" % (tmp_path / "absent") in result["msg"]


def test_no_implementation_fails_saying_what_to_install(capsys, tmp_path, monkeypatch):
    def absent() -> None:
        raise ImportError("not here")
    monkeypatch.setattr(_htpasswd.BcryptHasher, "__init__", lambda self: absent())
    monkeypatch.setattr(_htpasswd.CryptHasher, "__init__", lambda self: absent())
    result = run(capsys, {"path": str(tmp_path / "htpasswd"), "users": users(), "cost": 5})
    assert result["failed"] is True and "install python3-bcrypt" in result["msg"]
