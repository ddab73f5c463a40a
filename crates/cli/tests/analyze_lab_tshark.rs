//! `twincap analyze` against tshark, run live, on both captures of every lab
//! dataset in `fixtures/lab/` (real Linux TCP through an impaired path:
//! window full, zero window, window updates, keep-alives from the
//! `bulk-zerowindow` scenario; retransmissions, dup ACKs, out-of-order from
//! the others). Every frame that either tool flags must carry the same set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const FLAGS: &[&str] = &[
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

type Flagged = BTreeMap<u64, BTreeSet<String>>;

fn tshark_flags(file: &Path) -> Flagged {
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

fn twincap_flags(file: &Path) -> Flagged {
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

fn lab_captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lab");
    let mut files = Vec::new();
    for d in std::fs::read_dir(&root).unwrap() {
        let d = d.unwrap().path();
        for name in ["client.pcap", "client.pcapng", "lb.pcap", "lb.pcapng"] {
            let p = d.join(name);
            if p.exists() {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn lab_captures_flag_as_tshark_does() {
    if Command::new("tshark").arg("--version").output().is_err() {
        println!("tshark not found: skipping (tests/run.sh installs it)");
        return;
    }
    let (mut agree, mut total) = (0usize, 0usize);
    let mut kinds = BTreeSet::new();
    let mut differ = Vec::new();
    let files = lab_captures();
    assert!(files.len() >= 4, "lab fixtures missing");
    for f in &files {
        let want = tshark_flags(f);
        let got = twincap_flags(f);
        let frames: BTreeSet<u64> = want.keys().chain(got.keys()).copied().collect();
        let empty = BTreeSet::new();
        let mut a = 0;
        for n in &frames {
            let (w, g) = (want.get(n).unwrap_or(&empty), got.get(n).unwrap_or(&empty));
            if w == g {
                a += 1;
            } else {
                differ.push(format!(
                    "{} frame {n}: tshark {w:?} twincap {g:?}",
                    f.display()
                ));
            }
            kinds.extend(w.iter().cloned());
        }
        println!("{}: {a}/{} flagged frames agree", f.display(), frames.len());
        agree += a;
        total += frames.len();
    }
    println!("lab vs tshark: {agree}/{total} flagged frames agree; kinds seen: {kinds:?}");
    for d in differ.iter().take(20) {
        println!("  {d}");
    }
    assert!(
        total > 500,
        "too few flagged frames to mean anything: {total}"
    );
    // The window flags the seed tutorial is about must be exercised.
    for k in ["window_full", "zero_window", "window_update", "keep_alive"] {
        assert!(kinds.contains(k), "no {k} in the lab captures");
    }
    assert!(
        agree as f64 >= 0.995 * total as f64,
        "{agree}/{total} agree; first differences:\n{}",
        differ.join("\n")
    );
}
