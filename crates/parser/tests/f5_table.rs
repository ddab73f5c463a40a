//! `Capture::f5` and `Capture::rst_cause`: the F5 data the reader keeps per
//! capture, against tshark's f5ethtrailer fields recorded in
//! `fixtures/f5/f5adc_hackazon2.*.tsv`, and empty for captures without
//! trailers.

#[path = "f5_common.rs"]
mod common;

use common::{read_tsv, root};
use std::net::IpAddr;
use twincap_parser::f5::{self, RstCause, RstCauseSource};
use twincap_parser::{read_capture, Capture, ReadOptions};

fn read(rel: &str) -> Capture {
    read_capture(&root().join(rel), &ReadOptions::default()).unwrap()
}

/// IPv4 addresses as tshark's `peerremoteaddr` shows them (v4 only).
fn v4(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(_) => String::new(),
    }
}

/// Every column the table keeps, frame by frame, as tshark shows it.
#[test]
fn hackazon_table_matches_tshark() {
    let cap = read("fixtures/corpus/f5adc_hackazon2.pcap");
    let (head, rows) = read_tsv("f5adc_hackazon2.trailers.tsv");
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let t = &cap.f5;
    let mut compared = 0;
    let mut differences = Vec::new();
    for row in &rows {
        let frame: u32 = row[0].parse().unwrap();
        let get = |name: &str| row[col(&format!("f5ethtrailer.{name}"))].clone();
        let Some(f) = t.of_frame(frame) else {
            assert!(
                get("type").is_empty(),
                "frame {frame}: tshark sees a trailer"
            );
            continue;
        };
        compared += 1;
        assert_eq!(cap.packets[f.packet as usize].frame, frame);
        let peer = t.peer(f);
        let cause = t.trailer_rst_cause(frame);
        let ours = [
            ("ingress", f.ingress().map(|i| u8::from(i).to_string())),
            ("slot", Some((f.slot + 1).to_string())),
            ("tmm", Some(f.tmm.to_string())),
            ("vip", Some(t.virtual_server(f).unwrap_or("").to_string())),
            ("flowid", Some(format!("{:#018x}", f.flow_id))),
            ("peerid", Some(format!("{:#018x}", f.peer_id))),
            (
                "rstcausetxt",
                Some(cause.map_or(String::new(), |c| c.text.clone())),
            ),
            (
                "rstcauseline",
                Some(cause.map_or(String::new(), |c| c.line.to_string())),
            ),
            (
                "rstcauseval",
                Some(cause.map_or(String::new(), |c| format!("{:#018x}", c.value))),
            ),
            (
                "peervlan",
                Some(peer.map_or(String::new(), |p| p.vlan.to_string())),
            ),
            (
                "peerremoteaddr",
                Some(peer.map_or(String::new(), |p| v4(p.remote.ip))),
            ),
            (
                "peerlocaladdr",
                Some(peer.map_or(String::new(), |p| v4(p.local.ip))),
            ),
            (
                "peerremoteport",
                Some(peer.map_or(String::new(), |p| p.remote_port.to_string())),
            ),
            (
                "peerlocalport",
                Some(peer.map_or(String::new(), |p| p.local_port.to_string())),
            ),
        ];
        for (name, value) in ours {
            let theirs = get(name);
            if value.as_deref().unwrap_or("") != theirs {
                differences.push(format!(
                    "frame {frame} {name}: ours {value:?} tshark {theirs:?}"
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(compared, 1721);
    assert_eq!(t.frames.len(), 1721);
    // Interned: each virtual server and each peer connection once, in the
    // order of their first frame.
    let mut names: Vec<&str> = Vec::new();
    for r in &rows {
        let v = r[col("f5ethtrailer.vip")].as_str();
        if !v.is_empty() && !names.contains(&v) {
            names.push(v);
        }
    }
    assert_eq!(t.virtual_servers, names);
    let distinct_peers: std::collections::BTreeSet<String> = rows
        .iter()
        .filter(|r| !r[col("f5ethtrailer.peerremoteaddr")].is_empty())
        .map(|r| {
            format!(
                "{}:{}-{}:{}",
                r[col("f5ethtrailer.peerremoteaddr")],
                r[col("f5ethtrailer.peerremoteport")],
                r[col("f5ethtrailer.peerlocaladdr")],
                r[col("f5ethtrailer.peerlocalport")]
            )
        })
        .collect();
    assert_eq!(t.peers.len(), distinct_peers.len());
    assert_eq!(t.rst_causes.len(), 7);
    assert_eq!(t.issue_count, 0);

    let (fhead, frows) = read_tsv("f5adc_hackazon2.fileinfo.tsv");
    let (frame, info) = t.fileinfo.as_ref().unwrap();
    assert_eq!(*frame, 1);
    let fcol = |n: &str| frows[0][fhead.iter().position(|h| h == n).unwrap()].as_str();
    assert_eq!(info.command.as_deref(), Some(fcol("f5fileinfo.cmdline")));
    assert_eq!(info.version.as_deref(), Some(fcol("f5fileinfo.version")));
    assert_eq!(info.hostname.as_deref(), Some(fcol("f5fileinfo.hostname")));
    assert_eq!(info.platform.as_deref(), Some(fcol("f5fileinfo.platform")));
}

/// One accessor for both sources of a reset cause.
#[test]
fn rst_cause_from_trailer_and_from_payload() {
    let cap = read("fixtures/corpus/f5adc_hackazon2.pcap");
    let c = cap.rst_cause(1682).unwrap();
    assert_eq!(c.source, RstCauseSource::Trailer);
    assert_eq!(
        c.cause.to_string(),
        "BIG-IP: [0x287fa33:2267] No local listener"
    );
    assert!(cap.rst_cause(1681).is_none());
    let all = cap.rst_causes();
    assert_eq!(
        all.iter().map(|c| c.frame).collect::<Vec<_>>(),
        [1682, 1684, 1686, 1688, 1690, 1692, 1694]
    );

    let cap = read("fixtures/corpus/tcpdump_tcp_rst_data.pcap");
    assert!(cap.f5.is_empty());
    let c = cap.rst_cause(1).unwrap();
    assert_eq!(c.source, RstCauseSource::Payload);
    match &c.cause {
        RstCause::BigIp(b) => {
            assert_eq!((b.value, b.line, b.peer), (0x11c5672, 3045, true));
            assert_eq!(b.text, "TCP RST from remote system");
        }
        other => panic!("{other:?}"),
    }
    let cap = read("fixtures/corpus/tcpdump_tcp_rst_diag_payload.pcap");
    let c = cap.rst_causes();
    assert_eq!(c.len(), 1);
    assert!(matches!(c[0].cause, RstCause::Binary { len: 8, .. }));
}

/// tshark shows `f5ethtrailer` on no frame of the other corpus captures
/// (`tshark -r F -Y f5ethtrailer` prints nothing): their tables stay empty,
/// padding probes included.
#[test]
fn captures_without_trailers_keep_an_empty_table() {
    let dir = root().join("fixtures/corpus");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "f5adc_hackazon2.pcap" || !(name.contains(".pcap") || name.contains(".cap")) {
            continue;
        }
        let Ok(cap) = read_capture(&path, &ReadOptions::default()) else {
            continue;
        };
        assert!(cap.f5.is_empty(), "{name}: {:?}", cap.f5.frames.first());
        assert_eq!(cap.f5.issue_count, 0, "{name}: {:?}", cap.f5.issues);
        checked += 1;
    }
    assert!(checked >= 30, "{checked}");
    let _ = f5::NONE;
}

/// The synthetic BIG-IP capture (`twincap-synth f5`) decodes as tshark
/// decodes it: the generator writes trailers Wireshark recognises.
#[test]
fn synthetic_full_proxy_trailers_match_tshark() {
    let pcap = std::fs::read(root().join("fixtures/f5/full-proxy/lb.pcap")).unwrap();
    let frames = common::pcap_frames(&pcap);
    let a = common::compare(&frames, "full-proxy/lb.trailers.tsv");
    assert!(a.differences.is_empty(), "{}", a.differences.join("\n"));
    assert_eq!(
        a.decoded,
        frames.len() - 1,
        "every frame but the fileinfo one"
    );
    let cap = read("fixtures/f5/full-proxy/lb.pcap");
    assert_eq!(cap.f5.frames.len(), frames.len() - 1);
    assert_eq!(cap.f5.virtual_servers, ["/Common/app_vs"]);
    let info = &cap.f5.fileinfo.as_ref().unwrap().1;
    let noise = info.noise().unwrap();
    assert_eq!((noise.level, noise.peer), (3, true));
    let causes = cap.rst_causes();
    assert_eq!(causes.len(), 3);
    for c in &causes {
        assert_eq!(c.source, RstCauseSource::Trailer);
        assert_eq!(
            c.cause.to_string(),
            "BIG-IP: [0x2664c65:2574] No flow found for ACK"
        );
    }
}
