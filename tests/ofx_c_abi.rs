//! Builds tests/c/ofx_abi.c against include/ofx/ as C99 and as C++ with the `cc` crate's compiler
//! and runs it on the built plugin library: the C view of the headers has the published layouts,
//! and the binary's exports work from C.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::path::{Path, PathBuf};
use std::process::Command;

fn plugin_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().join("libsparsebokeh.so");
    assert!(p.is_file(), "the plugin library {} was not built", p.display());
    p
}

fn compile(cpp: bool, out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .target("x86_64-unknown-linux-gnu")
        .host("x86_64-unknown-linux-gnu")
        .opt_level(0)
        .cpp(cpp)
        .get_compiler();
    let mut cmd = compiler.to_command();
    if cpp {
        cmd.args(["-x", "c++", "-std=c++11"]);
    } else {
        cmd.arg("-std=c99");
    }
    cmd.args(["-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(root.join("include/ofx"))
        .arg(root.join("tests/c/ofx_abi.c"))
        .arg("-o")
        .arg(out)
        .arg("-ldl");
    let status = cmd.status().expect("run the C compiler");
    assert!(status.success(), "compiling tests/c/ofx_abi.c ({}) failed", if cpp { "C++" } else { "C" });
}

#[test]
fn headers_compile_as_c_and_cpp_and_the_plugin_loads_from_c() {
    let dir = tempfile::tempdir().unwrap();
    for cpp in [false, true] {
        let exe = dir.path().join(if cpp { "ofx_abi_cpp" } else { "ofx_abi_c" });
        compile(cpp, &exe);
        let out = Command::new(&exe).arg(plugin_library()).output().unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
