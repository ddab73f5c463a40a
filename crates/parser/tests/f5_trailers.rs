//! Hand-built F5 trailers with the values they must decode to, malformed
//! trailers that must give a clear error (never a panic), RST cause
//! payloads and the fileinfo pseudo-packet.

#[path = "f5_common.rs"]
mod common;

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use twincap_parser::f5::{
    self, decode_fileinfo, decode_trailer, parse_rst_cause, CaptureNoise, F5ErrorKind, F5RstCause,
    RstCause, TrailerFormat, TrailerRstCause,
};

fn ip4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

// ---- legacy layouts

#[test]
fn legacy_bigip10_low_and_medium() {
    let t = decode_trailer(
        &[
            legacy_low_v0_10(1, 0, 2, "/Common/vs10"),
            legacy_med_v0_10(0x11223344, 0x55667788),
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(t.format, TrailerFormat::Legacy);
    assert_eq!((t.offset, t.len), (0, 22 + 21));
    let low = t.low.as_ref().unwrap();
    assert_eq!(
        (low.version, low.ingress, low.slot, low.tmm),
        (0, true, 0, 2)
    );
    assert_eq!(low.virtual_server.as_deref(), Some("/Common/vs10"));
    assert_eq!(low.flow, None);
    let m = t.medium.as_ref().unwrap();
    assert_eq!(m.version, 0);
    let fl = m.flow.as_ref().unwrap();
    assert_eq!(
        (
            fl.flow_id,
            fl.peer_id,
            fl.cf_flags,
            fl.cf_flags2,
            fl.flow_type
        ),
        (0x11223344, 0x55667788, 0x24, None, 0x40)
    );
    assert_eq!((m.ha_unit, m.priority, &m.rst_cause), (1, None, &None));
    assert!(t.high.is_none() && t.issues.is_empty());
}

#[test]
fn legacy_bigip94_flow_ids_in_low() {
    let t = decode_trailer(
        &[
            legacy_low_v0_94(0, 3, 1, 0xaabbccdd, 0x01020304, "vs94"),
            legacy_med_v0_94(1),
        ]
        .concat(),
    )
    .unwrap();
    let low = t.low.as_ref().unwrap();
    assert_eq!((low.ingress, low.slot, low.tmm), (false, 3, 1));
    assert_eq!(low.virtual_server.as_deref(), Some("vs94"));
    let m = t.medium.as_ref().unwrap();
    assert_eq!((m.flow.as_ref(), m.ha_unit), (None, 1));
    let fl = t.flow().unwrap();
    assert_eq!(
        (fl.flow_id, fl.peer_id, fl.cf_flags, fl.flow_type),
        (0xaabbccdd, 0x01020304, 0x1234, 7)
    );
}

#[test]
fn legacy_v1_medium_v0_29_and_empty_name() {
    let t = decode_trailer(
        &[
            legacy_low_v1(1, 1, 0, ""),
            legacy_med(0, 0x5600df76bf00, 0, None),
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(t.virtual_server(), None);
    assert_eq!(t.low.as_ref().unwrap().version, 1);
    assert_eq!(t.flow().unwrap().flow_id, 0x5600df76bf00);
}

#[test]
fn legacy_medium_versions_with_rst_cause_and_high() {
    let cause = rst_cause(false, 0x2664c65, 2574, "No flow found for ACK");
    let want = F5RstCause {
        peer: false,
        value: 0x2664c65,
        line: 2574,
        text: "No flow found for ACK".into(),
    };
    for version in 1..=3u8 {
        let bytes = [
            legacy_low_v1(0, 0, 3, "/Common/x"),
            legacy_med(version, 0x5601b585cf40, 0x5601b585cf41, Some(&cause)),
            legacy_high(
                6,
                4093,
                mapped([10, 1, 20, 20]),
                mapped([10, 1, 20, 240]),
                80,
                49925,
            ),
        ]
        .concat();
        let t = decode_trailer(&bytes).unwrap();
        assert!(t.issues.is_empty(), "v{version}: {:?}", t.issues);
        assert_eq!(t.len, bytes.len());
        let m = t.medium.as_ref().unwrap();
        assert_eq!(m.version, u16::from(version));
        assert_eq!(m.priority, if version >= 2 { Some(3) } else { None });
        assert_eq!(
            m.flow.as_ref().unwrap().cf_flags2,
            if version >= 3 { Some(1) } else { None }
        );
        assert_eq!(t.rst_cause(), Some(&want), "v{version}");
        let p = t.peer().unwrap();
        assert_eq!(
            (p.ip_proto, p.vlan, p.remote_port, p.local_port),
            (6, 4093, 80, 49925)
        );
        assert_eq!(
            (p.remote.ip, p.local.ip),
            (ip4([10, 1, 20, 20]), ip4([10, 1, 20, 240]))
        );
        assert_eq!(
            p.remote.raw,
            "::ffff:10.1.20.20".parse::<Ipv6Addr>().unwrap()
        );
    }
}

#[test]
fn legacy_high_ipv6_route_domain_and_no_peer() {
    let v6: [u8; 16] = "2001:db8::10".parse::<Ipv6Addr>().unwrap().octets();
    let t = decode_trailer(
        &[
            legacy_low_v1(1, 0, 1, "v"),
            legacy_med(2, 7, 8, None),
            legacy_high(6, 10, v6, v6, 443, 1),
        ]
        .concat(),
    )
    .unwrap();
    let p = t.peer().unwrap();
    assert_eq!(p.remote.ip, IpAddr::V6(Ipv6Addr::from(v6)));
    assert_eq!(p.remote.route_domain, None);

    let t = decode_trailer(
        &[
            legacy_low_v1(1, 0, 1, "v"),
            legacy_med(3, 9, 10, None),
            legacy_high(
                17,
                0,
                rtdom(2, [10, 2, 0, 1]),
                rtdom(7, [10, 2, 0, 254]),
                53,
                4,
            ),
        ]
        .concat(),
    )
    .unwrap();
    let p = t.peer().unwrap();
    assert_eq!(
        (p.remote.ip, p.remote.route_domain),
        (ip4([10, 2, 0, 1]), Some(2))
    );
    assert_eq!(
        (p.local.ip, p.local.route_domain),
        (ip4([10, 2, 0, 254]), Some(7))
    );

    // Peer ID 0: high noise is there, but there is no peer to show.
    let t = decode_trailer(
        &[
            legacy_med(0, 11, 0, None),
            legacy_high(0, 0, [0; 16], [0; 16], 0, 0),
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(t.high.as_ref().unwrap().peer, None);
}

#[test]
fn zero_padding_and_leftover_bytes() {
    // Ethernet padding before the trailer; an FCS-sized leftover after it.
    let bytes = [
        vec![0, 0, 0],
        legacy_low_v1(0, 0, 1, "/Common/pad_vs"),
        vec![0xde, 0xad, 0xbe, 0xef],
    ]
    .concat();
    let t = decode_trailer(&bytes).unwrap();
    assert_eq!((t.offset, t.len), (3, 7 + 14));
    assert_eq!(t.virtual_server(), Some("/Common/pad_vs"));
    assert!(t.issues.is_empty());
}

// ---- DPT layouts

#[test]
fn dpt_low_versions() {
    let t = decode_trailer(&dpt(&[dpt_low(2, 0x05, 1, 2, "/Common/v2")])).unwrap();
    assert_eq!(t.format, TrailerFormat::Dpt { version: 1 });
    let low = t.low.as_ref().unwrap();
    // Version 2: any non-zero byte is "ingress"; no hardware action.
    assert_eq!(
        (low.version, low.ingress, low.hw_action, low.slot, low.tmm),
        (2, true, None, 1, 2)
    );
    assert_eq!(low.virtual_server.as_deref(), Some("/Common/v2"));

    let t = decode_trailer(&dpt(&[dpt_low(3, 0x04, 0, 0, "/Common/v3")])).unwrap();
    let low = t.low.as_ref().unwrap();
    assert_eq!((low.ingress, low.hw_action), (false, Some(2)));

    let t = decode_trailer(&dpt(&[dpt_low_v4(
        0x07,
        0,
        4,
        &[(0, "/Common/objs_vs"), (1, "1.1"), (2, "trunk_a"), (9, "?")],
    )]))
    .unwrap();
    let low = t.low.as_ref().unwrap();
    assert_eq!(
        (low.version, low.ingress, low.hw_action, low.tmm),
        (4, true, Some(3), 4)
    );
    assert_eq!(low.virtual_server.as_deref(), Some("/Common/objs_vs"));
    assert_eq!(low.port.as_deref(), Some("1.1"));
    assert_eq!(low.trunk.as_deref(), Some("trunk_a"));
    assert!(t.issues.is_empty());
}

#[test]
fn dpt_medium_high_and_other_providers() {
    let cause = rst_cause(true, 0x11c5672, 3045, "TCP RST from remote system");
    let v6: [u8; 16] = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
    let bytes = dpt(&[
        dpt_low(3, 1, 0, 0, "/Common/a"),
        dpt_med(0x88, 0x99, Some(&cause)),
        dpt_high(6, 20, mapped([192, 0, 2, 1]), v6, 8443, 61000),
        dpt_tlv(4, 0, 0, &[1, 2, 3]),
    ]);
    let t = decode_trailer(&bytes).unwrap();
    assert_eq!(t.len, bytes.len());
    let m = t.medium.as_ref().unwrap();
    let fl = m.flow.as_ref().unwrap();
    assert_eq!(
        (
            m.version,
            fl.flow_id,
            fl.peer_id,
            fl.cf_flags2,
            fl.cf_flags,
            fl.flow_type
        ),
        (4, 0x88, 0x99, Some(2), 0x8024, 0x40)
    );
    assert_eq!((m.ha_unit, m.priority), (1, Some(5)));
    assert_eq!(
        t.rst_cause(),
        Some(&F5RstCause {
            peer: true,
            value: 0x11c5672,
            line: 3045,
            text: "TCP RST from remote system".into()
        })
    );
    assert_eq!(
        t.rst_cause().unwrap().to_string(),
        "[0x11c5672:3045] {peer} TCP RST from remote system"
    );
    let p = t.peer().unwrap();
    assert_eq!(
        (p.remote.ip, p.local.ip),
        (ip4([192, 0, 2, 1]), IpAddr::V6(Ipv6Addr::from(v6)))
    );
    assert_eq!(t.other.len(), 1);
    assert_eq!(
        (t.other[0].provider, t.other[0].data.as_slice()),
        (f5::DPT_PROVIDER_TLS, &[1u8, 2, 3][..])
    );
    // Header 8, low 8+4+9, medium 8+32+35 (cause: 1+8+26), high 8+39.
    assert_eq!(t.other[0].offset, 8 + 21 + 75 + 47);
}

#[test]
fn dpt_behind_fcs_and_order() {
    let bytes = [
        vec![0xde, 0xad, 0xbe, 0xef],
        dpt(&[dpt_low(3, 1, 0, 0, "/Common/fcs_vs")]),
    ]
    .concat();
    let t = decode_trailer(&bytes).unwrap();
    assert_eq!((t.offset, t.orig_fcs), (4, Some(0xdeadbeef)));
    assert_eq!(t.virtual_server(), Some("/Common/fcs_vs"));

    // An FCS that starts with zero bytes: they are skipped as padding, and
    // the search backs up over them.
    let bytes = [vec![0, 0, 0xbe, 0xef], dpt(&[dpt_low(3, 1, 0, 0, "x")])].concat();
    let t = decode_trailer(&bytes).unwrap();
    assert_eq!((t.offset, t.orig_fcs), (4, Some(0xbeef)));

    // High before medium: the peer ID is not known yet, so no peer.
    let t = decode_trailer(&dpt(&[
        dpt_high(6, 1, mapped([192, 0, 2, 1]), mapped([192, 0, 2, 2]), 1, 2),
        dpt_med(1, 2, None),
    ]))
    .unwrap();
    assert_eq!(t.high.as_ref().unwrap().peer, None);
    assert_eq!(t.flow().unwrap().peer_id, 2);
}

#[test]
fn rst_cause_block_of_another_version_is_kept_raw() {
    let mut cause = rst_cause(false, 1, 2, "x");
    cause[0] = 0x02 << 1;
    let t = decode_trailer(&dpt(&[dpt_med(1, 0, Some(&cause))])).unwrap();
    assert_eq!(t.rst_cause(), None);
    assert_eq!(
        t.medium.unwrap().rst_cause,
        Some(TrailerRstCause::Unknown {
            version: 2,
            bytes: cause
        })
    );
}

// ---- malformed trailers: a clear error, at the right byte

#[test]
fn too_short_and_not_f5() {
    for bytes in [&[][..], &[0, 0, 0, 0][..], &[1, 5, 1, 0, 0, 0][..]] {
        let e = decode_trailer(bytes).unwrap_err();
        assert!(matches!(e.kind, F5ErrorKind::TooShort { .. }), "{e}");
    }
    // Wrong magic (one bit off), and plain garbage.
    let mut bytes = dpt(&[dpt_low(3, 1, 0, 0, "x")]);
    bytes[3] ^= 0x02;
    let e = decode_trailer(&bytes).unwrap_err();
    assert_eq!(e.offset, 0);
    assert_eq!(
        e.kind,
        F5ErrorKind::NotF5 {
            first_bytes: 0xf5deb0f7
        }
    );
    assert!(e.to_string().contains("not an F5 trailer"), "{e}");
    let e = decode_trailer(b"GET / HTTP/1.1").unwrap_err();
    assert!(matches!(e.kind, F5ErrorKind::NotF5 { .. }));
}

#[test]
fn dpt_bad_lengths() {
    // Header length past the end.
    let mut bytes = dpt(&[dpt_low(3, 1, 0, 0, "x")]);
    bytes[4..6].copy_from_slice(&500u16.to_be_bytes());
    let e = decode_trailer(&bytes).unwrap_err();
    assert_eq!(
        (e.offset, e.kind.clone()),
        (
            4,
            F5ErrorKind::DptLengthPastEnd {
                length: 500,
                available: bytes.len()
            }
        )
    );
    assert!(e.to_string().contains("byte 4"), "{e}");

    // Unknown version.
    let mut bytes = dpt(&[dpt_low(3, 1, 0, 0, "x")]);
    bytes[7] = 2;
    let e = decode_trailer(&bytes).unwrap_err();
    assert_eq!(
        (e.offset, e.kind),
        (6, F5ErrorKind::UnsupportedDptVersion { version: 2 })
    );

    // Truncated TLV: its length runs past the end.
    let mut bytes = dpt(&[dpt_low(3, 1, 0, 0, "abc")]);
    let n = bytes.len();
    bytes.truncate(n - 2);
    bytes[4..6].copy_from_slice(&(n as u16 - 2).to_be_bytes());
    let e = decode_trailer(&bytes).unwrap_err();
    assert_eq!(e.offset, 12);
    assert!(
        matches!(
            e.kind,
            F5ErrorKind::BadTlvLength {
                length: 15,
                min: 8,
                max: 13
            }
        ),
        "{e}"
    );

    // TLV length shorter than its header.
    let mut bytes = dpt(&[dpt_low(3, 1, 0, 0, "x")]);
    bytes[12..14].copy_from_slice(&4u16.to_be_bytes());
    let e = decode_trailer(&bytes).unwrap_err();
    assert!(
        matches!(e.kind, F5ErrorKind::BadTlvLength { length: 4, .. }),
        "{e}"
    );

    // A bad second TLV keeps the first, with the problem in `issues`.
    let mut bytes = dpt(&[dpt_low(3, 1, 0, 0, "x"), dpt_med(1, 2, None)]);
    // The low TLV with name "x" is 8+4+1 bytes; the medium one's length follows.
    bytes[8 + 13 + 4..8 + 13 + 6].copy_from_slice(&300u16.to_be_bytes());
    let t = decode_trailer(&bytes).unwrap();
    assert_eq!(t.virtual_server(), Some("x"));
    assert!(t.medium.is_none());
    assert_eq!(t.issues.len(), 1);
    assert_eq!(t.issues[0].offset, 8 + 13 + 4);
}

#[test]
fn dpt_bad_lengths_inside_noise() {
    // Name length past the end of the low TLV: direction, slot and TMM stay.
    let mut bytes = dpt(&[dpt_low(3, 1, 2, 3, "abc")]);
    bytes[8 + 11] = 40;
    let t = decode_trailer(&bytes).unwrap();
    let low = t.low.as_ref().unwrap();
    assert_eq!(
        (
            low.ingress,
            low.slot,
            low.tmm,
            low.virtual_server.as_deref()
        ),
        (true, 2, 3, None)
    );
    assert_eq!(t.issues[0].offset, 8 + 11);
    assert_eq!(
        t.issues[0].kind,
        F5ErrorKind::BadNameLength {
            length: 40,
            available: 3
        }
    );

    // Object name past the end of the object block.
    let mut bytes = dpt(&[dpt_low_v4(1, 0, 0, &[(0, "vs"), (1, "1.1")])]);
    let last = bytes.len() - 4;
    bytes[last] = 9;
    let t = decode_trailer(&bytes).unwrap();
    assert_eq!(t.virtual_server(), Some("vs"));
    assert!(
        matches!(
            t.issues[0].kind,
            F5ErrorKind::BadNameLength {
                length: 9,
                available: 3
            }
        ),
        "{:?}",
        t.issues
    );

    // RST cause length past the end of the medium TLV: flow IDs stay.
    let mut bytes = dpt(&[dpt_med(5, 6, Some(&rst_cause(false, 1, 1, "abc")))]);
    bytes[8 + 8 + 31] = 100;
    let t = decode_trailer(&bytes).unwrap();
    assert_eq!(t.flow().unwrap().flow_id, 5);
    assert_eq!(t.rst_cause(), None);
    assert_eq!(t.issues[0].offset, 8 + 8 + 31);
    assert!(matches!(
        t.issues[0].kind,
        F5ErrorKind::BadRstCauseLength {
            length: 100,
            available: 12
        }
    ));

    // Medium TLV too short for its fixed fields: nothing decoded, an error.
    let e = decode_trailer(&dpt(&[dpt_tlv(1, 2, 4, &[0; 10])])).unwrap_err();
    assert!(
        matches!(
            e.kind,
            F5ErrorKind::Truncated {
                field: "medium noise",
                need: 32,
                available: 10
            }
        ),
        "{e}"
    );
    assert_eq!(e.offset, 16);

    // High TLV too short for the peer: error naming the field.
    let mut high = dpt_high(6, 1, mapped([1, 2, 3, 4]), mapped([5, 6, 7, 8]), 1, 2);
    high.truncate(30);
    high[4..6].copy_from_slice(&30u16.to_be_bytes());
    let t = decode_trailer(&dpt(&[dpt_med(1, 2, None), high])).unwrap();
    assert!(t.high.is_none());
    assert!(
        matches!(
            t.issues[0].kind,
            F5ErrorKind::Truncated {
                field: "peer local address",
                need: 16,
                available: 3
            }
        ),
        "{:?}",
        t.issues
    );
}

#[test]
fn legacy_bad_lengths_and_layouts() {
    // Truncated: the first TLV says 21 bytes, 12 are there.
    let mut bytes = legacy_med_v0_10(1, 2);
    bytes.truncate(12);
    let e = decode_trailer(&bytes).unwrap_err();
    assert_eq!(e.offset, 1);
    assert!(
        matches!(
            e.kind,
            F5ErrorKind::BadTlvLength {
                length: 21,
                min: 7,
                max: 12
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "F5 trailer, byte 1: TLV length 21 is impossible here (must be 7 to 12)"
    );

    // Length beyond the 140 bytes any legacy TLV has.
    let mut bytes = legacy_low_v1(1, 0, 0, &"v".repeat(150));
    bytes[1] = 200;
    let e = decode_trailer(&bytes).unwrap_err();
    assert!(
        matches!(
            e.kind,
            F5ErrorKind::BadTlvLength {
                length: 202,
                min: 7,
                max: 140
            }
        ),
        "{e}"
    );

    // A length no layout has: low version 0 of 10 bytes.
    let e = decode_trailer(&legacy_tlv(1, 0, &[1, 0, 0, 0, 0, 0, 0])).unwrap_err();
    assert_eq!(
        (e.offset, e.kind.clone()),
        (
            0,
            F5ErrorKind::UnknownLegacyLayout {
                tlv_type: 1,
                version: 0,
                length: 10
            }
        )
    );
    assert!(
        e.to_string()
            .contains("legacy low TLV version 0 of 10 bytes"),
        "{e}"
    );

    // Name length that disagrees with the TLV length.
    let mut bytes = legacy_low_v1(1, 0, 0, "abcd");
    bytes[6] = 2;
    let e = decode_trailer(&bytes).unwrap_err();
    assert!(
        matches!(
            e.kind,
            F5ErrorKind::UnknownLegacyLayout {
                tlv_type: 1,
                version: 1,
                ..
            }
        ),
        "{e}"
    );

    // After a good TLV: an unknown type, then a bad medium layout.
    let bytes = [legacy_low_v1(1, 0, 0, "ok"), vec![9, 5, 0, 0, 0, 0, 0]].concat();
    let t = decode_trailer(&bytes).unwrap();
    assert_eq!(t.virtual_server(), Some("ok"));
    assert_eq!(t.len, 9);
    assert_eq!(
        (t.issues[0].offset, t.issues[0].kind.clone()),
        (9, F5ErrorKind::UnknownLegacyType { tlv_type: 9 })
    );
    let bytes = [legacy_low_v1(1, 0, 0, "ok"), legacy_tlv(2, 0, &[0; 11])].concat();
    let t = decode_trailer(&bytes).unwrap();
    assert!(matches!(
        t.issues[0].kind,
        F5ErrorKind::UnknownLegacyLayout {
            tlv_type: 2,
            version: 0,
            length: 14
        }
    ));

    // An RST cause too short for its header: flow kept, cause dropped.
    let t = decode_trailer(&legacy_med(1, 3, 4, Some(&[0, 1, 2, 3]))).unwrap();
    assert_eq!(t.flow().unwrap().flow_id, 3);
    assert_eq!(t.rst_cause(), None);
    assert_eq!(
        t.issues[0].kind,
        F5ErrorKind::BadRstCauseLength {
            length: 4,
            available: 4
        }
    );
    assert_eq!(t.issues[0].offset, 29);
}

/// xorshift64*: deterministic bytes for the no-panic sweep.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn never_panics() {
    let mut rng = Rng(0x5eed_f5f5);
    let seeds: Vec<Vec<u8>> = handbuilt().into_iter().map(|(_, t)| t).collect();
    let check = |bytes: &[u8]| {
        if let Ok(t) = decode_trailer(bytes) {
            assert!(t.offset <= bytes.len());
            for e in &t.issues {
                assert!(e.offset <= bytes.len(), "{e} in {bytes:02x?}");
                let _ = e.to_string();
            }
        }
        let _ = parse_rst_cause(bytes);
        let _ = decode_fileinfo(bytes);
    };
    // Every prefix and suffix of every hand-built trailer.
    for s in &seeds {
        for n in 0..=s.len() {
            check(&s[..n]);
            check(&s[n..]);
        }
    }
    // Random mutations of them, and random bytes with F5-looking starts.
    for _ in 0..100_000 {
        let r = rng.next();
        let mut b = match r % 4 {
            0 => seeds[(r >> 8) as usize % seeds.len()].clone(),
            1 => 0xf5de_b0f5u32.to_be_bytes().to_vec(),
            2 => vec![1 + (r >> 8) as u8 % 3, (r >> 16) as u8, (r >> 24) as u8 % 4],
            _ => Vec::new(),
        };
        let extra = rng.next() as usize % 64;
        for _ in 0..extra {
            b.push(rng.next() as u8);
        }
        for _ in 0..(rng.next() % 4) {
            if !b.is_empty() {
                let i = rng.next() as usize % b.len();
                b[i] = rng.next() as u8;
            }
        }
        if rng.next() % 3 == 0 && !b.is_empty() {
            let n = rng.next() as usize % b.len();
            b.truncate(n);
        }
        check(&b);
    }
}

// ---- RST cause payloads

/// The TCP payload of the first frame of a pcap (Ethernet or BSD null link
/// type), read by hand.
fn first_tcp_payload(name: &str) -> Vec<u8> {
    let pcap = fs::read(root().join("fixtures/corpus").join(name)).unwrap();
    let linktype = u32::from_le_bytes(pcap[20..24].try_into().unwrap());
    let frame = pcap_frames(&pcap)[0];
    let ip = match linktype {
        1 => 14,
        0 => 4,
        other => panic!("link type {other}"),
    };
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[ip + 2], frame[ip + 3]]));
    let tcp = ip + ihl;
    let doff = usize::from(frame[tcp + 12] >> 4) * 4;
    frame[tcp + doff..ip + total].to_vec()
}

#[test]
fn rst_cause_from_bigip_payload() {
    let payload = first_tcp_payload("tcpdump_tcp_rst_data.pcap");
    let want = F5RstCause {
        peer: true,
        value: 0x11c5672,
        line: 3045,
        text: "TCP RST from remote system".into(),
    };
    assert_eq!(parse_rst_cause(&payload), Some(RstCause::BigIp(want)));
    assert_eq!(
        parse_rst_cause(&payload).unwrap().to_string(),
        "BIG-IP: [0x11c5672:3045] {peer} TCP RST from remote system"
    );

    let c = parse_rst_cause(b"BIG-IP: [0x2664c65:2574] No flow found for ACK").unwrap();
    assert_eq!(
        c,
        RstCause::BigIp(F5RstCause {
            peer: false,
            value: 0x2664c65,
            line: 2574,
            text: "No flow found for ACK".into()
        })
    );
    // Any text; tolerant spacing; NUL padding; no 0x.
    let c = parse_rst_cause(b"BIG-IP:[2c0e7b6:1069]{peer}Handshake timeout\0\0").unwrap();
    assert_eq!(
        c,
        RstCause::BigIp(F5RstCause {
            peer: true,
            value: 0x2c0e7b6,
            line: 1069,
            text: "Handshake timeout".into()
        })
    );
    let c = parse_rst_cause(b"BIG-IP: [0x1:2] ").unwrap();
    assert_eq!(
        c,
        RstCause::BigIp(F5RstCause {
            peer: false,
            value: 1,
            line: 2,
            text: String::new()
        })
    );
}

#[test]
fn rst_cause_text_binary_and_none() {
    assert_eq!(
        parse_rst_cause(b"Connection reset by policy\r\n\0"),
        Some(RstCause::Text("Connection reset by policy".into()))
    );
    // Looks like BIG-IP but is not: kept as text.
    assert_eq!(
        parse_rst_cause(b"BIG-IP: [zz:1] x"),
        Some(RstCause::Text("BIG-IP: [zz:1] x".into()))
    );
    assert_eq!(parse_rst_cause(b""), None);
    assert_eq!(parse_rst_cause(b"\0\0\0\0"), None);
    assert_eq!(parse_rst_cause(b"  \r\n"), None);

    let payload = first_tcp_payload("tcpdump_tcp_rst_diag_payload.pcap");
    let c = parse_rst_cause(&payload).unwrap();
    assert_eq!(
        c,
        RstCause::Binary {
            len: 8,
            head: vec![0x33, 0xaa, 0, 1, 0, 0, 0, 0]
        }
    );
    assert_eq!(
        c.to_string(),
        "binary payload (8 bytes: 33 aa 00 01 00 00 00 00)"
    );
    let long = parse_rst_cause(&[0xff; 40]).unwrap();
    assert_eq!(
        long.to_string(),
        format!("binary payload (40 bytes:{} ...)", " ff".repeat(16))
    );
}

// ---- fileinfo

fn fileinfo_frame(strings: &[&str]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x05, 0xff]);
    f.extend_from_slice(b"F5-Pseudo-pkt\0");
    for s in strings {
        f.extend_from_slice(s.as_bytes());
        f.push(0);
    }
    f
}

#[test]
fn fileinfo_fields_and_noise() {
    let f = fileinfo_frame(&[
        "CMD: tcpdump -ni 0.0:nnnp -s0 -w /var/tmp/x.pcap",
        "VER: 15.1.8 0.0.7",
        "HOST: lb1.example.com",
        "PLAT: C119",
        "PROD: BIG-IP",
        "XYZ: ignored",
    ]);
    let info = decode_fileinfo(&f).unwrap();
    assert_eq!(info.hostname.as_deref(), Some("lb1.example.com"));
    assert_eq!(
        info.platform_name(),
        Some("BIG-IP i5000 Series (i5600, i5800)")
    );
    assert_eq!(info.version_numbers(), [15, 1, 8, 0, 0, 7]);
    assert_eq!(
        info.noise(),
        Some(CaptureNoise {
            level: 3,
            peer: true
        })
    );

    // Missing strings, and a last one without its NUL.
    let mut f = fileinfo_frame(&["HOST: a"]);
    f.extend_from_slice(b"PLAT: Z101");
    let info = decode_fileinfo(&f).unwrap();
    assert_eq!(
        (
            info.command.as_deref(),
            info.hostname.as_deref(),
            info.platform.as_deref()
        ),
        (None, Some("a"), Some("Z101"))
    );
    assert_eq!(info.version_numbers(), [0; 6]);

    assert_eq!(decode_fileinfo(&f[..20]), None);
    assert_eq!(decode_fileinfo(&frame_with_trailer(&[])), None);
}

#[test]
fn capture_noise_from_command_lines() {
    let n = |c: &str| CaptureNoise::from_command(c);
    assert_eq!(
        n("tcpdump -s0 -w/var/tmp/h.pcap -nni 0.0:nnn host 10.1.10.201"),
        Some(CaptureNoise {
            level: 3,
            peer: false
        })
    );
    assert_eq!(
        n("tcpdump -i0.0:nn"),
        Some(CaptureNoise {
            level: 2,
            peer: false
        })
    );
    assert_eq!(
        n("tcpdump -w x -i external:np"),
        Some(CaptureNoise {
            level: 1,
            peer: true
        })
    );
    assert_eq!(
        n("tcpdump -i internal"),
        Some(CaptureNoise {
            level: 0,
            peer: false
        })
    );
    // `-w` takes an argument, so the `i` in `-wi` is a file name letter.
    assert_eq!(n("tcpdump -wi 0.0:nnn"), None);
    assert_eq!(n("tcpdump -s0 host 10.0.0.1"), None);
}
