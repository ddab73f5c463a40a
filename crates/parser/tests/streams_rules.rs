//! `conn::split` rule by rule, on hand-made packet lists: each test is one of
//! Wireshark 4.0's conversation rules (packet-tcp.c, `dissect_tcp`).

use twincap_parser::conn::{split, Direction};
use twincap_parser::{info, tcp_flags, Capture, TcpPacket};

const SYN: u16 = tcp_flags::SYN;
const SYN_ACK: u16 = tcp_flags::SYN | tcp_flags::ACK;
const ACK: u16 = tcp_flags::ACK;
const FIN_ACK: u16 = tcp_flags::FIN | tcp_flags::ACK;
const RST: u16 = tcp_flags::RST;

/// Client 0 (10.0.0.1) port 40000 to server 1 (10.0.0.2) port 80.
const TEMPLATE: TcpPacket = TcpPacket {
    frame: 0,
    ts_ns: 0,
    rec_offset: 0,
    src: 0,
    dst: 1,
    sport: 40000,
    dport: 80,
    seq: 0,
    ack: 0,
    win: 1024,
    flags: ACK,
    info: 0,
    ip_id: 0,
    ip_len: 40,
    payload_len: 0,
    captured_len: 0,
    attrs: 0,
    ttl: 64,
    wscale: 0,
    tcp_hdr_len: 20,
    sack_count: 0,
    ts_val: 0,
    ts_ecr: 0,
    payload_hash: 0,
};

/// From the client.
fn c2s(flags: u16, seq: u32, ack: u32) -> TcpPacket {
    TcpPacket {
        flags,
        seq,
        ack,
        ..TEMPLATE
    }
}

/// From the server.
fn s2c(flags: u16, seq: u32, ack: u32) -> TcpPacket {
    TcpPacket {
        src: 1,
        dst: 0,
        sport: 80,
        dport: 40000,
        flags,
        seq,
        ack,
        ..TEMPLATE
    }
}

/// A capture of these packets, frames numbered from 1.
fn capture(packets: Vec<TcpPacket>) -> Capture {
    let packets = packets
        .into_iter()
        .enumerate()
        .map(|(i, p)| TcpPacket {
            frame: i as u32 + 1,
            ..p
        })
        .collect();
    Capture {
        packets,
        addrs: vec![
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        ],
        ..Capture::default()
    }
}

/// The stream of every packet.
fn streams(packets: Vec<TcpPacket>) -> Vec<u32> {
    split(&capture(packets)).stream_of
}

/// A complete connection with client ISN `isn` (server ISN 5000).
fn handshake_and_close(isn: u32) -> Vec<TcpPacket> {
    vec![
        c2s(SYN, isn, 0),
        s2c(SYN_ACK, 5000, isn + 1),
        c2s(ACK, isn + 1, 5001),
        c2s(FIN_ACK, isn + 1, 5001),
        s2c(FIN_ACK, 5001, isn + 2),
        c2s(ACK, isn + 2, 5002),
    ]
}

#[test]
fn both_directions_are_one_stream_and_a_is_the_first_sender() {
    let cap = capture(vec![
        s2c(ACK, 5000, 100),
        c2s(ACK, 100, 5000),
        s2c(ACK, 5000, 100),
    ]);
    let conns = split(&cap);
    assert_eq!(conns.stream_of, vec![0, 0, 0]);
    assert_eq!(conns.list.len(), 1);
    let c = &conns.list[0];
    assert_eq!(
        (c.a, c.b),
        ((1, 80), (0, 40000)),
        "the server sent the first frame"
    );
    assert_eq!(c.packets, vec![0, 1, 2]);
    assert_eq!(c.direction(&cap.packets[1]), Direction::BtoA);
}

#[test]
fn streams_are_numbered_by_first_appearance() {
    let other = |p: TcpPacket| TcpPacket { sport: 40001, ..p };
    let third = |p: TcpPacket| TcpPacket { dst: 2, ..p };
    let got = streams(vec![
        c2s(SYN, 1, 0),
        other(c2s(SYN, 7, 0)),
        s2c(SYN_ACK, 9, 2),
        third(c2s(SYN, 3, 0)),
        other(c2s(ACK, 8, 1)),
    ]);
    assert_eq!(got, vec![0, 1, 0, 2, 1]);
}

#[test]
fn reused_port_with_another_isn_starts_a_new_stream() {
    let mut packets = handshake_and_close(100);
    packets.extend(handshake_and_close(90000));
    let conns = split(&capture(packets));
    assert_eq!(conns.stream_of, vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    assert_eq!(conns.list[1].packets.len(), 6);
}

#[test]
fn syn_retransmission_with_the_same_isn_stays() {
    let got = streams(vec![
        c2s(SYN, 100, 0),
        c2s(SYN, 100, 0),
        c2s(SYN, 100, 0),
        s2c(SYN_ACK, 5000, 101),
    ]);
    assert_eq!(got, vec![0, 0, 0, 0]);
}

#[test]
fn reuse_is_checked_even_after_a_reset_only_by_isn() {
    // Wireshark 4.0 does not end a conversation on RST or FIN: data after a
    // RST stays in the stream; only a SYN with a new ISN starts another one.
    let got = streams(vec![
        c2s(SYN, 100, 0),
        s2c(RST | ACK, 0, 101),
        c2s(ACK, 101, 1),
        c2s(SYN, 100, 0),
        c2s(SYN, 200, 0),
    ]);
    assert_eq!(got, vec![0, 0, 0, 0, 1]);
}

#[test]
fn a_syn_after_mid_stream_data_with_another_seq_is_a_new_stream() {
    // Picked up mid-connection: base_seq = seq - 1 = 499; a SYN with seq
    // 499 matches it (same stream), any other starts a new conversation.
    assert_eq!(
        streams(vec![c2s(ACK, 500, 10), c2s(SYN, 499, 0)]),
        vec![0, 0]
    );
    assert_eq!(
        streams(vec![c2s(ACK, 500, 10), c2s(SYN, 700, 0)]),
        vec![0, 1]
    );
}

#[test]
fn the_reverse_base_seq_comes_from_the_first_ack() {
    // The client's ACK sets the server's base_seq to ack - 1 = 4999; a SYN
    // from the server with seq 4999 is then the same conversation, 6000 not.
    let server_syn = |seq| TcpPacket {
        flags: SYN,
        ..s2c(0, seq, 0)
    };
    assert_eq!(
        streams(vec![c2s(ACK, 1, 5000), server_syn(4999)]),
        vec![0, 0]
    );
    assert_eq!(
        streams(vec![c2s(ACK, 1, 5000), server_syn(6000)]),
        vec![0, 1]
    );
    // Without ACK the reverse base is not set, so any server SYN stays.
    assert_eq!(streams(vec![c2s(0, 1, 5000), server_syn(6000)]), vec![0, 0]);
}

#[test]
fn syn_ack_with_another_seq_stays_but_moves_the_base() {
    // Rule 3 (issue 16944): a SYN/ACK never starts a conversation.
    let got = streams(vec![
        c2s(SYN, 100, 0),
        s2c(SYN_ACK, 5000, 101),
        s2c(SYN_ACK, 7000, 101),
        c2s(ACK, 101, 7001),
    ]);
    assert_eq!(got, vec![0, 0, 0, 0]);
}

#[test]
fn first_syn_has_no_base_to_differ_from() {
    // The reuse test needs TCP_S_BASE_SEQ_SET in the SYN's own direction.
    let got = streams(vec![s2c(ACK, 5000, 0), c2s(SYN, 100, 0), c2s(SYN, 100, 0)]);
    // The server's ACK flag set the client's base to ack - 1 = u32::MAX.
    assert_eq!(got, vec![0, 1, 1]);
    let got = streams(vec![s2c(0, 5000, 0), c2s(SYN, 100, 0), c2s(SYN, 101, 0)]);
    assert_eq!(got, vec![0, 0, 1]);
}

#[test]
fn icmp_errors_and_short_segments_set_no_base_seq() {
    let quoted = TcpPacket {
        info: info::IN_ICMP_ERROR,
        ..c2s(SYN, 100, 0)
    };
    assert_eq!(streams(vec![quoted.clone(), c2s(SYN, 200, 0)]), vec![0, 0]);
    let short = TcpPacket {
        info: info::NO_SEGMENT_LEN | info::HEADER_TRUNCATED,
        ..c2s(ACK, 100, 0)
    };
    assert_eq!(streams(vec![short, c2s(SYN, 200, 0)]), vec![0, 0]);
    // But a quoted SYN is still checked against an existing base.
    assert_eq!(streams(vec![c2s(SYN, 200, 0), quoted]), vec![0, 1]);
}

#[test]
fn same_address_on_both_ends_keeps_two_directions() {
    // Loopback: flows are told apart by port order.
    let lo = |sport, dport, flags, seq, ack| TcpPacket {
        src: 0,
        dst: 0,
        sport,
        dport,
        flags,
        seq,
        ack,
        ..TEMPLATE
    };
    let got = streams(vec![
        lo(5000, 6000, SYN, 10, 0),
        lo(6000, 5000, SYN_ACK, 70, 11),
        lo(5000, 6000, ACK, 11, 71),
        lo(6000, 5000, SYN, 70, 0),
        lo(5000, 6000, SYN, 99, 0),
    ]);
    assert_eq!(got, vec![0, 0, 0, 0, 1]);
}

#[test]
fn empty_capture_has_no_connections() {
    let conns = split(&Capture::default());
    assert!(conns.list.is_empty() && conns.stream_of.is_empty());
}
