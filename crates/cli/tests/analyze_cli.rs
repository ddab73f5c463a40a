//! `twincap analyze` end to end: the JSON contract `twincap.analyze/1`
//! (docs/json-analyze.md), YAML with the same content, and the text report.

use std::path::{Path, PathBuf};
use std::process::Command;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/corpus")
        .join(name)
}

fn twincap(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twincap"))
        .args(args)
        .output()
        .expect("run twincap");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn json_follows_the_contract() {
    let file = capture("sanders_tcp_dupack.pcapng");
    let (ok, out, err) = twincap(&["analyze", file.to_str().unwrap(), "--format", "json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "twincap.analyze/1");
    assert_eq!(v["file"], file.to_str().unwrap());
    let frames = v["frames"].as_array().unwrap();
    // tshark 4.0: dup ACKs 3, 5, 7 (of frame 1), fast retransmission 8.
    let got: Vec<(u64, Vec<&str>)> = frames
        .iter()
        .map(|f| {
            let names = f["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            (f["frame"].as_u64().unwrap(), names)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (3, vec!["duplicate_ack"]),
            (5, vec!["duplicate_ack"]),
            (7, vec!["duplicate_ack"]),
            (8, vec!["retransmission", "fast_retransmission"]),
        ]
    );
    assert_eq!(frames[1]["dup_ack_num"], 2);
    assert_eq!(frames[1]["dup_ack_of"], 1);
    assert!(frames.iter().all(|f| f["stream"] == 0));
    let streams = v["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0]["flagged_frames"], 4);
    assert_eq!(streams[0]["counts"]["duplicate_ack"], 3);
    let summary = v["summary"].as_array().unwrap();
    assert!(summary
        .iter()
        .any(|s| s["flag"] == "duplicate_ack" && s["frames"] == 3 && s["connections"] == 1));
}

#[test]
fn yaml_has_the_same_content() {
    let file = capture("sanders_tcp_zerowindowrecovery.pcapng");
    let (ok, out, err) = twincap(&["analyze", file.to_str().unwrap(), "--format", "yaml"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("schema: twincap.analyze/1\n"), "{out}");
    assert!(out.contains("- zero_window\n") && out.contains("- window_update\n"));
}

#[test]
fn text_summarizes_per_flag_then_per_connection() {
    let file = capture("sanders_tcp_zerowindowrecovery.pcapng");
    let (ok, out, err) = twincap(&["analyze", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("2 frames flagged in 1 connections"), "{out}");
    let zero = out.lines().find(|l| l.starts_with("zero_window ")).unwrap();
    assert!(zero.contains("not reading fast enough"), "{zero}");
    assert!(out.contains("stream 0  192.168.0.20:2235 -> 192.168.0.30:1720"));
    assert!(out.contains("frame 4        ->  zero_window"));
}

#[test]
fn a_capture_without_flags_says_so() {
    let file = capture("sanders_http_ip4and6.pcapng");
    let (ok, out, _) = twincap(&["analyze", file.to_str().unwrap()]);
    assert!(ok);
    assert!(out.contains("No TCP expert flags"), "{out}");
    let (ok, out, _) = twincap(&["analyze", file.to_str().unwrap(), "--format", "json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["frames"].as_array().unwrap().len(), 0);
}

#[test]
fn other_formats_are_refused() {
    let file = capture("sanders_tcp_dupack.pcapng");
    let (ok, _, err) = twincap(&["analyze", file.to_str().unwrap(), "--format", "html"]);
    assert!(!ok);
    assert!(err.contains("analyze cannot write"), "{err}");
    // Before the file is read: a missing file is not what it complains of.
    let (ok, _, err) = twincap(&["analyze", "/nonexistent/x.pcap", "--format", "md"]);
    assert!(!ok);
    assert!(err.contains("analyze cannot write"), "{err}");
}
