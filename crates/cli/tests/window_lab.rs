//! Captures that start and stop at different moments, on a real lab pair:
//! the LB capture of `probe-ipid-zero-dupheavy-s208` cut as if tcpdump on
//! the LB had been started late (and stopped early). What the client sent
//! before the LB capture began, or so shortly before it stopped that it may
//! have arrived after, is outside its window, not lost; what the client
//! received so soon after the LB capture began that it may have been sent
//! before is not injected. Inside the window the diff must say exactly
//! what it says with the whole LB capture, and what it puts outside the
//! window is what the lab's truth has crossing outside it.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use support::{all_events, lab, twincap};

/// The LB capture's window kept, and where it lies in the whole one.
struct Cut {
    pcap: Vec<u8>,
    /// Records dropped before the window.
    before: u64,
    /// Records kept.
    kept: u64,
    /// Time of the first and last record kept (seconds); the end is
    /// infinite where nothing was cut after the window.
    start: f64,
    end: f64,
}

/// The pcap (microsecond, little-endian) `bytes` with only the records from
/// `from_s` to `to_s` seconds after its first.
fn cut(bytes: &[u8], from_s: u64, to_s: u64) -> Cut {
    assert_eq!(
        bytes[..4],
        [0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian µs pcap"
    );
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let mut c = Cut {
        pcap: bytes[..24].to_vec(),
        before: 0,
        kept: 0,
        start: 0.0,
        end: 0.0,
    };
    let (mut at, mut first, mut cut_after) = (24, None, false);
    while at + 16 <= bytes.len() {
        let (secs, usecs, len) = (word(at), word(at + 4), word(at + 8) as usize);
        let ts = u64::from(secs) * 1_000_000 + u64::from(usecs);
        let t0 = *first.get_or_insert(ts);
        if ts < t0 + from_s * 1_000_000 {
            c.before += 1;
        } else if ts < t0.saturating_add(to_s.saturating_mul(1_000_000)) {
            if c.kept == 0 {
                c.start = ts as f64 / 1e6;
            }
            c.end = ts as f64 / 1e6;
            c.kept += 1;
            c.pcap.extend_from_slice(&bytes[at..at + 16 + len]);
        } else {
            cut_after = true;
        }
        at += 16 + len;
    }
    if !cut_after {
        c.end = f64::INFINITY;
    }
    c
}

/// (kind, dir, client frame, lb frame) of every event but `modified`, and
/// the client times of the `lost` ones that have no LB frame.
type Key = (String, String, Option<u64>, Option<u64>);

fn events(report: &Value) -> Vec<(Key, Option<f64>)> {
    all_events(report)
        .filter(|e| e["kind"] != "modified")
        .map(|e| {
            let key = (
                e["kind"].as_str().unwrap().to_string(),
                e["dir"].as_str().unwrap().to_string(),
                e["client_frame"].as_u64(),
                e["lb_frame"].as_u64(),
            );
            (key, e["client_time"].as_f64())
        })
        .collect()
}

/// `twincap diff --format json` of the lab pair with the LB capture `lb`.
fn diff_with_lb(dir: &Path, lb: &Path) -> Value {
    let client = dir.join("client.pcap");
    let args = [
        "diff".as_ref(),
        client.as_os_str(),
        lb.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ];
    serde_json::from_str(&twincap(dir, &args)).unwrap()
}

/// The diff with the LB capture cut to `from_s..to_s` seconds against the
/// diff with the whole of it: (events of the whole diff inside the cut
/// window, events of the cut diff but `outside_window`, how many are
/// `outside_window`).
fn whole_and_cut(from_s: u64, to_s: u64) -> (BTreeSet<Key>, BTreeSet<Key>, usize) {
    let dir = lab("probe-ipid-zero-dupheavy-s208");
    let c = cut(&std::fs::read(dir.join("lb.pcap")).unwrap(), from_s, to_s);
    let tmp = std::env::temp_dir().join(format!(
        "twincap-window-lab-{}-{from_s}-{to_s}",
        std::process::id()
    ));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("lb.pcap"), &c.pcap).unwrap();
    let (whole, part) = (
        diff_with_lb(&dir, &dir.join("lb.pcap")),
        diff_with_lb(&dir, &tmp.join("lb.pcap")),
    );
    std::fs::remove_dir_all(&tmp).unwrap();
    // The whole capture's events that fall inside the cut one's window:
    // those with an LB frame in it (renumbered), and losses on the way to
    // the LB sent after it started (1 ms for the path; the two clocks agree
    // to a few microseconds in this run) and 200 ms before it stopped (a
    // packet held on the way may have arrived after).
    let inside = events(&whole)
        .into_iter()
        .filter(|(k, _)| k.0 != "outside_window")
        .filter_map(|((kind, dir, cf, l), t)| match l {
            Some(l) if l > c.before && l <= c.before + c.kept => {
                Some((kind, dir, cf, Some(l - c.before)))
            }
            Some(_) => None,
            None if t.unwrap() + 0.001 >= c.start && t.unwrap() + 0.2 <= c.end => {
                Some((kind, dir, cf, None))
            }
            None => None,
        })
        .collect();
    let part_events = events(&part);
    // Against the lab's truth: every frame the cut diff puts outside the
    // window is one whose packet did not cross within it (no LB copy at
    // all, or its LB copy among the records cut off).
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let mut lb_copy: std::collections::BTreeMap<u64, Option<u64>> = truth["flows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["packets"].as_array().unwrap())
        .filter_map(|p| Some((p["client_frame"].as_u64()?, p["lb_frame"].as_u64())))
        .collect();
    // The client's extra copies of a server packet the middle duplicated.
    for e in truth["events"].as_array().unwrap() {
        if e["kind"] == "duplicated" && e["dir"] == "s2c" {
            for r in e["detail"]["receiver_frames"].as_array().unwrap() {
                lb_copy
                    .entry(r.as_u64().unwrap())
                    .or_insert(e["lb_frame"].as_u64());
            }
        }
    }
    let mut outside = 0;
    for ((kind, _, cf, _), _) in &part_events {
        if kind != "outside_window" {
            continue;
        }
        outside += 1;
        let cf = cf.expect("the client capture is whole: every frame outside is a client frame");
        if let Some(l) = lb_copy[&cf] {
            assert!(
                l <= c.before || l > c.before + c.kept,
                "client frame {cf} called outside the window; it reached LB frame {l}, kept"
            );
        }
    }
    let got = part_events
        .into_iter()
        .filter(|(k, _)| k.0 != "outside_window")
        .map(|e| e.0)
        .collect();
    (inside, got, outside)
}

/// tcpdump on the LB started 5 s after the client's.
#[test]
fn lb_capture_started_late_changes_nothing_inside_its_window() {
    let (inside, got, outside) = whole_and_cut(5, u64::MAX);
    assert!(inside.len() > 100, "{}", inside.len());
    assert_eq!(got, inside);
    // What the client did before the LB capture began is outside it.
    assert!(outside > 800, "{outside}");
}

/// tcpdump on the LB started 5 s late and stopped after 4 s.
#[test]
fn lb_capture_stopped_early_changes_nothing_inside_its_window() {
    let (inside, got, outside) = whole_and_cut(5, 9);
    assert!(inside.len() > 50, "{}", inside.len());
    assert_eq!(got, inside);
    assert!(outside > 1000, "{outside}");
}
