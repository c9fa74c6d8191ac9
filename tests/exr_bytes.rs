//! The same image gives the same EXR bytes, however loaded the machine: tiles are stored in
//! increasing order (ARCHITECTURE.md "Conventions", determinism), so a frame rendered on a
//! farm, by a Dask retry or by the Python module is the CLI's file byte for byte.

use sparsebokeh::io::{self, Image};

fn image(w: usize, h: usize, c: usize) -> Image {
    let data = (0..w * h * c).map(|i| ((i * 7919) % 1013) as f32 / 97.0).collect();
    Image { width: w, height: h, channels: c, data }
}

#[test]
fn the_same_image_writes_the_same_bytes_in_increasing_tile_order() {
    let dir = tempfile::tempdir().unwrap();
    let rgba = image(700, 500, 4);
    let rgb = image(700, 500, 3);
    let depth: Vec<f32> = (0..700 * 500).map(|i| i as f32 * 0.001).collect();
    // Writers on every core at once, so parallel compression finishes tiles out of order.
    let files: Vec<Vec<Vec<u8>>> = std::thread::scope(|s| {
        let jobs: Vec<_> = (0..4)
            .map(|t| {
                let (dir, rgba, rgb, depth) = (dir.path(), &rgba, &rgb, &depth);
                s.spawn(move || {
                    (0..3)
                        .flat_map(|k| {
                            let a = dir.join(format!("a{t}{k}.exr"));
                            let b = dir.join(format!("b{t}{k}.exr"));
                            io::write(&a, rgba).unwrap();
                            io::write_exr_with_depth(&b, rgb, depth).unwrap();
                            [std::fs::read(a).unwrap(), std::fs::read(b).unwrap()]
                        })
                        .collect()
                })
            })
            .collect();
        jobs.into_iter().map(|j| j.join().unwrap()).collect()
    });
    let all: Vec<&Vec<u8>> = files.iter().flatten().collect();
    for (i, f) in all.iter().enumerate() {
        assert!(*f == all[i % 2], "write {i} differs from the first of its kind");
    }
    for name in ["a00.exr", "b00.exr"] {
        let meta = exr::meta::MetaData::read_from_file(dir.path().join(name), false).unwrap();
        assert!(meta.headers.iter().all(|h| h.line_order == exr::meta::attribute::LineOrder::Increasing), "{name}");
    }
    let back = io::read(&dir.path().join("a00.exr"), io::Role::Color).unwrap();
    assert_eq!(back.color, rgba);
}
