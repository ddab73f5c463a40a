//! Bad input through the binary: exit status 2 and one line on stderr that
//! names the file and what is wrong; a capture cut off mid-record is read up
//! to where it breaks, with a warning and exit status 0.

mod common;

use common::{fixture, pcap_header, pcap_record_header, scratch, stderr, twincap};
use std::path::Path;

/// The one error line, for every subcommand that reads the file.
fn assert_input_error(path: &Path, expect: &str) {
    let p = path.to_str().unwrap();
    for args in [
        vec!["flows", p],
        vec!["analyze", p],
        vec!["diff", p, p, "--format", "json"],
    ] {
        let o = twincap(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?} wrote a report on error");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
        assert!(
            err.starts_with(&format!("twincap: error: {p}: ")),
            "{args:?}: {err}"
        );
        assert!(err.contains(expect), "{args:?}: {err:?} lacks {expect:?}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn missing_file() {
    assert_input_error(
        Path::new("/nonexistent/dir/client.pcap"),
        "cannot read the file: No such file or directory",
    );
}

#[test]
fn empty_file() {
    let p = scratch("empty.pcap", &[]);
    assert_input_error(&p, "the file is empty (0 bytes)");
}

#[test]
fn not_a_capture() {
    let p = scratch("notes.pcap", b"<!DOCTYPE html><html></html>");
    assert_input_error(
        &p,
        "not a capture file twincap reads: it starts with bytes 3c 21 44 4f",
    );
}

#[test]
fn unsupported_link_type() {
    // LINKTYPE 147 (user-defined) holds no IP twincap can find.
    let p = scratch("user147.pcap", &pcap_header(147));
    assert_input_error(&p, "link type 147 is not one twincap decodes");
}

#[test]
fn absurd_record_length_names_the_frame() {
    let mut f = pcap_header(1);
    // Record 1: header claims 300000 captured bytes.
    f.extend(pcap_record_header(0, 0, 300_000, 300_000));
    f.extend([0u8; 64]);
    let p = scratch("absurd.pcap", &f);
    assert_input_error(&p, "frame 1 (byte offset 24)");
}

#[test]
fn truncated_capture_is_read_with_a_warning() {
    let src = std::fs::read(fixture("fixtures/lab/ex1-probe-seed7/client.pcap")).unwrap();
    // Cut inside a record, well past the first few frames.
    let p = scratch("cut.pcap", &src[..src.len() / 2 + 7]);
    let o = twincap(&["flows", p.to_str().unwrap(), "--format", "json"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.starts_with("twincap: warning: "), "{err}");
    assert!(err.contains("byte offset"), "{err}");
    assert!(err.contains("file ends in the middle of frame"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["frames"].as_u64().unwrap() > 100, "{v}");
}

#[test]
fn usage_errors_exit_2() {
    let o = twincap(&["diff", "only-one.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Usage"), "{}", stderr(&o));
    let o = twincap(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}
