//! The command line a fitted bundle records in `fit.command` (ARCHITECTURE.md "Bundle format"):
//! every flag that decides the bundle's bytes, in one order, with the radii sorted. The same fit
//! therefore records the same text whichever front end ran it (`sparsebokeh fit`, a `--batch`,
//! the Python module), in whatever order the flags were given and wherever the bundle is written
//! (no `--out`), and the command reproduces the bundle on its own.

use super::basis::{FitSpec, LevelFit};
use crate::kernel::shapes::ImageChannel;
use serde_json::Value;
use std::path::Path;

/// What a bundle is fitted to, as the command line names it.
#[derive(Clone, Copy, Debug)]
pub enum FitTarget<'a> {
    /// An analytic shape by name, with its parameters (`Shape::parse`'s keys, see [`SHAPE_FLAGS`]).
    Shape { name: &'a str, params: &'a Value },
    /// An aperture PNG and the channel asked for.
    ImageFile { path: &'a Path, channel: ImageChannel },
    /// An aperture handed over in memory (the Python module's `image=array`): no flag reproduces
    /// it, so the command names its size.
    ImageArray { width: usize, height: usize },
}

/// The shape parameters (`Shape::parse`'s keys) and their command-line flags, in the order the
/// command lists them.
pub const SHAPE_FLAGS: [(&str, &str); 7] = [
    ("sides", "--sides"),
    ("rotation_deg", "--rotation"),
    ("curvature", "--curvature"),
    ("points", "--points"),
    ("inner", "--inner"),
    ("sigma", "--sigma"),
    ("offset", "--offset"),
];

/// A word of a command line, single-quoted when a shell would split or expand it.
fn quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./,=:+-@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A JSON parameter as a flag value: numbers as the shortest decimal (`6`, `0.5`).
fn param_value(v: &Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{x}"),
        None => v.as_str().map_or_else(|| v.to_string(), str::to_string),
    }
}

/// The command that fits this bundle: `sparsebokeh fit`, the target's flags, then every flag of
/// `spec`, the radii (sorted, without repeats), `--name` and, when not empty, `--description`.
pub fn command_line(
    target: &FitTarget,
    spec: &FitSpec,
    radii: &[f64],
    levels: Option<&LevelFit>,
    name: &str,
    description: &str,
) -> String {
    let mut words: Vec<String> = vec!["sparsebokeh".into(), "fit".into()];
    let mut flag = |f: &str, v: String| {
        words.push(f.to_string());
        words.push(quoted(&v));
    };
    match target {
        FitTarget::Shape { name, params } => {
            flag("--shape", name.to_string());
            for (key, f) in SHAPE_FLAGS {
                if let Some(v) = params.get(key).filter(|v| !v.is_null()) {
                    flag(f, param_value(v));
                }
            }
        }
        FitTarget::ImageFile { path, channel } => {
            flag("--image", path.display().to_string());
            flag("--channel", channel.name().to_string());
        }
        FitTarget::ImageArray { width, height } => flag("--image", format!("<array {width}x{height}>")),
    }
    let mut sorted = radii.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let list = |radii: &[f64]| {
        let mut sorted = radii.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        sorted.iter().map(|r| format!("{r}")).collect::<Vec<_>>().join(",")
    };
    let radii = list(&sorted);
    flag("--layers", spec.layers.to_string());
    flag("--taps", spec.taps.to_string());
    flag("--radii", radii);
    flag("--iterations", spec.iterations.to_string());
    flag("--rounds", spec.rounds.to_string());
    flag("--init", spec.init.name().to_string());
    flag("--flat", format!("{}", spec.flat));
    flag("--weights", if spec.signed { "signed" } else { "non-negative" }.to_string());
    flag("--lobe", format!("{}", spec.lobe));
    if let Some(l) = levels {
        flag("--level-taps", l.taps.to_string());
        flag("--level-radii", list(&l.radii));
    }
    flag("--seed", spec.seed.to_string());
    flag("--name", name.to_string());
    if !description.is_empty() {
        flag("--description", description.to_string());
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_every_flag_in_one_order_with_sorted_radii() {
        let params = json!({"sides": 6, "rotation_deg": 30.0});
        let target = FitTarget::Shape { name: "ngon", params: &params };
        let cmd = command_line(&target, &FitSpec::default(), &[4.0, 2.0, 4.0, 0.5], None, "hex", "six blades");
        assert_eq!(
            cmd,
            "sparsebokeh fit --shape ngon --sides 6 --rotation 30 --layers 3 --taps 32 --radii 0.5,2,4 \
             --iterations 3000 --rounds 32 --init auto --flat 4 --weights non-negative --lobe 0 --seed 1 \
             --name hex --description 'six blades'"
        );
    }

    #[test]
    fn quotes_what_a_shell_would_split() {
        assert_eq!(quoted("a b"), "'a b'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted(""), "''");
        assert_eq!(quoted("dir/a.png"), "dir/a.png");
        let target = FitTarget::ImageFile { path: Path::new("my apertures/a.png"), channel: ImageChannel::Auto };
        let cmd = command_line(&target, &FitSpec::default(), &[1.0], None, "a", "");
        assert!(cmd.starts_with("sparsebokeh fit --image 'my apertures/a.png' --channel auto --layers 3"), "{cmd}");
        assert!(cmd.ends_with("--seed 1 --name a"), "{cmd}");
        let levels = LevelFit { taps: 96, radii: vec![8.0, 6.0] };
        let cmd = command_line(&target, &FitSpec::default(), &[1.0], Some(&levels), "a", "");
        assert!(cmd.contains("--lobe 0 --level-taps 96 --level-radii 6,8 --seed 1"), "{cmd}");
    }
}
