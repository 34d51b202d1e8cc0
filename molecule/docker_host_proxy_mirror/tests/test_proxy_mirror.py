"""docker_host behind a (real, local) proxy with the site registry as mirror."""

from __future__ import annotations

import json
import re
from typing import Any

from testinfra.host import Host

from lab_image import run_once

DROPIN = "/etc/systemd/system/docker.service.d/http-proxy.conf"
APT_PROXY = "/etc/apt/apt.conf.d/80mlstack-proxy"
CREATED_USER = "builder"


def proxy_env(proxy: dict[str, Any]) -> dict[str, str]:
    """The variables a proxied process should see, upper- and lower-case."""
    values = {"HTTP_PROXY": proxy["http"], "HTTPS_PROXY": proxy["https"], "NO_PROXY": ",".join(proxy["no_proxy"])}
    return {**values, **{name.lower(): value for name, value in values.items()}}


def parse_env_lines(lines: str) -> dict[str, str]:
    """NAME=value lines (env output, systemd Environment=) as a dict."""
    return dict(line.split("=", 1) for line in lines.split() if "=" in line)


def test_daemon_dropin_sets_the_proxy(host: Host, scenario_vars: dict[str, Any]) -> None:
    dropin = host.file(DROPIN)
    assert dropin.exists and dropin.mode == 0o644
    environment = host.check_output("systemctl show docker -p Environment --value")
    assert parse_env_lines(environment) == proxy_env(scenario_vars["mlstack_proxy"])


def test_engine_reports_proxy_mirrors_and_insecure_registry(
    engine_info: dict[str, Any], scenario_vars: dict[str, Any]
) -> None:
    proxy = scenario_vars["mlstack_proxy"]
    assert engine_info["HttpProxy"] == proxy["http"]
    assert engine_info["HttpsProxy"] == proxy["https"]
    assert engine_info["NoProxy"] == ",".join(proxy["no_proxy"])
    registry = scenario_vars["mlstack_registry"]
    mirrors = [mirror.rstrip("/") for mirror in engine_info["RegistryConfig"]["Mirrors"]]
    assert mirrors == [f"https://{registry}", *scenario_vars["docker_host_registry_mirrors"]]
    insecure = engine_info["RegistryConfig"]["IndexConfigs"]
    assert insecure["legacy.lab.internal:5000"]["Secure"] is False
    assert registry not in insecure or insecure[registry]["Secure"] is True


def test_daemon_json_lists_the_mirrors(host: Host, scenario_vars: dict[str, Any]) -> None:
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["registry-mirrors"] == [
        f"https://{scenario_vars['mlstack_registry']}",
        *scenario_vars["docker_host_registry_mirrors"],
    ]
    assert daemon["insecure-registries"] == scenario_vars["docker_host_insecure_registries"]


def test_registry_ca_is_trusted_for_that_registry_only(
    host: Host, scenario_vars: dict[str, Any], registry_ca_pem: str
) -> None:
    ca = host.file(f"/etc/docker/certs.d/{scenario_vars['mlstack_registry']}/ca.crt")
    assert ca.exists and ca.user == "root" and ca.mode == 0o644
    assert ca.content_string == registry_ca_pem
    subject = host.check_output("openssl x509 -noout -subject -in %s", ca.path)
    assert "mlstack molecule registry CA" in subject
    assert host.check_output("ls /etc/docker/certs.d").split() == [scenario_vars["mlstack_registry"]]


def test_apt_went_through_the_proxy(host: Host, scenario_vars: dict[str, Any]) -> None:
    snippet = host.file(APT_PROXY).content_string
    assert f'Acquire::http::Proxy "{scenario_vars["mlstack_proxy"]["http"]}";' in snippet
    assert 'Acquire::http::Proxy::registry.lab.internal "DIRECT";' in snippet
    assert ".lab.internal" not in snippet.replace("registry.lab.internal", "")
    assert "10.0.0.0/8" not in snippet
    # The engine's packages were downloaded by apt through tinyproxy (it logs to the journal).
    log = host.check_output("journalctl -u tinyproxy --no-pager -o cat")
    assert re.search(r"Request .*: GET http://deb\.debian\.org/\S+/docker\.io_\S+\.deb", log)


def test_containers_get_the_proxy_from_the_client_config(
    host: Host, scenario_vars: dict[str, Any], test_image: str
) -> None:
    inside = parse_env_lines(run_once(host, test_image, "/bin/busybox", "env"))
    expected = proxy_env(scenario_vars["mlstack_proxy"])
    assert {name: inside.get(name) for name in expected} == expected


def test_root_client_config_keeps_its_own_settings(host: Host, scenario_vars: dict[str, Any]) -> None:
    config = json.loads(host.file("/root/.docker/config.json").content_string)
    assert config["auths"] == {scenario_vars["mlstack_registry"]: {}}
    assert config["detachKeys"] == "ctrl-x,x"
    assert config["proxies"]["default"]["httpProxy"] == scenario_vars["mlstack_proxy"]["http"]


def test_created_user_uses_the_engine_with_the_proxy(host: Host, scenario_vars: dict[str, Any], test_image: str) -> None:
    user = host.user(CREATED_USER)
    assert user.exists and "docker" in user.groups
    assert user.password in ("!", "*", "!*", "")
    config = host.file(f"{user.home}/.docker/config.json")
    assert config.user == CREATED_USER and config.mode == 0o600
    result = host.run("sudo -u %s docker run --rm %s /bin/busybox env", CREATED_USER, test_image)
    assert result.rc == 0, result.stderr
    assert parse_env_lines(result.stdout)["HTTPS_PROXY"] == scenario_vars["mlstack_proxy"]["https"]
