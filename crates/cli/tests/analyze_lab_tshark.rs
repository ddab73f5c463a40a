//! `twincap analyze` against tshark, run live, on both captures of every lab
//! dataset in `fixtures/lab/` (real Linux TCP through an impaired path:
//! window full, zero window, window updates, keep-alives from the
//! `bulk-zerowindow` scenario; retransmissions, dup ACKs, out-of-order from
//! the others). Every frame that either tool flags must carry the same set.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{tshark_flags, twincap_flags};

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
