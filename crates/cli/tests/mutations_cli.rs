//! Damaged copies of every fixture through the binary: cut at many offsets,
//! bytes flipped in record (block) headers and in the packet headers at the
//! start of frames. `flows`, `analyze` and `diff` must each end with a
//! report (exit 0) or one error line naming the file (exit 2) within
//! [`TIME_LIMIT`], never a panic (exit 101) or a signal.
//!
//! Seeded: a failure prints the seed and keeps the damaged file, so it
//! reproduces with `MUTATION_SEED=<seed>`; `MUTATIONS=<n>` makes more copies
//! per fixture (default [`PER_FIXTURE`]).

mod common;

use common::{fixture, scratch_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use twincap_synth::rng::Rng;

/// Damaged copies made of each fixture.
const PER_FIXTURE: usize = 6;
/// Bytes of a fixture kept before damaging it: the walkers see every kind
/// of record early on, and small files keep the test fast.
const PREFIX: usize = 96 * 1024;
/// A run that takes longer than this is a hang.
const TIME_LIMIT: Duration = Duration::from_secs(10);

/// Uniform in `0..n` (0 for an empty range).
fn below(rng: &mut Rng, n: usize) -> usize {
    (rng.u64() % n.max(1) as u64) as usize
}

/// Every capture under fixtures/corpus, fixtures/lab and fixtures/f5.
fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![
        fixture("fixtures/corpus"),
        fixture("fixtures/lab"),
        fixture("fixtures/f5"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() && name != "oracle" {
                dirs.push(p);
            } else if p.is_file() && is_capture_name(&name) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn is_capture_name(name: &str) -> bool {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    [".pcap", ".pcapng", ".cap"]
        .iter()
        .any(|e| name.ends_with(e))
}

/// Where a record's header and its frame's first bytes are.
struct Record {
    header: std::ops::Range<usize>,
    data: std::ops::Range<usize>,
}

/// The records of a plain pcap or pcapng file (empty for anything else,
/// gzip included: those get cuts and flips anywhere).
fn records(bytes: &[u8]) -> Vec<Record> {
    let word = |at: usize, big: bool| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        } as usize)
    };
    let mut out = Vec::new();
    match bytes.get(..4) {
        Some([0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, ..]) => {
            let big = bytes[0] == 0xa1;
            let mut at = 24;
            while let Some(len) = word(at + 8, big) {
                let data = at + 16..(at + 16 + len).min(bytes.len());
                out.push(Record {
                    header: at..at + 16,
                    data,
                });
                at += 16 + len;
            }
        }
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => {
            let mut big = false;
            let mut at = 0;
            while let (Some(kind), Some(_)) = (word(at, big), word(at + 4, big)) {
                if kind == 0x0a0d_0d0a {
                    big = bytes.get(at + 8..at + 12) == Some(&[0x1a, 0x2b, 0x3c, 0x4d][..]);
                }
                let len = word(at + 4, big).unwrap();
                let (head, data) = match kind {
                    6 => (28, at + 28),
                    3 => (12, at + 12),
                    _ => (12, at + 8),
                };
                out.push(Record {
                    header: at..at + head,
                    data: data..(at + len).min(bytes.len()),
                });
                if len < 12 {
                    break;
                }
                at += len;
            }
        }
        _ => {}
    }
    out.retain(|r| r.header.end <= bytes.len());
    out
}

/// One damaged copy of `bytes`: one to three flips in record headers or
/// frame headers, then, every other copy, a cut.
fn damage(bytes: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut out = bytes.to_vec();
    let recs = records(bytes);
    let mut what = Vec::new();
    for _ in 0..1 + below(rng, 3) {
        let at = match (recs.is_empty(), below(rng, 3)) {
            (true, _) => below(rng, out.len().min(256)),
            (false, 0 | 1) => {
                let r = &recs[below(rng, recs.len())];
                r.header.start + below(rng, r.header.len())
            }
            (false, _) => {
                let r = &recs[below(rng, recs.len())];
                r.data.start + below(rng, r.data.len().min(64))
            }
        };
        if at >= out.len() {
            continue;
        }
        // An all-ones byte makes absurd lengths; an xor makes near misses.
        let new = if below(rng, 4) == 0 {
            0xff
        } else {
            out[at] ^ (1 + below(rng, 255) as u8)
        };
        what.push(format!("byte {at} {:02x}->{new:02x}", out[at]));
        out[at] = new;
    }
    if below(rng, 2) == 0 && out.len() > 1 {
        // Cuts near the start hit file and first record headers.
        let cut = if below(rng, 3) == 0 {
            below(rng, out.len().min(64))
        } else {
            below(rng, out.len())
        };
        out.truncate(cut.max(1));
        what.push(format!("cut at {}", out.len()));
    }
    (out, what.join(", "))
}

/// Run twincap, killed after [`TIME_LIMIT`]: (exit code, stdout empty,
/// stderr), or the reason it failed.
fn run(args: &[&Path], cmd: &str) -> Result<(i32, bool, String), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twincap"))
        .arg(cmd)
        .args(args)
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("twincap starts");
    // Read the pipes on threads: a big report must not block the child.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut b).ok();
        b
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut se, &mut s).ok();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIME_LIMIT {
            child.kill().ok();
            child.wait().ok();
            return Err(format!("still running after {TIME_LIMIT:?}: killed"));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    match status.code() {
        Some(code) => Ok((code, stdout.is_empty(), stderr)),
        None => Err(format!("killed by a signal: {status:?}\n{stderr}")),
    }
}

/// Exit 0 with a report, or exit 2 with one error line naming one of
/// `files`; the exit code.
fn check(files: &[&Path], cmd: &str) -> Result<i32, String> {
    let (code, no_report, stderr) = run(files, cmd)?;
    match code {
        0 if no_report => Err("exit 0 without a report".into()),
        0 => Ok(0),
        2 => {
            let errors: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.starts_with("twincap: warning: "))
                .collect();
            let named = files.iter().any(|f| {
                errors
                    .first()
                    .is_some_and(|e| e.starts_with(&format!("twincap: error: {}: ", f.display())))
            });
            if errors.len() == 1 && named && no_report {
                Ok(2)
            } else {
                Err(format!(
                    "exit 2 without one error line naming the file:\n{stderr}"
                ))
            }
        }
        _ => Err(format!("exit {code}:\n{stderr}")),
    }
}

#[test]
fn damaged_fixtures_end_in_a_report_or_one_error_line() {
    let seed: u64 = std::env::var("MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7c0ffee);
    let per_fixture: usize = std::env::var("MUTATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(PER_FIXTURE);
    let dir = scratch_dir();
    let fixtures = fixtures();
    assert!(fixtures.len() >= 40, "fixtures missing: {fixtures:?}");
    let mut rng = Rng::new(seed);
    let (mut runs, mut failures) = (0, Vec::new());
    let (mut reports, mut errors) = (0, 0);
    let start = Instant::now();
    for (f, fixture) in fixtures.iter().enumerate() {
        let bytes = std::fs::read(fixture).unwrap();
        let prefix = &bytes[..bytes.len().min(PREFIX)];
        let mut previous = dir.join(format!("{f}-orig"));
        std::fs::write(&previous, prefix).unwrap();
        for m in 0..per_fixture {
            let (damaged, what) = damage(prefix, &mut rng);
            let path = dir.join(format!(
                "{f}-{m}.{}",
                fixture.file_name().unwrap().to_string_lossy()
            ));
            std::fs::write(&path, &damaged).unwrap();
            // Each copy through one command in turn; diff pairs it with the
            // previous copy (or the undamaged prefix), either way round.
            let (cmd, files): (&str, Vec<&Path>) = match m % 4 {
                0 => ("flows", vec![&path]),
                1 => ("analyze", vec![&path]),
                2 => ("diff", vec![&path, &previous]),
                _ => ("diff", vec![&previous, &path]),
            };
            runs += 1;
            match check(&files, cmd) {
                Ok(0) => reports += 1,
                Ok(_) => errors += 1,
                Err(e) => failures.push(format!(
                    "{cmd} {} ({} from {}: {what}): {e}",
                    path.display(),
                    damaged.len(),
                    fixture.display()
                )),
            }
            previous = path;
        }
    }
    eprintln!(
        "{runs} damaged copies of {} fixtures (seed {seed}) in {:.1}s: {reports} reports, {errors} errors",
        fixtures.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
    // Both outcomes occur: damage that tests neither path would prove nothing.
    assert!(
        reports > runs / 10 && errors > runs / 20,
        "{reports} reports, {errors} errors"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
