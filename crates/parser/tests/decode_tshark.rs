//! The decoder against tshark 4.0, frame by frame, on every corpus capture
//! and the lab pairs:
//! the same frames are TCP (those tshark gives a `tcp.stream`), with the same
//! ports, raw seq/ack, flags, window, header and segment length, MSS, window
//! scale, timestamp, TTL/hop limit and IP ID. Skipped with a note when
//! tshark is not installed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use twincap_parser::{info, read_capture, Capture, ReadOptions, TcpPacket};

const FIELDS: [&str; 17] = [
    "frame.number",
    "tcp.stream",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.flags",
    "tcp.window_size_value",
    "tcp.len",
    "tcp.hdr_len",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.options.timestamp.tsval",
    "ip.ttl",
    "ipv6.hlim",
    "ip.id",
    "tcp.seq",
];

/// tshark's fields per TCP frame, by frame number.
fn tshark_fields(path: &Path) -> Option<HashMap<u32, Vec<String>>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(path);
    cmd.args(["-T", "fields", "-E", "occurrence=l"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    cmd.env(
        "WIRESHARK_CONFIG_DIR",
        std::env::temp_dir().join("twincap-empty-wireshark-profile"),
    );
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let mut frames = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<String> = line.split('\t').map(str::to_string).collect();
        if f.len() == FIELDS.len() && !f[1].is_empty() {
            frames.insert(f[0].parse().ok()?, f);
        }
    }
    Some(frames)
}

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The fields of ours that differ from tshark's, by name.
fn differences(p: &TcpPacket, mss: u16, t: &[String]) -> Vec<&'static str> {
    let ours: [(usize, Option<u64>); 13] = [
        (2, Some(p.sport as u64)),
        (3, Some(p.dport as u64)),
        // In an ICMP error Wireshark shows the raw seq as tcp.seq only.
        (
            if p.is(info::IN_ICMP_ERROR) { 16 } else { 4 },
            Some(p.seq as u64),
        ),
        (5, Some(p.ack as u64)),
        (6, Some(p.flags as u64)),
        (7, Some(p.win as u64)),
        // Wireshark computes no segment length in ICMP errors, short segments
        // or behind a bogus header length.
        (
            8,
            (!p.is(info::IN_ICMP_ERROR) && !p.is(info::NO_SEGMENT_LEN) && p.tcp_hdr_len >= 20)
                .then_some(p.payload_len as u64),
        ),
        (9, Some(p.tcp_hdr_len as u64)),
        (10, p.is(info::MSS).then_some(mss as u64)),
        (11, p.is(info::WSCALE).then_some(p.wscale as u64)),
        (12, p.is(info::TIMESTAMPS).then_some(p.ts_val as u64)),
        (if p.is(info::IPV6) { 14 } else { 13 }, Some(p.ttl as u64)),
        (15, (!p.is(info::IPV6)).then_some(p.ip_id as u64)),
    ];
    let mut bad = Vec::new();
    for (i, value) in ours {
        let Some(value) = value else { continue };
        let theirs = number(&t[i]);
        // Flags: tshark 4.0 shows 12 bits (reserved bits too); we keep 9.
        let theirs = if i == 6 {
            theirs.map(|f| f & 0x1ff)
        } else {
            theirs
        };
        // Options Wireshark does not show on a cut header are not compared.
        if theirs.is_none() && (10..=12).contains(&i) && p.is(info::HEADER_TRUNCATED) {
            continue;
        }
        if theirs != Some(value) {
            bad.push(FIELDS[i]);
        }
    }
    bad
}

fn load(path: &Path) -> Capture {
    read_capture(path, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{}: not read: {e}", path.display()))
}

#[test]
fn decoded_fields_equal_tshark() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.extension().is_some_and(|e| e == "md" || e == "tsv"))
        .collect();
    files.sort();
    // And both captures of every lab pair.
    let lab = dir.join("../lab");
    let mut pairs: Vec<PathBuf> = std::fs::read_dir(&lab)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pairs.sort();
    for pair in pairs.iter().filter(|p| p.is_dir()) {
        let mut sides: Vec<PathBuf> = std::fs::read_dir(pair)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
            .collect();
        sides.sort();
        files.extend(sides);
    }
    let mut failures = 0;
    for path in &files {
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(path)
            .display()
            .to_string();
        let Some(want) = tshark_fields(path) else {
            println!("tshark not found: skipping the field comparison");
            return;
        };
        let cap = load(path);
        let mut bad_frames = 0;
        let mut shown = 0;
        for p in &cap.packets {
            let problem = match want.get(&p.frame) {
                None => Some(vec!["no tcp.stream in tshark"]),
                Some(t) => Some(differences(p, cap.attrs(p).mss, t)).filter(|d| !d.is_empty()),
            };
            if let Some(fields) = problem {
                bad_frames += 1;
                if shown < 5 {
                    println!(
                        "  {name} frame {}: {fields:?} (info {:#x})",
                        p.frame, p.info
                    );
                    shown += 1;
                }
            }
        }
        let ours: std::collections::HashSet<u32> = cap.packets.iter().map(|p| p.frame).collect();
        let missing: Vec<u32> = want.keys().filter(|f| !ours.contains(f)).copied().collect();
        if !missing.is_empty() {
            println!(
                "  {name}: tshark has TCP frames we lack: {:?}",
                &missing[..missing.len().min(10)]
            );
        }
        println!(
            "{name}: {}/{} TCP frames agree{}",
            cap.packets.len() - bad_frames,
            want.len(),
            if missing.is_empty() {
                String::new()
            } else {
                format!(", {} missing", missing.len())
            }
        );
        failures += bad_frames + missing.len();
    }
    assert_eq!(failures, 0, "decoded fields differ from tshark");
}
