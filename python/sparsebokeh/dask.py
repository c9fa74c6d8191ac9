"""Shots and aperture libraries spread over a cluster by Dask's distributed scheduler.

``render_sequence`` submits one task per chunk of frames and ``fit_library`` one task per
aperture image to a ``distributed.Client``: a laptop's ``LocalCluster`` or a cluster that
``dask-jobqueue`` starts through Slurm or PBS — the same code. There is no scheduler here: Dask
places the tasks, retries a failed task (``retries``), and reruns the tasks of a worker that
died. Each worker process keeps its bundles (loaded once) and each of its threads an engine.
Every output is the same file, byte for byte, as the single-machine CLI writes
(``sparsebokeh render --frames`` and ``sparsebokeh fit --batch``), and is written atomically, so
a frame rendered twice (a retry, a rerun after a lost worker) is simply the same file again.

Install with ``pip install './python[dask]'``; see the README's "Python" section.
"""

from __future__ import annotations

import os
import uuid
from typing import Iterable, Optional, Sequence, Union

import sparsebokeh as _sb

try:
    import distributed as _distributed
except ImportError as _e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sparsebokeh.dask needs Dask's distributed scheduler: pip install './python[dask]'"
    ) from _e

__all__ = ["FrameError", "SequenceError", "fit_library", "frame_path", "render_sequence"]

MAX_FRAME_DIGITS = 16


class FrameError(RuntimeError):
    """A frame that could not be rendered; ``frame`` is its number."""

    def __init__(self, frame: int, message: str):
        super().__init__(f"frame {frame}: {message}")
        self.frame = frame
        self.message = message

    def __reduce__(self):  # raised on a worker, re-raised on the client
        return (FrameError, (self.frame, self.message))


class SequenceError(RuntimeError):
    """Some frames (or apertures) failed after Dask's retries; ``failed`` maps each frame number
    (or aperture file) to its message. The others were written."""

    def __init__(self, what: str, failed: dict, total: int):
        lines = "\n".join(f"  {k}: {v}" for k, v in sorted(failed.items()))
        super().__init__(f"{len(failed)} of {total} {what} failed:\n{lines}")
        self.what, self.failed, self.total = what, failed, total

    def __reduce__(self):
        return (SequenceError, (self.what, self.failed, self.total))


def frame_path(pattern: str, frame: int) -> Optional[str]:
    """``in.%04d.exr`` with frame 7 → ``in.0007.exr``, as the CLI numbers frames; None when the
    pattern has no ``%d`` field."""
    start = pattern.find("%")
    end = pattern.find("d", start + 1) if start >= 0 else -1
    if end < 0 or not (pattern[start + 1 : end] == "" or pattern[start + 1 : end].isdigit()):
        return None
    spec = pattern[start + 1 : end]
    width = min(int(spec.lstrip("0") or "0"), MAX_FRAME_DIGITS)
    num = f"-{-frame:0{max(width - 1, 0)}d}" if frame < 0 else f"{frame:0{width}d}"
    return pattern[:start] + num + pattern[end + 1 :]


def _frames(frames: Union[str, int, Iterable[int]]) -> list:
    if isinstance(frames, int):
        return [frames]
    if isinstance(frames, str):
        first, sep, last = frames.partition("-")
        try:
            a = int(first)
            b = int(last) if sep else a
        except ValueError:
            raise ValueError(f"frames={frames!r}: expected FIRST-LAST or one frame number, e.g. '1-48'") from None
        if b < a:
            raise ValueError(f"frames={frames!r}: the last frame is before the first")
        return list(range(a, b + 1))
    return [int(f) for f in frames]


# What a worker process keeps between tasks: bundles by the name or path they were asked by.
_BUNDLES: dict = {}


def _bundle(spec):
    if isinstance(spec, _sb.Bundle):
        return spec
    key = os.fspath(spec)
    if key not in _BUNDLES:
        # A path or a shipped name, told apart as the CLI's --bundle tells them.
        is_path = os.path.exists(key) or key.endswith(".json") or "/" in key
        _BUNDLES[key] = _sb.Bundle.load(key) if is_path else _sb.Bundle.shipped(key)
    return _BUNDLES[key]


def _render_frame(frame, pattern_in, pattern_out, depth_pattern, bundle, options):
    """One frame as the CLI renders it: the input's depth (or the depth file's), the render
    request, an atomic write."""
    source = frame_path(pattern_in, frame)
    image, depth = _sb.read_image(source)
    if "radius" in options:
        depth = None
    elif depth_pattern is not None:
        depth_file = frame_path(depth_pattern, frame) or depth_pattern
        values, z = _sb.read_image(depth_file, role="data")
        depth = z if z is not None else values
    elif depth is None:
        raise ValueError(f"{source}: no depth found; pass depth=PATTERN or a fixed radius=")
    result = _sb.render(image, depth, bundle=bundle, **options)
    output = frame_path(pattern_out, frame)
    _sb.write_image(output, result)
    return output


def _render_chunk(frames, pattern_in, pattern_out, depth_pattern, bundle_spec, options):
    """A task: the frames of one chunk, in order, on this worker's engine and bundle."""
    bundle = _bundle(bundle_spec)
    written = []
    for f in frames:
        try:
            written.append(_render_frame(f, pattern_in, pattern_out, depth_pattern, bundle, options))
        except Exception as e:  # the frame's number goes with its error
            raise FrameError(f, f"{type(e).__name__}: {e}") from e
    return written


def _client(client):
    return client if client is not None else _distributed.get_client()


def _gather(futures, what, total, keys_of):
    """Waits for every task; returns their results in order, or raises SequenceError naming
    each failed frame or aperture."""
    _distributed.wait(futures)
    results, failed = [], {}
    for fut, keys in zip(futures, keys_of):
        try:
            # Blocks again if the result was lost with a worker since, while Dask recomputes it.
            r = fut.result()
            results.extend(r if isinstance(r, list) else [r])
        except FrameError as e:
            failed[e.frame] = e.message
        except Exception as e:  # a lost task (KilledWorker) or an error outside a frame
            for k in keys:
                failed[k] = f"{type(e).__name__}: {e}"
    if failed:
        raise SequenceError(what, failed, total)
    return results


def render_sequence(
    pattern_in: str,
    pattern_out: str,
    frames: Union[str, int, Iterable[int]],
    *,
    client=None,
    depth: Optional[str] = None,
    bundle: Union[str, os.PathLike, "_sb.Bundle"] = "disc",
    chunk_size: int = 1,
    retries: int = 2,
    **options,
) -> list:
    """Renders frames ``frames`` (``'1-48'``, a number or a list) of ``pattern_in``
    (``in.%04d.exr``) into ``pattern_out`` on a Dask cluster, as
    ``sparsebokeh render IN OUT --frames ...`` does on one machine, to the same bytes.

    ``depth`` is a depth file pattern (default: each input's own Z/depth channel); ``bundle`` a
    shipped name, a path or a ``Bundle``; ``options`` are ``sparsebokeh.render``'s keywords
    (``radius=`` renders a fixed blur without depth, as the CLI's ``--radius``). One task renders
    ``chunk_size`` consecutive frames; ``retries`` is Dask's retries of a failed task. ``client``
    defaults to the current ``distributed`` client. The files must be visible to every worker
    (a shared file system).

    Before submitting anything, the options are checked and every input frame (and depth file)
    must exist. Returns the output paths in frame order; raises ``SequenceError`` naming each
    frame that still failed after the retries (the other frames are written).
    """
    frames = _frames(frames)
    for name, pattern in (("pattern_in", pattern_in), ("pattern_out", pattern_out)):
        if frame_path(pattern, 0) is None:
            raise ValueError(f"{name}={pattern!r}: needs a frame number field such as %04d")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}: must be at least 1")
    _sb._native.check_options("radius" not in options, options)
    for f in frames:
        paths = [frame_path(pattern_in, f)]
        if depth is not None and "radius" not in options:
            paths.append(frame_path(depth, f) or depth)
        for p in paths:
            if not os.path.isfile(p):
                raise FileNotFoundError(f"{p}: input frame not found; no frame was submitted")
    client = _client(client)
    chunks = [frames[i : i + chunk_size] for i in range(0, len(frames), chunk_size)]
    token = uuid.uuid4().hex[:8]
    futures = [
        client.submit(
            _render_chunk, chunk, pattern_in, pattern_out, depth, bundle, dict(options),
            key=f"sparsebokeh-render-{chunk[0]}-{chunk[-1]}-{token}", retries=retries, pure=False,
        )
        for chunk in chunks
    ]
    return _gather(futures, "frames", len(frames), chunks)


def _fit_one(path, out_path, options):
    stem = os.path.splitext(os.path.basename(path))[0]
    bundle = _sb.fit(image=path, name=stem, **options)
    bundle.save(out_path)
    return out_path


def fit_library(
    aperture_dir: Union[str, os.PathLike],
    out_dir: Union[str, os.PathLike],
    *,
    client=None,
    retries: int = 2,
    **fit_options,
) -> list:
    """Fits a bundle to every PNG aperture image in ``aperture_dir`` into ``out_dir/NAME.json``
    on a Dask cluster, one task per aperture, as ``sparsebokeh fit --batch DIR --out-dir OUT``
    does on one machine, to the same bytes. ``fit_options`` are ``sparsebokeh.fit``'s keywords
    (not ``shape``, ``image`` or ``name``: each bundle is named after its image). Returns the
    bundles' paths; raises ``SequenceError`` naming each aperture that failed after the retries.
    """
    for k in ("shape", "image", "name"):
        if k in fit_options:
            raise ValueError(f"{k}: fit_library names and fits each image of aperture_dir itself")
    aperture_dir, out_dir = os.fspath(aperture_dir), os.fspath(out_dir)
    names = sorted(n for n in os.listdir(aperture_dir) if n.lower().endswith(".png"))
    if not names:
        raise ValueError(f"aperture_dir={aperture_dir!r}: no .png files")
    os.makedirs(out_dir, exist_ok=True)
    client = _client(client)
    token = uuid.uuid4().hex[:8]
    paths = [os.path.join(aperture_dir, n) for n in names]
    futures = [
        client.submit(
            _fit_one, p, os.path.join(out_dir, os.path.splitext(n)[0] + ".json"), dict(fit_options),
            key=f"sparsebokeh-fit-{n}-{token}", retries=retries, pure=False,
        )
        for p, n in zip(paths, names)
    ]
    return _gather(futures, "apertures", len(names), [[p] for p in paths])
