//! `sparsebokeh bundle-ofx`: lay out SparseBokeh.ofx.bundle for an OpenFX host (Natron...).

use super::common::{usage, Fail};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct BundleOfxArgs {
    /// Folder to create SparseBokeh.ofx.bundle in (e.g. /usr/OFX/Plugins or a folder on OFX_PLUGIN_PATH).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// The built plugin library; default: libsparsebokeh.so next to this binary.
    #[arg(long)]
    pub library: Option<PathBuf>,
    /// Folder of bundles to ship; default: the source tree's bundle/kernels.
    #[arg(long)]
    pub kernels: Option<PathBuf>,
}

pub fn run(a: &BundleOfxArgs) -> Result<(), Fail> {
    let library = match &a.library {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("libsparsebokeh.so")))
            .ok_or_else(|| usage("--library: cannot locate libsparsebokeh.so next to this binary"))?,
    };
    let kernels = a.kernels.clone().unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bundle/kernels"));
    let path =
        sparsebokeh::ofx::make_ofx_bundle(&a.out, &library, &kernels).map_err(|e| usage(format!("bundle-ofx: {e}")))?;
    println!("wrote {}", path.display());
    println!("add its folder to OFX_PLUGIN_PATH (or copy it to /usr/OFX/Plugins) and restart the host");
    Ok(())
}
