"""Files through the library's readers and writers; the documented surface (stubs, help)."""

import ast
import inspect
import pydoc
from pathlib import Path

import numpy as np
import pytest

import sparsebokeh as sb
from conftest import same_bits

STUB = Path(sb.__file__).with_name("__init__.pyi")


def test_images_round_trip_with_depth(tmp_path, frame):
    image, depth = frame
    sb.write_image(tmp_path / "a.exr", image, depth)
    got, z = sb.read_image(tmp_path / "a.exr")
    assert same_bits(got, image) and same_bits(z, depth)
    sb.write_image(tmp_path / "b.exr", image[..., :3])
    got, z = sb.read_image(str(tmp_path / "b.exr"))
    assert got.shape == (64, 96, 3) and z is None
    sb.write_image(tmp_path / "c.png", np.clip(image, 0, 1))
    png, _ = sb.read_image(tmp_path / "c.png")
    assert png.shape == image.shape and np.abs(png - np.clip(image, 0, 1)).max() < 0.01


def test_file_errors_are_os_errors_naming_the_file(tmp_path, frame):
    image, depth = frame
    with pytest.raises(OSError, match="missing.exr"):
        sb.read_image(tmp_path / "missing.exr")
    (tmp_path / "junk.exr").write_bytes(b"not an exr")
    with pytest.raises(OSError, match="junk.exr"):
        sb.read_image(tmp_path / "junk.exr")
    with pytest.raises(OSError, match="no-dir"):
        sb.write_image(tmp_path / "no-dir" / "a.exr", image)
    with pytest.raises(OSError, match="tif"):
        sb.write_image(tmp_path / "a.tif", image)
    with pytest.raises(ValueError, match="depth"):
        sb.write_image(tmp_path / "a.png", image, depth)
    with pytest.raises(ValueError, match="role"):
        sb.read_image(tmp_path / "a.exr", role="colour")
    assert not list(tmp_path.glob("*.tmp.*"))


def stub_function(name):
    tree = ast.parse(STUB.read_text())
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def test_the_stub_lists_every_render_keyword_with_the_librarys_default():
    f = stub_function("render")
    names = [a.arg for a in f.args.kwonlyargs]
    defaults = [ast.literal_eval(d) for d in f.args.kw_defaults]
    stub = dict(zip(names, defaults))
    options = sb.render_options()
    assert names[:2] == ["bundle", "out"]
    assert names[2:] == [name for name, *_ in options]
    for name, _type, default, _help in options:
        assert stub[name] == default, name
        assert inspect.signature(sb.render).parameters[name].default == default


def test_the_stub_matches_fit():
    f = stub_function("fit")
    stub = {a.arg: ast.literal_eval(d) for a, d in zip(f.args.kwonlyargs, f.args.kw_defaults)}
    params = inspect.signature(sb.fit).parameters
    assert list(stub) == [p for p in params if params[p].kind == inspect.Parameter.KEYWORD_ONLY]
    for name, default in stub.items():
        assert params[name].default == default, name


def test_help_explains_every_keyword():
    text = pydoc.render_doc(sb.render)
    for name, _type, _default, help_text in sb.render_options():
        assert f"{name}:" in text and help_text.split()[0] in text, name
    for f in (sb.fit, sb.read_image, sb.write_image, sb.Bundle, sb.Bundle.load, sb.shipped_bundles):
        assert len(inspect.getdoc(f) or "") > 40, f
