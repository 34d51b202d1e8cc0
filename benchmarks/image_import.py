# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Benchmark of mlstack.platform.image_import against the lab's Docker Engine.

Builds images in the lab (the base image plus layers of random data), saves them as
archives, and prints, measured side by side in one run:

* no-op: ten archives totalling >= 2 GB whose images are all present: the module's
  wall time (goal: about one second, independent of archive size);
* first import of a >= 2 GB archive: throughput of the module / of ``docker load -i``
  on the same file (goal >= 0.9);
* the module's peak RSS while importing that archive (goal < 100 MB);
* sha256 verification throughput / ``sha256sum`` on the same file (goal >= 0.8);
* an OCI image layout made by ``skopeo copy`` (gzip layers, as the bundle holds them):
  first load with ``layout:`` against ``skopeo copy oci:... docker-daemon:...`` and
  against ``docker load -i`` of a docker-archive of the same image, the module's peak
  RSS, and the no-op with the image present.

The module runs as Ansible runs it on a target: its own Python process, fed a JSON
argument file. Usage (from the checkout, lab up):

    .venv/bin/python benchmarks/image_import.py [--workdir DIR] [--keep] [--rounds N]
        [--parts archives layout]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".ansible", "collections")
MODULE = os.path.join(ROOT, "plugins", "modules", "image_import.py")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
BASE_IMAGE = "mlstack-lab/debian:bookworm"
PREFIX = "mlstack-test/bench-import"
MB = 1000 * 1000


def log(message: str) -> None:
    print("[bench] " + message, file=sys.stderr, flush=True)


def run(argv: t.Sequence[str], **kwargs: t.Any) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=True, **kwargs)


def docker(*args: str, quiet: bool = True) -> None:
    run([DOCKER] + list(args), stdout=subprocess.DEVNULL if quiet else None)


def image_exists(ref: str) -> bool:
    return subprocess.run([DOCKER, "image", "inspect", ref], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def remove_images(refs: t.Iterable[str]) -> None:
    present = [ref for ref in refs if image_exists(ref)]
    if present:
        docker("rmi", *present)


def build_archive(workdir: str, name: str, layer_sizes: t.Sequence[int]) -> str:
    """An archive of one image: the base image plus one random layer per size."""
    path = os.path.join(workdir, name + ".tar")
    if os.path.exists(path):
        return path
    ref = "%s-%s:1" % (PREFIX, name)
    context = tempfile.mkdtemp(dir=workdir)
    lines = ["FROM " + BASE_IMAGE]
    lines += ["RUN head -c %d /dev/urandom > /random-%d.bin" % (size, number) for number, size in enumerate(layer_sizes)]
    with open(os.path.join(context, "Dockerfile"), "w", encoding="utf-8") as stream:
        stream.write("\n".join(lines) + "\n")
    log("building %s (%d MB of random layers)" % (ref, sum(layer_sizes) // MB))
    docker("build", "-q", "--no-cache", "-t", ref, context)
    shutil.rmtree(context)
    docker("save", "-o", path + ".part", ref)
    os.rename(path + ".part", path)
    docker("rmi", ref)
    return path


def archive_refs(path: str) -> t.List[str]:
    name = os.path.basename(path)[:-len(".tar")]
    return ["%s-%s:1" % (PREFIX, name)]


class ModuleRun:
    def __init__(self, seconds: float, max_rss_kb: int, result: t.Dict[str, t.Any]) -> None:
        self.seconds = seconds
        self.max_rss_mb = max_rss_kb / 1024.0
        self.result = result


def run_module(workdir: str, args: t.Dict[str, t.Any]) -> ModuleRun:
    """Run the module in its own process as Ansible would; wall time and peak RSS."""
    args_file = os.path.join(workdir, "args.json")
    with open(args_file, "w", encoding="utf-8") as stream:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, stream)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    start = time.monotonic()
    process = subprocess.Popen([sys.executable, MODULE, args_file], stdout=subprocess.PIPE, env=env)
    output = process.stdout.read() if process.stdout else b""
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    result = json.loads(output)
    if result.get("failed"):
        raise RuntimeError("module failed: %s" % result.get("msg"))
    return ModuleRun(seconds, usage.ru_maxrss, result)


def timed(argv: t.Sequence[str]) -> float:
    start = time.monotonic()
    run(argv, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def ensure_collection_link() -> None:
    link = os.path.join(COLLECTIONS, "ansible_collections", "mlstack", "platform")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)


def bench_noop(workdir: str, paths: t.List[str], rounds: int) -> t.Dict[str, t.Any]:
    run_module(workdir, {"paths": paths})  # load what is missing
    times = []
    for _round in range(rounds):
        outcome = run_module(workdir, {"paths": paths})
        if outcome.result["changed"]:
            raise RuntimeError("no-op run reported changed")
        times.append(outcome.seconds)
    return {"archives": len(paths), "bytes": sum(os.path.getsize(p) for p in paths),
            "seconds_median": statistics.median(times), "seconds_all": times}


def bench_first_import(workdir: str, path: str, rounds: int) -> t.Dict[str, t.Any]:
    refs = archive_refs(path)
    size = os.path.getsize(path)
    timed(["cat", path])  # both sides start with the file in the page cache
    docker_times, module_times, while_times, before_times, rss = [], [], [], [], []
    digest = subprocess.run(["sha256sum", path], check=True, stdout=subprocess.PIPE).stdout.split()[0].decode()

    def docker_load() -> None:
        docker_times.append(timed([DOCKER, "load", "-q", "-i", path]))

    def module(times: t.List[float], args: t.Dict[str, t.Any]) -> t.Callable[[], None]:
        def measure() -> None:
            outcome = run_module(workdir, args)
            times.append(outcome.seconds)
            rss.append(outcome.max_rss_mb)
        return measure

    contenders = [
        docker_load,
        module(module_times, {"paths": [path]}),
        module(while_times, {"archives": [{"path": path, "sha256": digest}], "checksum_mode": "while"}),
        module(before_times, {"archives": [{"path": path, "sha256": digest}], "checksum_mode": "before"}),
    ]
    for number in range(rounds):
        # Rotate who goes first, and start each from a clean engine with no dirty pages
        # left by the one before, so that neither side pays for the other's writes.
        for contender in contenders[number % len(contenders):] + contenders[:number % len(contenders)]:
            remove_images(refs)
            run(["sync"])
            contender()
    docker_s, module_s, while_s, before_s = (statistics.median(x) for x in (
        docker_times, module_times, while_times, before_times))
    return {
        "bytes": size,
        "docker_load_seconds": docker_times, "module_seconds": module_times, "module_while_seconds": while_times,
        "module_before_seconds": before_times,
        "docker_load_mb_s": size / docker_s / MB, "module_mb_s": size / module_s / MB,
        "module_while_mb_s": size / while_s / MB, "module_before_mb_s": size / before_s / MB,
        "ratio": docker_s / module_s, "ratio_while": docker_s / while_s, "ratio_before": docker_s / before_s,
        "peak_rss_mb": max(rss),
    }


def bench_sha256(path: str, rounds: int) -> t.Dict[str, t.Any]:
    size = os.path.getsize(path)
    code = ("import sys; from ansible_collections.mlstack.platform.plugins.module_utils._checksum import file_sha256; "
            "print(file_sha256(sys.argv[1]))")
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    timed(["cat", path])
    tool_times, module_times = [], []
    for _round in range(rounds):
        tool_times.append(timed(["sha256sum", path]))
        start = time.monotonic()
        run([sys.executable, "-c", code, path], stdout=subprocess.DEVNULL, env=env)
        module_times.append(time.monotonic() - start)
    tool_s, module_s = statistics.median(tool_times), statistics.median(module_times)
    return {"bytes": size, "sha256sum_seconds": tool_times, "module_seconds": module_times,
            "sha256sum_mb_s": size / tool_s / MB, "module_mb_s": size / module_s / MB, "ratio": tool_s / module_s}


def build_layout(workdir: str, layer_sizes: t.Sequence[int]) -> t.Tuple[str, str, str]:
    """(layout dir, docker-archive, ref) of one image: the base image plus random
    layers, copied into an OCI layout by skopeo (which gzips the layers)."""
    archive = build_archive(workdir, "layout", layer_sizes)
    ref = archive_refs(archive)[0]
    layout = os.path.join(workdir, "oci")
    if not os.path.exists(layout):
        log("copying %s into an OCI layout with skopeo (gzip)" % ref)
        run(["skopeo", "copy", "--quiet", "docker-archive:" + archive, "oci:%s.part:docker.io/%s" % (layout, ref)])
        os.rename(layout + ".part", layout)
    return layout, archive, ref


def tree_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(top, name)) for top, dummy, names in os.walk(path) for name in names)


def bench_layout(workdir: str, layer_sizes: t.Sequence[int], rounds: int) -> t.Dict[str, t.Any]:
    layout, archive, ref = build_layout(workdir, layer_sizes)
    timed(["cat", archive])
    run(["sh", "-c", "cat %s/blobs/sha256/* > /dev/null" % layout])
    times: t.Dict[str, t.List[float]] = {"module_while": [], "module_before": [], "skopeo": [], "docker_load": []}
    rss: t.List[float] = []

    def module(mode: str) -> t.Callable[[], None]:
        def measure() -> None:
            outcome = run_module(workdir, {"layout": layout, "checksum_mode": mode})
            if outcome.result["images"][0]["status"] != "loaded":
                raise RuntimeError("the layout's image was not loaded: %s" % outcome.result)
            times["module_" + mode].append(outcome.seconds)
            rss.append(outcome.max_rss_mb)
        return measure

    def skopeo() -> None:
        times["skopeo"].append(timed(["skopeo", "copy", "--quiet", "oci:%s:docker.io/%s" % (layout, ref),
                                      "docker-daemon:" + ref]))

    def docker_load() -> None:
        times["docker_load"].append(timed([DOCKER, "load", "-q", "-i", archive]))

    contenders = [module("while"), module("before"), skopeo, docker_load]
    for number in range(rounds):
        for contender in contenders[number % len(contenders):] + contenders[:number % len(contenders)]:
            remove_images([ref])
            run(["sync"])
            contender()
    noop = [run_module(workdir, {"layout": layout}) for _round in range(rounds)]
    if any(outcome.result["changed"] for outcome in noop):
        raise RuntimeError("no-op layout run reported changed")
    remove_images([ref])
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "layout_bytes": tree_bytes(layout), "archive_bytes": os.path.getsize(archive),
        "seconds": times, "medians": medians,
        "ratio_skopeo": medians["skopeo"] / medians["module_while"],
        "ratio_docker_load": medians["docker_load"] / medians["module_while"],
        "ratio_skopeo_before": medians["skopeo"] / medians["module_before"],
        "peak_rss_mb": max(rss),
        "noop_seconds": [outcome.seconds for outcome in noop],
        "noop_median": statistics.median(outcome.seconds for outcome in noop),
    }


def print_layout(figures: t.Dict[str, t.Any]) -> None:
    medians = figures["medians"]
    print("  OCI layout (skopeo, gzip layers): %.2f GB layout, %.2f GB docker-archive of the same image:"
          % (figures["layout_bytes"] / 1e9, figures["archive_bytes"] / 1e9))
    print("    image_import layout:, blobs verified while streaming  %6.1f s" % medians["module_while"])
    print("    image_import layout:, blobs hashed before, then again %6.1f s" % medians["module_before"])
    print("    skopeo copy oci:... docker-daemon:...                 %6.1f s  (/ module: %.2f)"
          % (medians["skopeo"], figures["ratio_skopeo"]))
    print("    docker load -i docker-archive                         %6.1f s  (/ module: %.2f)"
          % (medians["docker_load"], figures["ratio_docker_load"]))
    print("    peak RSS of the module:                               %6.1f MB" % figures["peak_rss_mb"])
    print("    no-op, image present:                                 %6.2f s" % figures["noop_median"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="/var/tmp/mlstack-bench-image-import",
                        help="where the archives are built (about 5 GB)")
    parser.add_argument("--keep", action="store_true", help="keep the archives for the next run")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--big-layers-mb", type=int, nargs="+", default=[700, 700, 700],
                        help="random layers of the big archive, in MB")
    parser.add_argument("--small-layer-mb", type=int, default=100, help="random layer of each of the ten archives")
    parser.add_argument("--layout-layers-mb", type=int, nargs="+", default=[400, 400],
                        help="random layers of the image in the OCI layout, in MB")
    parser.add_argument("--parts", nargs="+", choices=["archives", "layout"], default=["archives", "layout"],
                        help="which measurements to run")
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()

    run([DOCKER, "info"], stdout=subprocess.DEVNULL)
    if not image_exists(BASE_IMAGE):
        raise SystemExit("%s is missing: run make lab first" % BASE_IMAGE)
    ensure_collection_link()
    os.makedirs(options.workdir, exist_ok=True)
    figures: t.Dict[str, t.Any] = {}
    every_ref = ["%s-layout:1" % PREFIX]
    try:
        if "archives" in options.parts:
            small = [build_archive(options.workdir, "small%02d" % n, [options.small_layer_mb * MB]) for n in range(10)]
            big = build_archive(options.workdir, "big", [size * MB for size in options.big_layers_mb])
            every_ref += [ref for path in small + [big] for ref in archive_refs(path)]
            log("no-op over ten archives")
            figures["noop_ten"] = bench_noop(options.workdir, small, options.rounds)
            log("no-op over the big archive")
            figures["noop_big"] = bench_noop(options.workdir, [big], options.rounds)
            log("first import of the big archive: docker load -i against the module")
            figures["first_import"] = bench_first_import(options.workdir, big, options.rounds)
            log("sha256 of the big archive")
            figures["sha256"] = bench_sha256(big, options.rounds)
        if "layout" in options.parts:
            log("OCI layout: image_import against skopeo copy and docker load")
            figures["layout"] = bench_layout(options.workdir, [size * MB for size in options.layout_layers_mb],
                                             options.rounds)
    finally:
        remove_images(every_ref)
        if not options.keep:
            shutil.rmtree(options.workdir, ignore_errors=True)

    print("image_import benchmark (Docker Engine %s, %d rounds, medians)" % (
        subprocess.run([DOCKER, "version", "-f", "{{.Server.Version}}"], check=True, stdout=subprocess.PIPE,
                       text=True).stdout.strip(), options.rounds))
    if "layout" in figures:
        print_layout(figures["layout"])
    if "noop_ten" not in figures:
        if options.json:
            with open(options.json, "w", encoding="utf-8") as stream:
                json.dump(figures, stream, indent=2)
        return 0
    noop, noop_big, first, digest = (figures[key] for key in ("noop_ten", "noop_big", "first_import", "sha256"))
    print("  no-op, ten archives, %.2f GB, all present:  %.2f s   (goal: about 1 s)"
          % (noop["bytes"] / 1e9, noop["seconds_median"]))
    print("  no-op, one archive, %.2f GB, present:       %.2f s"
          % (noop_big["bytes"] / 1e9, noop_big["seconds_median"]))
    print("  first import, %.2f GB archive:" % (first["bytes"] / 1e9))
    print("    docker load -i                  %6.1f MB/s" % first["docker_load_mb_s"])
    print("    image_import                    %6.1f MB/s  ratio %.2f  (goal >= 0.9)"
          % (first["module_mb_s"], first["ratio"]))
    print("    image_import, sha256 while      %6.1f MB/s  ratio %.2f"
          % (first["module_while_mb_s"], first["ratio_while"]))
    print("    image_import, sha256 before     %6.1f MB/s  ratio %.2f"
          % (first["module_before_mb_s"], first["ratio_before"]))
    print("  peak RSS of the module while importing:    %.1f MB  (goal < 100 MB)" % first["peak_rss_mb"])
    print("  sha256: sha256sum %.1f MB/s, module %.1f MB/s, ratio %.2f  (goal >= 0.8)"
          % (digest["sha256sum_mb_s"], digest["module_mb_s"], digest["ratio"]))
    if options.json:
        with open(options.json, "w", encoding="utf-8") as stream:
            json.dump(figures, stream, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
