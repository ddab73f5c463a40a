//! `twincap analyze FILE`: Wireshark's TCP expert flags on one capture.

use crate::{warn, Failure, Format};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use twincap_parser::{read_capture, ReadOptions};
use twincap_reporter::analyze;

pub fn run(file: &Path, format: Format) -> Result<ExitCode, Failure> {
    // Payloads are not hashed: nothing here compares them. (The packets
    // are kept: F5 trailers and reset causes are reported per connection
    // from them; `analyze::StreamingAnalysis` flags frames without keeping
    // packets, once those parts of the report can be made without them.)
    let opts = ReadOptions {
        skip_payload_hash: true,
        ..ReadOptions::default()
    };
    let cap = read_capture(file, &opts)?;
    warn(&cap);
    let conns = twincap_parser::conn::split(&cap);
    let analysis = twincap_matcher::analyze::analyze(&cap, &conns);
    let report = analyze::AnalyzeReport::build(&cap, &conns, &analysis);
    // Written as it is made: a report of a large capture is never one
    // string in memory.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = match format {
        Format::Text => analyze::write_text(&report, &mut out),
        Format::Json => analyze::write_json(&report, &mut out),
        Format::Yaml => out.write_all(analyze::to_yaml(&report).as_bytes()),
        other => {
            return Err(Failure(format!(
                "analyze cannot write {other:?}: use text, json or yaml"
            )))
        }
    };
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = written.and_then(|()| out.flush());
    // The process ends here: leave the (large) capture, analysis and
    // report to the OS instead of freeing them piece by piece.
    std::mem::forget((cap, conns, analysis, report));
    Ok(ExitCode::SUCCESS)
}
