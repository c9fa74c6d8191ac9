"""sparsebokeh: lens blur of any aperture shape, spatially varying with depth.

A dense blur kernel (a disc, a hexagon, a heart...) is approximated by a short cascade of sparse
layers fitted by gradient descent; a *bundle* holds one such cascade per blur radius, and the
engine interpolates between them per pixel from a depth map. This module is a thin layer over the
Rust library (the same render request and engine as the ``sparsebokeh`` command-line tool, so the
same inputs give the same pixels):

    import numpy as np, sparsebokeh as sb
    image, depth = sb.read_image("shot.0001.exr")          # (H, W, 4) float32, (H, W) or None
    out = sb.render(image, depth, bundle="hexagon", focus=4.0, size=24)
    sb.write_image("blurred.0001.exr", out)

``render`` takes the render request's fields as keywords (``help(sparsebokeh.render)`` lists
them), ``fit`` fits a bundle, ``Bundle`` loads and saves them, ``read_image``/``write_image`` use
the library's EXR and PNG code, and ``sparsebokeh.dask`` spreads sequences and aperture
libraries over a Dask cluster. Errors are ``ValueError`` (bad input, naming the argument),
``OSError`` (files) or ``RuntimeError``.
"""

from __future__ import annotations

import inspect as _inspect
import os as _os
import textwrap as _textwrap
import warnings as _warnings

from . import _sparsebokeh as _native
from ._sparsebokeh import Bundle, __version__

__all__ = [
    "Bundle",
    "fit",
    "read_image",
    "render",
    "render_options",
    "shipped_bundles",
    "write_image",
    "__version__",
]


def render(image, depth=None, *, bundle="disc", out=None, **options):
    """Renders lens blur: see the module's help for the keywords (set at import below)."""
    result, stats = _native._render(image, depth, bundle, out, options)
    _warn(stats)
    return result


def _warn(stats):
    """The CLI's warnings, as RuntimeWarning."""
    if stats["nonfinite_samples"]:
        _warnings.warn(f"{stats['nonfinite_samples']} NaN/Inf samples treated as 0", RuntimeWarning, stacklevel=3)
    if stats["bad_depth"]:
        _warnings.warn(
            f"{stats['bad_depth']} non-finite or negative depth values treated as far", RuntimeWarning, stacklevel=3
        )
    if stats["nonfinite_output"]:
        _warnings.warn(
            f"{stats['nonfinite_output']} output samples are NaN/Inf (source values too large to blur in 32-bit float)",
            RuntimeWarning,
            stacklevel=3,
        )


def render_options():
    """The keywords of ``render``: a list of ``(name, type, default, help)``, defaults being
    those of the library's render request (``RenderOptions::default()``)."""
    return list(_native.render_options())


_RENDER_DOC = """Renders lens blur of ``image`` as the CLI's ``sparsebokeh render`` would.

image
    float32 NumPy array, (H, W) or (H, W, C) with C ≤ 4 (premultiplied RGBA, RGB, grey...).
    Any strides: an array whose pixels are packed (C-contiguous, a crop, rows flipped) is read
    in place; any other layout is copied first.
depth
    None: a blur of fixed radius ``radius`` over the whole frame. Else a float32 array (H, W)
    (or (H, W, C), channel ``depth_channel``) of the image's size: each pixel's blur radius comes
    from it through ``mode``, ``focus``, ``dof``, ``size`` and ``maximum``.
bundle
    The aperture: a ``Bundle``, a shipped name (``shipped_bundles()``) or a bundle file's path.
    Pass a ``Bundle`` to skip loading it on every call.
out
    None: a new array is returned. Else a writable float32 array of the image's shape that
    receives the result (also returned); it may be ``image`` itself.

Keywords (the render request's fields; defaults are the library's):
{options}

Returns the result array. The GIL is released while rendering, so other Python threads keep
running; each thread keeps its own engine (frame buffers reused between frames). Raises
ValueError for a bad array or option (the message names it), OSError for a bundle file that
cannot be read, TypeError for an unknown keyword. NaN/Inf samples, bad depth values and
output that overflows float32 are reported as RuntimeWarning.
"""


def _setup_render():
    params = [
        _inspect.Parameter("image", _inspect.Parameter.POSITIONAL_OR_KEYWORD),
        _inspect.Parameter("depth", _inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
        _inspect.Parameter("bundle", _inspect.Parameter.KEYWORD_ONLY, default="disc"),
        _inspect.Parameter("out", _inspect.Parameter.KEYWORD_ONLY, default=None),
    ]
    lines = []
    for name, type_text, default, help_text in _native.render_options():
        params.append(_inspect.Parameter(name, _inspect.Parameter.KEYWORD_ONLY, default=default))
        body = _textwrap.fill(" ".join(help_text.split()), 92, initial_indent="    ", subsequent_indent="    ")
        lines.append(f"{name}: {type_text} = {default!r}\n{body}")
    render.__signature__ = _inspect.Signature(params)
    render.__doc__ = _RENDER_DOC.format(options="\n".join(lines))


_setup_render()


def fit(
    shape=None,
    *,
    image=None,
    sides=None,
    rotation=None,
    curvature=None,
    points=None,
    inner=None,
    sigma=None,
    offset=None,
    channel="auto",
    radii=None,
    layers=3,
    taps=32,
    iterations=3000,
    rounds=32,
    init="auto",
    flat=4.0,
    weights="non-negative",
    lobe=0.0,
    seed=1,
    name=None,
    description="",
    progress=None,
):
    """Fits a bundle as ``sparsebokeh fit`` does with the same flags, to the same bytes.

    shape
        An analytic aperture: 'disc', 'ngon' (or 'triangle' ... 'octagon', 'hexagon'), 'heart',
        'star', 'ring', 'gaussian', 'cat-eye'; its parameters are ``sides``, ``rotation``
        (degrees), ``curvature`` (n-gon), ``points``, ``inner`` (star, ring), ``sigma``
        (gaussian), ``offset`` (cat-eye).
    image
        Or an aperture image: a PNG path (``channel``: 'auto', 'luminance' or 'alpha'), or a 2-D
        array of transmission in [0, 1], centred, its larger side spanning the diameter.
    radii
        The entries' radii in pixels (default 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64).
    layers, taps
        Layers per complex and taps per layer (a pixel costs layers × taps taps).
    iterations, rounds, init, flat, weights, lobe, seed
        How hard and how the fit searches, as the CLI's flags of the same names (``flat``: the
        aperture's flat interior counts 1 + flat times; ``weights``: 'non-negative' or 'signed';
        the same seed gives the same bundle).
    name, description
        Recorded in the bundle (name: by default the shape's or the image file's).
    progress
        Called as ``progress(radius, psnr_db)`` after each radius is fitted (an exception it
        raises is raised when the fit ends).

    Returns a ``Bundle`` (``Bundle.save(path)`` writes it). The GIL is released while fitting.
    The bundle records the command line that reproduces it (``bundle.fit['command']``).
    Raises ValueError for a bad keyword (naming it), OSError for an aperture file that cannot be
    read.
    """
    if image is not None and isinstance(image, (str, bytes, _os.PathLike)):
        image = _os.fsdecode(image)
    return _native._fit(
        shape=shape,
        image=image,
        sides=sides,
        rotation=rotation,
        curvature=curvature,
        points=points,
        inner=inner,
        sigma=sigma,
        offset=offset,
        channel=channel,
        radii=None if radii is None else [float(r) for r in radii],
        layers=layers,
        taps=taps,
        iterations=iterations,
        rounds=rounds,
        init=init,
        flat=flat,
        weights=weights,
        lobe=lobe,
        seed=seed,
        name=name,
        description=description,
        progress=progress,
    )


def read_image(path, role="color"):
    """Reads an EXR or PNG file with the library's reader (as the CLI reads its input).

    Returns ``(image, depth)``: ``image`` a float32 array (H, W, C) — linear, premultiplied;
    PNG colour is converted from sRGB —, ``depth`` a float32 array (H, W) when the file holds a
    depth channel (EXR ``Z``/``depth`` or a ``Depth`` part), else None. ``role='data'`` reads
    values as stored (a depth PNG scaled to [0, 1], no sRGB curve). Raises OSError when the file
    cannot be read or decoded (the message names the file).
    """
    return _native.read_image(_os.fspath(path), role)


def write_image(path, image, depth=None):
    """Writes ``image`` (float32, (H, W) or (H, W, C ≤ 4)) to an EXR or PNG file by extension,
    atomically (a temporary file, then a rename: a failure leaves no file). ``depth`` (float32,
    (H, W)) is written as an EXR ``Z`` channel. Raises ValueError for a bad array, OSError when
    the file cannot be written.
    """
    _native.write_image(_os.fspath(path), image, depth)


def shipped_bundles():
    """The names of the shipped bundles (``Bundle.shipped(name)``, ``render(bundle=name)``)."""
    return list(_native.shipped_bundles())
