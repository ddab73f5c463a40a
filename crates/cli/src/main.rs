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
mod timing;

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
    warn(&cap);
    Ok(cap)
}

/// Print a capture's warnings on stderr.
pub fn warn(cap: &Capture) {
    let path = &cap.path;
    for w in &cap.warnings {
        // Placed as errors are (`ReadError`'s Display): `FILE: frame N
        // (byte offset X): message`.
        let place = match (w.frame, w.offset) {
            (0, Some(o)) => format!(": byte offset {o}"),
            (0, None) => String::new(),
            (n, Some(o)) => format!(": frame {n} (byte offset {o})"),
            (n, None) => format!(": frame {n}"),
        };
        eprintln!(
            "twincap: warning: {}{}: {}",
            path.display(),
            place,
            w.message
        );
    }
    // Frames left out, said once: with a snaplen too small, every frame.
    let bad = cap.stats.malformed;
    if bad > 0 {
        eprintln!(
            "twincap: warning: {}: {bad} of its {} frames are cut or broken before the end of \
             their TCP header and were left out (Wireshark shows them as malformed; if the \
             capture was taken with a small snaplen, take it again with -s 96 or more)",
            path.display(),
            cap.stats.frames
        );
    }
}

/// Write a command's output to stdout, or to a file with `-o`.
pub fn emit(text: &str, out: Option<&Path>) -> Result<(), Failure> {
    use std::io::Write;
    match out {
        Some(p) => std::fs::write(p, text).map_err(|e| cannot_write(p, e)),
        None => {
            let mut so = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = so.write_all(text.as_bytes());
            let _ = so.flush();
            Ok(())
        }
    }
}

/// `diff` needs TCP on both sides: a capture without a TCP packet (empty,
/// or all other traffic) has nothing to line up against `other`, and
/// diffing would call every packet of the other side lost or unexplained.
pub fn require_tcp(cap: &Capture, side: &str, other: &Path) -> Result<(), Failure> {
    if !cap.packets.is_empty() {
        return Ok(());
    }
    let frames = match (cap.stats.frames, cap.stats.malformed) {
        (0, _) => "it holds no frames".to_string(),
        (n, 0) => format!("none of its {n} frames is TCP"),
        (n, bad) => format!(
            "none of its {n} frames is TCP that can be read: {bad} are cut or broken before the \
             end of their TCP header, as with a snaplen under 54 bytes"
        ),
    };
    Err(Failure(format!(
        "{}: the {side} capture holds no TCP packets ({frames}), so there is nothing to line up \
         {} against (check that the capture ran on the interface that carries the traffic and \
         that no capture filter dropped TCP)",
        cap.path.display(),
        other.display()
    )))
}

/// The same file on both sides pairs every packet with itself: say so,
/// since the report is then empty by construction.
pub fn warn_if_same_file(client: &Path, lb: &Path) {
    let same = match (client.canonicalize(), lb.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => client == lb,
    };
    if same {
        eprintln!(
            "twincap: warning: {}: given as both the client and the LB capture: every packet \
             pairs with itself, so nothing can be found lost, reordered or injected",
            client.display()
        );
    }
}

/// The report could not be written to `path`.
pub fn cannot_write(path: &Path, e: std::io::Error) -> Failure {
    Failure(format!(
        "{}: cannot write the report: {e} (check that the folder exists and that you may write to it)",
        path.display()
    ))
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
