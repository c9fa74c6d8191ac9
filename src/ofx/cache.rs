//! The whole-frame result of a layered render, kept per instance so that the other tiles of the
//! same frame copy from it (ARCHITECTURE.md "Front ends"): a layered blur reads the whole frame
//! for any tile, so a host that renders a frame in N tiles would otherwise pay N whole renders.
//!
//! A result is found by a [`FrameKey`]: the time, the render request, the bundle, the region and
//! the content of every input (a hash of the bytes the host handed over), so a changed parameter,
//! bundle or upstream image renders afresh, whatever the host does with its buffers. Tiles of one
//! frame arriving at once wait for the first to finish rather than each rendering the frame.

use super::host::OfxResult;
use super::pixels::Rect;
use crate::render::RenderOptions;
use std::sync::{Arc, Mutex};

/// What a layered result depends on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FrameKey {
    pub time: f64,
    pub options: RenderOptions,
    /// The bundle's address in the bundle cache (one loaded file, or none).
    pub bundle: usize,
    /// The rendered region (the Source bounds).
    pub region: Rect,
    /// Hashes of the Source and Depth bytes over the region, with their sample types, channels,
    /// premultiplication and where depth comes from.
    pub inputs: Vec<[u64; 5]>,
    pub layout: String,
}

struct Entry {
    key: FrameKey,
    result: Mutex<Option<Arc<Vec<f32>>>>,
}

/// The last few layered results of one instance.
#[derive(Default)]
pub(crate) struct FrameCache {
    entries: Mutex<Vec<Arc<Entry>>>,
}

/// Frames kept per instance: two, so two frames rendered at once in tiles do not evict each
/// other.
const KEEP: usize = 2;

impl FrameCache {
    /// The result for `key`: the kept one, or `render()`'s (kept when it succeeds).
    pub fn get_or_render(
        &self,
        key: FrameKey,
        render: impl FnOnce() -> OfxResult<Vec<f32>>,
    ) -> OfxResult<Arc<Vec<f32>>> {
        let entry = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.iter().position(|e| e.key == key) {
                Some(i) => {
                    let e = entries.remove(i);
                    entries.push(e.clone());
                    e
                }
                None => {
                    let e = Arc::new(Entry { key, result: Mutex::new(None) });
                    entries.push(e.clone());
                    if entries.len() > KEEP {
                        entries.remove(0);
                    }
                    e
                }
            }
        };
        // Held while rendering: the other tiles of this frame wait here, then copy.
        let mut slot = entry.result.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = &*slot {
            return Ok(r.clone());
        }
        let r = Arc::new(render()?);
        *slot = Some(r.clone());
        Ok(r)
    }

    /// Forgets every kept frame (PurgeCaches, a fresh Load).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(time: f64, hash: u64) -> FrameKey {
        FrameKey {
            time,
            options: RenderOptions::default(),
            bundle: 1,
            region: Rect { x1: 0, y1: 0, x2: 4, y2: 4 },
            inputs: vec![[hash; 5]],
            layout: String::new(),
        }
    }

    #[test]
    fn renders_once_per_key_and_keeps_two_frames() {
        let cache = FrameCache::default();
        let mut calls = 0;
        for k in [key(1.0, 7), key(1.0, 7), key(2.0, 7), key(1.0, 7), key(1.0, 8), key(2.0, 7), key(3.0, 7)] {
            let time = k.time;
            let r = cache
                .get_or_render(k, || {
                    calls += 1;
                    Ok(vec![time as f32])
                })
                .unwrap();
            assert_eq!(*r, [time as f32]);
        }
        // New: 1/7, 2/7, 1/8 (evicting 2/7, the least recently used), 2/7 again, 3/7.
        assert_eq!(calls, 5);
        // An error is not kept: the next call renders again.
        assert!(cache.get_or_render(key(5.0, 1), || Err(super::super::host::OfxError::failed("x"))).is_err());
        assert_eq!(*cache.get_or_render(key(5.0, 1), || Ok(vec![5.0])).unwrap(), [5.0]);
        cache.clear();
        assert_eq!(*cache.get_or_render(key(5.0, 1), || Ok(vec![6.0])).unwrap(), [6.0]);
    }
}
