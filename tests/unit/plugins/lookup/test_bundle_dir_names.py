# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""lookup bundle_dir_names: the top names of a directory, hidden ones too; none for a
missing directory; a path that is not a directory is named."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.mlstack.platform.plugins.lookup.bundle_dir_names import LookupModule


def test_names_hidden_included_sorted_and_not_recursive(tmp_path):
    (tmp_path / "images" / "oci").mkdir(parents=True)
    (tmp_path / "MANIFEST.json").write_text("{}")
    (tmp_path / ".hidden").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    assert LookupModule().run([str(tmp_path)]) == [".hidden", "MANIFEST.json", "images", "link"]


def test_a_missing_directory_has_no_names(tmp_path):
    assert LookupModule().run([str(tmp_path / "new")]) == []


def test_a_file_is_named_and_bad_terms_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(AnsibleLookupError, match="%s exists and is not a directory" % (tmp_path / "f")):
        LookupModule().run([str(tmp_path / "f")])
    with pytest.raises(AnsibleLookupError, match="give one term"):
        LookupModule().run([str(tmp_path), str(tmp_path)])
    with pytest.raises(AnsibleLookupError, match="no options"):
        LookupModule().run([str(tmp_path)], recurse=True)
