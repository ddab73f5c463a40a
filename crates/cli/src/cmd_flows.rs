//! `twincap flows FILE`

use crate::{emit, load, Failure, Format};
use std::path::Path;
use std::process::ExitCode;
use twincap_reporter::flows;

pub fn run(file: &Path, format: Format) -> Result<ExitCode, Failure> {
    let cap = load(file)?;
    let conns = twincap_parser::conn::split(&cap);
    let analysis = twincap_matcher::analyze::analyze(&cap, &conns);
    let report = flows::FlowsReport::build(&cap, &conns, &analysis);
    let text = match format {
        Format::Text => flows::to_text(&report),
        Format::Json => flows::to_json(&report),
        Format::Yaml => flows::to_yaml(&report),
        other => {
            return Err(Failure(format!(
                "flows cannot write {other:?}: use text, json or yaml"
            )))
        }
    };
    emit(&text, None)?;
    Ok(ExitCode::SUCCESS)
}
