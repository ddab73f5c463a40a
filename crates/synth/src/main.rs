//! `twincap-synth OUT_DIR [--key value ...]`: write a synthetic pair.
//!
//! Keys (defaults in brackets): --seed [1] --connections [100] --segments [10]
//! --concurrency [8] --loss [0.02] --reorder [0.02] --dup [0.01] --inject [0]
//! --nat-pool [16] --ipid keep|random|zero --seq-shift --mss-clamp N
//! --resegment [0] --clock-offset [0] --drift-ppm [0] --payload-min [40]
//! --payload-max [600] --nano --no-truth
//!
//! `twincap-synth f5 OUT_DIR [--connections N]`: a client capture and an F5
//! BIG-IP capture with trailers of the same full-proxy traffic
//! (`twincap_synth::f5`).

use std::path::PathBuf;
use std::process::ExitCode;
use twincap_synth::{generate, Config, IpIdMode};

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("f5") {
        return f5_main(std::env::args().skip(2));
    }
    let mut args = std::env::args().skip(1);
    let mut cfg = Config::default();
    let mut out: Option<PathBuf> = None;
    let fail = |m: String| {
        eprintln!("twincap-synth: error: {m}");
        ExitCode::from(2)
    };
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        macro_rules! num {
            ($field:expr, $name:expr) => {
                match val($name).and_then(|v| v.parse().map_err(|e| format!("{}: {e}", $name))) {
                    Ok(v) => $field = v,
                    Err(e) => return fail(e),
                }
            };
        }
        match a.as_str() {
            "--seed" => num!(cfg.seed, "--seed"),
            "--connections" => num!(cfg.connections, "--connections"),
            "--segments" => num!(cfg.segments, "--segments"),
            "--concurrency" => num!(cfg.concurrency, "--concurrency"),
            "--loss" => num!(cfg.loss, "--loss"),
            "--reorder" => num!(cfg.reorder, "--reorder"),
            "--dup" => num!(cfg.dup, "--dup"),
            "--inject" => num!(cfg.inject, "--inject"),
            "--nat-pool" => num!(cfg.nat_pool, "--nat-pool"),
            "--resegment" => num!(cfg.resegment, "--resegment"),
            "--clock-offset" => num!(cfg.clock_offset_s, "--clock-offset"),
            "--drift-ppm" => num!(cfg.drift_ppm, "--drift-ppm"),
            "--payload-min" => num!(cfg.payload_min, "--payload-min"),
            "--payload-max" => num!(cfg.payload_max, "--payload-max"),
            "--mss-clamp" => {
                let m: u16;
                num!(m, "--mss-clamp");
                cfg.mss_clamp = Some(m);
            }
            "--ipid" => match val("--ipid").as_deref() {
                Ok("keep") => cfg.ipid = IpIdMode::Keep,
                Ok("random") => cfg.ipid = IpIdMode::Random,
                Ok("zero") => cfg.ipid = IpIdMode::Zero,
                _ => return fail("--ipid takes keep, random or zero".into()),
            },
            "--seq-shift" => cfg.seq_shift = true,
            "--nano" => cfg.nano = true,
            "--no-truth" => cfg.truth = false,
            s if s.starts_with("--") => return fail(format!("unknown option {s}")),
            s => out = Some(PathBuf::from(s)),
        }
    }
    let Some(out) = out else {
        return fail(
            "usage: twincap-synth OUT_DIR [options] (see the source's doc comment)".into(),
        );
    };
    match generate(&cfg, &out) {
        Ok(s) => {
            eprintln!(
                "twincap-synth: {}: client {} frames, lb {} frames, {} connections, events {:?}",
                out.display(),
                s.client_frames,
                s.lb_frames,
                s.flows,
                s.events
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{}: {e}", out.display())),
    }
}

/// `twincap-synth f5 OUT_DIR [--connections N]`.
fn f5_main(mut args: impl Iterator<Item = String>) -> ExitCode {
    let fail = |m: String| {
        eprintln!("twincap-synth f5: error: {m}");
        ExitCode::from(2)
    };
    let (mut out, mut connections) = (None, 2u32);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--connections" => match args.next().map(|v| v.parse()) {
                Some(Ok(n)) => connections = n,
                _ => return fail("--connections needs a number".into()),
            },
            s if s.starts_with("--") => return fail(format!("unknown option {s}")),
            s => out = Some(PathBuf::from(s)),
        }
    }
    let Some(out) = out else {
        return fail("usage: twincap-synth f5 OUT_DIR [--connections N]".into());
    };
    match twincap_synth::f5::generate(connections, &out) {
        Ok(s) => {
            eprintln!(
                "twincap-synth f5: {}: client {} frames, lb {} frames, {} connections",
                out.display(),
                s.client_frames,
                s.lb_frames,
                s.connections
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{}: {e}", out.display())),
    }
}
