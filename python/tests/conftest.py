"""Shared fixtures: the CLI to compare against, and small synthetic frames."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli():
    """The `sparsebokeh` binary: $SPARSEBOKEH_CLI (tests/python.rs sets it), else the
    checkout's target/release/sparsebokeh."""
    path = os.environ.get("SPARSEBOKEH_CLI") or str(REPO / "target" / "release" / "sparsebokeh")
    if not os.path.isfile(path):
        pytest.fail(f"the sparsebokeh CLI is not at {path}: run `cargo build --release` or set SPARSEBOKEH_CLI")
    return path


@pytest.fixture(scope="session")
def run_cli(cli):
    def run(*args):
        r = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, f"sparsebokeh {' '.join(map(str, args))} failed:\n{r.stderr}"
        return r

    return run


def scene(width, height, seed=1):
    """A frame with what each render path must get right: texture, lights brighter than 1,
    and depth planes with edges (near posts, a mid plane, a far wall), premultiplied RGBA."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = 0.2 + 0.6 * rng.random((height, width, 3), dtype=np.float32)
    depth = np.full((height, width), 8.0, np.float32)
    depth[:, width // 3 : 2 * width // 3] = 2.0
    depth[(x % (width // 4)) < width // 16] = 0.7
    for _ in range(6):
        cx, cy = rng.integers(0, width), rng.integers(0, height)
        rgb[cy, cx] = 12.0 + 20.0 * rng.random()
    alpha = np.ones((height, width, 1), np.float32)
    return np.concatenate([rgb, alpha], axis=2), depth


@pytest.fixture
def frame():
    return scene(96, 64)


def same_bits(a, b):
    """Bit-for-bit equality of two float32 arrays (NaN and −0 included)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a.view(np.uint32), b.view(np.uint32))
