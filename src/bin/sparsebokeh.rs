//! The sparsebokeh command-line tool (placeholder until the CLI lands).
fn main() {
    if let Err(e) = sparsebokeh::cpu::check() {
        eprintln!("sparsebokeh: {e}");
        std::process::exit(2);
    }
}
