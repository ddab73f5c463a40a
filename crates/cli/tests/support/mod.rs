//! What the CLI tests share: the lab datasets and running `twincap diff`.

#![allow(dead_code)] // each test file uses its own part

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A dataset under fixtures/lab.
pub fn lab(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/lab")
        .join(name)
}

/// Whether an outside tool a test needs is there. Under `CI=true` its
/// absence fails the test instead of skipping it (tests/run.sh installs it).
pub fn tool_present(name: &str, present: bool) -> bool {
    assert!(
        present || std::env::var("CI").as_deref() != Ok("true"),
        "{name} not found and CI=true: tests/run.sh installs it"
    );
    if !present {
        println!("{name} not found: skipping (tests/run.sh installs it)");
    }
    present
}

/// A dataset's capture of one side (`client` or `lb`), pcap or pcapng.
pub fn side(dir: &Path, s: &str) -> PathBuf {
    ["pcap", "pcapng"]
        .iter()
        .map(|e| dir.join(format!("{s}.{e}")))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{}: no {s}.pcap or {s}.pcapng", dir.display()))
}

/// `twincap ARGS` (no colours): its stdout; fails the test on an error.
pub fn twincap(cwd: &Path, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_twincap"))
        .current_dir(cwd)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `twincap diff` on a lab dataset with extra arguments: its stdout.
pub fn diff_out(dir: &Path, extra: &[&str]) -> String {
    let (c, l) = (side(dir, "client"), side(dir, "lb"));
    let mut args = vec![
        "diff".as_ref(),
        c.as_os_str(),
        l.as_os_str(),
        "--quiet".as_ref(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    twincap(dir, &args)
}

/// The JSON report of a lab dataset.
pub fn diff(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--format", "json"];
    args.extend(extra);
    serde_json::from_str(&diff_out(dir, &args)).unwrap()
}

/// Wireshark's TCP expert flags (`tcp.analysis.*`) that `twincap analyze` gives.
pub const FLAGS: &[&str] = &[
    "retransmission",
    "fast_retransmission",
    "spurious_retransmission",
    "out_of_order",
    "lost_segment",
    "ack_lost_segment",
    "duplicate_ack",
    "zero_window",
    "zero_window_probe",
    "zero_window_probe_ack",
    "window_full",
    "window_update",
    "keep_alive",
    "keep_alive_ack",
    "reused_ports",
    "tfo_syn",
    "tfo_ack",
];

/// Frame number -> its flags (frames without a flag are left out).
pub type Flagged = BTreeMap<u64, BTreeSet<String>>;

/// What tshark flags in a capture.
pub fn tshark_flags(file: &Path) -> Flagged {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(file).args([
        "-Y",
        "tcp.analysis.flags",
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    for f in FLAGS {
        cmd.args(["-e", &format!("tcp.analysis.{f}")]);
    }
    let out = cmd.output().expect("tshark runs");
    assert!(out.status.success(), "tshark failed on {}", file.display());
    let mut m = Flagged::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let frame: u64 = cols[0].parse().unwrap();
        let set: BTreeSet<String> = FLAGS
            .iter()
            .zip(&cols[1..])
            .filter(|(_, v)| !v.is_empty())
            .map(|(f, _)| f.to_string())
            .collect();
        if !set.is_empty() {
            m.insert(frame, set);
        }
    }
    m
}

/// What `twincap analyze --format json` flags in a capture.
pub fn twincap_flags(file: &Path) -> Flagged {
    let out = Command::new(env!("CARGO_BIN_EXE_twincap"))
        .arg("analyze")
        .arg(file)
        .args(["--format", "json"])
        .output()
        .expect("twincap runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut m = Flagged::new();
    for fr in v["frames"].as_array().unwrap() {
        let set: BTreeSet<String> = fr["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        if !set.is_empty() {
            m.insert(fr["frame"].as_u64().unwrap(), set);
        }
    }
    m
}

/// Every event of a `twincap diff --format json` report: the paired
/// connections', then the unmatched ones' (client side, then LB side).
pub fn all_events(report: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    let flows = report["flows"].as_array().unwrap().iter();
    let unmatched = ["client", "lb"]
        .into_iter()
        .flat_map(|s| report["unmatched"][s].as_array().unwrap().iter());
    flows
        .chain(unmatched)
        .flat_map(|f| f["events"].as_array().unwrap().iter())
}
