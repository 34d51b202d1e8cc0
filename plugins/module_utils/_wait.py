# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Polling a probe until it succeeds or a deadline passes (the wait_ready module).

A probe is one attempt: an HTTP request (``UrlProbe``), a command (``CommandProbe``) or a
TCP connection (``PortProbe``). Each returns an ``Answer``: whether it counts as ready, a
one-line summary of what came back (``HTTP 502``, ``rc 1: <last stderr line>``,
``connection refused``) and the fields the caller returns (status, rc, stdout lines ...).
``poll`` runs a probe until it is ready or the timeout has passed, and returns the last
answer with the attempts made and the time taken.

What it replaces: a task with ``until``/``retries``/``delay`` runs its module
``retries + 1`` times and prints ``FAILED - RETRYING: [host]: <task> (N retries left)`` for
each failed try, then fails with that module's own message (ansible-core 2.19,
executor/task_executor.py ``_run_loop``/``_execute``, plugins/callback/default.py
``v2_runner_retry``). Here one task polls, and a timeout says what it waited for.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
import typing as t
from dataclasses import dataclass, field

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url

# A probe that hangs must not hold the wait past its deadline, nor be cut off too soon.
MIN_ATTEMPT_SECONDS = 1.0


@dataclass
class Answer:
    ready: bool
    summary: str
    fields: t.Dict[str, t.Any] = field(default_factory=dict)


class ProbeError(Exception):
    """A probe that can never succeed as given (e.g. its command does not exist)."""


def compile_patterns(patterns: t.Optional[t.List[str]], option: str) -> t.List[t.Pattern[str]]:
    compiled = []
    for pattern in patterns or []:
        try:
            compiled.append(re.compile(pattern, re.MULTILINE))
        except re.error as exc:
            raise ValueError("%s: %r is not a valid regular expression (%s)" % (option, pattern, exc)) from exc
    return compiled


def missing_patterns(text: str, patterns: t.List[t.Pattern[str]]) -> t.List[str]:
    return [p.pattern for p in patterns if not p.search(text)]


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe_error(exc: BaseException) -> str:
    """``connection refused`` rather than the whole text of a URLError or an OSError."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        exc = reason
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "no answer (timed out)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    text = to_text(reason if isinstance(reason, str) and reason else exc) or type(exc).__name__
    return shorten(text.strip("<>"))


@dataclass
class UrlProbe:
    url: str
    status_codes: t.List[int]
    body_patterns: t.List[t.Pattern[str]] = field(default_factory=list)
    headers: t.Dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    validate_certs: bool = True
    ca_path: t.Optional[str] = None
    unix_socket: t.Optional[str] = None
    use_proxy: bool = True
    request_timeout: float = 10.0

    def __call__(self, remaining: float) -> Answer:
        timeout = max(MIN_ATTEMPT_SECONDS, min(self.request_timeout, remaining))
        try:
            response = open_url(self.url, method=self.method, headers=self.headers, use_proxy=self.use_proxy,
                                timeout=timeout, validate_certs=self.validate_certs, ca_path=self.ca_path,
                                unix_socket=self.unix_socket, follow_redirects="safe")
            status, body = response.getcode(), response.read()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            status = getattr(exc, "code", None)
            if not isinstance(status, int):
                return Answer(False, describe_error(exc), {"status": -1})
            body = read_error_body(exc)
        return self.judge(status, to_text(body, errors="surrogate_or_replace"))

    def judge(self, status: int, body: str) -> Answer:
        fields = {"status": status}
        if status not in self.status_codes:
            return Answer(False, "HTTP %d" % status, fields)
        missing = missing_patterns(body, self.body_patterns)
        if missing:
            return Answer(False, "HTTP %d, but the body does not match %r" % (status, missing[0]), fields)
        return Answer(True, "HTTP %d" % status, fields)


def read_error_body(exc: BaseException) -> bytes:
    try:
        return exc.read()  # type: ignore[attr-defined]
    except Exception:  # pylint: disable=broad-exception-caught
        return b""


@dataclass
class CommandProbe:
    argv: t.List[str]
    rcs: t.List[int]
    stdout_patterns: t.List[t.Pattern[str]] = field(default_factory=list)
    stdin: t.Optional[str] = None
    command_timeout: float = 60.0

    def __call__(self, remaining: float) -> Answer:
        timeout = max(MIN_ATTEMPT_SECONDS, min(self.command_timeout, remaining))
        stdin = None if self.stdin is None else self.stdin + "\n"
        try:
            done = subprocess.run(self.argv, input=stdin, capture_output=True, text=True, errors="replace",
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return Answer(False, "no answer within %d s (the command was stopped)" % timeout,
                          {"rc": -1, "stdout": "", "stderr": ""})
        except OSError as exc:
            raise ProbeError("cannot run %s: %s" % (self.argv[0], exc.strerror or exc)) from exc
        return self.judge(done.returncode, done.stdout.rstrip("\r\n"), done.stderr.rstrip("\r\n"))

    def judge(self, rc: int, stdout: str, stderr: str) -> Answer:
        fields = {"rc": rc, "stdout": stdout, "stderr": stderr}
        if rc not in self.rcs:
            detail = last_line(stderr) or last_line(stdout)
            return Answer(False, "rc %d" % rc + (": " + shorten(detail) if detail else ""), fields)
        missing = missing_patterns(stdout, self.stdout_patterns)
        if missing:
            return Answer(False, "rc %d, but stdout does not match %r" % (rc, missing[0]), fields)
        return Answer(True, "rc %d" % rc, fields)


@dataclass
class PortProbe:
    host: str
    port: int
    connect_timeout: float = 5.0

    def __call__(self, remaining: float) -> Answer:
        timeout = max(MIN_ATTEMPT_SECONDS, min(self.connect_timeout, remaining))
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                pass
        except OSError as exc:
            return Answer(False, describe_error(exc))
        return Answer(True, "%s:%d accepts connections" % (self.host, self.port))


@dataclass
class Outcome:
    answer: Answer
    attempts: int
    elapsed: float


Probe = t.Callable[[float], Answer]


def poll(probe: Probe, timeout: float, interval: float,
         clock: t.Callable[[], float] = time.monotonic, sleep: t.Callable[[float], None] = time.sleep) -> Outcome:
    """Try ``probe`` at once, then every ``interval`` seconds, and a last time at the deadline."""
    start = clock()
    deadline = start + timeout
    attempts = 0
    while True:
        attempts += 1
        answer = probe(max(0.0, deadline - clock()))
        now = clock()
        if answer.ready or now >= deadline:
            return Outcome(answer, attempts, now - start)
        sleep(min(interval, deadline - now))


def timeout_message(what: str, outcome: Outcome) -> str:
    return "%s: not ready after %d s (%d %s; last: %s)" % (
        what, round(outcome.elapsed), outcome.attempts, "try" if outcome.attempts == 1 else "tries",
        outcome.answer.summary)


def ready_message(what: str, outcome: Outcome) -> str:
    return "%s: ready after %.1f s (%d %s; %s)" % (
        what, outcome.elapsed, outcome.attempts, "try" if outcome.attempts == 1 else "tries", outcome.answer.summary)
