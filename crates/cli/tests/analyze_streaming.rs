//! `twincap analyze` keeps no packet (the reader hands each one to
//! `StreamingAnalysis`, which also gathers what the F5 report and the reset
//! causes read), yet writes exactly the report made from the whole capture
//! in memory (`read_capture`, `conn::split`, `analyze`,
//! `AnalyzeReport::build`): text, JSON and YAML, on every corpus, F5 and
//! lab capture.

mod support;

use std::path::{Path, PathBuf};
use twincap_matcher::analyze::analyze;
use twincap_parser::{conn, read_capture, ReadOptions};
use twincap_reporter::analyze::{to_json, to_text, to_yaml, AnalyzeReport};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Every capture file under `dir`, one level of subdirectories deep.
fn captures(dir: &Path) -> Vec<PathBuf> {
    let is_capture = |p: &Path| {
        let name = p.file_name().unwrap().to_string_lossy();
        [".pcap", ".pcapng", ".cap", ".pcap.gz", ".cap.gz"]
            .iter()
            .any(|e| name.ends_with(e))
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                let q = e.unwrap().path();
                if is_capture(&q) {
                    out.push(q);
                }
            }
        } else if is_capture(&p) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The three reports of `capture` made with every packet in memory.
fn batch(capture: &Path) -> [String; 3] {
    let opts = ReadOptions {
        skip_payload_hash: true,
        ..ReadOptions::default()
    };
    let cap = read_capture(capture, &opts).unwrap();
    let conns = conn::split(&cap);
    let report = AnalyzeReport::build(&cap, &conns, &analyze(&cap, &conns));
    let json = to_json(&report);
    // The JSON is written in parallel parts: the same bytes as serde_json's
    // pretty printer of the whole report.
    assert_eq!(
        json,
        serde_json::to_string_pretty(&report).unwrap() + "\n",
        "{}",
        capture.display()
    );
    [to_text(&report), json, to_yaml(&report)]
}

fn command(capture: &Path, format: &str) -> String {
    support::twincap(
        Path::new("."),
        &[
            "analyze".as_ref(),
            capture.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
        ],
    )
}

#[test]
fn command_writes_the_batch_report_on_every_fixture() {
    let mut files = captures(&fixtures().join("corpus"));
    let corpus = files.len();
    files.extend(captures(&fixtures().join("f5")));
    let f5 = files.len() - corpus;
    files.extend(captures(&fixtures().join("lab")));
    assert!(corpus >= 40 && f5 >= 3 && files.len() >= corpus + f5 + 30);
    let mut with_f5 = 0;
    let mut with_causes = 0;
    for file in &files {
        let [text, json, yaml] = batch(file);
        with_f5 += json.contains("\"f5\": {") as usize;
        with_causes += json.contains("\"rst_causes\"") as usize;
        for (format, want) in [("text", text), ("json", json), ("yaml", yaml)] {
            let got = command(file, format);
            assert!(
                got == want,
                "{} --format {format}: the command's report differs from the batch report",
                file.display()
            );
        }
    }
    // The F5 part of the report is covered: per-connection summaries and
    // reset causes from trailers and RST payloads.
    assert!(with_f5 >= 3, "{with_f5}");
    assert!(with_causes >= 3, "{with_causes}");
}
