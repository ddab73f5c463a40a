//! `twincap analyze FILE` (placeholder until the analyzer lands).

use crate::{Failure, Format};
use std::path::Path;
use std::process::ExitCode;

pub fn run(_file: &Path, _format: Format) -> Result<ExitCode, Failure> {
    Err(Failure("analyze is not implemented yet".into()))
}
