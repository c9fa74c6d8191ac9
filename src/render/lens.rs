//! Depth to circle of confusion (ARCHITECTURE.md, "Depth to radius").

use crate::image::ImageView;

/// How the depth channel maps to a blur radius.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LensMode {
    /// Thin lens on depth z: r = size · |z − focus| / z.
    Depth,
    /// The channel holds 1/z (far = 0); focus and dof are in the channel's units.
    InverseDepth,
    /// The channel already holds the radius in pixels (sign ignored).
    Coc,
}

/// Why a lens description was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LensError {
    #[error("lens `{field}` = {value} is invalid: {reason}")]
    Param { field: &'static str, value: f64, reason: &'static str },
}

/// Largest CoC radius in pixels that the engine accepts (`maximum` × render scale).
pub const MAX_RADIUS: f64 = 1024.0;

/// Why a `maximum` was refused (a literal, as [`LensError`] holds static text; a unit test
/// checks it names [`MAX_RADIUS`]).
const MAXIMUM_REASON: &str = "must be finite, ≥ 0 and ≤ 1024 px";

/// A lens: how to turn a depth value into a CoC radius in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lens {
    pub mode: LensMode,
    /// Depth in focus (depth mode: z; inverse-depth mode: the channel's value).
    pub focus: f64,
    /// Width of the in-focus band around `focus`, in the same units.
    pub dof: f64,
    /// Blur radius at infinite depth, in pixels at full resolution.
    pub size: f64,
    /// Largest radius, in pixels at full resolution.
    pub maximum: f64,
    /// Render scale (proxy renders): radii are multiplied by it.
    pub render_scale: f64,
}

impl Default for Lens {
    fn default() -> Self {
        Lens { mode: LensMode::Depth, focus: 1.0, dof: 0.0, size: 10.0, maximum: 32.0, render_scale: 1.0 }
    }
}

impl Lens {
    /// Checks every parameter is usable: finite, non-negative, radii ≤ [`MAX_RADIUS`].
    pub fn validate(&self) -> Result<(), LensError> {
        let check = |field: &'static str, value: f64, ok: bool, reason: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(LensError::Param { field, value, reason })
            }
        };
        check("focus", self.focus, self.focus.is_finite(), "must be finite")?;
        if self.mode == LensMode::Depth {
            check("focus", self.focus, self.focus > 0.0, "must be a positive depth")?;
        }
        if self.mode == LensMode::InverseDepth {
            check("focus", self.focus, self.focus > 0.0, "must be a positive 1/z value")?;
        }
        check("dof", self.dof, self.dof.is_finite() && self.dof >= 0.0, "must be finite and ≥ 0")?;
        check("size", self.size, self.size.is_finite() && self.size >= 0.0, "must be finite and ≥ 0")?;
        check(
            "maximum",
            self.maximum,
            self.maximum.is_finite() && self.maximum >= 0.0 && self.maximum <= MAX_RADIUS,
            MAXIMUM_REASON,
        )?;
        self.validate_render_scale()
    }

    /// Checks the render scale alone (all a render without depth uses): finite and > 0. Above 1
    /// is a render larger than full resolution (a host zoomed in or scaling up); radii still stop
    /// at `MAX_RADIUS`.
    pub fn validate_render_scale(&self) -> Result<(), LensError> {
        let s = self.render_scale;
        if s.is_finite() && s > 0.0 {
            Ok(())
        } else {
            Err(LensError::Param { field: "render_scale", value: s, reason: "must be finite and > 0" })
        }
    }

    /// The CoC radius in pixels (render scale applied) for one depth value, and whether the
    /// value was non-finite or negative (treated as infinitely far, or as 0 in coc mode).
    pub fn coc_radius(&self, value: f32) -> (f32, bool) {
        let (r, bad) = self.signed_coc(value);
        (r.abs(), bad)
    }

    /// The signed CoC: the radius, negative in front of the focal plane (near field) and
    /// positive behind it (far field); in coc mode the channel's own sign.
    pub fn signed_coc(&self, value: f32) -> (f32, bool) {
        let v = value as f64;
        let bad = match self.mode {
            LensMode::Coc => !v.is_finite(),
            _ => !v.is_finite() || v < 0.0,
        };
        let r = match self.mode {
            LensMode::Coc if bad => 0.0,
            LensMode::Coc => v,
            // z ≤ 0 (a renderer's empty sky) or unusable: infinitely far, r → size.
            LensMode::Depth if bad || v == 0.0 => self.size,
            LensMode::Depth if (v - self.focus).abs() <= self.dof / 2.0 => 0.0,
            LensMode::Depth => self.size * (v - self.focus) / v,
            LensMode::InverseDepth => {
                let v = if bad { 0.0 } else { v };
                if (v - self.focus).abs() <= self.dof / 2.0 {
                    0.0
                } else {
                    // z = 1/v, z_f = 1/focus: size·(z − z_f)/z = size·(1 − v/focus)
                    self.size * (1.0 - v / self.focus)
                }
            }
        };
        let r = r.clamp(-self.maximum, self.maximum) * self.render_scale;
        ((r as f32).clamp(-(MAX_RADIUS as f32), MAX_RADIUS as f32), bad)
    }

    /// The signed CoC map of a depth image (see [`Lens::signed_coc`]) and the count of bad values.
    pub fn signed_coc_map(&self, depth: &ImageView, channel: usize) -> (Vec<f32>, usize) {
        let mut out = vec![0.0f32; depth.width * depth.height];
        let bad = self.signed_coc_into(depth, channel, &mut out);
        (out, bad)
    }

    /// [`Lens::signed_coc_map`] written into `out` (`width × height` values), returning the
    /// count of non-finite or negative depth values.
    pub(crate) fn signed_coc_into(&self, depth: &ImageView, channel: usize, out: &mut [f32]) -> usize {
        use rayon::prelude::*;
        let c = channel.min(depth.channels - 1);
        out.par_chunks_mut(depth.width.max(1))
            .enumerate()
            .map(|(y, row)| {
                let mut bad = 0;
                for (o, px) in row.iter_mut().zip(depth.row(y).chunks_exact(depth.channels)) {
                    let (r, b) = self.signed_coc(px[c]);
                    bad += b as usize;
                    *o = r;
                }
                bad
            })
            .sum()
    }

    /// The CoC map of a depth image (one radius per pixel, row-major), reading `channel`, and
    /// how many depth values were non-finite or negative.
    pub fn coc_map(&self, depth: &ImageView, channel: usize) -> (Vec<f32>, usize) {
        let (mut map, bad) = self.signed_coc_map(depth, channel);
        map.iter_mut().for_each(|r| *r = r.abs());
        (map, bad)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_maximum_reason_names_max_radius() {
        assert!(super::MAXIMUM_REASON.ends_with(&format!("≤ {} px", super::MAX_RADIUS)));
    }
}
