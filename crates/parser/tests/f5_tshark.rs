//! Differential tests: `twincap_parser::f5` against what tshark 4.0.17's
//! f5ethtrailer and f5fileinfo dissectors show, as recorded once in
//! `fixtures/f5/*.tsv` (the commands are in `fixtures/f5/README.md`), so
//! the tests do not need tshark.
//!
//! - `fixtures/corpus/f5adc_hackazon2.pcap`: a public BIG-IP 13.1 capture
//!   (`tcpdump -nni 0.0:nnn`, 802.1Q tags, legacy low/medium/high trailers,
//!   "No local listener" RST causes).
//! - `fixtures/f5/handbuilt.pcap`: one frame per trailer layout, legacy and
//!   DPT, built by `f5_common::handbuilt()`.

#[path = "f5_common.rs"]
mod common;

use std::collections::BTreeMap;
use std::fs;

use common::{
    compare, frame_with_trailer, handbuilt, pcap_frames, pcap_write, read_tsv, root, trailer_of,
};
use twincap_parser::f5;

fn report(what: &str, a: &common::Agreement, frames: usize) {
    for (col, (ok, bad)) in &a.columns {
        eprintln!("{what}: {col:32} agree {ok:5}  differ {bad}");
    }
    eprintln!(
        "{what}: {frames} frames, {} with a decoded trailer",
        a.decoded
    );
}

#[test]
fn hackazon_trailers_match_tshark() {
    let pcap = fs::read(root().join("fixtures/corpus/f5adc_hackazon2.pcap")).unwrap();
    let frames = pcap_frames(&pcap);
    let a = compare(&frames, "f5adc_hackazon2.trailers.tsv");
    report("hackazon", &a, frames.len());
    assert!(
        a.differences.is_empty(),
        "{} differences:\n{}",
        a.differences.len(),
        a.differences.join("\n")
    );

    // The capture's known content (fixtures/corpus/MANIFEST.tsv), and the
    // counts tshark gives (`-Y f5ethtrailer.vip != ""` and so on).
    let trailers: Vec<_> = frames
        .iter()
        .filter_map(|f| trailer_of(f))
        .map(|t| f5::decode_trailer(t).unwrap())
        .collect();
    assert_eq!(
        a.decoded,
        frames.len() - 1,
        "every frame but the fileinfo one"
    );
    assert_eq!(
        trailers
            .iter()
            .filter(|t| t.virtual_server().is_some())
            .count(),
        1675
    );
    assert_eq!(trailers.iter().filter(|t| t.peer().is_some()).count(), 625);
    let causes: Vec<_> = trailers.iter().filter_map(|t| t.rst_cause()).collect();
    assert_eq!(causes.len(), 7);
    assert!(causes
        .iter()
        .all(|c| c.text == "No local listener" && c.value == 0x287fa33 && c.line == 2267));
}

#[test]
fn hackazon_fileinfo_matches_tshark() {
    let pcap = fs::read(root().join("fixtures/corpus/f5adc_hackazon2.pcap")).unwrap();
    let frames = pcap_frames(&pcap);
    let (header, rows) = read_tsv("f5adc_hackazon2.fileinfo.tsv");
    let want: BTreeMap<&str, &str> = header
        .iter()
        .map(String::as_str)
        .zip(rows[0].iter().map(String::as_str))
        .collect();
    let info = f5::decode_fileinfo(frames[0]).expect("frame 1 is the F5 fileinfo pseudo-packet");
    assert_eq!(info.command.as_deref(), Some(want["f5fileinfo.cmdline"]));
    assert_eq!(info.version.as_deref(), Some(want["f5fileinfo.version"]));
    assert_eq!(info.hostname.as_deref(), Some(want["f5fileinfo.hostname"]));
    assert_eq!(info.platform.as_deref(), Some(want["f5fileinfo.platform"]));
    assert_eq!(info.product.as_deref(), Some(want["f5fileinfo.product"]));
    assert_eq!(info.platform_name(), Some("BIG-IP Virtual Edition (VE)"));
    assert_eq!(info.version_numbers(), [13, 1, 0, 3, 0, 0]);
    assert_eq!(
        info.noise(),
        Some(f5::CaptureNoise {
            level: 3,
            peer: false
        })
    );
    // No other frame is a fileinfo packet, and the fileinfo frame has no trailer.
    assert!(frames[1..].iter().all(|f| f5::decode_fileinfo(f).is_none()));
    assert!(trailer_of(frames[0]).is_none());
}

/// The hand-built frames, as a pcap. `TWINCAP_F5_REGEN=1` rewrites
/// `fixtures/f5/handbuilt.pcap` (then regenerate its TSV with tshark, see
/// `fixtures/f5/README.md`); otherwise the checked-in file must match.
#[test]
fn handbuilt_pcap_is_current() {
    let frames: Vec<Vec<u8>> = handbuilt()
        .iter()
        .map(|(_, t)| frame_with_trailer(t))
        .collect();
    let pcap = pcap_write(&frames);
    let path = root().join("fixtures/f5/handbuilt.pcap");
    if std::env::var_os("TWINCAP_F5_REGEN").is_some() {
        fs::write(&path, &pcap).unwrap();
    }
    assert!(
        fs::read(&path).unwrap() == pcap,
        "fixtures/f5/handbuilt.pcap is stale: TWINCAP_F5_REGEN=1"
    );
}

#[test]
fn handbuilt_trailers_match_tshark() {
    let pcap = fs::read(root().join("fixtures/f5/handbuilt.pcap")).unwrap();
    let frames = pcap_frames(&pcap);
    let a = compare(&frames, "handbuilt.trailers.tsv");
    report("handbuilt", &a, frames.len());
    let names = handbuilt();
    let differences: Vec<String> = a
        .differences
        .iter()
        .map(|d| {
            let n: usize = d["frame ".len()..]
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            format!("{d} [{}]", names[n - 1].0)
        })
        .collect();
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert_eq!(a.decoded, frames.len());
}

/// The trailer bytes of each frame of a pcap, found the way callers will:
/// `read_capture`, then the frame at each packet's `rec_offset` (a pcap
/// record header is 16 bytes, captured length at byte 8) and
/// `f5::packet_trailer`. Frames that are not TCP get `None`.
fn trailers_via_read_capture(pcap: &[u8], path: &std::path::Path) -> Vec<Option<Vec<u8>>> {
    let cap = twincap_parser::read_capture(path, &twincap_parser::ReadOptions::default()).unwrap();
    let mut out = vec![None; cap.frames() as usize];
    for p in &cap.packets {
        let at = p.rec_offset as usize;
        let incl = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &pcap[at + 16..at + 16 + incl];
        out[p.frame as usize - 1] =
            f5::packet_trailer(p, cap.attrs(p).trailer_len, frame).map(<[u8]>::to_vec);
    }
    out
}

/// The tshark comparison again, with the trailers found through the
/// parser's reader (`read_capture`, `rec_offset`, `trailer_len`) rather than
/// by hand.
#[test]
fn hackazon_trailers_via_read_capture_match_tshark() {
    let path = root().join("fixtures/corpus/f5adc_hackazon2.pcap");
    let pcap = fs::read(&path).unwrap();
    let trailers = trailers_via_read_capture(&pcap, &path);
    let by_hand: Vec<Option<&[u8]>> = pcap_frames(&pcap).iter().map(|f| trailer_of(f)).collect();
    for (i, (ours, hand)) in trailers.iter().zip(&by_hand).enumerate() {
        assert_eq!(ours.as_deref(), *hand, "frame {}", i + 1);
    }
    let refs: Vec<Option<&[u8]>> = trailers.iter().map(Option::as_deref).collect();
    let a = common::compare_trailers(&refs, "f5adc_hackazon2.trailers.tsv");
    report("hackazon via read_capture", &a, refs.len());
    assert!(a.differences.is_empty(), "{}", a.differences.join("\n"));
    assert_eq!(a.decoded, refs.len() - 1);
}

/// `Capture::rst_payloads` carries the BIG-IP's reset cause, and the binary
/// diagnostic payload is reported as binary.
#[test]
fn rst_payloads_via_read_capture() {
    let read = |name: &str| {
        let path = root().join("fixtures/corpus").join(name);
        twincap_parser::read_capture(&path, &twincap_parser::ReadOptions::default()).unwrap()
    };
    let cap = read("tcpdump_tcp_rst_data.pcap");
    let (frame, payload) = &cap.rst_payloads[0];
    assert_eq!(*frame, 1);
    assert_eq!(
        f5::parse_rst_cause(payload).unwrap().to_string(),
        "BIG-IP: [0x11c5672:3045] {peer} TCP RST from remote system"
    );
    let cap = read("tcpdump_tcp_rst_diag_payload.pcap");
    let (_, payload) = &cap.rst_payloads[0];
    assert!(matches!(
        f5::parse_rst_cause(payload),
        Some(f5::RstCause::Binary { len: 8, .. })
    ));
}
