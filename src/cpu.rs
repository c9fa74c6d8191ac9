//! The CPU check of ARCHITECTURE.md "Conventions": this build may use AVX2 and FMA; refuse an older CPU with a
//! message instead of dying on an illegal instruction.

/// The SIMD level this build was compiled for, as `bench` prints it.
pub fn simd_level() -> &'static str {
    if cfg!(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")) {
        "x86-64-v3 (AVX2 + FMA, f32x8 = one 256-bit register)"
    } else if cfg!(target_arch = "x86_64") {
        "x86-64 baseline (SSE2, f32x8 = two 128-bit halves)"
    } else if cfg!(target_arch = "aarch64") {
        "aarch64 (NEON, f32x8 = two 128-bit halves)"
    } else {
        "portable scalar"
    }
}

/// Ok when the running CPU has every feature this build was compiled to use.
pub fn check() -> Result<(), String> {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    {
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            return Err("this build of sparsebokeh needs an x86-64-v3 CPU (AVX2 and FMA); \
                        rebuild without `-C target-cpu=x86-64-v3` (see .cargo/config.toml) for older CPUs"
                .into());
        }
    }
    Ok(())
}
