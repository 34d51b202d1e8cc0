# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the label_studio role computes: the addresses it listens on and talks to, pip's
arguments and proxy environment, the body of an S3 storage of a project, and the session
cookie of a login.

Documentation of the filters is beside this file (label_studio_local_url.yml, ...).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean

STORAGE_KINDS = ("import", "export")
_SESSION = re.compile(r"sessionid=([^;,]+)")


def _host(address):
    address = to_text(address)
    return "[%s]" % address if ":" in address else address


def label_studio_listen(bind_address, port):
    """``address:port`` uWSGI's HTTP router listens on (an IPv6 address in brackets)."""
    return "%s:%s" % (_host(bind_address), port)


def label_studio_local_url(bind_address, port):
    """``http://host:port`` the role reaches Label Studio at from its host: the bind address,
    127.0.0.1 for every address (0.0.0.0 or ::)."""
    address = to_text(bind_address)
    return "http://%s:%s" % ("127.0.0.1" if address in ("0.0.0.0", "::") else _host(address), port)


def label_studio_pip_args(index_url, trust_index_host=False, wheelhouse_dir="", from_wheelhouse=False):
    """pip's arguments: the wheelhouse on the host only (``--no-index --find-links``), else
    the index given (``--index-url``, and ``--trusted-host`` its host name when asked)."""
    if from_wheelhouse:
        if not wheelhouse_dir:
            raise AnsibleFilterError("label_studio_pip_args: label_studio_wheelhouse_host_dir is empty")
        return ["--no-index", "--find-links", to_text(wheelhouse_dir)]
    index_url = to_text(index_url or "")
    if not index_url:
        return []
    args = ["--index-url", index_url]
    if trust_index_host:
        host = urlsplit(index_url).hostname
        if not host:
            raise AnsibleFilterError("label_studio_pip_args: label_studio_pip_index_url %r has no host name to trust" % index_url)
        args += ["--trusted-host", host]
    return args


def label_studio_pip_env(proxy, from_wheelhouse=False):
    """The proxy environment of pip (lower- and upper-case names) from mlstack_proxy; none
    when installing from the wheelhouse, which needs no network."""
    if from_wheelhouse:
        return {}
    proxy = proxy or {}
    if not isinstance(proxy, dict):
        raise AnsibleFilterError("label_studio_pip_env: mlstack_proxy must be a dict, got %s" % type(proxy).__name__)
    http, https = to_text(proxy.get("http") or ""), to_text(proxy.get("https") or "")
    env = {}
    if http:
        env.update(http_proxy=http, HTTP_PROXY=http)
    if https:
        env.update(https_proxy=https, HTTPS_PROXY=https)
    if http or https:
        no_proxy = ",".join(to_text(n) for n in proxy.get("no_proxy") or [])
        env.update(no_proxy=no_proxy, NO_PROXY=no_proxy)
    return env


def label_studio_storage_body(spec, kind, project_id, title, default_bucket, region, keys):
    """What is sent to create or update a project's S3 import or export storage: the
    project's ``s3_<kind>`` settings (``spec``) with their defaults (the role's bucket, no
    prefix, the import's flags) and the consumer's keys. SECRET: holds the keys."""
    if kind not in STORAGE_KINDS:
        raise AnsibleFilterError("label_studio_storage_body: kind must be import or export, got %r" % (kind,))
    spec = spec or {}
    if not isinstance(spec, dict):
        raise AnsibleFilterError("label_studio_storage_body: s3_%s of project %r must be a dict" % (kind, title))
    if not title:
        raise AnsibleFilterError("label_studio_storage_body: the %s storage needs a title" % kind)
    if not isinstance(keys, dict) or "s3_access_key" not in keys or "s3_secret_key" not in keys:
        raise AnsibleFilterError("label_studio_storage_body: the S3 keys (s3_access_key, s3_secret_key) are missing")
    try:
        project_id = int(project_id)
    except (TypeError, ValueError):
        raise AnsibleFilterError("label_studio_storage_body: the project id must be a number, got %r" % (project_id,))
    body = {
        "project": project_id,
        "title": to_text(title),
        "bucket": spec.get("bucket") or default_bucket,
        "prefix": spec.get("prefix", ""),
        "region_name": region,
        "aws_access_key_id": keys["s3_access_key"],
        "aws_secret_access_key": keys["s3_secret_key"],
    }
    if kind == "import":
        body.update(regex_filter=spec.get("regex_filter", ""),
                    use_blob_urls=boolean(spec.get("use_blob_urls", False), strict=False),
                    presign=boolean(spec.get("presign", True), strict=False),
                    recursive_scan=boolean(spec.get("recursive_scan", False), strict=False))
    else:
        body.update(can_delete_objects=boolean(spec.get("can_delete_objects", False), strict=False))
    return body


def label_studio_session_cookie(set_cookie):
    """The ``sessionid`` value of a raw Set-Cookie header, '' when there is none."""
    match = _SESSION.search(to_text(set_cookie or ""))
    return match.group(1) if match else ""


class FilterModule:
    """The label_studio role's computed values."""

    def filters(self):
        return {
            "label_studio_listen": label_studio_listen,
            "label_studio_local_url": label_studio_local_url,
            "label_studio_pip_args": label_studio_pip_args,
            "label_studio_pip_env": label_studio_pip_env,
            "label_studio_storage_body": label_studio_storage_body,
            "label_studio_session_cookie": label_studio_session_cookie,
        }
