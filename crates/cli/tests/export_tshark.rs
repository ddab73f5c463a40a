//! `twincap diff --export FILE.pcapng`, read back by tshark: two interfaces
//! named `client side` and `LB side`, the LB side on the client's clock, and
//! one packet comment per event of the JSON report (per extra copy for a
//! duplicate), saying what happened.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

mod support;
use support::{diff, lab, tool_present};

/// (interface name, time, comment) of every frame, as tshark reads them.
fn tshark_frames(file: &Path) -> Vec<(String, f64, String)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.interface_name",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.comment",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.splitn(3, '\t').collect();
            (
                c[0].to_string(),
                c[1].parse().unwrap(),
                c.get(2).unwrap_or(&"").to_string(),
            )
        })
        .collect()
}

/// Comments the report's events call for, by the words they start with.
fn wanted(report: &serde_json::Value) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    let flows = report["flows"].as_array().unwrap().iter();
    let unmatched = report["unmatched"]["client"].as_array().unwrap().iter();
    for e in flows
        .chain(unmatched)
        .flat_map(|f| f["events"].as_array().unwrap())
    {
        let (words, n) = match e["kind"].as_str().unwrap() {
            "lost" => ("lost in between", 1),
            "injected" => ("injected in between", 1),
            "reordered" => ("reordered: arrived", 1),
            "duplicated" => (
                "duplicated in between",
                e["extra_frames"].as_array().unwrap().len(),
            ),
            _ => continue,
        };
        *m.entry(words).or_insert(0) += n;
    }
    m
}

fn got(frames: &[(String, f64, String)]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for words in [
        "lost in between",
        "injected in between",
        "reordered: arrived",
        "duplicated in between",
    ] {
        let n = frames
            .iter()
            .filter(|f| f.2.split("; ").any(|c| c.starts_with(words)))
            .count();
        if n > 0 {
            m.insert(words, n);
        }
    }
    m
}

#[test]
fn exported_pcapng_reads_back_in_tshark_with_a_comment_per_event() {
    let present = Command::new("tshark").arg("--version").output().is_ok();
    if !tool_present("tshark", present) {
        return;
    }
    let tmp = std::env::temp_dir().join(format!("twincap-export-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for name in [
        "probe-loss-dup-reorder-s11",
        "probe-inject-both-s12",
        "http-clock-neg-s20",
    ] {
        let out = tmp.join(format!("{name}.pcapng"));
        let report = diff(&lab(name), &["--export", out.to_str().unwrap()]);
        let frames = tshark_frames(&out);
        let want = wanted(&report);
        println!(
            "{name}: {} frames, comments {:?}",
            frames.len(),
            got(&frames)
        );
        assert_eq!(got(&frames), want, "{name}");
        assert!(
            frames
                .iter()
                .all(|f| f.0 == "client side" || f.0 == "LB side"),
            "{name}"
        );
        assert!(frames.iter().any(|f| f.0 == "LB side"), "{name}");
        // One time line: the LB side's frames sit among the client side's
        // (the raw clocks of http-clock-neg-s20 are two hours apart).
        let span = |side: &str| {
            let t = frames.iter().filter(|f| f.0 == side).map(|f| f.1);
            (
                t.clone().fold(f64::MAX, f64::min),
                t.fold(f64::MIN, f64::max),
            )
        };
        let (c, l) = (span("client side"), span("LB side"));
        assert!(l.0 > c.0 - 5.0 && l.1 < c.1 + 5.0, "{name}: {c:?} {l:?}");
        assert!(
            frames.windows(2).all(|w| w[0].1 <= w[1].1),
            "{name}: time order"
        );
    }
    // --export-all: every frame of both captures' TCP connections.
    let out = tmp.join("all.pcapng");
    let report = diff(
        &lab("probe-loss-dup-reorder-s11"),
        &["--export", out.to_str().unwrap(), "--export-all"],
    );
    let tcp = |side: &str| report["files"][side]["tcp_frames"].as_u64().unwrap() as usize;
    assert_eq!(tshark_frames(&out).len(), tcp("client") + tcp("lb"));
    std::fs::remove_dir_all(&tmp).ok();
}
