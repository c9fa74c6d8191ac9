# Type stubs of the module `sparsebokeh` (see __init__.py for the documentation). `render`'s
# keywords are the render request's fields, in the order of src/python/options.rs; the test
# suite checks this file against the module (names, order and defaults).
from os import PathLike
from typing import Any, Callable, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

FloatArray = npt.NDArray[np.float32]
StrPath = Union[str, PathLike[str]]

class Bundle:
    def __init__(self, json_text: str) -> None: ...
    @staticmethod
    def load(path: StrPath) -> Bundle: ...
    @staticmethod
    def shipped(name: str) -> Bundle: ...
    def save(self, path: StrPath) -> None: ...
    def to_json(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def layers(self) -> int: ...
    @property
    def taps(self) -> int: ...
    @property
    def radii(self) -> list[float]: ...
    @property
    def psnr_db(self) -> list[Optional[float]]: ...
    @property
    def target(self) -> dict[str, Any]: ...
    @property
    def fit(self) -> dict[str, Any]: ...

def render(
    image: FloatArray,
    depth: Optional[FloatArray] = None,
    *,
    bundle: Union[Bundle, StrPath] = "disc",
    out: Optional[FloatArray] = None,
    mode: Literal["depth", "inverse-depth", "coc"] = "depth",
    focus: float = 1.0,
    dof: float = 0.0,
    size: float = 10.0,
    maximum: float = 32.0,
    render_scale: float = 1.0,
    edges: Literal["layered", "gather"] = "layered",
    output: Literal["result", "focal-plane-setup", "coc-map", "coc-map-normalised", "depth-slices"] = "result",
    mix: float = 1.0,
    radius: float = 8.0,
    depth_channel: int = 0,
    invert_depth: bool = False,
    rotation: float = 0.0,
    aspect: float = 1.0,
    pixel_aspect: float = 1.0,
    bloom_threshold: float = 0.8,
    bloom_gain: float = 0.0,
    gamma: float = 1.0,
    focus_at: Optional[Tuple[float, float]] = None,
) -> FloatArray: ...
def render_options() -> list[Tuple[str, str, Any, str]]: ...
def fit(
    shape: Optional[str] = None,
    *,
    image: Union[StrPath, npt.ArrayLike, None] = None,
    sides: Optional[int] = None,
    rotation: Optional[float] = None,
    curvature: Optional[float] = None,
    points: Optional[int] = None,
    inner: Optional[float] = None,
    sigma: Optional[float] = None,
    offset: Optional[float] = None,
    channel: Literal["auto", "luminance", "alpha"] = "auto",
    radii: Optional[Sequence[float]] = None,
    layers: int = 3,
    taps: int = 32,
    iterations: int = 3000,
    rounds: int = 32,
    init: Literal["auto", "radial", "support", "symmetric"] = "auto",
    flat: float = 4.0,
    weights: Literal["non-negative", "signed"] = "non-negative",
    lobe: float = 0.0,
    seed: int = 1,
    name: Optional[str] = None,
    description: str = "",
    progress: Optional[Callable[[float, float], Any]] = None,
) -> Bundle: ...
def read_image(path: StrPath, role: Literal["color", "data"] = "color") -> Tuple[FloatArray, Optional[FloatArray]]: ...
def write_image(path: StrPath, image: FloatArray, depth: Optional[FloatArray] = None) -> None: ...
def shipped_bundles() -> list[str]: ...
