//! `twincap analyze FILE`: Wireshark's TCP expert flags on one capture.

use crate::{emit, load, Failure, Format};
use std::path::Path;
use std::process::ExitCode;
use twincap_reporter::analyze;

pub fn run(file: &Path, format: Format) -> Result<ExitCode, Failure> {
    let cap = load(file)?;
    let conns = twincap_parser::conn::split(&cap);
    let analysis = twincap_matcher::analyze::analyze(&cap, &conns);
    let report = analyze::AnalyzeReport::build(&cap, &conns, &analysis);
    let text = match format {
        Format::Text => analyze::to_text(&report),
        Format::Json => analyze::to_json(&report),
        Format::Yaml => analyze::to_yaml(&report),
        other => {
            return Err(Failure(format!(
                "analyze cannot write {other:?}: use text, json or yaml"
            )))
        }
    };
    emit(&text, None)?;
    // The process ends here: leave the (large) capture, analysis and
    // report to the OS instead of freeing them piece by piece.
    std::mem::forget((cap, conns, analysis, report, text));
    Ok(ExitCode::SUCCESS)
}
