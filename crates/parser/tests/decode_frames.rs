//! `decode_frame` on hand-built frames: one case per link layer, IP feature
//! and TCP detail, malformed frames included. Frames are built from small
//! templates (`Tcp`, `Ipv4`, `Ipv6`) changed with struct-update syntax.

use std::net::IpAddr;
use twincap_parser::decode::{decode_frame, decode_frame_with_orig_len, Decoded, DecodedTcp};
use twincap_parser::{info, tcp_flags, SackBlock};

const ETHERNET: u32 = 1;
const NULL: u32 = 0;
const RAW: u32 = 101;
const LOOP: u32 = 108;
const SLL: u32 = 113;
const SLL2: u32 = 276;

/// A TCP segment to build. `data_offset` overrides the header length field.
#[derive(Clone)]
struct Tcp {
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u16,
    win: u16,
    options: Vec<u8>,
    payload: Vec<u8>,
    data_offset: Option<u8>,
}

const TCP: Tcp = Tcp {
    sport: 40000,
    dport: 80,
    seq: 1000,
    ack: 2000,
    flags: tcp_flags::ACK | tcp_flags::PSH,
    win: 512,
    options: Vec::new(),
    payload: Vec::new(),
    data_offset: None,
};

impl Tcp {
    fn bytes(&self) -> Vec<u8> {
        let mut options = self.options.clone();
        while options.len() % 4 != 0 {
            options.push(0);
        }
        let offset = self.data_offset.unwrap_or((5 + options.len() / 4) as u8);
        let mut b = Vec::new();
        b.extend(self.sport.to_be_bytes());
        b.extend(self.dport.to_be_bytes());
        b.extend(self.seq.to_be_bytes());
        b.extend(self.ack.to_be_bytes());
        b.extend(((offset as u16) << 12 | self.flags).to_be_bytes());
        b.extend(self.win.to_be_bytes());
        b.extend([0, 0, 0, 0]); // checksum, urgent pointer
        b.extend(options);
        b.extend(&self.payload);
        b
    }
}

/// An IPv4 header to build. `total_len` overrides the computed length.
#[derive(Clone)]
struct Ipv4 {
    src: [u8; 4],
    dst: [u8; 4],
    protocol: u8,
    ttl: u8,
    tos: u8,
    id: u16,
    df: bool,
    mf: bool,
    frag_offset: u16,
    options: Vec<u8>,
    total_len: Option<u16>,
}

const IPV4: Ipv4 = Ipv4 {
    src: [10, 0, 0, 1],
    dst: [10, 0, 0, 2],
    protocol: 6,
    ttl: 64,
    tos: 0x28,
    id: 0x1234,
    df: true,
    mf: false,
    frag_offset: 0,
    options: Vec::new(),
    total_len: None,
};

impl Ipv4 {
    fn wrap(&self, payload: &[u8]) -> Vec<u8> {
        let header_len = 20 + self.options.len();
        let total = self
            .total_len
            .unwrap_or((header_len + payload.len()) as u16);
        let frag = (self.df as u16) << 14 | (self.mf as u16) << 13 | self.frag_offset;
        let mut b = vec![0x40 | (header_len / 4) as u8, self.tos];
        b.extend(total.to_be_bytes());
        b.extend(self.id.to_be_bytes());
        b.extend(frag.to_be_bytes());
        b.extend([self.ttl, self.protocol, 0, 0]);
        b.extend(self.src);
        b.extend(self.dst);
        b.extend(&self.options);
        b.extend(payload);
        b
    }
}

/// An IPv6 header with extension headers: `(kind, bytes)`, each `bytes`
/// starting with its next-header slot (filled in here).
#[derive(Clone)]
struct Ipv6 {
    src: [u8; 16],
    dst: [u8; 16],
    next: u8,
    hop_limit: u8,
    traffic_class: u8,
    extensions: Vec<(u8, Vec<u8>)>,
    payload_len: Option<u16>,
}

fn v6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[15] = last;
    a
}

fn ipv6_template() -> Ipv6 {
    Ipv6 {
        src: v6(1),
        dst: v6(2),
        next: 6,
        hop_limit: 57,
        traffic_class: 0xb8,
        extensions: Vec::new(),
        payload_len: None,
    }
}

impl Ipv6 {
    fn wrap(&self, payload: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        let first = self.extensions.first().map_or(self.next, |e| e.0);
        for (i, (_, ext)) in self.extensions.iter().enumerate() {
            let mut ext = ext.clone();
            ext[0] = self.extensions.get(i + 1).map_or(self.next, |e| e.0);
            body.extend(ext);
        }
        body.extend(payload);
        let len = self.payload_len.unwrap_or(body.len() as u16);
        let mut b = vec![
            0x60 | self.traffic_class >> 4,
            self.traffic_class << 4,
            0,
            0,
        ];
        b.extend(len.to_be_bytes());
        b.extend([first, self.hop_limit]);
        b.extend(self.src);
        b.extend(self.dst);
        b.extend(body);
        b
    }
}

/// Ethernet II with optional tags `(tpid, vlan id)`.
fn ether(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for &(tpid, id) in tags {
        b.extend(tpid.to_be_bytes());
        b.extend(id.to_be_bytes());
    }
    b.extend(ethertype.to_be_bytes());
    b.extend(payload);
    b
}

fn tcp_of(d: Decoded<'_>) -> DecodedTcp<'_> {
    match d {
        Decoded::Tcp(t) => t,
        other => panic!("expected TCP, got {other:?}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn ethernet_ipv4_tcp_fills_every_field() {
    let seg = Tcp {
        flags: tcp_flags::ACK | tcp_flags::PSH | tcp_flags::NS,
        payload: b"hello".to_vec(),
        ..TCP
    };
    let frame = ether(&[], 0x0800, &IPV4.wrap(&seg.bytes()));
    let t = tcp_of(decode_frame(ETHERNET, &frame));
    let p = &t.packet;
    assert_eq!((t.src, t.dst), (ip("10.0.0.1"), ip("10.0.0.2")));
    assert_eq!(
        (p.sport, p.dport, p.seq, p.ack, p.win),
        (40000, 80, 1000, 2000, 512)
    );
    assert_eq!(p.flags, tcp_flags::ACK | tcp_flags::PSH | tcp_flags::NS);
    assert_eq!(
        (p.ip_id, p.ttl, t.attrs.tos, p.ip_len),
        (0x1234, 64, 0x28, 45)
    );
    assert_eq!((p.payload_len, p.captured_len, p.tcp_hdr_len), (5, 5, 20));
    assert_eq!(p.info, info::DF);
    assert_ne!(p.payload_hash, 0);
    assert!(t.rst_payload.is_none());
    assert_eq!(p.seq_len(), 5);
}

#[test]
fn payload_hash_is_zero_without_payload_and_stable_with_one() {
    let empty = ether(&[], 0x0800, &IPV4.wrap(&TCP.bytes()));
    assert_eq!(
        tcp_of(decode_frame(ETHERNET, &empty)).packet.payload_hash,
        0
    );
    let seg = Tcp {
        payload: b"abc".to_vec(),
        ..TCP
    };
    let a = ether(&[], 0x0800, &IPV4.wrap(&seg.bytes()));
    let b = ether(&[], 0x0800, &Ipv4 { ttl: 3, ..IPV4 }.wrap(&seg.bytes()));
    let other = ether(
        &[],
        0x0800,
        &IPV4.wrap(
            &Tcp {
                payload: b"abd".to_vec(),
                ..TCP
            }
            .bytes(),
        ),
    );
    let hash = |f: &[u8]| tcp_of(decode_frame(ETHERNET, f)).packet.payload_hash;
    assert_eq!(hash(&a), hash(&b));
    assert_ne!(hash(&a), hash(&other));
}

#[test]
fn syn_options_are_read() {
    let options = vec![
        2, 4, 0x05, 0xb4, // MSS 1460
        4, 2, // SACK permitted
        8, 10, 0, 0, 0, 7, 0, 0, 0, 9, // timestamps 7, 9
        1, // NOP
        3, 3, 7, // window scale 7
    ];
    let seg = Tcp {
        flags: tcp_flags::SYN,
        options,
        ..TCP
    };
    let frame = ether(&[], 0x0800, &IPV4.wrap(&seg.bytes()));
    let t = tcp_of(decode_frame(ETHERNET, &frame));
    let p = &t.packet;
    assert_eq!(
        p.info & !info::DF,
        info::MSS | info::SACK_PERM | info::TIMESTAMPS | info::WSCALE
    );
    assert_eq!(
        (t.attrs.mss, p.wscale, p.ts_val, p.ts_ecr, p.tcp_hdr_len),
        (1460, 7, 7, 9, 40)
    );
}

#[test]
fn unknown_options_are_stepped_over() {
    // TFO cookie (kind 34) and an MPTCP option (kind 30) before the MSS.
    let options = vec![34, 6, 1, 2, 3, 4, 30, 4, 0, 0, 2, 4, 0x02, 0x18];
    let frame = ether(&[], 0x0800, &IPV4.wrap(&Tcp { options, ..TCP }.bytes()));
    let t = tcp_of(decode_frame(ETHERNET, &frame));
    assert!(t.packet.is(info::MSS));
    assert_eq!(t.attrs.mss, 536);
    // An impossible length stops the walk without a panic.
    let frame = ether(
        &[],
        0x0800,
        &IPV4.wrap(
            &Tcp {
                options: vec![34, 1, 2, 4],
                ..TCP
            }
            .bytes(),
        ),
    );
    assert!(!tcp_of(decode_frame(ETHERNET, &frame)).packet.is(info::MSS));
}

#[test]
fn sack_blocks_up_to_four() {
    let mut options = vec![1, 1, 5, 34];
    for i in 0..4u32 {
        options.extend((100 * i + 10).to_be_bytes());
        options.extend((100 * i + 20).to_be_bytes());
    }
    let frame = ether(&[], 0x0800, &IPV4.wrap(&Tcp { options, ..TCP }.bytes()));
    let t = tcp_of(decode_frame(ETHERNET, &frame));
    assert_eq!(t.packet.sack_count, 4);
    assert_eq!(
        t.sacks[0],
        SackBlock {
            left: 10,
            right: 20
        }
    );
    assert_eq!(
        t.sacks[3],
        SackBlock {
            left: 310,
            right: 320
        }
    );
}

#[test]
fn ethernet_padding_is_a_trailer() {
    let frame = ether(&[], 0x0800, &IPV4.wrap(&TCP.bytes()));
    let mut padded = frame.clone();
    padded.resize(60, 0);
    let t = tcp_of(decode_frame(ETHERNET, &padded));
    assert!(t.packet.is(info::TRAILER));
    assert_eq!(t.attrs.trailer_len, 6);
    assert_eq!(t.packet.payload_len, 0);
    assert!(!tcp_of(decode_frame(ETHERNET, &frame))
        .packet
        .is(info::TRAILER));
}

#[test]
fn vlan_tags_any_depth_keep_the_outer_id() {
    let ip = IPV4.wrap(&TCP.bytes());
    for tags in [
        vec![(0x8100, 42)],
        vec![(0x88a8, 42), (0x8100, 7)],
        vec![(0x9100, 42), (0x8100, 7), (0x8100, 9)],
    ] {
        let frame = ether(&tags, 0x0800, &ip);
        let t = tcp_of(decode_frame(ETHERNET, &frame));
        assert!(t.packet.is(info::VLAN));
        assert_eq!(t.attrs.vlan, 42, "{tags:?}");
    }
    let frame = ether(&[(0x8100, 0x2fff)], 0x0800, &ip);
    let t = tcp_of(decode_frame(ETHERNET, &frame));
    assert_eq!(t.attrs.vlan, 0xfff, "priority bits are not part of the id");
}

#[test]
fn pppoe_session_over_qinq() {
    let ip = IPV4.wrap(&TCP.bytes());
    let mut pppoe = vec![0x11, 0x00, 0x12, 0x34];
    pppoe.extend(((ip.len() + 2) as u16).to_be_bytes());
    pppoe.extend([0x00, 0x21]);
    pppoe.extend(&ip);
    let frame = ether(&[(0x88a8, 100), (0x8100, 200)], 0x8864, &pppoe);
    let t = tcp_of(decode_frame(ETHERNET, &frame));
    assert_eq!((t.attrs.vlan, t.packet.sport), (100, 40000));
    // PPP over IPv6 (0x0057) and a non-IP PPP protocol (LCP).
    let ip6 = ipv6_template().wrap(&TCP.bytes());
    let mut pppoe6 = vec![0x11, 0x00, 0x12, 0x34];
    pppoe6.extend(((ip6.len() + 2) as u16).to_be_bytes());
    pppoe6.extend([0x00, 0x57]);
    pppoe6.extend(&ip6);
    assert!(tcp_of(decode_frame(ETHERNET, &ether(&[], 0x8864, &pppoe6)))
        .packet
        .is(info::IPV6));
    let lcp = [0x11, 0x00, 0x12, 0x34, 0, 4, 0xc0, 0x21, 1, 1];
    assert!(matches!(
        decode_frame(ETHERNET, &ether(&[], 0x8864, &lcp)),
        Decoded::NonTcp
    ));
}

#[test]
fn pppoe_length_ends_the_datagram() {
    // packet-pppoe.c cuts the reported length at the PPPoE payload length:
    // an IP length past it is not believed, and what follows is a trailer.
    let seg = Tcp {
        payload: vec![5; 6],
        ..TCP
    };
    let ip = IPV4.wrap(&seg.bytes());
    let mut pppoe = vec![0x11, 0x00, 0x12, 0x34];
    pppoe.extend((2u16 + 40).to_be_bytes());
    pppoe.extend([0x00, 0x21]);
    pppoe.extend(&ip);
    let frame = ether(&[], 0x8864, &pppoe);
    let t = tcp_of(decode_frame(ETHERNET, &frame));
    let p = &t.packet;
    assert_eq!((p.payload_len, p.captured_len, p.ip_len), (0, 0, 46));
    assert_eq!(
        (t.attrs.trailer_len, p.info & info::TRAILER),
        (6, info::TRAILER)
    );
}

#[test]
fn ip_length_past_the_frame_gives_what_the_frame_reports() {
    // Wireshark takes the segment from the frame's reported (original)
    // length when the IP header claims more.
    let seg = Tcp {
        payload: vec![5; 100],
        ..TCP
    };
    let v4 = Ipv4 {
        total_len: Some(1500),
        ..IPV4
    };
    let frame = ether(&[], 0x0800, &v4.wrap(&seg.bytes()));
    let whole = frame.len() as u32;
    let p = tcp_of(decode_frame_with_orig_len(ETHERNET, &frame, whole)).packet;
    assert_eq!((p.payload_len, p.captured_len, p.ip_len), (100, 100, 1500));
    assert!(!p.is(info::TRUNCATED));
    // Cut by a snaplen: the original length says how much was sent.
    let p = tcp_of(decode_frame_with_orig_len(ETHERNET, &frame[..80], whole)).packet;
    assert_eq!((p.payload_len, p.captured_len), (100, 26));
    assert!(p.is(info::TRUNCATED));
    // Without the original length the IP header is believed.
    let p = tcp_of(decode_frame(ETHERNET, &frame)).packet;
    assert_eq!((p.payload_len, p.captured_len), (1460, 100));
}

#[test]
fn mpls_and_llc_snap() {
    let ip = IPV4.wrap(&TCP.bytes());
    let mut mpls = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
    mpls.extend(&ip);
    assert_eq!(
        tcp_of(decode_frame(ETHERNET, &ether(&[], 0x8847, &mpls)))
            .packet
            .dport,
        80
    );
    let mut snap = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
    snap.extend(&ip);
    let len = snap.len() as u16;
    assert_eq!(
        tcp_of(decode_frame(ETHERNET, &ether(&[], len, &snap)))
            .packet
            .dport,
        80
    );
}

#[test]
fn linux_cooked_sll_and_sll2() {
    let ip4 = IPV4.wrap(&TCP.bytes());
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend(&ip4);
    assert_eq!(tcp_of(decode_frame(SLL, &sll)).packet.sport, 40000);
    let ip6 = ipv6_template().wrap(&TCP.bytes());
    let mut sll2 = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend(&ip6);
    let t = tcp_of(decode_frame(SLL2, &sll2));
    assert_eq!(t.src, ip("2001:db8::1"));
    assert!(matches!(
        decode_frame(SLL2, &sll2[..19]),
        Decoded::Malformed(_)
    ));
}

#[test]
fn raw_ip_link_types() {
    let ip4 = IPV4.wrap(&TCP.bytes());
    let ip6 = ipv6_template().wrap(&TCP.bytes());
    for lt in [RAW, 12, 14] {
        assert_eq!(tcp_of(decode_frame(lt, &ip4)).src, ip("10.0.0.1"));
        assert_eq!(tcp_of(decode_frame(lt, &ip6)).src, ip("2001:db8::1"));
    }
    assert_eq!(tcp_of(decode_frame(228, &ip4)).src, ip("10.0.0.1"));
    assert_eq!(tcp_of(decode_frame(229, &ip6)).src, ip("2001:db8::1"));
}

#[test]
fn null_and_loop_in_both_byte_orders() {
    let ip4 = IPV4.wrap(&TCP.bytes());
    let ip6 = ipv6_template().wrap(&TCP.bytes());
    let with = |head: [u8; 4], ip: &[u8]| [&head[..], ip].concat();
    assert!(!tcp_of(decode_frame(NULL, &with([2, 0, 0, 0], &ip4)))
        .packet
        .is(info::IPV6));
    assert!(!tcp_of(decode_frame(NULL, &with([0, 0, 0, 2], &ip4)))
        .packet
        .is(info::IPV6));
    for af in [24u8, 28, 30] {
        assert!(tcp_of(decode_frame(NULL, &with([af, 0, 0, 0], &ip6)))
            .packet
            .is(info::IPV6));
        assert!(tcp_of(decode_frame(NULL, &with([0, 0, 0, af], &ip6)))
            .packet
            .is(info::IPV6));
        assert!(tcp_of(decode_frame(LOOP, &with([0, 0, 0, af], &ip6)))
            .packet
            .is(info::IPV6));
    }
    assert!(matches!(
        decode_frame(NULL, &with([17, 0, 0, 0], &ip4)),
        Decoded::NonTcp
    ));
}

#[test]
fn ipv6_extension_headers_and_atomic_fragment() {
    let hop_by_hop = (0u8, vec![0, 0, 1, 4, 0, 0, 0, 0]);
    let routing = (43u8, vec![0, 0, 0, 0, 0, 0, 0, 0]);
    let atomic_fragment = (44u8, vec![0, 0, 0, 0, 0, 0, 0, 9]);
    let destination = (60u8, vec![0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let seg = Tcp {
        payload: b"data".to_vec(),
        ..TCP
    };
    let v6 = Ipv6 {
        extensions: vec![hop_by_hop, routing, atomic_fragment.clone(), destination],
        ..ipv6_template()
    };
    let frame = ether(&[], 0x86dd, &v6.wrap(&seg.bytes()));
    let t = tcp_of(decode_frame(ETHERNET, &frame));
    let p = &t.packet;
    assert_eq!(
        (p.payload_len, p.captured_len, p.ttl, t.attrs.tos),
        (4, 4, 57, 0xb8)
    );
    assert_eq!(p.ip_len as usize, frame.len() - 14);
    assert_eq!(p.info, info::IPV6);
    // A real fragment (M set, or an offset) is not decoded as TCP.
    for frag in [vec![0, 0, 0, 1, 0, 0, 0, 9], vec![0, 0, 0, 8, 0, 0, 0, 9]] {
        let v6 = Ipv6 {
            extensions: vec![(44, frag)],
            ..ipv6_template()
        };
        let frame = ether(&[], 0x86dd, &v6.wrap(&seg.bytes()));
        assert!(matches!(
            decode_frame(ETHERNET, &frame),
            Decoded::Ipv4Fragment
        ));
    }
    // Extension headers that run past the payload length.
    let v6 = Ipv6 {
        extensions: vec![atomic_fragment],
        payload_len: Some(4),
        ..ipv6_template()
    };
    let frame = ether(&[], 0x86dd, &v6.wrap(&seg.bytes()));
    assert!(matches!(
        decode_frame(ETHERNET, &frame),
        Decoded::Malformed(_)
    ));
}

#[test]
fn ipv4_fragments_are_counted_not_decoded() {
    let seg = TCP.bytes();
    let first = Ipv4 {
        mf: true,
        df: false,
        ..IPV4
    };
    let later = Ipv4 {
        frag_offset: 100,
        df: false,
        ..IPV4
    };
    assert!(matches!(
        decode_frame(RAW, &first.wrap(&seg)),
        Decoded::Ipv4Fragment
    ));
    assert!(matches!(
        decode_frame(RAW, &later.wrap(&seg)),
        Decoded::Ipv4Fragment
    ));
    // A first fragment cut short (by the snaplen, or a frame shorter than
    // the IP length) is dissected on its own, without a segment length.
    let mut seg_data = Tcp {
        payload: vec![1; 100],
        ..TCP
    }
    .bytes();
    let cut_first = first.wrap(&seg_data);
    let p = tcp_of(decode_frame(RAW, &cut_first[..60])).packet;
    assert!(p.is(info::NO_SEGMENT_LEN));
    seg_data.truncate(10);
    assert!(matches!(
        decode_frame(RAW, &first.wrap(&seg_data)),
        Decoded::Ipv4Fragment
    ));
    // Offset 0 with MF clear is a whole datagram, DF or not.
    let whole = Ipv4 { df: false, ..IPV4 };
    assert!(!tcp_of(decode_frame(RAW, &whole.wrap(&seg)))
        .packet
        .is(info::DF));
}

#[test]
fn ipv4_options_are_skipped() {
    let v4 = Ipv4 {
        options: vec![1, 1, 1, 0],
        ..IPV4
    };
    let p = tcp_of(decode_frame(
        RAW,
        &v4.wrap(
            &Tcp {
                payload: vec![1; 3],
                ..TCP
            }
            .bytes(),
        ),
    ))
    .packet;
    assert_eq!((p.sport, p.payload_len, p.ip_len), (40000, 3, 47));
}

#[test]
fn ipv4_tso_zero_total_length_uses_the_frame_length() {
    let seg = Tcp {
        payload: vec![7; 3000],
        ..TCP
    };
    let v4 = Ipv4 {
        total_len: Some(0),
        ..IPV4
    };
    let p = tcp_of(decode_frame(
        ETHERNET,
        &ether(&[], 0x0800, &v4.wrap(&seg.bytes())),
    ))
    .packet;
    assert_eq!(
        (p.payload_len, p.captured_len, p.ip_len),
        (3000, 3000, 3040)
    );
    assert!(!p.is(info::TRUNCATED));
    // IPv6 has no such fix-up in Wireshark 4.0 (ipv6.tso_support is off):
    // the payload is empty and TCP has no header to show (no tcp.stream).
    let v6 = Ipv6 {
        payload_len: Some(0),
        ..ipv6_template()
    };
    let frame = ether(&[], 0x86dd, &v6.wrap(&seg.bytes()));
    assert!(matches!(
        decode_frame(ETHERNET, &frame),
        Decoded::Malformed(_)
    ));
}

#[test]
fn snaplen_cut_payload_is_truncated() {
    let seg = Tcp {
        payload: vec![7; 1000],
        ..TCP
    };
    let frame = ether(&[], 0x0800, &IPV4.wrap(&seg.bytes()));
    let p = tcp_of(decode_frame(ETHERNET, &frame[..96])).packet;
    assert_eq!((p.payload_len, p.captured_len), (1000, 96 - 54));
    assert!(p.is(info::TRUNCATED) && !p.is(info::HEADER_TRUNCATED));
}

#[test]
fn header_cut_after_the_window_is_header_truncated() {
    let seg = Tcp {
        options: vec![2, 4, 5, 0xb4, 1, 1, 1, 0],
        payload: vec![1; 10],
        ..TCP
    };
    let frame = ether(&[], 0x0800, &IPV4.wrap(&seg.bytes()));
    for cut in [14 + 20 + 16, 14 + 20 + 20, 14 + 20 + 26] {
        let t = tcp_of(decode_frame(ETHERNET, &frame[..cut]));
        assert!(t.packet.is(info::HEADER_TRUNCATED), "cut at {cut}");
        assert_eq!(
            (t.packet.seq, t.packet.flags, t.packet.payload_len),
            (1000, seg.flags, 10)
        );
        assert_eq!(t.packet.captured_len, 0);
    }
    // Cut before the window: Wireshark gives the frame no tcp.stream.
    assert!(matches!(
        decode_frame(ETHERNET, &frame[..14 + 20 + 15]),
        Decoded::Malformed(_)
    ));
    assert!(matches!(
        decode_frame(ETHERNET, &frame[..14 + 20 + 3]),
        Decoded::Malformed(_)
    ));
}

#[test]
fn bogus_data_offset_and_short_segment() {
    let bogus = Tcp {
        data_offset: Some(3),
        ..TCP
    };
    let p = tcp_of(decode_frame(RAW, &IPV4.wrap(&bogus.bytes()))).packet;
    assert!(p.is(info::HEADER_TRUNCATED));
    assert_eq!((p.tcp_hdr_len, p.payload_len), (12, 0));
    // The IP length ends inside a 32-byte TCP header.
    let seg = Tcp {
        options: vec![1; 12],
        ..TCP
    };
    let v4 = Ipv4 {
        total_len: Some(40),
        ..IPV4
    };
    let p = tcp_of(decode_frame(RAW, &v4.wrap(&seg.bytes()))).packet;
    assert!(p.is(info::NO_SEGMENT_LEN) && p.is(info::HEADER_TRUNCATED));
    assert_eq!(p.payload_len, 0);
}

#[test]
fn rst_with_payload_keeps_the_payload() {
    let seg = Tcp {
        flags: tcp_flags::RST | tcp_flags::ACK,
        payload: b"BIG-IP: [0x1:2] reset".to_vec(),
        ..TCP
    };
    let frame = ether(&[], 0x0800, &IPV4.wrap(&seg.bytes()));
    assert_eq!(
        tcp_of(decode_frame(ETHERNET, &frame)).rst_payload,
        Some(&seg.payload[..])
    );
    let plain = ether(
        &[],
        0x0800,
        &IPV4.wrap(
            &Tcp {
                payload: vec![1],
                ..TCP
            }
            .bytes(),
        ),
    );
    assert_eq!(tcp_of(decode_frame(ETHERNET, &plain)).rst_payload, None);
}

/// An ICMP error (type, code) from a router quoting `quoted`.
fn icmp_error(kind: u8, quoted: &[u8]) -> Vec<u8> {
    let mut icmp = vec![kind, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend(quoted);
    Ipv4 {
        src: [192, 0, 2, 254],
        protocol: 1,
        ..IPV4
    }
    .wrap(&icmp)
}

#[test]
fn tcp_quoted_in_icmp_errors() {
    let quoted = IPV4.wrap(
        &Tcp {
            flags: tcp_flags::SYN,
            ..TCP
        }
        .bytes(),
    );
    // A whole quoted header: Wireshark gives it a tcp.stream.
    let frame = icmp_error(3, &quoted);
    let t = tcp_of(decode_frame(RAW, &frame));
    assert!(t.packet.is(info::IN_ICMP_ERROR));
    assert!(!t.packet.is(info::TRAILER));
    assert_eq!(
        (t.src, t.dst, t.packet.flags),
        (ip("10.0.0.1"), ip("10.0.0.2"), tcp_flags::SYN)
    );
    // RFC 792's 8 bytes (ports and seq only): no stream, so not a TCP packet.
    assert!(matches!(
        decode_frame(RAW, &icmp_error(11, &quoted[..28])),
        Decoded::NonTcp
    ));
    // An echo request is never an error.
    assert!(matches!(
        decode_frame(RAW, &icmp_error(8, &quoted)),
        Decoded::NonTcp
    ));
    // ICMPv6 packet too big (type 2) quoting IPv6.
    let quoted6 = ipv6_template().wrap(&TCP.bytes());
    let mut icmp6 = vec![2, 0, 0, 0, 0, 0, 0x05, 0x00];
    icmp6.extend(&quoted6);
    let outer = Ipv6 {
        next: 58,
        src: v6(9),
        ..ipv6_template()
    }
    .wrap(&icmp6);
    let t = tcp_of(decode_frame(RAW, &outer));
    assert!(t.packet.is(info::IN_ICMP_ERROR));
    assert_eq!(t.src, ip("2001:db8::1"));
}

#[test]
fn tunnels_use_the_innermost_ip() {
    let inner = Ipv4 {
        src: [172, 16, 0, 1],
        ttl: 9,
        ..IPV4
    }
    .wrap(&TCP.bytes());
    let ipip = Ipv4 {
        protocol: 4,
        ..IPV4
    }
    .wrap(&inner);
    let t = tcp_of(decode_frame(RAW, &ipip));
    assert_eq!((t.src, t.packet.ttl), (ip("172.16.0.1"), 9));
    let inner6 = ipv6_template().wrap(&TCP.bytes());
    let six_in_four = Ipv4 {
        protocol: 41,
        ..IPV4
    }
    .wrap(&inner6);
    assert_eq!(
        tcp_of(decode_frame(RAW, &six_in_four)).src,
        ip("2001:db8::1")
    );
    let mut gre = vec![0x20, 0x00, 0x08, 0x00, 0, 0, 0, 1]; // key present
    gre.extend(&inner);
    let over_gre = Ipv4 {
        protocol: 47,
        ..IPV4
    }
    .wrap(&gre);
    assert_eq!(tcp_of(decode_frame(RAW, &over_gre)).src, ip("172.16.0.1"));
}

#[test]
fn non_tcp_and_unsupported_links() {
    let udp = Ipv4 {
        protocol: 17,
        ..IPV4
    }
    .wrap(&[0; 8]);
    assert!(matches!(decode_frame(RAW, &udp), Decoded::NonTcp));
    let arp = ether(&[], 0x0806, &[0; 28]);
    assert!(matches!(decode_frame(ETHERNET, &arp), Decoded::NonTcp));
    assert!(matches!(decode_frame(9999, &arp), Decoded::UnsupportedLink));
}

#[test]
fn malformed_ip_headers() {
    let good = IPV4.wrap(&TCP.bytes());
    let mut short_ihl = good.clone();
    short_ihl[0] = 0x44;
    assert!(matches!(
        decode_frame(RAW, &short_ihl),
        Decoded::Malformed(_)
    ));
    let v4 = Ipv4 {
        total_len: Some(12),
        ..IPV4
    };
    assert!(matches!(
        decode_frame(RAW, &v4.wrap(&TCP.bytes())),
        Decoded::Malformed(_)
    ));
    assert!(matches!(
        decode_frame(RAW, &[0x75, 0, 0]),
        Decoded::Malformed(_)
    ));
    assert!(matches!(decode_frame(RAW, &[]), Decoded::Malformed(_)));
    assert!(matches!(
        decode_frame(ETHERNET, &[0; 13]),
        Decoded::Malformed(_)
    ));
    assert!(matches!(
        decode_frame(RAW, &good[..30]),
        Decoded::Malformed(_)
    ));
}

/// Every prefix of every kind of frame, and every single-byte corruption of
/// a few, decodes without a panic.
#[test]
fn never_panics_on_cut_or_corrupt_frames() {
    let seg = Tcp {
        options: vec![2, 4, 5, 0xb4, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        payload: vec![9; 20],
        ..TCP
    };
    let ip4 = IPV4.wrap(&seg.bytes());
    let ip6 = Ipv6 {
        extensions: vec![(0, vec![0, 0, 1, 4, 0, 0, 0, 0]), (44, vec![0; 8])],
        ..ipv6_template()
    }
    .wrap(&seg.bytes());
    let mut pppoe = vec![0x11, 0, 0, 1, 0, 0, 0, 0x21];
    pppoe.extend(&ip4);
    let frames: Vec<(u32, Vec<u8>)> = vec![
        (ETHERNET, ether(&[(0x88a8, 1), (0x8100, 2)], 0x0800, &ip4)),
        (ETHERNET, ether(&[], 0x86dd, &ip6)),
        (ETHERNET, ether(&[(0x8100, 3)], 0x8864, &pppoe)),
        (RAW, icmp_error(3, &ip4)),
        (
            RAW,
            Ipv4 {
                protocol: 4,
                ..IPV4
            }
            .wrap(&ip4),
        ),
        (NULL, [&[30, 0, 0, 0][..], &ip6].concat()),
        (
            SLL2,
            [
                &[
                    0x08, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
                ][..],
                &ip4,
            ]
            .concat(),
        ),
    ];
    for (lt, frame) in &frames {
        for cut in 0..=frame.len() {
            let _ = decode_frame(*lt, &frame[..cut]);
        }
        for at in 0..frame.len() {
            for value in [0x00, 0x01, 0x0f, 0x45, 0x60, 0x80, 0xff] {
                let mut bad = frame.clone();
                bad[at] = value;
                let _ = decode_frame(*lt, &bad);
            }
        }
    }
}

/// Tunnels Wireshark 4.0 follows (each checked with tshark on the same
/// bytes): the TCP packet is the innermost one.
#[test]
fn gre_and_udp_tunnels_lead_to_the_inner_tcp() {
    let inner = Ipv4 {
        src: [172, 16, 0, 1],
        ..IPV4
    }
    .wrap(
        &Tcp {
            flags: tcp_flags::SYN,
            ..TCP
        }
        .bytes(),
    );
    let inner_eth = ether(&[], 0x0800, &inner);
    let gre = |proto: u16, flags: u8, extra: &[u8], body: &[u8]| {
        let mut g = vec![flags, 0];
        g.extend(proto.to_be_bytes());
        g.extend(extra);
        g.extend(body);
        Ipv4 {
            protocol: 47,
            ..IPV4
        }
        .wrap(&g)
    };
    let udp = |sport: u16, dport: u16, body: &[u8]| {
        let mut u = Vec::new();
        u.extend(sport.to_be_bytes());
        u.extend(dport.to_be_bytes());
        u.extend(((8 + body.len()) as u16).to_be_bytes());
        u.extend([0, 0]);
        u.extend(body);
        Ipv4 {
            protocol: 17,
            ..IPV4
        }
        .wrap(&u)
    };
    let mut wlan = vec![0x88, 0x01, 0, 0];
    wlan.extend([0; 20]); // duration, three addresses, sequence control
    wlan.extend([0, 0, 0xaa, 0xaa, 3, 0, 0, 0, 8, 0]); // QoS control, LLC/SNAP
    wlan.extend(&inner);
    let erspan2 = [&[0x10, 0x01, 0, 0, 0, 0, 0, 0][..], &inner_eth].concat();
    let vxlan = [&[8, 0, 0, 0, 0, 0, 1, 0][..], &inner_eth].concat();
    let geneve = [&[0, 0, 0x65, 0x58, 0, 0, 1, 0][..], &inner_eth].concat();
    let mut gtp = vec![0x30, 0xff];
    gtp.extend((inner.len() as u16).to_be_bytes());
    gtp.extend([0, 0, 0, 1]);
    gtp.extend(&inner);
    let tunnelled = [
        gre(0x6558, 0, &[], &inner_eth),
        gre(0x8200, 0, &[], &wlan),
        gre(0x88be, 0x10, &[0, 0, 0, 1], &erspan2),
        udp(50000, 4789, &vxlan),
        udp(50000, 6081, &geneve),
        udp(2152, 2152, &gtp),
    ];
    for (i, frame) in tunnelled.iter().enumerate() {
        let frame = ether(&[], 0x0800, frame);
        let t = tcp_of(decode_frame(ETHERNET, &frame));
        assert_eq!(t.src, ip("172.16.0.1"), "tunnel {i}");
        assert!(!t.packet.is(info::TRAILER), "tunnel {i}");
        // Cut or corrupted anywhere: no panic.
        for at in 0..frame.len() {
            let _ = decode_frame(ETHERNET, &frame[..at]);
            for value in [0x00, 0x01, 0x3f, 0xff] {
                let mut bad = frame.clone();
                bad[at] = value;
                let _ = decode_frame(ETHERNET, &bad);
            }
        }
    }
    let teredo = [&[0u8; 8][..], &ipv6_template().wrap(&TCP.bytes())].concat();
    let over_teredo = udp(3544, 50000, &teredo);
    let t = tcp_of(decode_frame(RAW, &over_teredo));
    assert_eq!(t.src, ip("2001:db8::1"));
    // An inner header cut before the window: no stream in Wireshark either.
    let cut = udp(50000, 4789, &vxlan[..8 + 14 + 20 + 10]);
    assert!(matches!(decode_frame(RAW, &cut), Decoded::Malformed(_)));
    // Plain UDP on other ports stays UDP.
    assert!(matches!(
        decode_frame(RAW, &udp(50000, 4790, &vxlan)),
        Decoded::NonTcp
    ));
}

#[test]
fn source_route_gives_the_final_destination() {
    // Loose source route (131) via 192.0.2.7 to 198.51.100.9: Wireshark's
    // ip.dst (and the conversation) is the route's last address.
    let v4 = Ipv4 {
        options: vec![1, 131, 11, 4, 192, 0, 2, 7, 198, 51, 100, 9],
        ..IPV4
    };
    let frame = v4.wrap(&TCP.bytes());
    let t = tcp_of(decode_frame(RAW, &frame));
    assert_eq!((t.src, t.dst), (ip("10.0.0.1"), ip("198.51.100.9")));
    assert_eq!((t.packet.sport, t.packet.ip_len), (40000, 52));
    // A pointer out of range: the header's destination stands.
    let bad = Ipv4 {
        options: vec![1, 131, 11, 2, 192, 0, 2, 7, 198, 51, 100, 9],
        ..IPV4
    };
    let frame = bad.wrap(&TCP.bytes());
    assert_eq!(tcp_of(decode_frame(RAW, &frame)).dst, ip("10.0.0.2"));
}

/// Link types beyond the common ones, each frame checked with tshark 4.0
/// (which gives it a tcp.stream): the link header in hex, then IPv4/TCP.
#[test]
fn other_link_types() {
    let ip4 = IPV4.wrap(
        &Tcp {
            flags: tcp_flags::SYN,
            ..TCP
        }
        .bytes(),
    );
    let cases: [(&str, u32, &str); 8] = [
        ("ppp9", 9, "ff030021"),
        ("ppp50", 50, "ff030021"),
        ("chdlc", 104, "0f000800"),
        ("wlan", 105, "080100000000000000000000000000000000000000000000aaaa030000000800"),
        ("radiotap", 127, "0000080000000000080100000000000000000000000000000000000000000000aaaa030000000800"),
        ("enc", 109, "020000000000000000000000"),
        ("pflog", 117, "3d020000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"),
        ("pbb", 1, "00000000000000000000000088e7000000000000000000000000000000000800"),
    ];
    for (name, link_type, head) in cases {
        let head: Vec<u8> = (0..head.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&head[i..i + 2], 16).unwrap())
            .collect();
        let frame = [&head[..], &ip4].concat();
        let t = tcp_of(decode_frame(link_type, &frame));
        assert_eq!(
            (t.src, t.packet.flags),
            (ip("10.0.0.1"), tcp_flags::SYN),
            "{name}"
        );
        for cut in 0..frame.len() {
            let _ = decode_frame(link_type, &frame[..cut]);
        }
    }
}
