//! The sparsebokeh command-line tool: render, inspect, demo (and fit, bench, bundle-ofx).

use clap::{Parser, Subcommand};

// Standard output and error through `common::out`/`common::err`, which never panic: a closed
// pipe (`inspect disc | head -1`) ends the process quietly with 141 (as SIGPIPE would), another
// failure of stdout (`> /dev/full`) with a message and exit 1, and a failing stderr is ignored.
// These shadow the prelude's macros in every module below.
macro_rules! println {
    () => { $crate::common::out(format_args!("")) };
    ($($t:tt)*) => { $crate::common::out(format_args!($($t)*)) };
}
macro_rules! eprintln {
    ($($t:tt)*) => { $crate::common::err(format_args!($($t)*)) };
}

#[path = "cli/bench.rs"]
mod bench;
#[path = "cli/bundle_ofx.rs"]
mod bundle_ofx;
#[path = "cli/common.rs"]
mod common;
#[path = "cli/demo.rs"]
mod demo;
#[path = "cli/fit.rs"]
mod fit;
#[path = "cli/inspect.rs"]
mod inspect;
#[path = "cli/render.rs"]
mod render;

#[derive(Parser)]
#[command(name = "sparsebokeh", version, about = "Spatially-varying lens blur with sparse kernel complexes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Blur an image (or a frame-numbered sequence) with a bundle, driven by depth or at a fixed radius.
    Render(render::RenderArgs),
    /// Fit a bundle to an aperture shape or image (or a folder of images); --compare with the baselines.
    Fit(Box<fit::FitArgs>),
    /// Time the sparse engine beside FFT, dense and low-rank convolution (--json for one object).
    Bench(bench::BenchArgs),
    /// Print a bundle's entries and PSNR; write the PSF at a radius as an image.
    Inspect(inspect::InspectArgs),
    /// Render a synthetic scene and write before.png, after.png, depth.png and coc.png.
    Demo(demo::DemoArgs),
    /// Lay out SparseBokeh.ofx.bundle (the OpenFX plugin with the shipped bundles).
    BundleOfx(bundle_ofx::BundleOfxArgs),
}

fn main() {
    if let Err(e) = sparsebokeh::cpu::check() {
        eprintln!("sparsebokeh: {e}");
        std::process::exit(2);
    }
    sparsebokeh::io::remove_temp_files_on_signal();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Render(a) => render::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Demo(a) => demo::run(a),
        // `fit` prints its own messages and returns its exit code.
        Command::Fit(a) => std::process::exit(fit::run(a)),
        Command::Bench(a) => bench::run(a),
        Command::BundleOfx(a) => bundle_ofx::run(a),
    };
    if let Err(e) = result {
        eprintln!("sparsebokeh: {}", e.message);
        std::process::exit(e.code);
    }
}
