//! Helpers shared by the F5 tests (included with `#[path]`): a few lines of
//! pcap reading and writing, trailer builders for every layout, and our
//! decode in tshark's field formats.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;

use twincap_parser::f5::{self, F5Trailer};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The frames of a little-endian microsecond pcap: 24-byte file header,
/// then 16-byte record headers (captured length at byte 8) and data.
pub fn pcap_frames(bytes: &[u8]) -> Vec<&[u8]> {
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond pcap"
    );
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        frames.push(&bytes[at + 16..at + 16 + incl]);
        at += 16 + incl;
    }
    frames
}

/// A little-endian microsecond Ethernet pcap of `frames`, one second apart.
pub fn pcap_write(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// The bytes after the IP datagram of an Ethernet frame (VLAN tags
/// skipped), or `None` when the frame carries no IP.
pub fn trailer_of(frame: &[u8]) -> Option<&[u8]> {
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

/// An Ethernet/IPv4/TCP frame (10.0.0.1:40000 -> 10.0.0.2:443, ACK, 10
/// bytes of payload so no Ethernet padding applies) followed by `trailer`.
pub fn frame_with_trailer(trailer: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total: u16 = 20 + 20 + 10;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    let mut tcp = vec![
        0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0x10, 0, 0, 0, 0, 0,
    ];
    tcp[16..18].copy_from_slice(&[0, 0]);
    f.extend_from_slice(&tcp);
    f.extend_from_slice(b"0123456789");
    f.extend_from_slice(trailer);
    f
}

// ---- legacy TLVs: type, length (not counting type and length), version, data

pub fn legacy_tlv(tlv_type: u8, version: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![tlv_type, (data.len() + 1) as u8, version];
    v.extend_from_slice(data);
    v
}

/// BIG-IP 10 low trailer (22 bytes): 16-byte NUL-padded name.
pub fn legacy_low_v0_10(ingress: u8, slot: u8, tmm: u8, vip: &str) -> Vec<u8> {
    let mut d = vec![ingress, slot, tmm];
    let mut name = [0u8; 16];
    name[..vip.len()].copy_from_slice(vip.as_bytes());
    d.extend_from_slice(&name);
    legacy_tlv(1, 0, &d)
}

/// BIG-IP 9.4 low trailer (35 bytes), which carried the flow IDs.
pub fn legacy_low_v0_94(
    ingress: u8,
    slot: u8,
    tmm: u8,
    flow: u32,
    peer: u32,
    vip: &str,
) -> Vec<u8> {
    let mut d = vec![ingress, slot, tmm];
    d.extend_from_slice(&flow.to_be_bytes());
    d.extend_from_slice(&peer.to_be_bytes());
    d.extend_from_slice(&0x0000_1234u32.to_be_bytes());
    d.push(0x07);
    let mut name = [0u8; 16];
    name[..vip.len()].copy_from_slice(vip.as_bytes());
    d.extend_from_slice(&name);
    legacy_tlv(1, 0, &d)
}

/// BIG-IP 11+ low trailer: length-prefixed name.
pub fn legacy_low_v1(ingress: u8, slot: u8, tmm: u8, vip: &str) -> Vec<u8> {
    let mut d = vec![ingress, slot, tmm, vip.len() as u8];
    d.extend_from_slice(vip.as_bytes());
    legacy_tlv(1, 1, &d)
}

/// BIG-IP 9.4 medium trailer (8 bytes): HA unit and reserved only.
pub fn legacy_med_v0_94(ha: u8) -> Vec<u8> {
    let mut d = vec![ha];
    d.extend_from_slice(&[0, 0, 0, 0]);
    legacy_tlv(2, 0, &d)
}

/// BIG-IP 10 medium trailer (21 bytes): 32-bit flow IDs.
pub fn legacy_med_v0_10(flow: u32, peer: u32) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&flow.to_be_bytes());
    d.extend_from_slice(&peer.to_be_bytes());
    d.extend_from_slice(&0x0000_0024u32.to_be_bytes());
    d.push(0x40);
    d.push(1);
    d.extend_from_slice(&[0, 0, 0, 0]);
    legacy_tlv(2, 0, &d)
}

/// Medium trailers with 64-bit flow IDs: version 0 (29 bytes, BIG-IP 11.0),
/// 1 (RST cause), 2 (priority) and 3 (connflow flags high bits).
pub fn legacy_med(version: u8, flow: u64, peer: u64, rst: Option<&[u8]>) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&flow.to_be_bytes());
    d.extend_from_slice(&peer.to_be_bytes());
    if version >= 3 {
        d.extend_from_slice(&0x0000_0001u32.to_be_bytes());
    }
    d.extend_from_slice(&0x0000_8024u32.to_be_bytes());
    d.push(0x40);
    d.push(0); // HA unit
    d.extend_from_slice(&[0, 0, 0, 0]);
    if version >= 2 {
        d.push(3); // priority
    }
    if version >= 1 {
        let rst = rst.unwrap_or(&[]);
        d.push(rst.len() as u8);
        d.extend_from_slice(rst);
    }
    legacy_tlv(2, version, &d)
}

/// An RST cause block, version 0: peer flag, 48-bit value, 16-bit line, text.
pub fn rst_cause(peer: bool, value: u64, line: u16, text: &str) -> Vec<u8> {
    let mut v = vec![u8::from(peer)];
    v.extend_from_slice(&((value << 16) | u64::from(line)).to_be_bytes());
    v.extend_from_slice(text.as_bytes());
    v
}

/// IPv4 as high noise stores it (IPv4-mapped IPv6).
pub fn mapped(a: [u8; 4]) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[10] = 0xff;
    v[11] = 0xff;
    v[12..].copy_from_slice(&a);
    v
}

/// IPv4 in a route domain, in F5's prefix 2620:0:c10:f501:0:<rd>:<a>.
pub fn rtdom(rd: u16, a: [u8; 4]) -> [u8; 16] {
    let mut v = [
        0x26, 0x20, 0, 0, 0x0c, 0x10, 0xf5, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    v[10..12].copy_from_slice(&rd.to_be_bytes());
    v[12..].copy_from_slice(&a);
    v
}

fn high_data(
    proto: u8,
    vlan: u16,
    remote: [u8; 16],
    local: [u8; 16],
    rport: u16,
    lport: u16,
) -> Vec<u8> {
    let mut d = vec![proto];
    d.extend_from_slice(&vlan.to_be_bytes());
    d.extend_from_slice(&remote);
    d.extend_from_slice(&local);
    d.extend_from_slice(&rport.to_be_bytes());
    d.extend_from_slice(&lport.to_be_bytes());
    d
}

/// Legacy high trailer (42 bytes).
pub fn legacy_high(
    proto: u8,
    vlan: u16,
    remote: [u8; 16],
    local: [u8; 16],
    rport: u16,
    lport: u16,
) -> Vec<u8> {
    legacy_tlv(3, 0, &high_data(proto, vlan, remote, local, rport, lport))
}

// ---- DPT: magic, length, version; TLVs of provider, type, length, version, data

pub fn dpt(tlvs: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = tlvs.concat();
    let mut v = 0xf5de_b0f5u32.to_be_bytes().to_vec();
    v.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&body);
    v
}

pub fn dpt_tlv(provider: u16, tlv_type: u16, version: u16, data: &[u8]) -> Vec<u8> {
    let mut v = provider.to_be_bytes().to_vec();
    v.extend_from_slice(&tlv_type.to_be_bytes());
    v.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    v.extend_from_slice(&version.to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// DPT low noise version 2 or 3: flags, slot, tmm, name length, name.
pub fn dpt_low(version: u16, flags: u8, slot: u8, tmm: u8, vip: &str) -> Vec<u8> {
    let mut d = vec![flags, slot, tmm, vip.len() as u8];
    d.extend_from_slice(vip.as_bytes());
    dpt_tlv(1, 1, version, &d)
}

/// DPT low noise version 4: config object names (type, length, name).
pub fn dpt_low_v4(flags: u8, slot: u8, tmm: u8, objects: &[(u8, &str)]) -> Vec<u8> {
    let mut objs = Vec::new();
    for (t, name) in objects {
        objs.push(*t);
        objs.push(name.len() as u8);
        objs.extend_from_slice(name.as_bytes());
    }
    let mut d = vec![flags, slot, tmm, objs.len() as u8];
    d.extend_from_slice(&objs);
    dpt_tlv(1, 1, 4, &d)
}

/// DPT medium noise version 4.
pub fn dpt_med(flow: u64, peer: u64, rst: Option<&[u8]>) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&flow.to_be_bytes());
    d.extend_from_slice(&peer.to_be_bytes());
    d.extend_from_slice(&0x0000_0002u32.to_be_bytes());
    d.extend_from_slice(&0x0000_8024u32.to_be_bytes());
    d.push(0x40);
    d.push(1); // HA unit
    d.extend_from_slice(&[0, 0, 0, 0]);
    d.push(5); // priority
    let rst = rst.unwrap_or(&[]);
    d.push(rst.len() as u8);
    d.extend_from_slice(rst);
    dpt_tlv(1, 2, 4, &d)
}

/// DPT high noise version 1.
pub fn dpt_high(
    proto: u8,
    vlan: u16,
    remote: [u8; 16],
    local: [u8; 16],
    rport: u16,
    lport: u16,
) -> Vec<u8> {
    dpt_tlv(
        1,
        3,
        1,
        &high_data(proto, vlan, remote, local, rport, lport),
    )
}

/// The hand-built trailers checked against tshark (`fixtures/f5/handbuilt.pcap`),
/// one frame each, with what each shows.
pub fn handbuilt() -> Vec<(&'static str, Vec<u8>)> {
    let peer4 = |a| mapped(a);
    let v6r: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let v6l: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    ];
    let cause = rst_cause(false, 0x2664c65, 2574, "No flow found for ACK");
    let cause_peer = rst_cause(true, 0x11c5672, 3045, "TCP RST from remote system");
    vec![
        (
            "legacy BIG-IP 10: low v0 (22) + medium v0 (21, 32-bit flow IDs)",
            [legacy_low_v0_10(1, 0, 2, "/Common/vs10"), legacy_med_v0_10(0x1122_3344, 0x5566_7788)].concat(),
        ),
        (
            "legacy BIG-IP 9.4: low v0 (35, with flow IDs) + medium v0 (8)",
            [legacy_low_v0_94(0, 3, 1, 0xaabb_ccdd, 0x0102_0304, "vs94"), legacy_med_v0_94(1)].concat(),
        ),
        (
            "legacy BIG-IP 11.0: low v1 + medium v0 (29, 64-bit flow IDs)",
            [legacy_low_v1(1, 1, 0, "/Common/app_vs"), legacy_med(0, 0x5600_df76_bf00, 0, None)].concat(),
        ),
        (
            "legacy medium v1 with RST cause, high v0 IPv4",
            [
                legacy_low_v1(0, 0, 3, ""),
                legacy_med(1, 0x5601_b585_cf40, 0x5601_b585_cf41, Some(&cause)),
                legacy_high(6, 4093, peer4([10, 1, 20, 20]), peer4([10, 1, 20, 240]), 80, 49925),
            ]
            .concat(),
        ),
        (
            "legacy medium v2 with {peer} RST cause, high v0 IPv6",
            [
                legacy_low_v1(1, 0, 1, "/Common/v6_vs"),
                legacy_med(2, 7, 8, Some(&cause_peer)),
                legacy_high(6, 10, v6r, v6l, 443, 55000),
            ]
            .concat(),
        ),
        (
            "legacy medium v3, high v0 with route domain addresses",
            [
                legacy_low_v1(1, 0, 0, "/Common/rd_vs"),
                legacy_med(3, 9, 10, None),
                legacy_high(17, 0, rtdom(2, [10, 2, 0, 1]), rtdom(2, [10, 2, 0, 254]), 53, 40001),
            ]
            .concat(),
        ),
        (
            "legacy medium v0 (29) without peer: high shows no peer",
            [
                legacy_low_v1(1, 0, 0, "/Common/nopeer_vs"),
                legacy_med(0, 11, 0, None),
                legacy_high(0, 0, [0; 16], [0; 16], 0, 0),
            ]
            .concat(),
        ),
        (
            "legacy after zero padding",
            [vec![0, 0, 0], legacy_low_v1(0, 0, 1, "/Common/pad_vs")].concat(),
        ),
        (
            "DPT: low v2 + medium v4 + high v1",
            dpt(&[
                dpt_low(2, 1, 0, 1, "/Common/dpt_vs"),
                dpt_med(0x0000_5600_df76_d300, 0x0000_5600_df76_b600, None),
                dpt_high(6, 4093, peer4([10, 1, 20, 20]), peer4([10, 1, 20, 240]), 80, 49925),
            ]),
        ),
        (
            "DPT: low v3 (flags: egress, hardware action drop) + medium v4 with RST cause",
            dpt(&[dpt_low(3, 0x04, 1, 2, "/Common/rst_vs"), dpt_med(0x77, 0, Some(&cause))]),
        ),
        (
            "DPT: low v4 (virtual server, port, trunk) + medium v4 + high v1, and an unknown provider",
            dpt(&[
                dpt_low_v4(0x01, 0, 4, &[(0, "/Common/objs_vs"), (1, "1.1"), (2, "trunk_a")]),
                dpt_med(0x88, 0x99, Some(&cause_peer)),
                dpt_high(6, 20, v6r, v6l, 8443, 61000),
                dpt_tlv(7, 1, 1, b"opaque"),
            ]),
        ),
        (
            "DPT after the original FCS",
            [vec![0xde, 0xad, 0xbe, 0xef], dpt(&[dpt_low(3, 0x01, 0, 0, "/Common/fcs_vs")])].concat(),
        ),
        (
            "DPT with high before medium: no peer (order matters, as in Wireshark)",
            dpt(&[
                dpt_low(3, 0x01, 0, 0, "/Common/order_vs"),
                dpt_high(6, 1, peer4([192, 0, 2, 1]), peer4([192, 0, 2, 2]), 1, 2),
                dpt_med(1, 2, None),
            ]),
        ),
    ]
}

/// tshark's text for the IPv4 form of a peer address: shown only when the
/// stored address is IPv4-mapped or in F5's route domain prefix.
fn v4(a: &f5::PeerAddr) -> String {
    match a.ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(_) => String::new(),
    }
}

/// Our decode, in the columns and text formats of the tshark TSVs.
pub fn our_row(t: &F5Trailer) -> BTreeMap<&'static str, String> {
    let mut row = BTreeMap::new();
    let mut put = |k: &'static str, v: String| {
        row.insert(k, v);
    };
    let mut types = Vec::new();
    let mut versions = Vec::new();
    if let Some(fcs) = t.orig_fcs {
        put("f5ethtrailer.orig_fcs", format!("0x{fcs:08x}"));
    }
    if let Some(l) = &t.low {
        types.push("1".to_string());
        versions.push(l.version.to_string());
        put("f5ethtrailer.ingress", u8::from(l.ingress).to_string());
        if let Some(hw) = l.hw_action {
            put("f5ethtrailer.flags.hwaction", hw.to_string());
        }
        // Wireshark shows the slot 1-based, except in BIG-IP 9.4 trailers.
        let slot = if l.flow.is_some() {
            u16::from(l.slot)
        } else {
            u16::from(l.slot) + 1
        };
        put("f5ethtrailer.slot", slot.to_string());
        put("f5ethtrailer.tmm", l.tmm.to_string());
        put(
            "f5ethtrailer.vip",
            l.virtual_server.clone().unwrap_or_default(),
        );
        put("f5ethtrailer.phys_port", l.port.clone().unwrap_or_default());
        put("f5ethtrailer.trunk", l.trunk.clone().unwrap_or_default());
    }
    if let Some(fl) = t.flow() {
        put("f5ethtrailer.flowid", format!("0x{:016x}", fl.flow_id));
        put("f5ethtrailer.peerid", format!("0x{:016x}", fl.peer_id));
        if let Some(c2) = fl.cf_flags2 {
            put("f5ethtrailer.cfflags2", format!("0x{c2:08x}"));
        }
        put("f5ethtrailer.cfflags", format!("0x{:08x}", fl.cf_flags));
        put("f5ethtrailer.flowtype", format!("0x{:02x}", fl.flow_type));
    }
    if let Some(m) = &t.medium {
        types.push("2".to_string());
        versions.push(m.version.to_string());
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
            put("f5ethtrailer.peerremoteaddr6", p.remote.raw.to_string());
            put("f5ethtrailer.peerlocaladdr6", p.local.raw.to_string());
            let rd = |a: &f5::PeerAddr| a.route_domain.map(|r| r.to_string()).unwrap_or_default();
            put("f5ethtrailer.peerremotertdom", rd(&p.remote));
            put("f5ethtrailer.peerlocalrtdom", rd(&p.local));
            put("f5ethtrailer.peerremoteport", p.remote_port.to_string());
            put("f5ethtrailer.peerlocalport", p.local_port.to_string());
        }
    }
    for tlv in &t.other {
        types.push(tlv.tlv_type.to_string());
        versions.push(tlv.version.to_string());
    }
    put("f5ethtrailer.type", types.join(","));
    put("f5ethtrailer.version", versions.join(","));
    row
}

pub fn read_tsv(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = fs::read_to_string(root().join("fixtures/f5").join(name)).unwrap();
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split('\t')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    (header, rows)
}

/// Per column of the TSV: (frames that agree, frames that differ), and the
/// differences in words. Columns are compared as sets of comma-separated
/// values where tshark lists TLVs in their order and we in ours (type and
/// version go together, so those two are compared as pairs).
pub struct Agreement {
    pub columns: BTreeMap<String, (usize, usize)>,
    pub differences: Vec<String>,
    pub decoded: usize,
}

/// Compares with `tsv` the trailers found by the hand-written pcap reader.
pub fn compare(frames: &[&[u8]], tsv: &str) -> Agreement {
    let trailers: Vec<Option<&[u8]>> = frames.iter().map(|f| trailer_of(f)).collect();
    compare_trailers(&trailers, tsv)
}

/// Compares with `tsv` the trailer bytes of each frame (`None`: no trailer).
pub fn compare_trailers(trailers: &[Option<&[u8]>], tsv: &str) -> Agreement {
    let (header, rows) = read_tsv(tsv);
    assert_eq!(trailers.len(), rows.len(), "{tsv}: one row per frame");
    let mut a = Agreement {
        columns: BTreeMap::new(),
        differences: Vec::new(),
        decoded: 0,
    };
    for (i, (trailer, row)) in trailers.iter().zip(&rows).enumerate() {
        let number = i + 1;
        assert_eq!(row[0], number.to_string());
        let mut expected: BTreeMap<&str, String> = header
            .iter()
            .map(String::as_str)
            .zip(row.iter().cloned())
            .skip(1)
            .collect();
        let mut ours = match trailer.map(f5::decode_trailer) {
            Some(Ok(t)) => {
                a.decoded += 1;
                assert!(t.issues.is_empty(), "frame {number}: {:?}", t.issues);
                our_row(&t)
            }
            _ => BTreeMap::new(),
        };
        pair_types(&mut expected);
        pair_types(&mut ours);
        for (col, want) in &expected {
            let got = ours.get(col).cloned().unwrap_or_default();
            let tally = a.columns.entry(col.to_string()).or_default();
            if &got == want {
                tally.0 += 1;
            } else {
                tally.1 += 1;
                a.differences.push(format!(
                    "frame {number} {col}: tshark {want:?}, twincap {got:?}"
                ));
            }
        }
    }
    a
}

/// Replaces the type and version columns by their sorted pairs, so TLV order
/// does not matter.
fn pair_types(row: &mut BTreeMap<&str, String>) {
    let types = row.get("f5ethtrailer.type").cloned().unwrap_or_default();
    let versions = row.get("f5ethtrailer.version").cloned().unwrap_or_default();
    let mut pairs: Vec<String> = types
        .split(',')
        .zip(versions.split(','))
        .filter(|(t, _)| !t.is_empty())
        .map(|(t, v)| format!("{t}/{v}"))
        .collect();
    pairs.sort();
    row.insert("f5ethtrailer.type", pairs.join(","));
    row.insert("f5ethtrailer.version", String::new());
}
