"""Frames per second of a 1080p EXR sequence (with depth): the CLI's --frames, the Python
module in one process, and sparsebokeh.dask on a LocalCluster of 2 worker processes.

    python python/bench/sequence.py [--frames 24] [--cli target/release/sparsebokeh] [--dir DIR]

The frames are synthetic (python/tests/conftest.py's scene: texture, lights, depth planes) and
rendered with the defaults (layered edges, disc) at focus 2, size 16. Every output is checked to
be the CLI's file byte for byte.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sparsebokeh as sb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import scene  # noqa: E402

OPTIONS = dict(focus=2.0, size=16.0, maximum=16.0)
FLAGS = ["--focus", "2", "--size", "16", "--maximum", "16"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--cli", default=str(Path(__file__).resolve().parents[2] / "target/release/sparsebokeh"))
    p.add_argument("--dir", default=None)
    a = p.parse_args()
    d = Path(a.dir or tempfile.mkdtemp(prefix="sb-bench-"))
    d.mkdir(parents=True, exist_ok=True)
    n = a.frames
    for f in range(1, n + 1):
        if not (d / f"in.{f:04d}.exr").exists():
            image, depth = scene(1920, 1080, seed=f)
            sb.write_image(d / f"in.{f:04d}.exr", image, depth)
    rows = []

    t = time.perf_counter()
    subprocess.run([a.cli, "render", d / "in.%04d.exr", d / "cli.%04d.exr", "--frames", f"1-{n}", *FLAGS],
                   check=True, stdout=subprocess.DEVNULL)
    rows.append(("CLI --frames (one process)", time.perf_counter() - t))

    bundle = sb.Bundle.shipped("disc")
    t = time.perf_counter()
    for f in range(1, n + 1):
        image, depth = sb.read_image(d / f"in.{f:04d}.exr")
        sb.write_image(d / f"py.{f:04d}.exr", sb.render(image, depth, bundle=bundle, **OPTIONS))
    rows.append(("Python module, one process", time.perf_counter() - t))

    import distributed
    from sparsebokeh import dask as sbd

    t0 = time.perf_counter()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=40) as c, \
            distributed.Client(c) as client:
        t = time.perf_counter()
        sbd.render_sequence(str(d / "in.%04d.exr"), str(d / "dask.%04d.exr"), f"1-{n}", client=client, **OPTIONS)
        rows.append(("Dask, LocalCluster 2 workers x 1 thread", time.perf_counter() - t))
    rows.append(("  (the same with cluster start and stop)", time.perf_counter() - t0))

    for kind in ("py", "dask"):
        for f in range(1, n + 1):
            same = (d / f"{kind}.{f:04d}.exr").read_bytes() == (d / f"cli.{f:04d}.exr").read_bytes()
            assert same, f"{kind} frame {f} differs from the CLI's"
    print(f"{n} frames of 1920x1080 RGBA + Z, layered, disc, on {os.cpu_count()} cores; outputs identical to the CLI's")
    for name, s in rows:
        print(f"{name:<42} {s:7.2f} s  {n / s:6.2f} frames/s")


if __name__ == "__main__":
    main()
