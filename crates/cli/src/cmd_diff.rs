//! `twincap diff CLIENT LB` (placeholder until the matcher lands).

use crate::{Failure, Format};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DiffArgs {
    /// Capture taken on the client side (before the NAT).
    pub client: PathBuf,
    /// Capture taken on the load-balancer side (after the NAT).
    pub lb: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Seconds to add to the LB capture's clock to put it on the client's
    /// (overrides the estimate).
    #[arg(long, allow_hyphen_values = true)]
    pub clock_offset: Option<f64>,
    /// No progress bar on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn run(_args: &DiffArgs) -> Result<ExitCode, Failure> {
    Err(Failure("diff is not implemented yet".into()))
}
