"""sparsebokeh.dask on a LocalCluster of 2 worker processes: the same bytes as the CLI, a
killed worker, a failed frame reported by number."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import sparsebokeh as sb

import distributed  # noqa: E402  (required: CI installs the [dask] extra)

from sparsebokeh import dask as sbd  # noqa: E402
from conftest import scene  # noqa: E402

SMALL_FIT = dict(radii=[2, 4], taps=8, iterations=60, rounds=1)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def write_sequence(folder, frames, width, height):
    for f in frames:
        image, depth = scene(width, height, seed=f)
        sb.write_image(folder / f"in.{f:04d}.exr", image, depth)


def test_sequence_equals_the_cli_and_survives_a_killed_worker(tmp_path, run_cli, client):
    write_sequence(tmp_path, range(1, 7), 960, 540)
    options = dict(focus=2.0, size=16.0, maximum=16.0)
    run_cli("render", tmp_path / "in.%04d.exr", tmp_path / "cli.%04d.exr", "--frames", "1-6",
            "--focus", "2", "--size", "16", "--maximum", "16")
    outputs = [tmp_path / f"dask.{f:04d}.exr" for f in range(1, 7)]
    result = {}

    def run():
        try:
            result["paths"] = sbd.render_sequence(
                str(tmp_path / "in.%04d.exr"), str(tmp_path / "dask.%04d.exr"), "1-6", client=client, **options
            )
        except Exception as e:  # reported below
            result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    deadline = time.time() + 120
    while not any(p.exists() for p in outputs) and time.time() < deadline and t.is_alive():
        time.sleep(0.02)
    done_at_kill = sum(p.exists() for p in outputs)
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    t.join(timeout=300)
    assert not t.is_alive(), "render_sequence did not finish after a worker was killed"
    assert "error" not in result, result.get("error")
    assert 1 <= done_at_kill < 6, f"{done_at_kill} frames were done when the worker was killed"
    assert result["paths"] == [str(p) for p in outputs]
    for f, p in enumerate(outputs, start=1):
        assert p.read_bytes() == (tmp_path / f"cli.{f:04d}.exr").read_bytes(), f"frame {f}"
    client.wait_for_workers(2, timeout=60)


def test_a_failed_frame_is_reported_by_number_after_dasks_retries(tmp_path, client):
    # Frame numbers no other test uses, so the scheduler's log names this call's tasks alone.
    write_sequence(tmp_path, range(101, 104), 64, 48)
    (tmp_path / "in.0102.exr").write_bytes(b"truncated")
    with pytest.raises(sbd.SequenceError) as e:
        sbd.render_sequence(str(tmp_path / "in.%04d.exr"), str(tmp_path / "out.%04d.exr"), "101-103",
                            client=client, retries=1, focus=2.0)
    assert list(e.value.failed) == [102] and "in.0102.exr" in e.value.failed[102]
    assert "1 of 3 frames failed" in str(e.value)
    assert (tmp_path / "out.0101.exr").exists() and (tmp_path / "out.0103.exr").exists()
    assert not (tmp_path / "out.0102.exr").exists()
    log = client.run_on_scheduler(lambda dask_scheduler: [(str(t[0]), t[2]) for t in dask_scheduler.transition_log])
    started = [key for key, state in log if state == "processing"]
    assert sum(k.startswith("sparsebokeh-render-102-102-") for k in started) == 2, "Dask did not retry frame 102"
    assert sum(k.startswith("sparsebokeh-render-101-101-") for k in started) == 1
    with pytest.raises(FileNotFoundError, match="in.0108.exr"):
        sbd.render_sequence(str(tmp_path / "in.%04d.exr"), str(tmp_path / "o.%04d.exr"), "108-109", client=client)
    with pytest.raises(ValueError, match="mix"):
        sbd.render_sequence(str(tmp_path / "in.%04d.exr"), str(tmp_path / "o.%04d.exr"), "101", client=client,
                            mix=3.0)


def test_fit_library_equals_the_cli_batch(tmp_path, run_cli, client):
    apertures = tmp_path / "apertures"
    apertures.mkdir()
    y, x = np.mgrid[0:31, 0:31] - 15
    for name, inside in [("oval", x * x + 2 * y * y <= 225), ("square", (abs(x) <= 11) & (abs(y) <= 11))]:
        a = inside.astype(np.float32)
        sb.write_image(apertures / f"{name}.png", np.dstack([a, a, a, np.ones_like(a)]))
    run_cli("fit", "--batch", apertures, "--out-dir", tmp_path / "cli", "--radii", "2,4", "--taps", "8",
            "--iterations", "60", "--rounds", "1")
    paths = sbd.fit_library(str(apertures), str(tmp_path / "dask"), client=client, **SMALL_FIT)
    assert [os.path.basename(p) for p in paths] == ["oval.json", "square.json"]
    for name in ("oval", "square"):
        assert (tmp_path / "dask" / f"{name}.json").read_bytes() == (tmp_path / "cli" / f"{name}.json").read_bytes()


def test_frame_paths_follow_the_cli():
    assert sbd.frame_path("in.%04d.exr", 7) == "in.0007.exr"
    assert sbd.frame_path("in.%d.exr", 12) == "in.12.exr"
    assert sbd.frame_path("in.%04d.exr", -7) == "in.-007.exr"
    assert sbd.frame_path("in.exr", 7) is None
