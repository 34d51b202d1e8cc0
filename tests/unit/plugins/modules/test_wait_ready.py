# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""wait_ready against real probes: an HTTP server in a thread (http.server) that answers
502 and then 200, a script that fails twice and then succeeds (a counter file), a TCP port
that is closed and then listens. Intervals are a fraction of a second, so the module's
real sleeps and deadlines are exercised in a few seconds."""

from __future__ import annotations

import http.server
import json
import os
import socket
import stat
import threading
import typing as t

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlstack.platform.plugins.module_utils import _wait
from ansible_collections.mlstack.platform.plugins.modules import wait_ready

SECRET = "glpat-s3cr3t-value-never-shown"


def run(capsys: t.Any, args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            wait_ready.main()
    return json.loads(capsys.readouterr().out)


class Server:
    """Answers GET with the next (status, body) of ``answers`` (the last one repeats) and
    records each request's headers."""

    def __init__(self, answers: t.List[t.Tuple[int, str]]) -> None:
        self.answers = answers
        self.requests: t.List[t.Dict[str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append(dict(self.headers.items()))
                status, body = server.answers[min(len(server.requests), len(server.answers)) - 1]
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: t.Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/health/" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> t.Iterator[t.Callable[..., Server]]:
    started: t.List[Server] = []

    def start(*answers: t.Tuple[int, str]) -> Server:
        started.append(Server(list(answers)))
        return started[-1]

    yield start
    for srv in started:
        srv.close()


@pytest.fixture
def flaky(tmp_path) -> t.Callable[..., t.List[str]]:
    """A script that exits 1 (with a line on stderr) until it has run ``failures`` times,
    then prints ``ready`` and exits 0; it counts its runs in a file."""

    def make(failures: int) -> t.List[str]:
        counter = tmp_path / "runs"
        script = tmp_path / "probe.sh"
        script.write_text(
            "#!/bin/sh\n"
            "n=$(cat '%s' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '%s'\n"
            "if [ $n -le %d ]; then echo 'starting up'; echo \"error: not yet ($n)\" >&2; exit 1; fi\n"
            "echo ready\n" % (counter, counter, failures))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return [str(script)]

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- url ---------------------------------------------------------------------------------

def test_url_502_then_200(capsys, server):
    srv = server((502, "bad gateway"), (502, "bad gateway"), (200, "UP"))
    result = run(capsys, {"what": "the API", "url": srv.url, "timeout": 10, "interval": 0.1})
    assert result["ready"] is True and result["changed"] is False and "failed" not in result
    assert result["attempts"] == 3 == len(srv.requests)
    assert result["status"] == 200 and result["answer"] == "HTTP 200"
    assert 0.2 <= result["elapsed"] < 5
    assert result["msg"].startswith("the API: ready after ") and "(3 tries; HTTP 200)" in result["msg"]


def test_url_timeout_is_one_line_naming_what_and_the_last_status(capsys, server):
    srv = server((502, "bad gateway"))
    result = run(capsys, {"what": "Label Studio's API at %s" % srv.url, "url": srv.url, "timeout": 0.6, "interval": 0.2})
    assert result["failed"] is True and result["ready"] is False
    assert "\n" not in result["msg"]
    assert result["msg"] == "Label Studio's API at %s: not ready after 1 s (%d tries; last: HTTP 502)" % (
        srv.url, result["attempts"])
    # Retried (at least twice in 0.6 s at a 0.2 s interval, even on a loaded machine where a
    # request can take longer than the interval), and every try counted.
    assert result["attempts"] == len(srv.requests) >= 2
    assert result["status"] == 502 and result["answer"] == "HTTP 502"


def test_url_accepts_the_listed_status_and_body(capsys, server):
    srv = server((401, '{"errors":[{"code":"UNAUTHORIZED"}]}'))
    result = run(capsys, {"what": "the registry", "url": srv.url, "status_code": [401],
                          "body_search": ["UNAUTHORIZED"], "timeout": 5, "interval": 0.1})
    assert result["ready"] is True and result["attempts"] == 1 and result["status"] == 401


def test_url_body_must_match(capsys, server):
    srv = server((200, "starting"), (200, "starting"), (200, '{"status": "UP"}'))
    result = run(capsys, {"what": "the API", "url": srv.url, "body_search": ['"status": "UP"'],
                          "timeout": 10, "interval": 0.1})
    assert result["ready"] is True and result["attempts"] == 3
    assert "content" not in result and "body" not in result


def test_url_body_mismatch_is_the_last_answer(capsys, server):
    srv = server((200, "starting"))
    result = run(capsys, {"what": "the API", "url": srv.url, "body_search": ["UP"], "timeout": 0.3, "interval": 0.1})
    assert result["failed"] is True
    assert result["msg"].endswith("last: HTTP 200, but the body does not match 'UP')")


def test_url_connection_refused(capsys):
    url = "http://127.0.0.1:%d/" % free_port()
    result = run(capsys, {"what": "nothing", "url": url, "timeout": 0.3, "interval": 0.1})
    assert result["failed"] is True and result["status"] == -1
    assert result["msg"].endswith("last: connection refused)")


def test_url_headers_are_sent_and_never_returned(capsys, server):
    srv = server((401, "no"), (200, "ok"))
    result = run(capsys, {"what": "the token check", "url": srv.url, "headers": {"PRIVATE-TOKEN": SECRET},
                          "timeout": 5, "interval": 0.1})
    assert result["ready"] is True
    # urllib sends the name as Private-token; HTTP header names are case-insensitive.
    assert [{k.lower(): v for k, v in r.items()}.get("private-token") for r in srv.requests] == [SECRET, SECRET]
    assert SECRET not in json.dumps(result)


def test_url_unix_socket(capsys, tmp_path):
    path = str(tmp_path / "api.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)

    def answer_once() -> None:
        conn, _address = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    try:
        result = run(capsys, {"what": "the engine's API", "url": "http://localhost/_ping", "unix_socket": path,
                              "body_search": ["^OK$"], "timeout": 5, "interval": 0.1})
    finally:
        thread.join(5)
        listener.close()
    assert result["ready"] is True and result["status"] == 200


# --- command -----------------------------------------------------------------------------

def test_command_fails_twice_then_succeeds(capsys, flaky, tmp_path):
    result = run(capsys, {"what": "the flaky service", "command": flaky(2), "timeout": 10, "interval": 0.1})
    assert result["ready"] is True and result["attempts"] == 3
    assert (tmp_path / "runs").read_text().strip() == "3"
    assert result["rc"] == 0 and result["stdout"] == "ready" and result["stdout_lines"] == ["ready"]
    assert result["stderr"] == "" and result["stderr_lines"] == []


def test_command_timeout_names_the_last_stderr_line(capsys, flaky):
    result = run(capsys, {"what": "PostgreSQL in db", "command": flaky(1000), "timeout": 0.5, "interval": 0.1})
    assert result["failed"] is True and result["rc"] == 1
    n = result["attempts"]
    assert n >= 3
    assert result["msg"] == "PostgreSQL in db: not ready after 1 s (%d tries; last: rc 1: error: not yet (%d))" % (n, n)
    assert result["stderr_lines"] == ["error: not yet (%d)" % n] and result["stdout"] == "starting up"


def test_command_stdout_must_match_every_pattern(capsys, tmp_path):
    state = tmp_path / "phase"
    state.write_text("Pending")
    script = tmp_path / "pods.sh"
    script.write_text("#!/bin/sh\ncat '%s'\necho 'Running' > '%s'\n" % (state, state))
    script.chmod(0o755)
    result = run(capsys, {"what": "the operator's pod", "command": [str(script)],
                          "stdout_search": [r"(^|\s)Running(\s|$)", "^R"], "timeout": 5, "interval": 0.1})
    assert result["ready"] is True and result["attempts"] == 2 and result["stdout"] == "Running"


def test_command_stdout_mismatch_is_the_last_answer(capsys):
    result = run(capsys, {"what": "the pod", "command": ["echo", "Pending"], "stdout_search": ["Running"],
                          "timeout": 0.2, "interval": 0.1})
    assert result["failed"] is True
    assert result["msg"].endswith("last: rc 0, but stdout does not match 'Running')")


def test_command_expected_rc(capsys):
    result = run(capsys, {"what": "a 401", "command": ["sh", "-c", "exit 3"], "rc": [3], "timeout": 1})
    assert result["ready"] is True and result["rc"] == 3


def test_command_stdin_is_given_and_never_returned(capsys, tmp_path):
    seen = tmp_path / "stdin"
    sql = "ALTER USER mlreef PASSWORD '%s';" % SECRET
    result = run(capsys, {"what": "the database", "stdin": sql, "timeout": 2,
                          "command": ["sh", "-c", "cat > '%s'; echo \"ERROR near: $(cat '%s')\" >&2" % (seen, seen)]})
    assert result["ready"] is True
    assert seen.read_text() == sql + "\n"
    assert SECRET not in json.dumps(result)
    assert result["stderr"] == "ERROR near: ********"


def test_command_that_hangs_is_stopped_at_the_deadline(capsys):
    result = run(capsys, {"what": "a hanging probe", "command": ["sleep", "30"], "timeout": 1, "interval": 0.5,
                          "command_timeout": 60})
    assert result["failed"] is True and result["rc"] == -1
    assert result["elapsed"] < 10
    assert "(the command was stopped)" in result["msg"]


def test_command_that_cannot_run_fails_at_once(capsys, tmp_path):
    missing = str(tmp_path / "no-such-kubectl")
    result = run(capsys, {"what": "the pods", "command": [missing, "get", "pods"], "timeout": 30})
    assert result["failed"] is True
    assert result["msg"] == "the pods: cannot run %s: No such file or directory" % missing


def test_check_mode_waits_too(capsys, flaky):
    result = run(capsys, {"what": "x", "command": flaky(1), "timeout": 5, "interval": 0.1, "_ansible_check_mode": True})
    assert result["ready"] is True and result["attempts"] == 2 and result["changed"] is False


# --- port --------------------------------------------------------------------------------

def test_port_closed_then_listening(capsys):
    port = free_port()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def listen_later() -> None:
        listener.bind(("127.0.0.1", port))
        listener.listen(1)

    timer = threading.Timer(0.4, listen_later)
    timer.start()
    try:
        result = run(capsys, {"what": "SSH", "port": port, "timeout": 10, "interval": 0.1})
    finally:
        timer.join()
        listener.close()
    assert result["ready"] is True and result["attempts"] >= 2
    assert result["answer"] == "127.0.0.1:%d accepts connections" % port


def test_port_timeout(capsys):
    result = run(capsys, {"what": "SSH on 127.0.0.1", "port": free_port(), "timeout": 0.3, "interval": 0.1})
    assert result["failed"] is True and result["msg"].endswith("last: connection refused)")


# --- arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ({"what": "x"}, "one of the following is required: url, command, port"),
    ({"what": "x", "url": "http://a/", "port": 22}, "parameters are mutually exclusive: url|command|port"),
    ({"what": "x", "port": 22, "timeout": 0}, "timeout must be more than 0 seconds, not 0.0"),
    ({"what": "x", "port": 22, "interval": -1}, "interval must be more than 0 seconds, not -1.0"),
    ({"what": " ", "port": 22}, "what must say what is waited for, not be empty"),
    ({"what": "x", "port": 22, "body_search": ["UP"]}, "body_search applies only to the url probe, which is not given"),
    ({"what": "x", "url": "http://a/", "stdin": "SELECT 1;"}, "stdin applies only to the command probe, which is not given"),
    ({"what": "x", "command": []}, "command must name a command to run, not be an empty list"),
    ({"what": "x", "url": "http://a/", "status_code": []}, "status_code must list at least one HTTP status"),
    ({"what": "x", "port": 70000}, "port must be between 1 and 65535, not 70000"),
    ({"what": "x", "command": ["true"], "stdout_search": ["(unclosed"]},
     "stdout_search: '(unclosed' is not a valid regular expression (missing ), unterminated subpattern at position 0)"),
])
def test_argument_errors_are_one_line(capsys, args, message):
    result = run(capsys, args)
    assert result["failed"] is True
    assert result["msg"] == message


def test_argument_error_probes_nothing(capsys, server):
    srv = server((200, "ok"))
    result = run(capsys, {"what": "x", "url": srv.url, "timeout": -5})
    assert result["failed"] is True and srv.requests == []


# --- the polling loop on its own (a fake clock) ------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: t.List[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_poll_tries_at_every_interval_and_once_at_the_deadline():
    clock = Clock()
    seen: t.List[float] = []

    def probe(remaining: float) -> _wait.Answer:
        seen.append(remaining)
        clock.now += 0.5  # each try takes half a second
        return _wait.Answer(False, "HTTP 502")

    outcome = _wait.poll(probe, timeout=10, interval=3, clock=clock, sleep=clock.sleep)
    # Tries start at 0, 3.5, 7 and 10 s: the sleep before the last one ends at the deadline.
    assert outcome.attempts == 4 and clock.sleeps == [3, 3, 2.5]
    assert seen == [10, 6.5, 3.0, 0.0]
    assert outcome.elapsed == 10.5
    assert _wait.timeout_message("it", outcome) == "it: not ready after 10 s (4 tries; last: HTTP 502)"


def test_poll_stops_at_the_first_ready_answer():
    clock = Clock()
    answers = iter([_wait.Answer(False, "rc 1"), _wait.Answer(True, "rc 0")])
    outcome = _wait.poll(lambda remaining: next(answers), timeout=60, interval=5, clock=clock, sleep=clock.sleep)
    assert outcome.attempts == 2 and outcome.answer.ready and clock.sleeps == [5]


def test_no_log_values_are_masked_by_the_module_machinery():
    # The secrecy of headers and stdin rests on AnsibleModule masking no_log values in every
    # result; keep them declared so.
    assert wait_ready.ARGUMENT_SPEC["headers"]["no_log"] is True
    assert wait_ready.ARGUMENT_SPEC["stdin"]["no_log"] is True
    assert os.path.basename(wait_ready.__file__) == "wait_ready.py"
