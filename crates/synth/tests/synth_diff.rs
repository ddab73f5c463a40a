//! Property test: synthetic pairs with every impairment, many seeds; the
//! diff must pair every connection and find the events the generator made.

#[path = "../../matcher/tests/diff_support/mod.rs"]
mod diff_support;

use diff_support::*;
use twincap_synth::{generate, Config, IpIdMode};

fn check(name: &str, cfg: &Config) {
    let dir =
        std::env::temp_dir().join(format!("twincap-synth-test-{}-{name}", std::process::id()));
    let sum = generate(cfg, &dir).unwrap();
    let mut ds = Dataset::open(&dir);
    let res = ds.diff();
    let sc = score(&ds, &res);
    let mut line = format!(
        "{name}: frames {}/{} pairs {}/{} (output {})",
        sum.client_frames, sum.lb_frames, sc.pairs_ok, sc.pairs_want, sc.pairs_got
    );
    for k in KINDS {
        let (ok, g, w) = sc.kinds[k];
        line.push_str(&format!("  {k} {ok}/{w} (output {g})"));
    }
    line.push_str(&format!(
        "  clock {:+.6}s {:+.1}ppm",
        res.clock.offset_s, res.clock.drift_ppm
    ));
    println!("{line}");
    for k in KINDS {
        if !sc.missed[k].is_empty() || !sc.extra[k].is_empty() {
            println!(
                "  {k}: missed {:?} extra {:?}",
                &sc.missed[k][..sc.missed[k].len().min(6)],
                &sc.extra[k][..sc.extra[k].len().min(6)]
            );
        }
    }
    assert_eq!(sc.pairs_ok, sc.pairs_want, "{line}");
    assert_eq!(sc.pairs_right, sc.pairs_got, "{line}");
    // The generator's TCP is causal and its copies tell apart (a lost
    // segment's retransmission has a later TSval): every event is found.
    for k in KINDS {
        let (ok, g, w) = sc.kinds[k];
        assert!(ok == g && ok == w, "{line}");
    }
    assert!(
        (res.clock.offset_s - cfg.clock_offset_s).abs() < 0.001,
        "{line}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_impairment_over_many_seeds() {
    for seed in 1..=12u64 {
        let cfg = Config {
            seed,
            connections: 60,
            segments: 12,
            concurrency: 6,
            loss: 0.03,
            reorder: 0.03,
            dup: 0.02,
            inject: 0.01,
            nat_pool: 8,
            ipid: [IpIdMode::Keep, IpIdMode::Random, IpIdMode::Zero][seed as usize % 3],
            seq_shift: seed % 2 == 0,
            mss_clamp: (seed % 4 == 1).then_some(1200),
            resegment: if seed % 3 == 2 { 0.1 } else { 0.0 },
            clock_offset_s: [0.0, 3600.5, -86_399.25, 12.75][seed as usize % 4],
            drift_ppm: [0.0, 40.0, -25.0][seed as usize % 3],
            nano: seed % 5 == 0,
            ..Config::default()
        };
        check(&format!("seed{seed}"), &cfg);
    }
}
