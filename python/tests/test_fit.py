"""sparsebokeh.fit against `sparsebokeh fit` (the same bytes), Bundle, errors."""

import pickle

import numpy as np
import pytest

import sparsebokeh as sb

SMALL = dict(radii=[2, 4], taps=8, iterations=60, rounds=1)
SMALL_FLAGS = ["--radii", "2,4", "--taps", "8", "--iterations", "60", "--rounds", "1"]


def test_fit_equals_the_cli_byte_for_byte(tmp_path, run_cli):
    sb.fit("hexagon", **SMALL).save(tmp_path / "py.json")
    # The flags in another order, the output first: the bundle records one canonical command.
    run_cli("fit", "--out", tmp_path / "cli.json", "--taps", "8", "--shape", "hexagon", *SMALL_FLAGS[:2],
            "--iterations", "60", "--rounds", "1")
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    b = sb.Bundle.load(tmp_path / "py.json")
    assert b.fit["command"].startswith("sparsebokeh fit --shape hexagon --layers 3 --taps 8 --radii 2,4 ")


def test_fit_with_shape_parameters_and_seed_equals_the_cli(tmp_path, run_cli):
    options = dict(sides=5, rotation=12.5, curvature=0.25, seed=7, layers=2, description="five blades")
    sb.fit("ngon", **options, **SMALL).save(tmp_path / "py.json")
    run_cli("fit", "--shape", "ngon", "--sides", "5", "--rotation", "12.5", "--curvature", "0.25", "--seed", "7",
            "--layers", "2", "--description", "five blades", *SMALL_FLAGS, "--out", tmp_path / "cli.json")
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    other_seed = sb.fit("ngon", **{**options, "seed": 8}, **SMALL)
    assert other_seed.to_json() != (tmp_path / "py.json").read_text()


def aperture_png(path, size=33):
    y, x = np.mgrid[0:size, 0:size] - size // 2
    inside = ((x * x + 1.5 * y * y) <= (size // 2) ** 2).astype(np.float32)
    sb.write_image(path, np.dstack([inside, inside, inside, np.ones_like(inside)]))


def test_fit_of_an_aperture_image_equals_the_cli(tmp_path, run_cli):
    aperture_png(tmp_path / "oval.png")
    sb.fit(image=tmp_path / "oval.png", **SMALL).save(tmp_path / "py.json")
    run_cli("fit", "--image", tmp_path / "oval.png", *SMALL_FLAGS, "--out", tmp_path / "cli.json")
    assert (tmp_path / "py.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    assert sb.Bundle.load(tmp_path / "py.json").name == "oval"


def test_fit_of_an_array_and_progress(tmp_path):
    y, x = np.mgrid[0:21, 0:21] - 10
    seen = []
    b = sb.fit(image=(x * x + y * y <= 100).astype(np.float64), progress=lambda r, db: seen.append((r, db)), **SMALL)
    assert sorted(r for r, _ in seen) == [2.0, 4.0] and all(db > 10 for _, db in seen)
    assert b.radii == [2.0, 4.0] and b.layers == 3 and b.taps == 8 and b.name == "image"
    assert "--image '<array 21x21>'" in b.fit["command"]

    def fails(r, db):
        raise KeyError("stop")

    with pytest.raises(KeyError, match="stop"):
        sb.fit("disc", progress=fails, **SMALL)


def test_bad_fit_keywords_raise_naming_them(tmp_path):
    cases = [
        (dict(shape="disc", layers=0), ValueError, "layers"),
        (dict(shape="disc", taps=-1), ValueError, "taps"),
        (dict(shape="disc", radii=[0.0]), ValueError, "radii"),
        (dict(shape="disc", init="spiral"), ValueError, "init"),
        (dict(shape="disc", weights="odd"), ValueError, "weights"),
        (dict(shape="ngon", sides=2), ValueError, "sides"),
        (dict(shape="ngon", rotation=float("nan")), ValueError, "rotation"),
        (dict(shape="blob"), ValueError, "blob"),
        (dict(), ValueError, "shape"),
        (dict(image=np.zeros((9, 9))), ValueError, "black"),
        (dict(image=tmp_path / "missing.png"), OSError, "missing.png"),
    ]
    for kwargs, error, words in cases:
        with pytest.raises(error) as e:
            sb.fit(**{**SMALL, **kwargs})
        assert words in str(e.value), str(e.value)


def test_defaults_are_the_librarys():
    import inspect

    defaults = sb._native.fit_defaults()
    params = inspect.signature(sb.fit).parameters
    for name in ("layers", "taps", "iterations", "rounds", "init", "flat", "weights", "lobe", "seed"):
        assert params[name].default == defaults[name], name
    assert sb.Bundle.shipped("disc").radii == defaults["radii"]


def test_bundles_load_save_and_pickle(tmp_path):
    assert {"disc", "hexagon", "heart"} <= set(sb.shipped_bundles())
    disc = sb.Bundle.shipped("disc")
    assert (disc.layers, disc.taps) == (3, 56) and disc.radii[0] == 1.0 and len(disc.psnr_db) == len(disc.radii)
    assert all(db > 10 for db in disc.psnr_db) and disc.target["shape"] == "disc"
    disc.save(tmp_path / "d.json")
    assert sb.Bundle.load(tmp_path / "d.json") == disc
    assert pickle.loads(pickle.dumps(disc)) == disc
    assert sb.Bundle(disc.to_json()) == disc and "disc" in repr(disc)
    with pytest.raises(OSError, match="nothing-here.json"):
        sb.Bundle.load(tmp_path / "nothing-here.json")
    with pytest.raises(ValueError, match="layers"):
        sb.Bundle(disc.to_json().replace('"layers": 3', '"layers": 4'))
    with pytest.raises(ValueError, match="name"):
        sb.Bundle.shipped("../disc.json")
