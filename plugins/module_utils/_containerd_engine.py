# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""containerd through its ``ctr`` CLI (or ``microk8s ctr``).

containerd keeps an image as a name pointing at a target descriptor (a manifest or
an index). Image names are compared as containerd stores them (fully qualified,
``docker.io/library/x:1``). Whether a name holds an archive's image is decided by
digests: the target digest itself (what an OCI archive's index names), else the
config digests reached from the target (what ``ctr images import`` of a
``docker save`` archive creates: a manifest of its own, around the same config).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import typing as t

from ansible_collections.mlstack.platform.plugins.module_utils._image_engine import EngineError, ImageEngine

DEFAULT_ADDRESS = "/run/containerd/containerd.sock"
DEFAULT_NAMESPACE = "k8s.io"

# (rc, stdout, stderr) for an argv; AnsibleModule.run_command in the module.
RunCommand = t.Callable[[t.List[str]], t.Tuple[int, str, str]]


class ContainerdEngine(ImageEngine):
    name = "containerd"

    def __init__(self, command: t.List[str], namespace: str, run: RunCommand) -> None:
        """``command`` is the ctr invocation up to its global options, e.g.
        ``['/usr/bin/ctr', '--address', SOCK]`` or ``['/snap/bin/microk8s', 'ctr']``."""
        self._base = list(command) + ["--namespace", namespace]
        self.namespace = namespace
        self._run = run
        self._refs: t.Dict[str, str] = {}
        self._digests: t.Dict[str, t.Set[str]] = {}
        self.refresh()

    def _ctr(self, *args: str) -> str:
        argv = self._base + list(args)
        rc, out, err = self._run(argv)
        if rc != 0:
            raise EngineError("%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()))
        return out

    def refresh(self) -> None:
        refs = {}
        for line in self._ctr("images", "list").splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3 and fields[2].startswith("sha256:"):
                refs[fields[0]] = fields[2]
        self._refs = refs

    def refs(self) -> t.Dict[str, str]:
        return self._refs

    def _content(self, digest: str) -> t.Optional[t.Dict[str, t.Any]]:
        try:
            document = json.loads(self._ctr("content", "get", digest))
        except (EngineError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    def image_digests(self, key: str) -> t.Set[str]:
        if key not in self._digests:
            digests = {key}
            pending = [key]
            while pending:
                document = self._content(pending.pop())
                if not document:
                    continue
                config = document.get("config")
                if isinstance(config, dict) and isinstance(config.get("digest"), str):
                    digests.add(config["digest"])
                for child in document.get("manifests") or []:
                    if isinstance(child, dict) and isinstance(child.get("digest"), str) and child["digest"] not in digests:
                        digests.add(child["digest"])
                        pending.append(child["digest"])
            self._digests[key] = digests
        return self._digests[key]

    def find_image(self, digests: t.Set[str]) -> t.Optional[str]:
        by_target = sorted(name for name, key in self._refs.items() if key in digests)
        if by_target:
            return by_target[0]
        for name in sorted(self._refs):
            if self.image_digests(self._refs[name]) & digests:
                return name
        return None

    def load(self, path: str, reader: t.Optional[t.Any] = None) -> None:
        """Import the file, or stream ``reader`` into ``ctr images import -``. When the
        reader fails (a damaged blob of a layout), ctr gets a cut stream and fails,
        and the reader's error is raised once ctr has ended."""
        if reader is None:
            self._ctr("images", "import", path)
            return
        argv = self._base + ["images", "import", "-"]
        with tempfile.TemporaryFile() as output:
            try:
                process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT)
            except OSError as exc:
                raise EngineError("cannot run %s: %s" % (argv[0], exc))
            try:
                for chunk in reader:
                    process.stdin.write(chunk)
            except BrokenPipeError:
                pass  # ctr stopped reading: its exit status says why
            except BaseException:
                self._end(process)
                raise
            self._end(process)
            rc = process.returncode
            reader.drain()  # e.g. tar padding ctr did not need still counts for a checksum
            if rc != 0:
                output.seek(0)
                message = output.read().decode("utf-8", "replace").strip()
                raise EngineError("%s failed (rc=%d): %s" % (" ".join(argv), rc, message))

    @staticmethod
    def _end(process: "subprocess.Popen[bytes]") -> None:
        try:
            process.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        process.wait()

    def content_state(self) -> t.Optional[t.Set[str]]:
        return {line.strip() for line in self._ctr("content", "list", "--quiet").splitlines() if line.strip()}

    def discard_new_content(self, before: t.Set[str]) -> t.List[str]:
        """Remove the blobs a failed import wrote (ctr's lease ends with the command,
        so they would only wait for containerd's garbage collector)."""
        try:
            leftover = sorted(self.content_state() - before)  # type: ignore[operator]
            if leftover:
                self._ctr("content", "remove", *leftover)
        except EngineError as exc:
            return ["cannot remove the content the failed import left: %s" % exc]
        return []

    def tag(self, source: str, ref: str) -> None:
        self._ctr("images", "tag", "--force", source, ref)

    def untag(self, ref: str) -> None:
        self._ctr("images", "remove", ref)

    def restore(self, ref: str, key: str) -> None:
        sources = sorted(name for name, target in self._refs.items() if target == key and name != ref)
        if not sources:
            raise EngineError("cannot point %s back at %s: no other name holds that image" % (ref, key))
        self.tag(sources[0], ref)

    def remove_image(self, key: str) -> None:
        for name in sorted(name for name, target in self._refs.items() if target == key):
            self.untag(name)
