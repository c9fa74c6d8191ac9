//! Refitting a turned or stretched bundle. Mapping every tap offset by a linear map is exact for
//! the model, but a fit places its taps at pixel phases that suit the untransformed grid: a
//! hexagon turned 15° measures 15.3 dB at r = 4 (its fit: 45.9) and 20.1 dB at r = 16 (23.3),
//! because each tap's bilinear fractions change and soften the rim. A short warm-started descent
//! from the mapped taps towards the mapped target (rasterised by the same code as the fit's
//! targets) gives those decibels back (ARCHITECTURE.md "The render request").

use super::basis::{fit_target, FitSpec};
use super::optimize::{finish, Params};
use crate::bundle::{BasisEntry, Bundle};
use crate::kernel::shapes::Shape;
use crate::kernel::Complex;
use rayon::prelude::*;

/// How hard a turned bundle is refitted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TurnRefit {
    /// Adam iterations of each entry's descent (the fit's warm-start budget is half its
    /// `--iterations`, 1500 for the shipped bundles).
    pub iterations: usize,
    /// Perturbation rounds after the descent.
    pub rounds: usize,
    /// Entries whose mapped taps already measure within this many dB of the untransformed
    /// entry's PSNR are kept as mapped.
    pub tolerance_db: f64,
}

impl Default for TurnRefit {
    fn default() -> Self {
        TurnRefit { iterations: 1600, rounds: 8, tolerance_db: 0.25 }
    }
}

/// `bundle` with its offsets mapped by `m` (as [`Bundle::transformed`]) and each entry that the
/// map cost more than `opts.tolerance_db` refitted from its mapped taps to the target mapped by
/// `m`, its reduced levels likewise. A refitted entry is kept only when it measures better than
/// the mapped one and reaches no further (a host's regions of interest are computed from the
/// mapped taps). `None` when the target cannot be mapped (an aperture image, or a target that
/// does not parse): the caller keeps the mapped bundle. Deterministic (the fit's own seed).
pub fn refit_transformed(bundle: &Bundle, m: [[f64; 2]; 2], opts: &TurnRefit) -> Option<Bundle> {
    let shape = Shape::analytic_from_json(&bundle.target)?;
    let mapped = bundle.transformed(&m);
    let spec = spec_of(bundle, opts);
    let basis: Vec<BasisEntry> = bundle
        .basis
        .par_iter()
        .zip(&mapped.basis)
        .map(|(own, turned)| refit_entry(&shape, own, turned, m, &spec, opts))
        .collect();
    let levels = match (&bundle.levels, mapped.levels) {
        (Some(l), Some(mapped_levels)) => Some(Box::new(refit_transformed(l, m, opts).unwrap_or(*mapped_levels))),
        (_, other) => other,
    };
    Some(Bundle { basis, levels, ..mapped })
}

/// The fit settings of `bundle` (its recorded `fit` object, else the defaults) with the refit's
/// budget.
fn spec_of(bundle: &Bundle, opts: &TurnRefit) -> FitSpec {
    let fit = &bundle.fit;
    let d = FitSpec::default();
    FitSpec {
        layers: bundle.layers,
        taps: bundle.taps,
        // A warm start runs half the iterations, then the rounds at an eighth each.
        iterations: 2 * opts.iterations,
        rounds: opts.rounds,
        seed: fit.get("seed").and_then(|v| v.as_u64()).unwrap_or(d.seed),
        flat: fit.get("flat").and_then(|v| v.as_f64()).filter(|f| f.is_finite() && *f >= 0.0).unwrap_or(d.flat),
        signed: fit.get("weights").and_then(|v| v.as_str()) == Some("signed"),
        lobe: fit.get("lobe").and_then(|v| v.as_f64()).filter(|f| f.is_finite() && *f >= 0.0).unwrap_or(d.lobe),
        ..d
    }
}

/// One entry of [`refit_transformed`]: `turned` (the mapped taps of `own`), or its refit.
fn refit_entry(
    shape: &Shape,
    own: &BasisEntry,
    turned: &BasisEntry,
    m: [[f64; 2]; 2],
    spec: &FitSpec,
    opts: &TurnRefit,
) -> BasisEntry {
    let (Ok(target), Ok(straight)) = (shape.rasterize_mapped(own.radius, m), shape.rasterize(own.radius)) else {
        return turned.clone();
    };
    let start = Params::from_complex(&turned.complex);
    let before = finish(&start, &target).psnr_db;
    let goal = finish(&Params::from_complex(&own.complex), &straight).psnr_db;
    // A non-finite measure (a degenerate target) keeps the mapped taps too.
    if before.is_nan() || goal.is_nan() || before >= goal - opts.tolerance_db {
        return BasisEntry { psnr_db: Some(before), ..turned.clone() };
    }
    let fitted = fit_target(&target, spec, Some(&start)).fitted;
    // Taps that moved past the mapped reach are pulled back inside it (a host's regions of
    // interest are computed from the mapped taps, before any refit).
    let kept = finish(&Params::from_complex(&clamped(&fitted.complex, &turned.complex.layer_reaches())), &target);
    if kept.psnr_db > before && reaches_within(&kept.complex, &turned.complex) {
        BasisEntry { radius: own.radius, psnr_db: Some(kept.psnr_db), complex: kept.complex }
    } else {
        BasisEntry { psnr_db: Some(before), ..turned.clone() }
    }
}

/// `c` with every tap of layer l moved inside reach `reaches[l]` ([`crate::Tap::reach`]: the
/// cell of the tap's bilinear splat within ±reach).
fn clamped(c: &Complex, reaches: &[i32]) -> Complex {
    let layers = c
        .layers
        .iter()
        .zip(reaches)
        .map(|(l, &r)| {
            let (lo, hi) = (-(r as f32), r as f32 - 1e-3);
            l.iter().map(|t| crate::Tap { x: t.x.clamp(lo, hi), y: t.y.clamp(lo, hi), w: t.w }).collect()
        })
        .collect();
    Complex::new(layers)
}

/// Whether every layer of `a` reaches no further than the same layer of `b` (whole pixels, as
/// the engine pads its buffers).
fn reaches_within(a: &Complex, b: &Complex) -> bool {
    a.layer_reaches().iter().zip(b.layer_reaches()).all(|(x, y)| *x <= y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::psf::{complex_psf, psnr_db};

    #[test]
    fn a_turned_hexagon_gets_its_decibels_back_and_keeps_its_reach() {
        let hexagon = crate::locate("hexagon").unwrap();
        let (s, c) = 15f64.to_radians().sin_cos();
        let m = [[c, s], [-s, c]];
        let small = Bundle { basis: hexagon.basis[..5].to_vec(), levels: None, ..hexagon.clone() };
        let refit = refit_transformed(&small, m, &TurnRefit::default()).unwrap();
        let mapped = small.transformed(&m);
        let shape = Shape::from_json(&small.target, std::path::Path::new("")).unwrap();
        for ((r, t), own) in refit.basis.iter().zip(&mapped.basis).zip(&small.basis) {
            let target = shape.rasterize_mapped(r.radius, m).unwrap();
            let (after, before) =
                (psnr_db(&complex_psf(&r.complex), &target), psnr_db(&complex_psf(&t.complex), &target));
            assert!(after >= before, "r={}: {after} < {before}", r.radius);
            assert!((after - r.psnr_db.unwrap()).abs() < 1e-6);
            assert!(reaches_within(&r.complex, &t.complex));
            // r = 4: the mapped taps lose 30 dB; the refit is within 0.5 dB of the entry's own.
            if r.radius == 4.0 {
                assert!(before < own.psnr_db.unwrap() - 20.0, "{before}");
                assert!(after > own.psnr_db.unwrap() - 0.5, "{after} vs {:?}", own.psnr_db);
            }
        }
        assert_eq!(refit.transform, Some(m));
        // Deterministic.
        assert_eq!(refit, refit_transformed(&small, m, &TurnRefit::default()).unwrap());
    }
}
