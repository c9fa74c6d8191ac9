//! The Python module's test suite (python/tests), run by `cargo test --release` so that CI runs
//! it: builds and installs the module the way the README says (`pip install './python[dask,test]'`)
//! into a virtual environment under the target folder, then runs pytest with this build's CLI to
//! compare against. Needs CPython ≥ 3.9 with `venv` (`$SPARSEBOKEH_PYTHON`, else `python3`) and
//! PyPI (numpy, dask[distributed], pytest, maturin); fails with a message saying so otherwise.
//! The module is built in its own target folder (`target/python-build`), so it never replaces
//! the `libsparsebokeh.so` the C and OpenFX tests load.

use std::path::{Path, PathBuf};
use std::process::Command;

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target folder").to_path_buf()
}

fn run(what: &str, cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    assert!(status.success(), "{what} failed ({status}): {cmd:?}");
}

#[test]
fn python_module_test_suite() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("SPARSEBOKEH_PYTHON").unwrap_or_else(|_| "python3".into());
    let version = Command::new(&python).args(["-c", "import sys, venv; print(sys.version_info >= (3, 9))"]).output();
    match version {
        Ok(o) if o.status.success() && o.stdout.starts_with(b"True") => {}
        _ => panic!(
            "tests/python.rs needs CPython 3.9 or newer with the venv module, as `{python}` \
             (set SPARSEBOKEH_PYTHON to another interpreter): the Python module's tests cannot run"
        ),
    }
    let target = target_dir();
    let venv = target.join("python-venv");
    if !venv.join("bin/python").exists() {
        run("creating the virtual environment", Command::new(&python).args(["-m", "venv"]).arg(&venv));
    }
    // The README's install command: builds the module from this checkout (pip reinstalls a
    // local folder every time) and installs what is missing of numpy, dask and pytest.
    run(
        "pip install './python[dask,test]' (a maturin build of the module)",
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("{}[dask,test]", repo.join("python").display()))
            .env("CARGO_TARGET_DIR", target.join("python-build")),
    );
    run(
        "pytest python/tests",
        Command::new(venv.join("bin/python"))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "python/tests"])
            .current_dir(repo)
            .env("SPARSEBOKEH_CLI", env!("CARGO_BIN_EXE_sparsebokeh"))
            .env("PYTHONSAFEPATH", "1"),
    );
}
