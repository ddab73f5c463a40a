//! Every capture of the public corpus and of the lab pairs splits into
//! exactly the TCP streams tshark 4.0 shows: same `tcp.stream` numbers, same
//! endpoints (A = source of the first frame), same packet counts and first
//! frames.
//!
//! The corpus expectation is `fixtures/corpus/oracle/NAME.streams.tsv`; the
//! lab captures have no oracle file, so tshark is run on them (skipped with a
//! note when tshark is not installed).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use twincap_parser::{conn, read_capture, Capture, ReadOptions};

/// One stream as the oracle writes it: endpoints A and B, packets, first frame.
type Stream = ((IpAddr, u16), (IpAddr, u16), u32, u32);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Read with the real reader; a file it cannot read fails the test.
fn load(path: &Path) -> Capture {
    read_capture(path, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{}: not read: {e}", path.display()))
}

fn our_streams(cap: &Capture) -> BTreeMap<u32, Stream> {
    let conns = conn::split(cap);
    assert_eq!(conns.stream_of.len(), cap.packets.len());
    conns
        .list
        .iter()
        .map(|c| {
            let first = &cap.packets[c.packets[0] as usize];
            let a = (cap.addr(c.a.0), c.a.1);
            let b = (cap.addr(c.b.0), c.b.1);
            (c.stream, (a, b, c.packets.len() as u32, first.frame))
        })
        .collect()
}

fn oracle_streams(tsv: &Path) -> BTreeMap<u32, Stream> {
    let text = std::fs::read_to_string(tsv).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 7 {
            continue;
        }
        let a = (f[1].parse().unwrap(), f[2].parse().unwrap());
        let b = (f[3].parse().unwrap(), f[4].parse().unwrap());
        out.insert(
            f[0].parse().unwrap(),
            (a, b, f[5].parse().unwrap(), f[6].parse().unwrap()),
        );
    }
    out
}

/// tshark's streams, built from its per-frame `tcp.stream` the way the
/// oracle files were built. `None` when tshark cannot be run.
fn tshark_streams(path: &Path) -> Option<BTreeMap<u32, Stream>> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-Y", "tcp", "-T", "fields", "-E", "occurrence=l"])
        .args(["-e", "frame.number", "-e", "tcp.stream"])
        .args([
            "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
        ])
        .args([
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.dstport",
            "-e",
            "frame.protocols",
        ])
        .env(
            "WIRESHARK_CONFIG_DIR",
            std::env::temp_dir().join("twincap-empty-wireshark-profile"),
        )
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut streams: BTreeMap<u32, Stream> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 9 || f[1].is_empty() {
            continue;
        }
        let frame: u32 = f[0].parse().ok()?;
        let stream: u32 = f[1].parse().ok()?;
        // The IP layer just before TCP decides the addresses.
        let protocols = f[8];
        let v6 = protocols
            .rfind(":ipv6:")
            .is_some_and(|i6| protocols.rfind(":ip:").map_or(true, |i4| i6 > i4));
        let (s, d) = if v6 { (f[4], f[5]) } else { (f[2], f[3]) };
        let a = (s.parse().ok()?, f[6].parse().ok()?);
        let b = (d.parse().ok()?, f[7].parse().ok()?);
        streams
            .entry(stream)
            .and_modify(|e| e.2 += 1)
            .or_insert((a, b, 1, frame));
    }
    Some(streams)
}

/// Compare two stream tables; returns how many agree and prints the first
/// few differences.
fn agreement(name: &str, ours: &BTreeMap<u32, Stream>, want: &BTreeMap<u32, Stream>) -> usize {
    let mut agree = 0;
    let mut shown = 0;
    for (stream, w) in want {
        match ours.get(stream) {
            Some(o) if o == w => agree += 1,
            other => {
                if shown < 5 {
                    println!("  {name}: stream {stream}: tshark {w:?}, twincap {other:?}");
                    shown += 1;
                }
            }
        }
    }
    let extra = ours.keys().filter(|k| !want.contains_key(k)).count();
    println!(
        "{name}: {agree}/{} streams agree{}",
        want.len(),
        if extra > 0 {
            format!(", {extra} extra")
        } else {
            String::new()
        }
    );
    agree
}

#[test]
fn corpus_streams_equal_tshark_oracle() {
    let dir = workspace().join("fixtures/corpus");
    let mut names: Vec<String> = std::fs::read_dir(dir.join("oracle"))
        .unwrap()
        .filter_map(|e| {
            let n = e.ok()?.file_name().into_string().ok()?;
            n.strip_suffix(".streams.tsv").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let (mut agree, mut total) = (0, 0);
    for name in &names {
        let want = oracle_streams(&dir.join("oracle").join(format!("{name}.streams.tsv")));
        total += want.len();
        agree += agreement(name, &our_streams(&load(&dir.join(name))), &want);
    }
    println!("corpus: {agree}/{total} streams agree");
    assert_eq!(agree, total, "streams disagree with tshark");
}

#[test]
fn lab_streams_equal_tshark() {
    if Command::new("tshark").arg("-v").output().is_err() {
        println!("tshark not found: skipping the lab captures");
        return;
    }
    let lab = workspace().join("fixtures/lab");
    let mut captures: Vec<PathBuf> = Vec::new();
    for dir in std::fs::read_dir(&lab).unwrap().map(|e| e.unwrap().path()) {
        if dir.is_dir() {
            captures.extend(
                std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng")),
            );
        }
    }
    captures.sort();
    assert!(captures.len() >= 4, "both sides of every lab pair");
    for path in &captures {
        let name = path.strip_prefix(&lab).unwrap().display().to_string();
        let want = tshark_streams(path).unwrap_or_else(|| panic!("tshark cannot read {name}"));
        let cap = load(path);
        let ours = our_streams(&cap);
        let agree = agreement(&name, &ours, &want);
        assert_eq!(agree, want.len(), "{name}: streams disagree with tshark");
        assert_eq!(ours.len(), want.len(), "{name}: extra streams");
    }
}
