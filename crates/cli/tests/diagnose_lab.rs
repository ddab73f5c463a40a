//! `twincap diff --format json` diagnoses on the lab datasets, checked
//! against each dataset's ground truth (`truth.json`, shared/lab/README.md):
//! every diagnosis the data contains, with the right frames on both sides.

use serde_json::Value;
use std::collections::BTreeSet;

mod support;
use support::{diff, lab};

/// The JSON report and the truth of a dataset.
fn run(name: &str) -> (Value, Value) {
    let dir = lab(name);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    (diff(&dir, &[]), truth)
}

fn diagnoses<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"] == id)
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn frames(d: &Value, side: &str) -> BTreeSet<u64> {
    d[format!("{side}_frames")]
        .as_array()
        .unwrap()
        .iter()
        .map(u)
        .collect()
}

/// Truth packets of a flow in LB-capture order: (lb frame, dir, flags, relay, client frame).
fn lb_order(flow: &Value) -> Vec<(u64, String, String, String, Option<u64>)> {
    let mut v: Vec<_> = flow["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["lb_frame"].is_u64())
        .map(|p| {
            (
                u(&p["lb_frame"]),
                p["dir"].as_str().unwrap().to_string(),
                p["flags"].as_str().unwrap().to_string(),
                p["relay"].as_str().unwrap_or("").to_string(),
                p["client_frame"].as_u64(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Reset answered by a reset, from the truth alone: per flow, the first
/// LB-side RST, then the first client packet arriving after it that the
/// server answers with another RST.
/// (reset lb frame, late lb frame, late client frame, answer lb frame, late packet was held in between)
fn truth_resets(truth: &Value) -> BTreeSet<(u64, u64, Option<u64>, u64, bool)> {
    let mut out = BTreeSet::new();
    for f in truth["flows"].as_array().unwrap() {
        let pk = lb_order(f);
        let Some(k) = pk.iter().position(|p| p.1 == "s2c" && p.2.contains('R')) else {
            continue;
        };
        let mut late = None;
        for p in &pk[k + 1..] {
            if p.1 == "c2s" {
                late = Some(p.clone());
            } else if p.2.contains('R') {
                if let Some(l) = late.take() {
                    out.insert((pk[k].0, l.0, l.4, p.0, l.3 == "held"));
                    break;
                }
            }
        }
    }
    out
}

fn report_resets(report: &Value) -> BTreeSet<(u64, u64, Option<u64>, u64, bool)> {
    diagnoses(report, "reset_answered_by_reset")
        .iter()
        .map(|d| {
            let f = &d["figures"];
            (
                u(&f["reset_lb_frame"]),
                u(&f["late_lb_frame"]),
                f["late_client_frame"].as_u64(),
                u(&f["answer_lb_frame"]),
                f["late_in_between"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_seed_story_reset_answered_by_reset_after_a_late_client_packet() {
    let (report, truth) = run("probe-late-reset-s41");
    let want = truth_resets(&truth);
    assert!(want.len() >= 5, "the dataset holds the story: {want:?}");
    assert!(
        want.iter().any(|w| w.4),
        "some late packets were held in between"
    );
    assert_eq!(report_resets(&report), want);
    // The one the README walks through: reset at LB frame 66, the client's
    // data (client frame 68, held 108 ms) arrives as LB frame 76, answered by 77.
    let d = diagnoses(&report, "reset_answered_by_reset")
        .into_iter()
        .find(|d| d["figures"]["reset_lb_frame"] == 66)
        .unwrap();
    assert_eq!(frames(d, "lb"), BTreeSet::from([66, 76, 77, 78, 79]));
    assert_eq!(frames(d, "client"), BTreeSet::from([68, 69, 71, 84, 85]));
    let s = d["summary"].as_str().unwrap();
    assert!(s.contains("the path reordered it"), "{s}");
    assert!(s.contains("The LB behaved correctly"), "{s}");
}
