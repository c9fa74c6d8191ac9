"""sparsebokeh.render against the CLI (bit for bit), array layouts, out=, bad input, the GIL."""

import threading
import time
import tracemalloc

import numpy as np
import pytest

import sparsebokeh as sb
from conftest import same_bits, scene


def render_both(tmp_path, run_cli, image, depth, flags, **options):
    """The CLI's output file and the module's (written by write_image), and the module's array."""
    src = tmp_path / "in.exr"
    sb.write_image(src, image, depth)
    run_cli("render", src, tmp_path / "cli.exr", *flags)
    got, _ = sb.read_image(src)
    use_depth = None if "radius" in options else sb.read_image(src)[1]
    out = sb.render(got, use_depth, **options)
    sb.write_image(tmp_path / "py.exr", out)
    return (tmp_path / "cli.exr").read_bytes(), (tmp_path / "py.exr").read_bytes(), out


@pytest.mark.parametrize(
    "flags, options",
    [
        (["--radius", "6", "--bundle", "hexagon"], dict(radius=6.0, bundle="hexagon")),
        (["--edges", "gather", "--focus", "2", "--size", "12", "--maximum", "16"],
         dict(edges="gather", focus=2.0, size=12.0, maximum=16.0)),
        (["--focus", "2", "--size", "12", "--maximum", "16"], dict(focus=2.0, size=12.0, maximum=16.0)),
        (["--focus", "0.7", "--size", "9", "--bundle", "star", "--mix", "0.75"],
         dict(focus=0.7, size=9.0, bundle="star", mix=0.75)),
        (["--output-kind", "coc-map", "--focus", "2", "--dof", "0.5"], dict(output="coc-map", focus=2.0, dof=0.5)),
    ],
    ids=["fixed", "depth-gather", "depth-layered", "layered-star-mix", "coc-map"],
)
def test_render_equals_the_cli_bit_for_bit(tmp_path, run_cli, frame, flags, options):
    image, depth = frame
    cli_bytes, py_bytes, out = render_both(tmp_path, run_cli, image, depth, flags, **options)
    cli_pixels, _ = sb.read_image(tmp_path / "cli.exr")
    assert same_bits(cli_pixels, out)
    assert cli_bytes == py_bytes
    assert not same_bits(out, image) or options.get("mix") == 0  # it did blur


def test_strided_input_equals_contiguous(frame):
    image, depth = frame
    big = np.zeros((3 * 64, 3 * 96, 4), np.float32)
    big[::3, ::3] = image
    layouts = {
        "every third pixel": big[::3, ::3],  # pixels not adjacent: copied
        "crop": np.pad(image, ((5, 7), (3, 2), (0, 0)))[5:-7, 3:-2],  # longer rows, in place
        "fortran order": np.asfortranarray(image),
    }
    want = sb.render(image, depth, focus=2.0, size=8.0)
    for name, view in layouts.items():
        assert same_bits(view, image), name
        assert same_bits(sb.render(view, depth, focus=2.0, size=8.0), want), name
    flipped = image[::-1]  # negative row stride, read in place
    want_flipped = sb.render(flipped.copy(), depth[::-1].copy(), focus=2.0, size=8.0)
    assert same_bits(sb.render(flipped, depth[::-1], focus=2.0, size=8.0), want_flipped)
    rgb = image[..., :3]  # a channel slice: pixels 16 bytes apart, 12 bytes each
    assert same_bits(sb.render(rgb, depth, focus=2.0, size=8.0), sb.render(rgb.copy(), depth, focus=2.0, size=8.0))
    grey = np.ascontiguousarray(image[..., 0])
    g = sb.render(grey, radius=5.0)
    assert g.shape == grey.shape and same_bits(g, sb.render(grey[:, :, None], radius=5.0)[..., 0])


def numpy_bytes_allocated(f):
    """Peak bytes NumPy allocated while running f (NumPy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_contiguous_input_is_not_copied():
    image, _ = scene(512, 256)
    frame_bytes = image.nbytes
    strided = np.zeros((256, 2 * 512, 4), np.float32)[:, ::2]
    assert numpy_bytes_allocated(lambda: sb.render(image, radius=2.0)) < frame_bytes / 4
    assert numpy_bytes_allocated(lambda: sb.render(strided, radius=2.0)) >= frame_bytes


def test_out_is_written_in_place(frame):
    image, depth = frame
    want = sb.render(image, depth, focus=2.0)
    out = np.full_like(image, -1.0)
    got = sb.render(image, depth, focus=2.0, out=out)
    assert got is out and same_bits(out, want)
    # The image itself as out (the render reads a copy first).
    same = image.copy()
    assert sb.render(same, depth, focus=2.0, out=same) is same and same_bits(same, want)
    # Pixels not packed: the result is assigned through NumPy, the rest of the buffer untouched.
    buffer = np.full((64, 96, 5), 7.0, np.float32)
    sb.render(image, depth, focus=2.0, out=buffer[..., 1:5])
    assert same_bits(buffer[..., 1:5], want) and np.all(buffer[..., 0] == 7.0)
    # Rows flipped: in place, through the negative stride.
    flipped = np.zeros_like(image)
    sb.render(image, depth, focus=2.0, out=flipped[::-1])
    assert same_bits(flipped[::-1], want)


def test_bad_arrays_and_options_raise_value_error_naming_the_argument(frame):
    image, depth = frame
    cases = [
        (lambda: sb.render(image.astype(np.float64), depth), "image", "float32"),
        (lambda: sb.render(np.zeros((8, 8, 5), np.float32)), "image", "5 channels"),
        (lambda: sb.render(np.zeros((8,), np.float32)), "image", "shape"),
        (lambda: sb.render(np.zeros((0, 8, 4), np.float32)), "image", "shape"),
        (lambda: sb.render(image, depth[:-1]), "depth", "64"),
        (lambda: sb.render(image, depth.astype(np.float16)), "depth", "float32"),
        (lambda: sb.render(image, depth, focus=float("nan")), "focus", "finite"),
        (lambda: sb.render(image, radius=float("inf")), "radius", "finite"),
        (lambda: sb.render(image, depth, mix=2.0), "mix", "0..=1"),
        (lambda: sb.render(image, depth, size=-1.0), "size", ""),
        (lambda: sb.render(image, depth, mode="sideways"), "mode", "'depth'"),
        (lambda: sb.render(image, depth, depth_channel=-1), "depth_channel", ""),
        (lambda: sb.render(image, out=np.zeros((64, 96, 3), np.float32)), "out", "differs"),
        (lambda: sb.render(image, out=np.zeros((64, 96, 4), np.float64)), "out", "float32"),
    ]
    read_only = np.zeros_like(image)
    read_only.flags.writeable = False
    cases.append((lambda: sb.render(image, out=read_only), "out", "read-only"))
    for call, name, words in cases:
        with pytest.raises(ValueError) as e:
            call()
        assert name in str(e.value) and words in str(e.value), str(e.value)
    with pytest.raises(TypeError, match="focal_length"):
        sb.render(image, focal_length=3.0)
    with pytest.raises(TypeError, match="focus"):
        sb.render(image, depth, focus="near")
    with pytest.raises(TypeError, match="image"):
        sb.render([[1.0]])
    with pytest.raises(OSError, match="no-such-bundle"):
        sb.render(image, bundle="no-such-bundle")


def test_warnings_report_what_the_render_saw(frame):
    image, depth = frame
    bad = depth.copy()
    bad[0, :10] = np.nan
    with pytest.warns(RuntimeWarning, match="10 non-finite or negative depth"):
        sb.render(image, bad, focus=2.0)


def test_a_render_releases_the_gil():
    image, depth = scene(1920, 1080)
    bundle = sb.Bundle.shipped("disc")
    sb.render(image[:64, :64], depth[:64, :64], bundle=bundle, focus=2.0, size=24.0)
    span = {}

    def work():
        span["start"] = time.perf_counter()
        sb.render(image, depth, bundle=bundle, focus=2.0, size=24.0, maximum=24.0)
        span["end"] = time.perf_counter()

    t = threading.Thread(target=work)
    ticks = []
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
        sum(range(200))  # pure-Python work, which needs the GIL
    t.join()
    duration = span["end"] - span["start"]
    inside = [x for x in ticks if span["start"] + 0.2 * duration < x < span["end"] - 0.2 * duration]
    assert duration > 0.2, f"the render took {duration:.3f} s: too short to tell"
    assert len(inside) > 100, f"only {len(inside)} Python steps ran during {duration:.2f} s of render"


def test_threads_render_the_same_pixels_at_once(frame):
    image, depth = frame
    want = sb.render(image, depth, focus=2.0)
    results = [None] * 4

    def work(i):
        results[i] = sb.render(image, depth, focus=2.0)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(same_bits(r, want) for r in results)
