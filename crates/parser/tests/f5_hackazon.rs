//! Differential test: every frame of a public BIG-IP capture
//! (`fixtures/corpus/f5adc_hackazon2.pcap`: `tcpdump -nni 0.0:nnn`, 802.1Q
//! tags, low/medium/high legacy trailers, "No local listener" RST causes)
//! decoded by `twincap_parser::f5` and compared with what tshark 4.0.17's
//! f5ethtrailer and f5fileinfo dissectors show, as recorded once in
//! `fixtures/f5/*.tsv` (the commands are in `fixtures/f5/README.md`).

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;

use twincap_parser::f5::{self, F5Trailer};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The frames of a little-endian microsecond pcap: 24-byte file header,
/// then 16-byte record headers (captured length at byte 8) and data.
fn pcap_frames(bytes: &[u8]) -> Vec<&[u8]> {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian microsecond pcap");
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        frames.push(&bytes[at + 16..at + 16 + incl]);
        at += 16 + incl;
    }
    frames
}

/// The bytes after the IP datagram of an Ethernet frame (VLAN tags
/// skipped), or `None` when the frame carries no IP.
fn trailer_of(frame: &[u8]) -> Option<&[u8]> {
    let mut l2 = 12;
    let mut ethertype = u16::from_be_bytes([frame[l2], frame[l2 + 1]]);
    while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
        l2 += 4;
        ethertype = u16::from_be_bytes([frame[l2], frame[l2 + 1]]);
    }
    let ip = l2 + 2;
    let ip_len = match ethertype {
        0x0800 => usize::from(u16::from_be_bytes([frame[ip + 2], frame[ip + 3]])),
        0x86dd => 40 + usize::from(u16::from_be_bytes([frame[ip + 4], frame[ip + 5]])),
        _ => return None,
    };
    frame.get(ip + ip_len..)
}

/// tshark's text for the IPv4 form of a peer address: shown only when the
/// stored address is IPv4-mapped or in F5's route domain prefix.
fn v4(a: &f5::PeerAddr) -> String {
    match a.ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(_) => String::new(),
    }
}

/// Our decode, in the columns and formats of the TSV.
fn our_row(t: &F5Trailer) -> BTreeMap<&'static str, String> {
    let mut row = BTreeMap::new();
    let mut put = |k: &'static str, v: String| {
        row.insert(k, v);
    };
    let mut types = Vec::new();
    let mut versions = Vec::new();
    if let Some(l) = &t.low {
        types.push("1".to_string());
        versions.push(l.version.to_string());
        put("f5ethtrailer.ingress", u8::from(l.ingress).to_string());
        put("f5ethtrailer.slot", (u16::from(l.slot) + 1).to_string());
        put("f5ethtrailer.tmm", l.tmm.to_string());
        put("f5ethtrailer.vip", l.virtual_server.clone().unwrap_or_default());
    }
    if let Some(m) = &t.medium {
        types.push("2".to_string());
        versions.push(m.version.to_string());
        if let Some(fl) = &m.flow {
            put("f5ethtrailer.flowid", format!("0x{:016x}", fl.flow_id));
            put("f5ethtrailer.peerid", format!("0x{:016x}", fl.peer_id));
            if let Some(c2) = fl.cf_flags2 {
                put("f5ethtrailer.cfflags2", format!("0x{c2:08x}"));
            }
            put("f5ethtrailer.cfflags", format!("0x{:08x}", fl.cf_flags));
            put("f5ethtrailer.flowtype", format!("0x{:02x}", fl.flow_type));
        }
        if let Some(p) = m.priority {
            put("f5ethtrailer.priority", p.to_string());
        }
        if let Some(c) = t.rst_cause() {
            put("f5ethtrailer.rstcausepeer", u8::from(c.peer).to_string());
            put("f5ethtrailer.rstcauseval", format!("0x{:016x}", c.value));
            put("f5ethtrailer.rstcauseline", c.line.to_string());
            put("f5ethtrailer.rstcausetxt", c.text.clone());
        }
    }
    if let Some(h) = &t.high {
        types.push("3".to_string());
        versions.push(h.version.to_string());
        if let Some(p) = &h.peer {
            put("f5ethtrailer.peeripproto", p.ip_proto.to_string());
            put("f5ethtrailer.peervlan", p.vlan.to_string());
            put("f5ethtrailer.peerremoteaddr", v4(&p.remote));
            put("f5ethtrailer.peerlocaladdr", v4(&p.local));
            put("f5ethtrailer.peerremoteport", p.remote_port.to_string());
            put("f5ethtrailer.peerlocalport", p.local_port.to_string());
        }
    }
    put("f5ethtrailer.type", types.join(","));
    put("f5ethtrailer.version", versions.join(","));
    row
}

fn read_tsv(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = fs::read_to_string(root().join("fixtures/f5").join(name)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split('\t').map(String::from).collect();
    let rows = lines.map(|l| l.split('\t').map(String::from).collect()).collect();
    (header, rows)
}

#[test]
fn hackazon_trailers_match_tshark() {
    let pcap = fs::read(root().join("fixtures/corpus/f5adc_hackazon2.pcap")).unwrap();
    let frames = pcap_frames(&pcap);
    let (header, rows) = read_tsv("f5adc_hackazon2.trailers.tsv");
    assert_eq!(frames.len(), rows.len(), "one TSV row per frame");

    let mut compared = BTreeMap::<String, (usize, usize)>::new();
    let mut mismatches = Vec::new();
    let (mut with_trailer, mut with_vip, mut with_peer, mut with_rst) = (0, 0, 0, 0);
    for (i, (frame, row)) in frames.iter().zip(&rows).enumerate() {
        let number = i + 1;
        assert_eq!(row[0], number.to_string());
        let expected: BTreeMap<&str, &str> = header
            .iter()
            .map(String::as_str)
            .zip(row.iter().map(String::as_str))
            .skip(1)
            .collect();
        let ours = match trailer_of(frame).map(f5::decode_trailer) {
            Some(Ok(t)) => {
                with_trailer += 1;
                with_vip += usize::from(t.virtual_server().is_some());
                with_peer += usize::from(t.peer().is_some());
                with_rst += usize::from(t.rst_cause().is_some());
                assert!(t.issues.is_empty(), "frame {number}: {:?}", t.issues);
                our_row(&t)
            }
            _ => BTreeMap::new(),
        };
        for (col, want) in expected {
            let got = ours.get(col).map(String::as_str).unwrap_or("");
            let tally = compared.entry(col.to_string()).or_default();
            if got == want {
                tally.0 += 1;
            } else {
                tally.1 += 1;
                mismatches.push(format!("frame {number} {col}: tshark {want:?}, twincap {got:?}"));
            }
        }
    }
    for (col, (ok, bad)) in &compared {
        eprintln!("{col:32} agree {ok:5}  differ {bad}");
    }
    eprintln!(
        "frames {}, with trailer {with_trailer}, with virtual server {with_vip}, with peer {with_peer}, with RST cause {with_rst}",
        frames.len()
    );
    assert!(mismatches.is_empty(), "{} differences:\n{}", mismatches.len(), mismatches.join("\n"));
    // The capture's known content (fixtures/corpus/MANIFEST.tsv).
    assert_eq!(with_trailer, frames.len() - 1, "every frame but the fileinfo one");
    assert_eq!(with_rst, 7, "seven 'No local listener' RSTs");
    assert!(with_peer > 0 && with_vip > 0);
}

#[test]
fn hackazon_fileinfo_matches_tshark() {
    let pcap = fs::read(root().join("fixtures/corpus/f5adc_hackazon2.pcap")).unwrap();
    let frames = pcap_frames(&pcap);
    let (header, rows) = read_tsv("f5adc_hackazon2.fileinfo.tsv");
    let want: BTreeMap<&str, &str> =
        header.iter().map(String::as_str).zip(rows[0].iter().map(String::as_str)).collect();
    let info = f5::decode_fileinfo(frames[0]).expect("frame 1 is the F5 fileinfo pseudo-packet");
    assert_eq!(info.command.as_deref(), Some(want["f5fileinfo.cmdline"]));
    assert_eq!(info.version.as_deref(), Some(want["f5fileinfo.version"]));
    assert_eq!(info.hostname.as_deref(), Some(want["f5fileinfo.hostname"]));
    assert_eq!(info.platform.as_deref(), Some(want["f5fileinfo.platform"]));
    assert_eq!(info.product.as_deref(), Some(want["f5fileinfo.product"]));
    assert_eq!(info.platform_name(), Some("BIG-IP Virtual Edition (VE)"));
    assert_eq!(info.version_numbers(), [13, 1, 0, 3, 0, 0]);
    assert_eq!(info.noise(), Some(f5::CaptureNoise { level: 3, peer: false }));
    // No other frame is a fileinfo packet, and the fileinfo frame has no trailer.
    assert!(frames[1..].iter().all(|f| f5::decode_fileinfo(f).is_none()));
    assert!(trailer_of(frames[0]).is_none());
}
