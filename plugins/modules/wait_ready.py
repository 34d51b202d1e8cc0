#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: wait_ready
short_description: Wait, in one task, until a service answers, and say what was waited for when it does not
version_added: 0.1.0
description:
  - Polls one probe until it succeeds or O(timeout) seconds have passed. The probe is an
    HTTP request (O(url)), a command (O(command)) or a TCP connection (O(port)).
  - It replaces tasks with C(until), C(retries) and C(delay), which print a
    C(FAILED - RETRYING) line for every failed try and then fail with the probed module's own
    message. This module is one task; it prints nothing while it waits and, on a timeout, fails
    with one line that says what it waited for, how long, how many tries and what the last
    try got.
  - "For example: C(Label Studio's API at http://10.0.0.5:8080/health/: not ready after 600 s (121 tries; last: HTTP 502))."
  - The probe is tried at once, then every O(interval) seconds, and a last time at the
    deadline. A try that hangs is cut off at O(request_timeout) (HTTP, TCP) or
    O(command_timeout) (commands), and never later than the deadline.
  - Runs on the target host, like M(ansible.builtin.uri) and M(ansible.builtin.command).
author:
  - mlstack.platform developers (@mlstack)
options:
  what:
    description:
      - What is waited for, in a few words a person reading the run understands, with where
        it is probed (C(GitLab's /-/readiness at https://10.0.0.5)). The first words of the
        failure message and of RV(msg).
    type: str
    required: true
  timeout:
    description: Seconds to wait at most. Must be more than 0.
    type: float
    default: 60
  interval:
    description: Seconds to wait after a try that failed before the next one. Must be more than 0.
    type: float
    default: 5
  url:
    description:
      - Probe with an HTTP(S) request to this URL. It is ready when the status is one of
        O(status_code) and the body matches every O(body_search).
      - Redirects are followed for C(GET) and C(HEAD) (as M(ansible.builtin.uri)'s
        C(follow_redirects=safe)).
      - Exactly one of O(url), O(command) and O(port) is given.
    type: str
  status_code:
    description: The HTTP status codes that count as ready (with O(url)).
    type: list
    elements: int
    default: [200]
  body_search:
    description:
      - Regular expressions (Python C(re), multi-line) that must all be found in the response
        body (with O(url)). The body is never returned.
    type: list
    elements: str
  method:
    description: The HTTP method of the probe (with O(url)).
    type: str
    choices: [GET, HEAD]
    default: GET
  headers:
    description:
      - HTTP headers of the probe (with O(url)). Their values are treated as secrets
        (C(PRIVATE-TOKEN), C(Authorization)); they are masked wherever they would appear in
        the result.
    type: dict
  validate_certs:
    description: Verify the server's TLS certificate (with an C(https) O(url)).
    type: bool
    default: true
  ca_path:
    description: A PEM file of the certificate authorities that sign the server's certificate (with O(url)).
    type: path
  unix_socket:
    description: Send the request over this Unix socket (with O(url); the URL's host is then only the C(Host) header).
    type: path
  use_proxy:
    description: Use the proxy the environment names (C(https_proxy), C(no_proxy) ...), as M(ansible.builtin.uri) does.
    type: bool
    default: true
  request_timeout:
    description: Seconds one HTTP try or one TCP connection may take.
    type: float
    default: 30
  command:
    description:
      - Probe by running this command (an argument list; no shell). It is ready when its exit
        code is one of O(rc) and its standard output matches every O(stdout_search).
      - The command runs in check mode too, so it must only read, or the task must skip it in
        check mode. A probe inside a container is C(docker exec) (with C(-i) when O(stdin) is given).
      - A command that cannot be started (not found, not executable) fails at once.
    type: list
    elements: str
  stdin:
    description:
      - Text given to the command on its standard input, with a newline added (with O(command)).
        Treated as a secret (masked wherever it would appear in the result); a command that
        needs a password reads it from here, never from its arguments.
    type: str
  rc:
    description: The exit codes that count as ready (with O(command)).
    type: list
    elements: int
    default: [0]
  stdout_search:
    description:
      - Regular expressions (Python C(re), multi-line) that must all be found in the command's
        standard output (with O(command)).
    type: list
    elements: str
  command_timeout:
    description: Seconds one run of the command may take; then it is stopped and counts as a failed try.
    type: float
    default: 60
  port:
    description: Probe by opening a TCP connection to this port of O(host); ready when it is accepted.
    type: int
  host:
    description: The host of the O(port) probe.
    type: str
    default: 127.0.0.1
attributes:
  check_mode:
    support: full
    description: The module only reads, so it waits in check mode too (a command probe runs; see O(command)).
  diff_mode:
    support: none
    description: Nothing changes on the host.
  idempotent:
    support: full
    description: Always reports C(changed=false).
notes:
  - The result holds the last answer's status code or exit code and output, never the HTTP body.
    The values of O(headers) and the whole of O(stdin) are masked wherever they appear in it.
    A command's output can still hold what the command prints (a line of O(stdin) echoed in an
    error, for example); use C(no_log) on a task whose command may print a secret.
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.wait_for
"""

EXAMPLES = r"""
- name: Wait for Label Studio's API, which migrates its database on a first start (up to 600 s)
  mlstack.platform.wait_ready:
    what: "Label Studio's API at http://10.0.0.5:8080/health/ (migrations run on the first start)"
    url: http://10.0.0.5:8080/health/
    timeout: 600
    interval: 5

- name: Wait for the registry to answer over TLS and ask for a login (up to 30 s)
  mlstack.platform.wait_ready:
    what: the registry at https://registry.example:5000/v2/
    url: https://registry.example:5000/v2/
    ca_path: /etc/mlstack/registry/ca.crt
    status_code: [401]
    timeout: 30
    interval: 1

- name: Wait for the GPU operator's pod to run (up to 600 s)
  mlstack.platform.wait_ready:
    what: the GPU operator's pod (app=gpu-operator in gpu-operator-resources)
    command: [/snap/bin/microk8s, kubectl, get, pods, -n, gpu-operator-resources, -l, app=gpu-operator,
              -o, "jsonpath={.items[*].status.phase}"]
    stdout_search: ['(^|\s)Running(\s|$)']
    timeout: 600
    interval: 10

- name: Wait for PostgreSQL in its container to accept connections (up to 60 s)
  mlstack.platform.wait_ready:
    what: PostgreSQL in the container db
    command: [docker, exec, db, pg_isready, -q]
    timeout: 60
    interval: 2

- name: Wait for the SSH port of the new host (up to 120 s)
  mlstack.platform.wait_ready:
    what: SSH on 10.0.0.7
    port: 22
    host: 10.0.0.7
    timeout: 120
"""

RETURN = r"""
msg:
  description: One line for a person, saying what was waited for, whether it became ready, after how long and how many tries, and the last answer.
  returned: always
  type: str
  sample: "the registry at https://10.0.0.5:5000/v2/: ready after 3.2 s (4 tries; HTTP 401)"
ready:
  description: Whether the probe succeeded before the timeout (the module fails when it did not).
  returned: always
  type: bool
  sample: true
elapsed:
  description: Seconds from the first try to the last answer.
  returned: always
  type: float
  sample: 3.2
attempts:
  description: How many times the probe was tried.
  returned: always
  type: int
  sample: 4
answer:
  description: The last answer in a few words.
  returned: always
  type: str
  sample: "rc 1: psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed"
status:
  description: The last HTTP status code; -1 when no HTTP answer came (refused, timed out, TLS error).
  returned: with O(url)
  type: int
  sample: 502
rc:
  description: The last exit code of the command; -1 when it was stopped at O(command_timeout).
  returned: with O(command)
  type: int
  sample: 0
stdout:
  description: The last standard output of the command, without trailing newlines.
  returned: with O(command)
  type: str
  sample: Running
stdout_lines:
  description: RV(stdout) split into lines.
  returned: with O(command)
  type: list
  elements: str
  sample: [Running]
stderr:
  description: The last standard error of the command, without trailing newlines.
  returned: with O(command)
  type: str
  sample: ""
stderr_lines:
  description: RV(stderr) split into lines.
  returned: with O(command)
  type: list
  elements: str
  sample: []
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlstack.platform.plugins.module_utils._wait import (
    CommandProbe,
    PortProbe,
    Probe,
    ProbeError,
    UrlProbe,
    compile_patterns,
    poll,
    ready_message,
    timeout_message,
)

URL_OPTIONS = ("body_search", "headers", "ca_path", "unix_socket")
COMMAND_OPTIONS = ("stdin", "stdout_search")

ARGUMENT_SPEC = dict(
    what=dict(type="str", required=True),
    timeout=dict(type="float", default=60),
    interval=dict(type="float", default=5),
    url=dict(type="str"),
    status_code=dict(type="list", elements="int", default=[200]),
    body_search=dict(type="list", elements="str"),
    method=dict(type="str", choices=["GET", "HEAD"], default="GET"),
    headers=dict(type="dict", no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    unix_socket=dict(type="path"),
    use_proxy=dict(type="bool", default=True),
    request_timeout=dict(type="float", default=30),
    command=dict(type="list", elements="str"),
    stdin=dict(type="str", no_log=True),
    rc=dict(type="list", elements="int", default=[0]),
    stdout_search=dict(type="list", elements="str"),
    command_timeout=dict(type="float", default=60),
    port=dict(type="int"),
    host=dict(type="str", default="127.0.0.1"),
)


def check_params(params: t.Dict[str, t.Any]) -> t.Optional[str]:
    """The first thing wrong with the options, as one line, or None."""
    for name in ("timeout", "interval", "request_timeout", "command_timeout"):
        if params[name] <= 0:
            return "%s must be more than 0 seconds, not %s" % (name, params[name])
    if not params["what"].strip():
        return "what must say what is waited for, not be empty"
    for probe, options in (("url", URL_OPTIONS), ("command", COMMAND_OPTIONS)):
        stray = [name for name in options if params[name] is not None and params[probe] is None]
        if stray:
            return "%s applies only to the %s probe, which is not given" % (", ".join(stray), probe)
    if params["command"] is not None and not params["command"]:
        return "command must name a command to run, not be an empty list"
    if params["url"] is not None and not params["status_code"]:
        return "status_code must list at least one HTTP status"
    if params["command"] is not None and not params["rc"]:
        return "rc must list at least one exit code"
    if params["port"] is not None and not 0 < params["port"] < 65536:
        return "port must be between 1 and 65535, not %d" % params["port"]
    return None


def make_probe(params: t.Dict[str, t.Any]) -> Probe:
    if params["url"] is not None:
        return UrlProbe(
            url=params["url"], status_codes=params["status_code"],
            body_patterns=compile_patterns(params["body_search"], "body_search"),
            headers={str(k): str(v) for k, v in (params["headers"] or {}).items()}, method=params["method"],
            validate_certs=params["validate_certs"], ca_path=params["ca_path"], unix_socket=params["unix_socket"],
            use_proxy=params["use_proxy"], request_timeout=params["request_timeout"])
    if params["command"] is not None:
        return CommandProbe(
            argv=params["command"], rcs=params["rc"],
            stdout_patterns=compile_patterns(params["stdout_search"], "stdout_search"),
            stdin=params["stdin"], command_timeout=params["command_timeout"])
    return PortProbe(host=params["host"], port=params["port"], connect_timeout=params["request_timeout"])


def result_fields(fields: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    result = dict(fields)
    for stream in ("stdout", "stderr"):
        if stream in result:
            result[stream + "_lines"] = result[stream].splitlines()
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("url", "command", "port")],
        required_one_of=[("url", "command", "port")],
        supports_check_mode=True,
    )
    params = module.params
    error = check_params(params)
    if error:
        module.fail_json(msg=error)
    try:
        probe = make_probe(params)
        outcome = poll(probe, params["timeout"], params["interval"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except ProbeError as exc:
        module.fail_json(msg="%s: %s" % (params["what"], exc), ready=False)
    result = dict(result_fields(outcome.answer.fields), ready=outcome.answer.ready, attempts=outcome.attempts,
                  elapsed=round(outcome.elapsed, 1), answer=outcome.answer.summary)
    if not outcome.answer.ready:
        module.fail_json(msg=timeout_message(params["what"], outcome), **result)
    module.exit_json(changed=False, msg=ready_message(params["what"], outcome), **result)


if __name__ == "__main__":
    main()
