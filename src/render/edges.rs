//! Depth edges per pixel: which of its eight neighbours lie across a jump in signed CoC
//! ([`super::layered::is_jump`]), one bit each. Computed once per frame
//! ([`edge_bits_into`]), updated where the silhouette pass moves a CoC ([`update`]), and read
//! by the silhouette pass, the small-feature search and the edge band, which would otherwise
//! each compare every pixel with its neighbours again.

use super::layered::is_jump;
use rayon::prelude::*;

/// Neighbour offsets (dx, dy); bit k of a pixel's mask is neighbour `DIRS[k]`. Opposite
/// directions are paired: k ^ 1 is the opposite of k.
pub(crate) const DIRS: [(i64, i64); 8] = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (-1, 1), (1, -1)];

/// The neighbour of pixel `i` in direction `k` of a `w × h` frame, if inside it.
pub(crate) fn neighbour(i: usize, k: usize, (w, h): (usize, usize)) -> Option<usize> {
    let (dx, dy) = DIRS[k];
    let (x, y) = ((i % w) as i64 + dx, (i / w) as i64 + dy);
    (x >= 0 && y >= 0 && x < w as i64 && y < h as i64).then(|| y as usize * w + x as usize)
}

/// The edge mask of every pixel of a `w × h` signed CoC map, written into `out`. Each row is
/// compared with itself and the rows above and below direction by direction, in straight loops.
pub(crate) fn edge_bits_into(signed: &[f32], (w, h): (usize, usize), out: &mut [u8]) {
    out.par_chunks_mut(w.max(1)).enumerate().for_each(|(y, row)| {
        let line = &signed[y * w..(y + 1) * w];
        row.fill(0);
        let mut mark = |k: usize, other: &[f32], shift: i64| {
            // Pixel x meets other[x + shift].
            let (x0, x1) = (shift.max(0) as usize, (w as i64 + shift.min(0)) as usize);
            let (a, b) = ((x0 as i64 - shift) as usize, (x1 as i64 - shift) as usize);
            for (o, (&v, &u)) in row[a..b].iter_mut().zip(line[a..b].iter().zip(&other[x0..x1])) {
                *o |= (is_jump(v, u) as u8) << k;
            }
        };
        if w > 1 {
            mark(0, line, 1);
            mark(1, line, -1);
        }
        if y + 1 < h {
            let below = &signed[(y + 1) * w..(y + 2) * w];
            mark(2, below, 0);
            if w > 1 {
                mark(4, below, 1);
                mark(6, below, -1);
            }
        }
        if y > 0 {
            let above = &signed[(y - 1) * w..y * w];
            mark(3, above, 0);
            if w > 1 {
                mark(5, above, -1);
                mark(7, above, 1);
            }
        }
    });
}

/// The edge mask of pixel `i` alone.
fn pixel_bits(signed: &[f32], size: (usize, usize), i: usize) -> u8 {
    (0..8).filter_map(|k| neighbour(i, k, size).map(|j| (is_jump(signed[i], signed[j]) as u8) << k)).sum()
}

/// Recomputes the masks of the pixels in `changed` (whose CoC moved) and of their neighbours.
pub(crate) fn update(signed: &[f32], size: (usize, usize), bits: &mut [u8], changed: &[usize]) {
    for &i in changed {
        bits[i] = pixel_bits(signed, size, i);
        for k in 0..8 {
            if let Some(j) = neighbour(i, k, size) {
                bits[j] = pixel_bits(signed, size, j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row-wise masks equal the masks computed pixel by pixel, on a map with jumps in every
    /// direction and at the frame's borders.
    #[test]
    fn row_masks_equal_pixel_masks() {
        let (w, h) = (13, 7);
        let signed: Vec<f32> = (0..w * h).map(|i| [0.0, 3.0, -8.0, 3.2, 20.0][(i * 7 + i / w) % 5]).collect();
        let mut bits = vec![0u8; w * h];
        edge_bits_into(&signed, (w, h), &mut bits);
        assert!(bits.iter().any(|&b| b != 0) && bits.iter().any(|&b| b != 0xff));
        for (i, &b) in bits.iter().enumerate() {
            assert_eq!(b, pixel_bits(&signed, (w, h), i), "pixel {i}");
        }
        // Every mask is symmetric: i sees j across an edge exactly when j sees i.
        for i in 0..w * h {
            for k in 0..8 {
                if let Some(j) = neighbour(i, k, (w, h)) {
                    assert_eq!(bits[i] >> k & 1, bits[j] >> (k ^ 1) & 1);
                }
            }
        }
    }

    /// After a CoC moves, [`update`] gives what a full recomputation gives.
    #[test]
    fn update_matches_recomputation() {
        let (w, h) = (9, 9);
        let mut signed = vec![10.0f32; w * h];
        let mut bits = vec![0u8; w * h];
        edge_bits_into(&signed, (w, h), &mut bits);
        assert!(bits.iter().all(|&b| b == 0));
        signed[4 * w + 4] = 30.0;
        signed[0] = -5.0;
        update(&signed, (w, h), &mut bits, &[4 * w + 4, 0]);
        let mut fresh = vec![0u8; w * h];
        edge_bits_into(&signed, (w, h), &mut fresh);
        assert_eq!(bits, fresh);
        assert_eq!(bits[4 * w + 4], 0xff);
    }
}
