//! The rank-r separable approximation of a dense kernel: its truncated SVD `K ≈ Σ σᵢ uᵢ vᵢᵀ`,
//! each term a vertical (column) filter `√σᵢ·uᵢ` followed by a horizontal (row) filter `√σᵢ·vᵢ`.
//! A rank-r filter of a `(2h+1)²` kernel costs `r·2·(2h+1)` taps per pixel.
//!
//! The SVD is a one-sided Jacobi (Hestenes) iteration in f64: plane rotations orthogonalise the
//! columns of the matrix until every pair is orthogonal to machine precision; the column norms are
//! then the singular values. Accurate to working precision for the small matrices used here.

use crate::kernel::psf::{psnr_db, Grid};

/// A thin SVD `A = U·diag(s)·Vᵀ` of an `m × n` matrix, singular values in decreasing order.
#[derive(Clone, Debug)]
pub struct Svd {
    pub m: usize,
    pub n: usize,
    /// Singular values, decreasing, `n` of them (zeros included).
    pub s: Vec<f64>,
    /// Left singular vectors: `u[j]` has length `m` (zero where `s[j] == 0`).
    pub u: Vec<Vec<f64>>,
    /// Right singular vectors: `v[j]` has length `n`.
    pub v: Vec<Vec<f64>>,
}

impl Svd {
    /// The SVD of the row-major `m × n` matrix `a`.
    pub fn new(a: &[f64], m: usize, n: usize) -> Svd {
        assert_eq!(a.len(), m * n, "matrix of {m}×{n} needs {} values", m * n);
        // Columns of A and of V, each contiguous.
        let mut cols: Vec<Vec<f64>> = (0..n).map(|j| (0..m).map(|i| a[i * n + j]).collect()).collect();
        let mut v: Vec<Vec<f64>> = (0..n).map(|j| (0..n).map(|i| if i == j { 1.0 } else { 0.0 }).collect()).collect();
        let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>();
        let rotate = |x: &mut [f64], y: &mut [f64], c: f64, s: f64| {
            for (p, q) in x.iter_mut().zip(y.iter_mut()) {
                let (a, b) = (*p, *q);
                *p = c * a - s * b;
                *q = s * a + c * b;
            }
        };
        let eps = 1e-15;
        for _sweep in 0..80 {
            let mut rotated = false;
            for p in 0..n {
                for q in p + 1..n {
                    let alpha = dot(&cols[p], &cols[p]);
                    let beta = dot(&cols[q], &cols[q]);
                    let gamma = dot(&cols[p], &cols[q]);
                    if gamma == 0.0 || gamma.abs() <= eps * (alpha * beta).sqrt() {
                        continue;
                    }
                    rotated = true;
                    let zeta = (beta - alpha) / (2.0 * gamma);
                    let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                    let c = 1.0 / (1.0 + t * t).sqrt();
                    let s = c * t;
                    let (lo, hi) = cols.split_at_mut(q);
                    rotate(&mut lo[p], &mut hi[0], c, s);
                    let (lo, hi) = v.split_at_mut(q);
                    rotate(&mut lo[p], &mut hi[0], c, s);
                }
            }
            if !rotated {
                break;
            }
        }
        let mut order: Vec<(f64, usize)> = cols.iter().enumerate().map(|(j, c)| (dot(c, c).sqrt(), j)).collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let s: Vec<f64> = order.iter().map(|o| o.0).collect();
        let u = order
            .iter()
            .map(|&(sj, j)| if sj > 0.0 { cols[j].iter().map(|x| x / sj).collect() } else { vec![0.0; m] })
            .collect();
        let v = order.iter().map(|&(_, j)| v[j].clone()).collect();
        Svd { m, n, s, u, v }
    }

    /// `Σ_{j < rank} s_j u_j v_jᵀ`, row-major `m × n`.
    pub fn reconstruct(&self, rank: usize) -> Vec<f64> {
        let mut a = vec![0.0; self.m * self.n];
        for j in 0..rank.min(self.s.len()) {
            for i in 0..self.m {
                let f = self.s[j] * self.u[j][i];
                for (k, vk) in self.v[j].iter().enumerate() {
                    a[i * self.n + k] += f * vk;
                }
            }
        }
        a
    }
}

/// Taps per pixel of a rank-`rank` separable filter of `target`: `rank · 2 · (2⌈r⌉+1)`.
pub fn lowrank_taps(target: &Grid, rank: usize) -> usize {
    rank * 2 * target.side()
}

/// The smallest rank whose separable filter has at least `min_taps` taps per pixel (at least 1,
/// at most full rank): the "nearest rank with ≥ L·N taps" of the comparisons.
pub fn lowrank_rank_for_taps(target: &Grid, min_taps: usize) -> usize {
    let per = 2 * target.side();
    min_taps.div_ceil(per).clamp(1, target.side())
}

fn target_svd(target: &Grid) -> Svd {
    let side = target.side();
    Svd::new(&target.data, side, side)
}

/// The rank-`rank` reconstruction of `target` as a grid of the same size.
pub fn lowrank_kernel(target: &Grid, rank: usize) -> Grid {
    Grid { half: target.half, data: target_svd(target).reconstruct(rank) }
}

/// The rank-`rank` separable factors of `target`: one `(column, row)` pair of `2⌈r⌉+1`-tap
/// filters per term, index `k` meaning offset `k − half`, such that
/// `target(dx, dy) ≈ Σ column[dy + half] · row[dx + half]`. Each term is split `√σ` / `√σ`, with
/// the sign chosen so that the column filter sums to ≥ 0.
pub fn separable_factors(target: &Grid, rank: usize) -> Vec<(Vec<f32>, Vec<f32>)> {
    let svd = target_svd(target);
    (0..rank.min(svd.s.len()))
        .map(|j| {
            let g = svd.s[j].sqrt();
            let sign = if svd.u[j].iter().sum::<f64>() < 0.0 { -1.0 } else { 1.0 };
            let col = svd.u[j].iter().map(|x| (sign * g * x) as f32).collect();
            let row = svd.v[j].iter().map(|x| (sign * g * x) as f32).collect();
            (col, row)
        })
        .collect()
}

/// Kernel PSNR (ARCHITECTURE.md "Bundle format", [`psnr_db`]) of the rank-`rank` approximation of `target`.
pub fn lowrank_psnr(target: &Grid, rank: usize) -> f64 {
    psnr_db(&lowrank_kernel(target, rank), target)
}

/// The low-rank baseline at a tap budget: `(rank, taps per pixel, psnr_db)` for the smallest rank
/// with `rank · 2 · (2⌈r⌉+1) ≥ min_taps`.
pub fn lowrank(target: &Grid, min_taps: usize) -> (usize, usize, f64) {
    let rank = lowrank_rank_for_taps(target, min_taps);
    (rank, lowrank_taps(target, rank), lowrank_psnr(target, rank))
}

#[cfg(test)]
mod tests {
    use super::super::rng::SplitMix64;
    use super::*;

    fn random_matrix(m: usize, n: usize, seed: u64) -> Vec<f64> {
        let mut r = SplitMix64::new(seed);
        (0..m * n).map(|_| r.uniform(-1.0, 1.0)).collect()
    }

    #[test]
    fn svd_reconstructs_random_matrices_at_full_rank() {
        for &(m, n, seed) in &[(20, 20, 1), (33, 33, 2), (12, 7, 3), (7, 12, 4)] {
            let a = random_matrix(m, n, seed);
            let svd = Svd::new(&a, m, n);
            let b = svd.reconstruct(n);
            let err = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            assert!(err < 1e-9, "{m}×{n}: max error {err}");
            assert!(svd.s.windows(2).all(|w| w[0] >= w[1]));
            // Orthonormal right singular vectors.
            for p in 0..n {
                for q in 0..n {
                    let d: f64 = svd.v[p].iter().zip(&svd.v[q]).map(|(x, y)| x * y).sum();
                    assert!((d - if p == q { 1.0 } else { 0.0 }).abs() < 1e-10);
                }
            }
        }
    }

    #[test]
    fn singular_values_of_a_known_matrix() {
        // diag(3, 2) rotated on both sides has singular values 3 and 2; Frobenius norm checks the rest.
        let (c1, s1, c2, s2) = (0.6f64, 0.8f64, (0.3f64).cos(), (0.3f64).sin());
        let rot1 = [c1, -s1, s1, c1];
        let rot2 = [c2, -s2, s2, c2];
        let d = [3.0, 0.0, 0.0, 2.0];
        let mul = |a: &[f64; 4], b: &[f64; 4]| {
            [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]]
        };
        let a = mul(&mul(&rot1, &d), &rot2);
        let svd = Svd::new(&a, 2, 2);
        assert!((svd.s[0] - 3.0).abs() < 1e-12 && (svd.s[1] - 2.0).abs() < 1e-12, "{:?}", svd.s);
    }

    #[test]
    fn rank_one_of_an_outer_product_is_exact() {
        let half = 6;
        let col: Vec<f64> = (-half..=half).map(|y: i32| (-(y * y) as f64 / 10.0).exp()).collect();
        let row: Vec<f64> =
            (-half..=half).map(|x: i32| 1.0 + 0.1 * x as f64 + if x == 2 { 0.5 } else { 0.0 }).collect();
        let mut g = Grid::zeros(half);
        for (i, c) in col.iter().enumerate() {
            for (j, r) in row.iter().enumerate() {
                g.data[i * col.len() + j] = c * r;
            }
        }
        let s = g.sum();
        g.data.iter_mut().for_each(|v| *v /= s);
        let k = lowrank_kernel(&g, 1);
        let err = g.data.iter().zip(&k.data).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-15, "{err}");
        assert!(lowrank_psnr(&g, 1) > 250.0);
        let f = separable_factors(&g, 1);
        assert_eq!(f.len(), 1);
        for dy in -half..=half {
            for dx in -half..=half {
                let v = f[0].0[(dy + half) as usize] as f64 * f[0].1[(dx + half) as usize] as f64;
                assert!((v - g.get(dx, dy)).abs() < 1e-7 * g.max());
            }
        }
    }

    fn disc(half: i32, r: f64) -> Grid {
        crate::kernel::psf::hard_disc(half, r)
    }

    #[test]
    fn psnr_increases_with_rank_and_budget_picks_the_nearest_rank() {
        let g = disc(16, 16.0);
        let p: Vec<f64> = (1..=8).map(|k| lowrank_psnr(&g, k)).collect();
        assert!(p.windows(2).all(|w| w[1] > w[0]), "{p:?}");
        assert!(lowrank_psnr(&g, 33) > 200.0);
        // 33 taps per column/row pass, 66 per rank: 96 taps need rank 2.
        assert_eq!(lowrank(&g, 96).0, 2);
        assert_eq!(lowrank(&g, 96).1, 132);
        assert_eq!(lowrank(&g, 66).0, 1);
        assert_eq!(lowrank(&g, 67).0, 2);
        assert_eq!(lowrank(&g, 1_000_000).0, 33);
        assert!((lowrank(&g, 96).2 - p[1]).abs() < 1e-12);
        // The sum of squared discarded singular values is the squared error.
        let svd = Svd::new(&g.data, 33, 33);
        let se: f64 = svd.s[2..].iter().map(|s| s * s).sum();
        let mse = se / (33.0 * 33.0);
        let want = 10.0 * (g.max() * g.max() / mse).log10();
        assert!((want - p[1]).abs() < 1e-6, "{want} vs {}", p[1]);
    }
}
