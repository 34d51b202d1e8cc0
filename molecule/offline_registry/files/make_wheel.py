"""Write a minimal pure-Python wheel (no network, no build backend) for the pip test.

usage: make_wheel.py DIRECTORY
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

NAME = "mlstack_probe"
VERSION = "1.0.0"
MESSAGE = "served by the offline_registry package mirror"


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def main(directory: str) -> None:
    dist_info = f"{NAME}-{VERSION}.dist-info"
    files = {
        f"{NAME}/__init__.py": f'MESSAGE = "{MESSAGE}"\n'.encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: mlstack-probe\nVersion: {VERSION}\n"
            "Summary: Test wheel of the offline_registry molecule scenario\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: make_wheel.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ).encode(),
    }
    record = "\n".join(record_line(path, data) for path, data in files.items())
    record += f"\n{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    target = Path(directory) / f"{NAME}-{VERSION}-py3-none-any.whl"
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            wheel.writestr(info, data)


if __name__ == "__main__":
    main(sys.argv[1])
