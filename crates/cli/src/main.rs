//! `twincap`: the thin binary. Parses arguments, calls the reader, the
//! matcher and the reporter, and turns errors into one clear line on stderr
//! with exit status 2.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twincap_parser::{read_capture, Capture, ReadOptions};

mod cmd_analyze;
mod cmd_diff;
mod cmd_flows;

#[derive(Parser)]
#[command(
    name = "twincap",
    version,
    about = "Line up two captures of the same TCP traffic (client side and load-balancer side) and tell what the path in between lost, reordered, duplicated or injected.",
    after_help = "Exit status: 0 success, 2 usage or input error (the message names the file and the frame)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the TCP connections of a capture, numbered as Wireshark's tcp.stream.
    Flows {
        /// Capture file (pcap, pcapng, Network Monitor; plain or gzip).
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Flag each frame of one capture with Wireshark's TCP expert flags.
    Analyze {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Pair a client-side and an LB-side capture across SNAT and report what the path in between did.
    Diff(cmd_diff::DiffArgs),
}

/// Output formats. Not every command writes every one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
    Md,
    Html,
}

/// An error that ends the command: printed as `twincap: error: ...`, exit 2.
#[derive(Debug)]
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

/// Read a capture and print its warnings (truncation, odd records) on stderr.
pub fn load(path: &Path) -> Result<Capture, Failure> {
    let cap = read_capture(path, &ReadOptions::default())?;
    for w in &cap.warnings {
        let mut place = String::new();
        if w.frame > 0 {
            place.push_str(&format!(": frame {}", w.frame));
        }
        if let Some(o) = w.offset {
            place.push_str(&format!(" (byte offset {o})"));
        }
        eprintln!(
            "twincap: warning: {}{}: {}",
            path.display(),
            place,
            w.message
        );
    }
    Ok(cap)
}

/// Write a command's output to stdout, or to a file with `-o`.
pub fn emit(text: &str, out: Option<&Path>) -> Result<(), Failure> {
    use std::io::Write;
    match out {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| Failure(format!("{}: cannot write the report: {e}", p.display()))),
        None => {
            let mut so = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = so.write_all(text.as_bytes());
            let _ = so.flush();
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Flows { file, format } => cmd_flows::run(&file, format),
        Command::Analyze { file, format } => cmd_analyze::run(&file, format),
        Command::Diff(args) => cmd_diff::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(Failure(msg)) => {
            eprintln!("twincap: error: {msg}");
            ExitCode::from(2)
        }
    }
}
