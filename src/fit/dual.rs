//! Forward-mode dual numbers: a value with its gradient with respect to `N` seed variables.
//!
//! Small `Copy` values with operator impls and the few functions the fitter needs (the bilinear
//! splat weights, whose non-linearity is where the fitter uses them). No allocation per operation.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// `v + Σ g[i]·εᵢ`: a value and its partial derivatives with respect to `N` variables.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual<const N: usize> {
    pub v: f64,
    pub g: [f64; N],
}

impl<const N: usize> Dual<N> {
    /// A constant: zero gradient.
    pub fn constant(v: f64) -> Self {
        Dual { v, g: [0.0; N] }
    }

    /// The `i`-th seed variable with value `v`: gradient `eᵢ`.
    pub fn variable(v: f64, i: usize) -> Self {
        let mut g = [0.0; N];
        g[i] = 1.0;
        Dual { v, g }
    }

    fn map(self, v: f64, d: f64) -> Self {
        let mut g = self.g;
        for gi in &mut g {
            *gi *= d;
        }
        Dual { v, g }
    }

    /// The largest integer ≤ the value; its derivative is zero almost everywhere.
    pub fn floor(self) -> Self {
        Dual::constant(self.v.floor())
    }

    /// The fractional part `x − ⌊x⌋`, whose derivative is that of `x` almost everywhere.
    pub fn fract_floor(self) -> Self {
        Dual { v: self.v - self.v.floor(), g: self.g }
    }

    pub fn sqrt(self) -> Self {
        let s = self.v.sqrt();
        self.map(s, 0.5 / s)
    }

    pub fn exp(self) -> Self {
        let e = self.v.exp();
        self.map(e, e)
    }

    pub fn ln(self) -> Self {
        self.map(self.v.ln(), 1.0 / self.v)
    }

    pub fn sin(self) -> Self {
        self.map(self.v.sin(), self.v.cos())
    }

    pub fn cos(self) -> Self {
        self.map(self.v.cos(), -self.v.sin())
    }

    pub fn powi(self, n: i32) -> Self {
        self.map(self.v.powi(n), n as f64 * self.v.powi(n - 1))
    }

    /// `self · k` for a plain number.
    pub fn scale(self, k: f64) -> Self {
        self.map(self.v * k, k)
    }
}

impl<const N: usize> Add for Dual<N> {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        let mut g = self.g;
        for (a, b) in g.iter_mut().zip(o.g) {
            *a += b;
        }
        Dual { v: self.v + o.v, g }
    }
}

impl<const N: usize> Sub for Dual<N> {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        let mut g = self.g;
        for (a, b) in g.iter_mut().zip(o.g) {
            *a -= b;
        }
        Dual { v: self.v - o.v, g }
    }
}

impl<const N: usize> Mul for Dual<N> {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        let mut g = self.g;
        for (a, b) in g.iter_mut().zip(o.g) {
            *a = *a * o.v + self.v * b;
        }
        Dual { v: self.v * o.v, g }
    }
}

impl<const N: usize> Div for Dual<N> {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        let inv = 1.0 / o.v;
        let mut g = self.g;
        for (a, b) in g.iter_mut().zip(o.g) {
            *a = (*a * o.v - self.v * b) * inv * inv;
        }
        Dual { v: self.v * inv, g }
    }
}

impl<const N: usize> Neg for Dual<N> {
    type Output = Self;
    fn neg(self) -> Self {
        self.map(-self.v, -1.0)
    }
}

impl<const N: usize> Add<f64> for Dual<N> {
    type Output = Self;
    fn add(self, k: f64) -> Self {
        Dual { v: self.v + k, g: self.g }
    }
}

impl<const N: usize> Sub<f64> for Dual<N> {
    type Output = Self;
    fn sub(self, k: f64) -> Self {
        Dual { v: self.v - k, g: self.g }
    }
}

impl<const N: usize> Mul<f64> for Dual<N> {
    type Output = Self;
    fn mul(self, k: f64) -> Self {
        self.scale(k)
    }
}

impl<const N: usize> Sub<Dual<N>> for f64 {
    type Output = Dual<N>;
    fn sub(self, d: Dual<N>) -> Dual<N> {
        (-d) + self
    }
}

/// The bilinear splat of a tap at `(x, y)` with weight `w`: the integer cell `(ix, iy)` and the
/// four weights at `(ix, iy)`, `(ix+1, iy)`, `(ix, iy+1)`, `(ix+1, iy+1)`, as duals carrying their
/// derivatives. The floor is piecewise constant, so the fractions carry the derivatives of x, y.
pub fn bilinear<const N: usize>(x: Dual<N>, y: Dual<N>, w: Dual<N>) -> (i32, i32, [Dual<N>; 4]) {
    let (fx, fy) = (x.fract_floor(), y.fract_floor());
    let (gx, gy) = (1.0 - fx, 1.0 - fy);
    let (wy0, wy1) = (w * gy, w * fy);
    (x.v.floor() as i32, y.v.floor() as i32, [wy0 * gx, wy0 * fx, wy1 * gx, wy1 * fx])
}

/// The splat of one tap with the seeds `x → 0`, `y → 1`, `w → 2`.
pub fn tap_splat(x: f64, y: f64, w: f64) -> (i32, i32, [Dual<3>; 4]) {
    bilinear(Dual::variable(x, 0), Dual::variable(y, 1), Dual::variable(w, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn arithmetic_matches_analytic_derivatives() {
        let x = Dual::<2>::variable(1.3, 0);
        let y = Dual::<2>::variable(-0.7, 1);
        // f = x·y + x/y − 3x + 2
        let f = x * y + x / y - x * 3.0 + 2.0;
        assert!(close(f.v, 1.3 * -0.7 + 1.3 / -0.7 - 3.9 + 2.0));
        assert!(close(f.g[0], -0.7 + 1.0 / -0.7 - 3.0));
        assert!(close(f.g[1], 1.3 - 1.3 / (0.7 * 0.7)));
        // g = exp(x)·sin(y) − ln(x)·cos(y) + sqrt(x)·y² − (1 − x)
        let g = x.exp() * y.sin() - x.ln() * y.cos() + x.sqrt() * y.powi(2) - (1.0 - x);
        let (xv, yv) = (1.3f64, -0.7f64);
        let dx = xv.exp() * yv.sin() - yv.cos() / xv + 0.5 / xv.sqrt() * yv * yv + 1.0;
        let dy = xv.exp() * yv.cos() + xv.ln() * yv.sin() + xv.sqrt() * 2.0 * yv;
        assert!(close(g.g[0], dx), "{} vs {dx}", g.g[0]);
        assert!(close(g.g[1], dy), "{} vs {dy}", g.g[1]);
        assert!(close((-x).g[0], -1.0));
        assert_eq!(x.floor().g, [0.0, 0.0]);
    }

    #[test]
    fn bilinear_weights_and_derivatives_are_exact() {
        for &(x, y, w) in &[(1.25, -0.5, 2.0), (-3.75, 2.125, 0.3), (0.0, 0.0, 1.0), (-0.1, -7.9, -0.5)] {
            let (ix, iy, s) = tap_splat(x, y, w);
            let (fx, fy) = (x - x.floor(), y - y.floor());
            assert_eq!((ix, iy), (x.floor() as i32, y.floor() as i32));
            let expect = [
                (w * (1.0 - fx) * (1.0 - fy), [-w * (1.0 - fy), -w * (1.0 - fx), (1.0 - fx) * (1.0 - fy)]),
                (w * fx * (1.0 - fy), [w * (1.0 - fy), -w * fx, fx * (1.0 - fy)]),
                (w * (1.0 - fx) * fy, [-w * fy, w * (1.0 - fx), (1.0 - fx) * fy]),
                (w * fx * fy, [w * fy, w * fx, fx * fy]),
            ];
            for (d, (v, g)) in s.iter().zip(expect) {
                assert!(close(d.v, v));
                for (k, (a, b)) in d.g.iter().zip(g).enumerate() {
                    assert!(close(*a, b), "tap ({x},{y},{w}) d{k}: {a} vs {b}");
                }
            }
            let total: f64 = s.iter().map(|d| d.v).sum();
            assert!(close(total, w));
        }
    }
}
