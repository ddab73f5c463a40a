//! Inputs the fuzz targets (fuzz/) crashed on, kept so they never crash
//! again. Each file in fixtures/regressions/ is a `diff` target input: a
//! 4-byte little-endian length, the client capture, the LB capture. Overflow
//! checks are on in debug builds: run these with `cargo test` (not only
//! `--release`) to catch an arithmetic overflow.

use std::path::Path;
use twincap_matcher::{analyze, diff};
use twincap_parser::{conn, read_capture_bytes, ReadOptions};

fn diff_input(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/regressions")
        .join(name);
    let data = std::fs::read(&path).unwrap();
    let (len, rest) = data.split_first_chunk::<4>().unwrap();
    let cut = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (client, lb) = rest.split_at(cut);
    let opts = ReadOptions::default();
    let client = read_capture_bytes(Path::new("client.pcap"), client.to_vec(), &opts).unwrap();
    let lb = read_capture_bytes(Path::new("lb.pcap"), lb.to_vec(), &opts).unwrap();
    let (cc, lc) = (conn::split(&client), conn::split(&lb));
    let _ = analyze::analyze(&client, &cc);
    let _ = diff::diff(
        diff::Side::new(&client, &cc),
        diff::Side::new(&lb, &lc),
        &diff::DiffOptions::default(),
    );
}

/// diff/align.rs: a packet "arriving" absurdly early (damaged timestamps)
/// overflowed the early-arrival cost `-4 * (delay + slack)`.
#[test]
fn align_cost_of_an_absurd_delay_does_not_overflow() {
    diff_input("diff-align-cost-overflow.bin");
}
