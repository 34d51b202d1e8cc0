# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""mlstack.platform.files on real files in tmp_path: the module's main() runs in-process
with its arguments patched in, and every test looks at the files on disk afterwards, not
only at the result. Ownership changes to another user need root and skip otherwise."""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import typing as t

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlstack.platform.plugins.modules import files

SECRET = "s3cr3t-key-material-5d0a7e"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner to another user needs root")


@pytest.fixture(autouse=True)
def _module_side_warnings(monkeypatch):
    """As in tests/unit/plugins/conftest.py: a module runs on the target, not as the controller."""
    from ansible.module_utils import _internal
    monkeypatch.setattr(_internal, "is_controller", False)


def run(capsys: t.Any, entries: t.List[t.Dict[str, t.Any]], check: bool = False, diff: bool = False) -> t.Dict[str, t.Any]:
    args: t.Dict[str, t.Any] = {"entries": entries}
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            files.main()
    out = capsys.readouterr().out
    assert SECRET not in out
    return json.loads(out)


def me() -> t.Tuple[str, str]:
    return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


def mode_of(path: t.Any) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def leftovers(directory: t.Any) -> t.List[str]:
    return [name for name in os.listdir(directory) if name.endswith(files.TEMP_SUFFIX)]


def site(tmp_path: t.Any) -> t.List[t.Dict[str, t.Any]]:
    owner, group = me()
    app = tmp_path / "etc" / "app"
    return [
        {"path": str(app), "state": "directory", "mode": "0755", "owner": owner, "group": group},
        {"path": str(app / "conf.d"), "state": "directory", "mode": "0750"},
        {"path": str(app / "app.conf"), "content": "listen 80\nworkers 2\n", "mode": "0644"},
        {"path": str(app / "conf.d" / "extra.conf"), "content": "no newline at the end", "mode": "0640"},
        {"path": str(app / "key.pem"), "secret_content": SECRET + "\n", "mode": "0600", "owner": owner},
    ]


def test_creates_directories_with_parents_and_files_then_a_rerun_changes_nothing(tmp_path, capsys):
    entries = site(tmp_path)
    result = run(capsys, entries)
    assert result["changed"] is True
    assert result["changed_paths"] == [e["path"] for e in entries]
    app = tmp_path / "etc" / "app"
    assert mode_of(tmp_path / "etc") == 0o755  # a parent it created gets the entry's mode
    assert mode_of(app) == 0o755 and mode_of(app / "conf.d") == 0o750
    assert (app / "app.conf").read_bytes() == b"listen 80\nworkers 2\n"
    assert (app / "conf.d" / "extra.conf").read_bytes() == b"no newline at the end"
    assert (app / "key.pem").read_text() == SECRET + "\n"
    assert mode_of(app / "app.conf") == 0o644 and mode_of(app / "key.pem") == 0o600
    assert not leftovers(app) and not leftovers(app / "conf.d")

    again = run(capsys, entries)
    assert again == {"changed": False, "changed_paths": [], "invocation": again["invocation"]}
    assert again["invocation"]["module_args"]["entries"][4]["secret_content"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_a_content_change_replaces_only_that_file_by_rename(tmp_path, capsys):
    entries = site(tmp_path)
    run(capsys, entries)
    conf = tmp_path / "etc" / "app" / "app.conf"
    inode = os.lstat(conf).st_ino
    entries[2]["content"] = "listen 8080\nworkers 2\n"
    result = run(capsys, entries, diff=True)
    assert result["changed_paths"] == [str(conf)]
    assert conf.read_text() == "listen 8080\nworkers 2\n"
    assert os.lstat(conf).st_ino != inode
    assert mode_of(conf) == 0o644
    assert result["diff"] == [{"before_header": str(conf), "after_header": str(conf),
                               "before": "listen 80\nworkers 2\n", "after": "listen 8080\nworkers 2\n"}]
    assert not leftovers(conf.parent)


def test_a_trailing_newline_alone_is_a_change(tmp_path, capsys):
    target = tmp_path / "a.conf"
    target.write_bytes(b"x = 1\n")
    result = run(capsys, [{"path": str(target), "content": "x = 1", "mode": "%04o" % mode_of(target)}])
    assert result["changed"] is True
    assert target.read_bytes() == b"x = 1"


def test_a_mode_change_is_a_chmod_of_the_same_file(tmp_path, capsys):
    target = tmp_path / "a.conf"
    target.write_text("x\n")
    os.chmod(target, 0o644)
    inode = os.lstat(target).st_ino
    result = run(capsys, [{"path": str(target), "content": "x\n", "mode": "0600"}], diff=True)
    assert result["changed_paths"] == [str(target)]
    assert mode_of(target) == 0o600 and os.lstat(target).st_ino == inode
    assert result["diff"] == [{"before_header": str(target), "after_header": "%s (mode 0644 -> 0600)" % target,
                               "before": "mode 0644\n", "after": "mode 0600\n"}]


def test_numeric_owner_and_group_of_the_current_ids_are_a_no_op(tmp_path, capsys):
    target = tmp_path / "a.conf"
    target.write_text("x\n")
    os.chmod(target, 0o644)
    entry = {"path": str(target), "content": "x\n", "mode": "0644", "owner": str(os.geteuid()), "group": str(os.getegid())}
    assert run(capsys, [entry])["changed"] is False


@ROOT_ONLY
def test_an_owner_and_group_change_is_a_chown_and_a_rewrite_keeps_them(tmp_path, capsys):
    target = tmp_path / "a.conf"
    target.write_text("x\n")
    os.chmod(target, 0o644)
    inode = os.lstat(target).st_ino
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrgid(nobody.pw_gid).gr_name
    entry = {"path": str(target), "content": "x\n", "mode": "0644", "owner": "nobody", "group": nogroup}
    result = run(capsys, [entry], diff=True)
    st = os.lstat(target)
    assert (st.st_uid, st.st_gid, st.st_ino) == (nobody.pw_uid, nobody.pw_gid, inode)
    assert result["diff"][0]["after_header"] == "%s (owner root -> nobody; group root -> %s)" % (target, nogroup)
    # Without owner/group, a content change keeps the file's owner and group.
    result = run(capsys, [{"path": str(target), "content": "y\n", "mode": "0644"}])
    st = os.lstat(target)
    assert result["changed"] is True and target.read_text() == "y\n"
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)


def test_check_mode_reports_what_would_change_and_writes_nothing(tmp_path, capsys):
    entries = site(tmp_path)
    result = run(capsys, entries, check=True, diff=True)
    assert result["changed"] is True
    # The files under directories that earlier entries would create count as creatable.
    assert result["changed_paths"] == [e["path"] for e in entries]
    assert os.listdir(tmp_path) == []
    assert [d["after"] for d in result["diff"]][2:] == [
        "listen 80\nworkers 2\n", "no newline at the end", "(secret content, new file)\n"]

    run(capsys, entries)
    conf = tmp_path / "etc" / "app" / "app.conf"
    entries[2]["content"] = "changed\n"
    entries[2]["mode"] = "0600"
    result = run(capsys, entries, check=True)
    assert result["changed_paths"] == [str(conf)]
    assert conf.read_text() == "listen 80\nworkers 2\n" and mode_of(conf) == 0o644


def test_secrets_are_never_in_the_result_or_the_diff(tmp_path, capsys):
    entries = site(tmp_path)
    result = run(capsys, entries, diff=True)  # run() asserts SECRET is nowhere in the output
    key = tmp_path / "etc" / "app" / "key.pem"
    entries[4]["secret_content"] = SECRET + "-rotated\n"
    result = run(capsys, entries, diff=True)
    assert result["changed_paths"] == [str(key)]
    assert result["diff"] == [{"before_header": str(key), "after_header": str(key),
                               "before": "", "after": "(secret content changed)\n"}]
    assert key.read_text() == SECRET + "-rotated\n"


def test_large_content_is_summarised_in_the_diff(tmp_path, capsys):
    target = tmp_path / "big.txt"
    target.write_text("a" * 70000)
    os.chmod(target, 0o644)
    result = run(capsys, [{"path": str(target), "content": "b" * 70000, "mode": "0644"}], diff=True)
    (item,) = result["diff"]
    assert item["before"].startswith("(70000 bytes, sha256 ") and item["after"].startswith("(70000 bytes, sha256 ")
    assert item["before"] != item["after"] and "aaaa" not in item["before"]


VALIDATE = "/bin/sh -c 'grep -q ^ok %s || { echo config rejected: no ok line >&2; exit 3; }'"


def test_validate_passes_then_fails_and_a_failure_leaves_every_old_file(tmp_path, capsys):
    conf, other = tmp_path / "app.conf", tmp_path / "other.conf"
    entries = [{"path": str(other), "content": "first\n", "mode": "0644"},
               {"path": str(conf), "content": "ok 1\n", "mode": "0644", "validate": VALIDATE}]
    assert run(capsys, entries)["changed_paths"] == [str(other), str(conf)]
    assert conf.read_text() == "ok 1\n"

    entries[0]["content"] = "second\n"
    entries[1]["content"] = "broken\n"
    result = run(capsys, entries)
    assert result["failed"] is True
    assert result["msg"] == "files: %s: validate (%s) failed with exit code 3: config rejected: no ok line" % (conf, VALIDATE)
    assert "broken" not in result["msg"]
    # Both files were staged and checked before either replaced its old file: nothing changed.
    assert conf.read_text() == "ok 1\n" and other.read_text() == "first\n"
    assert result["changed"] is False and result["changed_paths"] == []
    assert not leftovers(tmp_path)


def test_validate_without_a_placeholder_is_refused(tmp_path, capsys):
    result = run(capsys, [{"path": str(tmp_path / "a"), "content": "x", "mode": "0644", "validate": "/bin/true"}])
    assert result["failed"] is True and "validate must contain %s" in result["msg"]


def test_absent_removes_a_file_and_an_empty_directory(tmp_path, capsys):
    (tmp_path / "old.conf").write_text("x")
    (tmp_path / "empty").mkdir()
    entries = [{"path": str(tmp_path / "old.conf"), "state": "absent"},
               {"path": str(tmp_path / "empty"), "state": "absent"},
               {"path": str(tmp_path / "never-was"), "state": "absent"}]
    result = run(capsys, entries, diff=True)
    assert result["changed_paths"] == [str(tmp_path / "old.conf"), str(tmp_path / "empty")]
    assert os.listdir(tmp_path) == []
    assert [d["before"] for d in result["diff"]] == ["(file)\n", "(directory)\n"]
    assert run(capsys, entries)["changed"] is False


def test_a_directory_that_is_not_empty_is_not_removed(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("x")
    result = run(capsys, [{"path": str(tmp_path / "full"), "state": "absent"}])
    assert result["failed"] is True
    assert result["msg"] == "files: %s: is a directory that is not empty; state absent removes only empty ones" % (tmp_path / "full")
    assert (tmp_path / "full" / "keep").exists()


@pytest.mark.parametrize("state", ["file", "directory", "absent"])
def test_a_symbolic_link_is_refused_and_its_target_left_alone(tmp_path, capsys, state):
    target = tmp_path / "real.conf"
    target.write_text("real\n")
    os.chmod(target, 0o644)
    link = tmp_path / "link.conf"
    link.symlink_to(target)
    entry: t.Dict[str, t.Any] = {"path": str(link), "state": state}
    if state != "absent":
        entry["mode"] = "0600"
    if state == "file":
        entry["content"] = "replaced\n"
    result = run(capsys, [entry])
    assert result["failed"] is True and str(link) in result["msg"] and "symbolic link" in result["msg"]
    assert link.is_symlink() and target.read_text() == "real\n" and mode_of(target) == 0o644


def test_a_path_of_another_type_is_refused(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    result = run(capsys, [{"path": str(tmp_path / "d"), "content": "x", "mode": "0644"}])
    assert result["msg"] == "files: %s: exists as a directory, not a file" % (tmp_path / "d")


def test_a_file_whose_directory_is_missing_is_refused(tmp_path, capsys):
    path = tmp_path / "missing" / "a.conf"
    result = run(capsys, [{"path": str(path), "content": "x", "mode": "0644"}])
    assert result["failed"] is True
    assert result["msg"].startswith("files: %s: its directory %s does not exist" % (path, path.parent))


def test_a_path_listed_twice_is_refused(tmp_path, capsys):
    path = str(tmp_path / "a.conf")
    result = run(capsys, [{"path": path, "content": "x", "mode": "0644"},
                          {"path": path + "/", "state": "absent"}])
    assert result["failed"] is True and result["msg"] == "files: %s/: listed twice (also as %s)" % (path, path)
    assert not os.path.exists(path)


@pytest.mark.parametrize("mode, said", [
    (420, "got int 420 (YAML reads an unquoted 0644 as the number 420: quote it)"),
    ("rw-r--r--", "mode 'rw-r--r--' is not an octal string"),
    ("0689", "mode '0689' is not an octal string"),
    (None, "mode is required"),
])
def test_a_bad_mode_fails_before_any_entry_is_applied(tmp_path, capsys, mode, said):
    first = tmp_path / "first"
    bad = tmp_path / "first" / "bad.conf"
    entry: t.Dict[str, t.Any] = {"path": str(bad), "content": "x"}
    if mode is not None:
        entry["mode"] = mode
    result = run(capsys, [{"path": str(first), "state": "directory", "mode": "0755"}, entry])
    assert result["failed"] is True
    assert result["msg"].startswith("files: %s: " % bad) and said in result["msg"]
    assert not first.exists()  # the earlier, valid entry was not applied


def test_an_unknown_owner_or_group_fails_naming_it_before_any_change(tmp_path, capsys):
    first = tmp_path / "first.conf"
    for key, word in (("owner", "user"), ("group", "group")):
        result = run(capsys, [{"path": str(first), "content": "x", "mode": "0644"},
                              {"path": str(tmp_path / "b"), "content": "x", "mode": "0644", key: "no-such-name-4f2"}])
        assert result["msg"] == "files: %s: %s 'no-such-name-4f2' is not a %s on this host" % (tmp_path / "b", key, word)
        assert not first.exists()


def test_check_mode_counts_an_owner_still_to_create_as_a_change_and_says_so(tmp_path, capsys):
    # On a fresh host in check mode, the user a role creates a task earlier does not exist
    # (check mode did not create it): the entry is a change to it, with a warning, not a failure
    # (found by the e2e check mode of a fresh site: Label Studio's data directory).
    new_dir, existing = tmp_path / "data", tmp_path / "existing.conf"
    existing.write_text("x")
    os.chmod(existing, 0o644)
    entries = [{"path": str(new_dir), "state": "directory", "mode": "0750", "owner": "no-such-name-4f2"},
               {"path": str(existing), "content": "x", "mode": "0644", "group": "no-such-group-4f2"}]
    result = run(capsys, entries, check=True, diff=True)
    assert result["changed"] is True and result["changed_paths"] == [str(new_dir), str(existing)]
    assert not new_dir.exists()
    assert any("owner 'no-such-name-4f2' does not exist yet" in w for w in warning_texts(result))
    assert any("group 'no-such-group-4f2' does not exist yet" in w for w in warning_texts(result))
    assert "-> no-such-group-4f2" in result["diff"][1]["after_header"]
    # Outside check mode it still fails, naming it, before any change.
    result = run(capsys, entries)
    assert result["failed"] is True and "owner 'no-such-name-4f2' is not a user on this host" in result["msg"]
    assert not new_dir.exists()


def warning_texts(result: t.Dict[str, t.Any]) -> t.List[str]:
    texts = []
    for warning in result.get("warnings") or []:
        texts.append(warning if isinstance(warning, str) else str((warning.get("event") or {}).get("msg", warning)))
    return texts


def test_arguments_that_do_not_fit_the_state_are_refused(tmp_path, capsys):
    cases = [
        ({"path": str(tmp_path / "a"), "mode": "0644"}, "needs exactly one of content and secret_content"),
        ({"path": str(tmp_path / "a"), "mode": "0644", "content": "x", "secret_content": SECRET}, "needs exactly one of"),
        ({"path": str(tmp_path / "a"), "state": "absent", "mode": "0644"}, "state absent takes no mode"),
        ({"path": str(tmp_path / "a"), "state": "directory", "mode": "0755", "content": "x"}, "state directory takes no content"),
        ({"path": "relative/a", "content": "x", "mode": "0644"}, "'relative/a': path must be absolute"),
    ]
    for entry, said in cases:
        result = run(capsys, [entry])
        assert result["failed"] is True and said in result["msg"], result["msg"]
    assert os.listdir(tmp_path) == []


def test_a_directory_entry_fixes_an_existing_directory_mode(tmp_path, capsys):
    target = tmp_path / "d"
    target.mkdir()
    os.chmod(target, 0o700)
    result = run(capsys, [{"path": str(target), "state": "directory", "mode": "2775"}], diff=True)
    assert result["changed_paths"] == [str(target)] and mode_of(target) == 0o2775
    assert result["diff"][0]["after_header"] == "%s (mode 0700 -> 2775)" % target
    assert run(capsys, [{"path": str(target), "state": "directory", "mode": "2775"}])["changed"] is False


def test_check_mode_counts_a_directory_an_earlier_entry_removes(tmp_path, capsys):
    (tmp_path / "gone").mkdir()
    result = run(capsys, [{"path": str(tmp_path / "gone"), "state": "absent"},
                          {"path": str(tmp_path / "gone" / "a"), "content": "x", "mode": "0644"}], check=True)
    assert result["failed"] is True and "its directory %s does not exist" % (tmp_path / "gone") in result["msg"]
    assert (tmp_path / "gone").is_dir()


def test_a_parent_created_by_an_earlier_entry_gets_its_own_entry_attributes(tmp_path, capsys):
    child, parent = tmp_path / "a" / "b", tmp_path / "a"
    entries = [{"path": str(child), "state": "directory", "mode": "0700"},
               {"path": str(parent), "state": "directory", "mode": "0755"}]
    checked = run(capsys, entries, check=True, diff=True)
    assert checked["changed_paths"] == [str(child), str(parent)]
    assert checked["diff"][1]["after_header"] == "%s (mode 0700 -> 0755)" % parent
    assert not parent.exists()
    assert run(capsys, entries)["changed_paths"] == [str(child), str(parent)]
    assert mode_of(parent) == 0o755 and mode_of(child) == 0o700
    assert run(capsys, entries)["changed"] is False


def test_a_validate_failure_under_a_new_directory_names_what_was_already_applied(tmp_path, capsys):
    new_dir = tmp_path / "new"
    entries = [{"path": str(new_dir), "state": "directory", "mode": "0755"},
               {"path": str(new_dir / "app.conf"), "content": "broken\n", "mode": "0644", "validate": VALIDATE}]
    result = run(capsys, entries)
    assert result["failed"] is True and result["msg"].startswith("files: %s: validate" % (new_dir / "app.conf"))
    assert result["changed"] is True and result["changed_paths"] == [str(new_dir)]
    assert os.listdir(new_dir) == []
