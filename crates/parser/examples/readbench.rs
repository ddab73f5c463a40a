//! Reads capture files with `read_capture` and prints, per file, the frame
//! and TCP counts and the frames per second; used by `benches/reader.sh`.
//!
//! usage: readbench [--single-threaded] [--repeat N] FILE...

use std::path::Path;
use std::time::Instant;
use twincap_parser::{read_capture, ReadOptions};

fn main() {
    let mut opts = ReadOptions::default();
    let mut repeat = 1;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--single-threaded" => opts.single_threaded = true,
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            _ => files.push(arg),
        }
    }
    let mut failed = false;
    for file in &files {
        let mut best = f64::MAX;
        let mut line = String::new();
        for _ in 0..repeat {
            let start = Instant::now();
            match read_capture(Path::new(file), &opts) {
                Ok(cap) => {
                    let secs = start.elapsed().as_secs_f64();
                    best = best.min(secs);
                    if best == secs {
                        let s = &cap.stats;
                        line = format!(
                            "{file}\tframes={}\ttcp={}\tnon_tcp={}\tfrag={}\tunsupported={}\tmalformed={}\twarnings={}\tsecs={secs:.4}\tframes_per_sec={:.0}",
                            s.frames, s.tcp, s.non_tcp, s.ipv4_fragments, s.unsupported_link,
                            s.malformed, cap.warnings.len(), s.frames as f64 / secs
                        );
                    }
                }
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                    break;
                }
            }
        }
        if !line.is_empty() {
            println!("{line}");
        }
    }
    if failed {
        std::process::exit(1);
    }
}
