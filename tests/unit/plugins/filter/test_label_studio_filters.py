# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The label_studio role's computed values (plugins/filter/label_studio_api.py): the lab
inventory's project, addresses, pip's arguments and proxy, the login cookie, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mlstack.platform.plugins.filter.label_studio_api import (
    FilterModule,
    label_studio_listen,
    label_studio_local_url,
    label_studio_pip_args,
    label_studio_pip_env,
    label_studio_session_cookie,
    label_studio_storage_body,
)

ROOT = Path(__file__).resolve().parents[4]
KEYS = {"s3_access_key": "LSKEY", "s3_secret_key": "ls-secret"}


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"label_studio_listen", "label_studio_local_url", "label_studio_pip_args",
                                             "label_studio_pip_env", "label_studio_storage_body",
                                             "label_studio_session_cookie"}


@pytest.mark.parametrize("bind,listen,url", [
    ("127.0.0.1", "127.0.0.1:8090", "http://127.0.0.1:8090"),
    ("10.64.140.12", "10.64.140.12:8090", "http://10.64.140.12:8090"),
    ("0.0.0.0", "0.0.0.0:8090", "http://127.0.0.1:8090"),
    ("::", "[::]:8090", "http://127.0.0.1:8090"),
    ("fd00::7", "[fd00::7]:8090", "http://[fd00::7]:8090"),
])
def test_addresses(bind, listen, url):
    assert label_studio_listen(bind, 8090) == listen
    assert label_studio_local_url(bind, 8090) == url


def test_pip_args():
    assert label_studio_pip_args("", False, "/var/lib/mlstack/wheels/label_studio", True) == [
        "--no-index", "--find-links", "/var/lib/mlstack/wheels/label_studio"]
    assert label_studio_pip_args("http://pypi.site.example:8080/simple", True, "/w", False) == [
        "--index-url", "http://pypi.site.example:8080/simple", "--trusted-host", "pypi.site.example"]
    assert label_studio_pip_args("https://pypi.site.example/simple", False, "/w", False) == [
        "--index-url", "https://pypi.site.example/simple"]
    # No index given: pip's own (online).
    assert label_studio_pip_args("", True, "/w", False) == []


def test_pip_args_errors():
    with pytest.raises(AnsibleFilterError, match="label_studio_wheelhouse_host_dir is empty"):
        label_studio_pip_args("", False, "", True)
    with pytest.raises(AnsibleFilterError, match="has no host name to trust"):
        label_studio_pip_args("pypi-mirror", True, "/w", False)


def test_pip_env():
    proxy = {"http": "http://proxy:3128", "https": "http://proxy:3129", "no_proxy": ["localhost", ".site"]}
    assert label_studio_pip_env(proxy) == {
        "http_proxy": "http://proxy:3128", "HTTP_PROXY": "http://proxy:3128", "https_proxy": "http://proxy:3129",
        "HTTPS_PROXY": "http://proxy:3129", "no_proxy": "localhost,.site", "NO_PROXY": "localhost,.site"}
    env = label_studio_pip_env({"https": "http://p:1"})
    assert env == {"https_proxy": "http://p:1", "HTTPS_PROXY": "http://p:1", "no_proxy": "", "NO_PROXY": ""}
    # The wheelhouse needs no network; no proxy, no environment.
    assert label_studio_pip_env(proxy, True) == {}
    assert label_studio_pip_env({}) == {} == label_studio_pip_env(None)
    with pytest.raises(AnsibleFilterError, match="mlstack_proxy must be a dict"):
        label_studio_pip_env("http://proxy:3128")


def test_storage_body_of_the_lab_project():
    lab = yaml.safe_load((ROOT / "inventories/lab/group_vars/all/main.yml").read_text())
    project = lab["label_studio_projects"][0]
    body = label_studio_storage_body(project.get("s3_export"), "export", "3", project["title"] + " export",
                                     "label-studio", "us-east-1", KEYS)
    assert body == {"project": 3, "title": "Lab images export", "bucket": "label-studio", "prefix": "lab/annotations",
                    "region_name": "us-east-1", "aws_access_key_id": "LSKEY", "aws_secret_access_key": "ls-secret",
                    "can_delete_objects": False}


def test_storage_body_of_an_import_with_its_flags():
    spec = {"bucket": "raw", "prefix": "in/", "regex_filter": ".*jpg", "presign": "no", "use_blob_urls": True}
    body = label_studio_storage_body(spec, "import", 4, "Raw images", "label-studio", "eu-west-1", KEYS)
    assert {k: body[k] for k in ("bucket", "prefix", "regex_filter", "use_blob_urls", "presign", "recursive_scan")} == {
        "bucket": "raw", "prefix": "in/", "regex_filter": ".*jpg", "use_blob_urls": True, "presign": False,
        "recursive_scan": False}
    assert "can_delete_objects" not in body
    # Defaults of an import without settings: presigned URLs on, the role's bucket.
    body = label_studio_storage_body(None, "import", 4, "Raw images import", "label-studio", "eu-west-1", KEYS)
    assert (body["bucket"], body["prefix"], body["presign"], body["use_blob_urls"]) == ("label-studio", "", True, False)


@pytest.mark.parametrize("args,message", [
    (({}, "sync", 1, "t", "b", "r", KEYS), "kind must be import or export"),
    (("bucket", "import", 1, "t", "b", "r", KEYS), "must be a dict"),
    (({}, "import", 1, "", "b", "r", KEYS), "needs a title"),
    (({}, "import", 1, "t", "b", "r", {"s3_access_key": "k"}), "S3 keys"),
    (({}, "import", "three", "t", "b", "r", KEYS), "project id must be a number"),
])
def test_storage_body_errors(args, message):
    with pytest.raises(AnsibleFilterError, match=message) as err:
        label_studio_storage_body(*args)
    assert "ls-secret" not in str(err.value)


@pytest.mark.parametrize("header,cookie", [
    ("csrftoken=abc; Path=/, sessionid=s3ss10n; HttpOnly; Path=/", "s3ss10n"),
    ("sessionid=only", "only"),
    ("csrftoken=abc; Path=/", ""),
    ("", ""),
    (None, ""),
])
def test_session_cookie(header, cookie):
    assert label_studio_session_cookie(header) == cookie
