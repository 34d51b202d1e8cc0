# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""offline_registry's certificates on the controller (roles/offline_registry/tasks/certificates.yml):
made on the first run, not checked again on a no-op run (none of the six community.crypto
tasks runs: issue 14), made again when an input changes or a file is gone."""

from __future__ import annotations

import subprocess

from local_play import run_entry_point

CRYPTO_TASKS = ["Create the site CA's private key", "Make the site CA's signing request",
                "Self-sign the site CA certificate", "Create the registry server's private key",
                "Make the registry server's signing request", "Sign the registry server's certificate with the site CA"]


def converge(tmp_path, **extra):
    variables = {"mlstack_credentials_dir": str(tmp_path / "creds"), "mlstack_registry": "registry.example.internal:5000",
                 **extra}
    result = run_entry_point(tmp_path, "offline_registry", "certificates", variables)
    assert result.recap.get("failed") == 0, result.stdout[-3000:]
    return result


def ran(result, task):
    """Whether a task ran (ok or changed) rather than being skipped."""
    block = result.stdout.split(f"{task}]", 1)[1].split("TASK [", 1)[0]
    return "ok: [localhost]" in block or "changed: [localhost]" in block


def sans(tmp_path):
    cert = tmp_path / "creds" / "offline_registry" / "server.crt"
    return subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
                          check=True, capture_output=True, text=True).stdout


def test_made_once_a_no_op_runs_no_crypto_task_and_a_change_makes_them_again(tmp_path):
    first = converge(tmp_path)
    assert first.recap["changed"] >= 6 and all(ran(first, task) for task in CRYPTO_TASKS)
    marker = tmp_path / "creds" / "offline_registry" / "tls-inputs.sha256"
    assert marker.stat().st_mode & 0o777 == 0o600
    second = converge(tmp_path)
    assert second.recap["changed"] == 0
    assert not any(ran(second, task) for task in CRYPTO_TASKS)
    # A new name, or a file gone, makes the certificate again.
    renamed = converge(tmp_path, offline_registry_tls_extra_names=["reg2.example.internal"])
    assert renamed.recap["changed"] > 0 and "DNS:reg2.example.internal" in sans(tmp_path)
    assert converge(tmp_path, offline_registry_tls_extra_names=["reg2.example.internal"]).recap["changed"] == 0
    (tmp_path / "creds" / "offline_registry" / "server.crt").unlink()
    mended = converge(tmp_path, offline_registry_tls_extra_names=["reg2.example.internal"])
    assert ran(mended, "Sign the registry server's certificate with the site CA") and mended.recap["changed"] == 1
    assert "DNS:reg2.example.internal" in sans(tmp_path)
