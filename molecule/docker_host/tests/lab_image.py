"""A tiny HTTP image built inside the lab host, since no registry can be reached.

The root filesystem is /bin/busybox (package busybox-static, installed by prepare.yml)
plus one page; `docker import` turns its tarball into an image.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from testinfra.host import Host

IMAGE = "mlstack-test/busybox-httpd:1"
PAGE = "docker_host molecule page\n"


@dataclass(frozen=True)
class Container:
    """A container started by a test; remove it when done."""

    host: Host
    name: str

    def remove(self) -> None:
        self.host.run("docker rm -f %s", self.name)


def build_image(host: Host) -> str:
    """Import the busybox httpd image into the host's engine; return its reference."""
    rootfs = "/tmp/busybox-httpd-rootfs"
    script = (
        f"set -e; rm -rf {rootfs}; mkdir -p {rootfs}/bin {rootfs}/www; "
        f"cp /bin/busybox {rootfs}/bin/busybox; "
        f"printf %s '{PAGE}' > {rootfs}/www/index.html; "
        f"tar -C {rootfs} -c . | docker import "
        "--change 'CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]' "
        f"- {IMAGE}"
    )
    host.run_expect([0], "bash -c %s", script)
    return IMAGE


def run_detached(host: Host, image: str, *options: str) -> Container:
    """`docker run -d` the image with its default command, after the given options."""
    name = f"docker-host-test-{uuid.uuid4().hex[:8]}"
    placeholders = " ".join(["%s"] * len(options))
    host.run_expect([0], f"docker run -d --name %s {placeholders} %s", name, *options, image)
    return Container(host, name)


def run_once(host: Host, image: str, *command: str) -> str:
    """`docker run --rm` a command in the image; return its standard output."""
    placeholders = " ".join(["%s"] * len(command))
    result = host.run_expect([0], "docker run --rm %s " + placeholders, image, *command)
    return result.stdout
