//! `twincap analyze FILE`: Wireshark's TCP expert flags on one capture.

use crate::timing::StageClock;
use crate::{warn, Failure, Format};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use twincap_matcher::analyze::StreamingAnalysis;
use twincap_parser::{read_packets, ReadOptions};
use twincap_reporter::analyze;

pub fn run(file: &Path, format: Format) -> Result<ExitCode, Failure> {
    // Said before the file is read, not after.
    if !matches!(format, Format::Text | Format::Json | Format::Yaml) {
        return Err(Failure(format!(
            "analyze cannot write {format:?}: use text, json or yaml"
        )));
    }
    // TWINCAP_TIMING=1: time of each stage on stderr.
    let clock = StageClock::from_env();
    // Payloads are not hashed: nothing here compares them. The file's
    // pages are faulted in by the walk, not mapped ahead (faster here, see
    // `ReadOptions::fault_pages_in`).
    let opts = ReadOptions {
        skip_payload_hash: true,
        fault_pages_in: true,
        ..ReadOptions::default()
    };
    // No packet is kept: the reader hands each one to the analysis, which
    // keeps the state of the open connections, the flagged frames and what
    // the F5 report and the reset causes need (`PacketFacts`).
    let mut streaming = StreamingAnalysis::default();
    let cap = read_packets(file, &opts, &mut streaming)?;
    warn(&cap);
    clock.stage("read, split and flag");
    let (analysis, facts) = streaming.finish_with_facts();
    clock.stage("close connections");
    let report = analyze::AnalyzeReport::from_facts(&cap, &analysis, &facts);
    clock.stage("report built");
    // Written as it is made: a report of a large capture is never one
    // string in memory.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = match format {
        Format::Text => analyze::write_text(&report, &mut out),
        Format::Json => analyze::write_json(&report, &mut out),
        Format::Yaml => out.write_all(analyze::to_yaml(&report).as_bytes()),
        Format::Md | Format::Html => unreachable!("refused before reading"),
    };
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = written.and_then(|()| out.flush());
    clock.stage("report written");
    // The process ends here: leave the analysis and report to the OS
    // instead of freeing them piece by piece.
    std::mem::forget((cap, analysis, facts, report));
    Ok(ExitCode::SUCCESS)
}
