//! One test group per expert flag, smoltcp style: a template segment, short
//! exchanges built with struct-update syntax, and the verdict Wireshark 4.0
//! gives each frame (`epan/dissectors/packet-tcp.c`).
//!
//! The client is 10.0.0.1:40000 with ISN 1000 (its data starts at 1001),
//! the server 10.0.0.2:80 with ISN 5000 (data from 5001). Frames are
//! numbered from 1 in list order; a frame without a time is 100 ms after
//! the previous one.

use twincap_matcher::analyze::{analyze, analyze_connection, Analysis, Flag, Flags, Values};
use twincap_parser::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use twincap_parser::{conn, info, Capture, TcpPacket};

const CLIENT: u32 = 0;
const SERVER: u32 = 1;
const MS: i64 = 1_000_000;

/// Client to server, ACK, no data, window 1000, after the handshake.
const TPL: TcpPacket = TcpPacket {
    frame: 0,
    ts_ns: 0,
    rec_offset: 0,
    src: CLIENT,
    dst: SERVER,
    sport: 40000,
    dport: 80,
    seq: 1001,
    ack: 5001,
    win: 1000,
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

/// The same template from the server to the client.
const SRV: TcpPacket = TcpPacket {
    src: SERVER,
    dst: CLIENT,
    sport: 80,
    dport: 40000,
    seq: 5001,
    ack: 1001,
    ..TPL
};

/// A client segment with `len` bytes at `seq`.
fn data(seq: u32, len: u16) -> TcpPacket {
    TcpPacket {
        seq,
        payload_len: len,
        captured_len: len,
        flags: ACK | PSH,
        ..TPL
    }
}

/// A server ACK of `ack` with window `win`.
fn srv_ack(ack: u32, win: u16) -> TcpPacket {
    TcpPacket { ack, win, ..SRV }
}

/// SYN, SYN/ACK, ACK; both sides offer window scale `ws` when given.
fn handshake(ws: Option<u8>) -> Vec<TcpPacket> {
    let opt = |p: TcpPacket| match ws {
        Some(shift) => TcpPacket {
            info: p.info | info::WSCALE,
            wscale: shift,
            ..p
        },
        None => p,
    };
    vec![
        opt(TcpPacket {
            seq: 1000,
            ack: 0,
            flags: SYN,
            win: 64240,
            ..TPL
        }),
        opt(TcpPacket {
            seq: 5000,
            ack: 1001,
            flags: SYN | ACK,
            win: 65160,
            ..SRV
        }),
        TPL,
    ]
}

/// Analyze the exchange; frame numbers and missing times are filled in.
fn run(list: &[TcpPacket]) -> (Capture, Analysis) {
    let mut cap = Capture {
        addrs: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
        ..Capture::default()
    };
    let mut t = 1_700_000_000_000 * MS;
    for (i, p) in list.iter().enumerate() {
        t = if p.ts_ns != 0 { p.ts_ns } else { t + 100 * MS };
        cap.packets.push(TcpPacket {
            frame: i as u32 + 1,
            ts_ns: t,
            ..p.clone()
        });
    }
    cap.stats.frames = list.len() as u32;
    let conns = conn::split(&cap);
    let analysis = analyze(&cap, &conns);
    (cap, analysis)
}

/// The flags of every frame, by frame number (index 0 is frame 1).
fn verdicts(list: &[TcpPacket]) -> Vec<Flags> {
    let (cap, a) = run(list);
    (0..cap.packets.len()).map(|i| a.flags(i)).collect()
}

/// The values shown with frame `frame` (1-based).
fn values(list: &[TcpPacket], frame: usize) -> Values {
    let (_, a) = run(list);
    a.flagged_at(frame - 1).expect("frame is flagged").values
}

fn set(flags: &[Flag]) -> Flags {
    flags.iter().copied().collect()
}

fn none() -> Flags {
    Flags::EMPTY
}

/// Handshake then `rest`; the verdicts of `rest` only.
fn after_handshake(ws: Option<u8>, rest: &[TcpPacket]) -> Vec<Flags> {
    let mut list = handshake(ws);
    list.extend_from_slice(rest);
    let v = verdicts(&list);
    assert!(
        v[..3].iter().all(|f| f.is_empty()),
        "handshake flagged: {v:?}"
    );
    v[3..].to_vec()
}

mod clean_exchange {
    use super::*;

    #[test]
    fn handshake_data_and_acks_carry_no_flag() {
        let v = after_handshake(
            Some(7),
            &[
                data(1001, 100),
                srv_ack(1101, 1000),
                data(1101, 100),
                srv_ack(1201, 1000),
                TcpPacket {
                    seq: 1201,
                    flags: FIN | ACK,
                    ..TPL
                },
                TcpPacket {
                    ack: 1202,
                    flags: FIN | ACK,
                    ..SRV
                },
                TcpPacket {
                    seq: 1202,
                    ack: 5002,
                    ..TPL
                },
            ],
        );
        assert_eq!(v, vec![none(); 7]);
    }
}

mod zero_window {
    use super::*;

    #[test]
    fn an_ack_with_window_zero() {
        let v = after_handshake(None, &[data(1001, 100), srv_ack(1101, 0)]);
        assert_eq!(v, vec![none(), set(&[Flag::ZeroWindow])]);
    }

    #[test]
    fn never_on_syn_fin_or_rst() {
        let v = after_handshake(
            None,
            &[TcpPacket {
                win: 0,
                flags: RST | ACK,
                ..SRV
            }],
        );
        assert_eq!(v, vec![none()]);
    }
}

mod zero_window_probe {
    use super::*;

    /// The server's window closes after 100 bytes.
    fn closed() -> Vec<TcpPacket> {
        vec![data(1001, 100), srv_ack(1101, 0)]
    }

    #[test]
    fn one_new_byte_into_a_zero_window_then_its_ack() {
        let mut rest = closed();
        rest.push(data(1101, 1));
        // The receiver still cannot take it: same ACK, window still zero.
        rest.push(srv_ack(1101, 0));
        let v = after_handshake(None, &rest);
        assert_eq!(
            v[2..],
            [
                set(&[Flag::ZeroWindowProbe]),
                set(&[Flag::ZeroWindow, Flag::ZeroWindowProbeAck])
            ]
        );
    }

    #[test]
    fn the_probe_does_not_advance_nextseq() {
        // After the probe, the same byte sent again is no retransmission.
        let mut rest = closed();
        rest.push(data(1101, 1));
        rest.push(srv_ack(1101, 1000));
        rest.push(data(1101, 100));
        let v = after_handshake(None, &rest);
        assert_eq!(v[3..], [set(&[Flag::WindowUpdate]), none()]);
    }

    /// Windows probes a zero window by resending its last byte (seq =
    /// next - 1, one byte; seed 003). Wireshark 4.0 checks the probe first,
    /// and it wants seq = next: this is a keep-alive.
    #[test]
    fn windows_style_probe_of_the_last_byte_is_a_keep_alive() {
        let mut rest = closed();
        rest.push(data(1100, 1));
        rest.push(srv_ack(1101, 0));
        let v = after_handshake(None, &rest);
        assert_eq!(
            v[2..],
            [
                // It also ends exactly at the closed window's edge.
                set(&[Flag::KeepAlive, Flag::WindowFull]),
                // The answer repeats ACK and zero window, but after a
                // keep-alive (not a probe) it is only a zero window.
                set(&[Flag::ZeroWindow])
            ]
        );
    }
}

mod lost_segment {
    use super::*;

    #[test]
    fn a_jump_past_nextseq() {
        let v = after_handshake(None, &[data(1001, 100), data(1201, 100)]);
        assert_eq!(v, vec![none(), set(&[Flag::LostSegment])]);
    }

    #[test]
    fn not_for_rst() {
        let v = after_handshake(
            None,
            &[
                data(1001, 100),
                TcpPacket {
                    seq: 1201,
                    flags: RST | ACK,
                    ..TPL
                },
            ],
        );
        assert_eq!(v, vec![none(), none()]);
    }

    #[test]
    fn not_before_any_segment_of_that_side() {
        // Capture starts mid-connection: the first segment sets nextseq.
        let v = verdicts(&[data(777_001, 100), srv_ack(777_101, 1000)]);
        assert_eq!(v, vec![none(), none()]);
    }
}

mod keep_alive {
    use super::*;

    #[test]
    fn zero_bytes_at_next_minus_one_and_its_ack() {
        let v = after_handshake(
            None,
            &[
                data(1001, 100),
                srv_ack(1101, 1000),
                TcpPacket { seq: 1100, ..TPL },
                srv_ack(1101, 1000),
            ],
        );
        assert_eq!(
            v[2..],
            [set(&[Flag::KeepAlive]), set(&[Flag::KeepAliveAck])]
        );
    }

    #[test]
    fn one_garbage_byte_at_next_minus_one_is_not_a_retransmission() {
        let v = after_handshake(None, &[data(1001, 100), srv_ack(1101, 1000), data(1100, 1)]);
        assert_eq!(v[2], set(&[Flag::KeepAlive]));
    }

    #[test]
    fn never_with_fin() {
        let v = after_handshake(
            None,
            &[
                data(1001, 100),
                TcpPacket {
                    seq: 1100,
                    flags: FIN | ACK,
                    ..TPL
                },
            ],
        );
        // A FIN at next - 1 is sent again: a retransmission.
        assert_eq!(v[1], set(&[Flag::Retransmission]));
    }
}

mod window_update {
    use super::*;

    #[test]
    fn same_seq_and_ack_new_window() {
        let v = after_handshake(
            None,
            &[data(1001, 100), srv_ack(1101, 1000), srv_ack(1101, 3000)],
        );
        assert_eq!(v[2], set(&[Flag::WindowUpdate]));
    }

    #[test]
    fn a_new_window_with_a_new_ack_is_just_an_ack() {
        let v = after_handshake(
            None,
            &[data(1001, 100), srv_ack(1051, 1000), srv_ack(1101, 3000)],
        );
        assert_eq!(v[2], none());
    }
}

mod window_full {
    use super::*;

    #[test]
    fn data_up_to_the_scaled_edge() {
        // The server's window 4 << 7 = 512 bytes from ACK 1001 (a window
        // update after its SYN/ACK's 65160).
        let v = after_handshake(
            Some(7),
            &[
                srv_ack(1001, 4),
                data(1001, 500),
                data(1501, 12),
                srv_ack(1513, 4),
            ],
        );
        assert_eq!(
            v,
            vec![
                set(&[Flag::WindowUpdate]),
                none(),
                set(&[Flag::WindowFull]),
                none()
            ]
        );
    }

    #[test]
    fn handshake_window_is_not_scaled() {
        // Before the server's first ACK without SYN, its SYN/ACK window
        // (65160) counts unscaled (issue 14690).
        let v = after_handshake(Some(7), &[]);
        assert!(v.is_empty());
        let mut list = handshake(Some(7));
        list.pop();
        list.push(TcpPacket {
            payload_len: 65160,
            captured_len: 0,
            ..TPL
        });
        let v = verdicts(&list);
        assert_eq!(v[2], set(&[Flag::WindowFull]));
    }

    #[test]
    fn unknown_scale_without_handshake_never_flags() {
        // No SYN seen: Wireshark's default ("not known") skips the rule.
        let v = verdicts(&[srv_ack(1001, 512), data(1001, 512)]);
        assert_eq!(v, vec![none(), none()]);
    }
}

mod duplicate_ack {
    use super::*;

    fn dups() -> Vec<TcpPacket> {
        vec![
            data(1001, 100),
            srv_ack(1101, 1000),
            data(1201, 100),
            srv_ack(1101, 1000),
            data(1301, 100),
            srv_ack(1101, 1000),
        ]
    }

    #[test]
    fn repeated_ack_same_window_no_data() {
        let v = after_handshake(None, &dups());
        assert_eq!(v[3], set(&[Flag::DuplicateAck]));
        assert_eq!(v[5], set(&[Flag::DuplicateAck]));
    }

    #[test]
    fn numbered_and_pointing_at_the_original() {
        let mut list = handshake(None);
        list.extend(dups());
        // Frame 5 is the original ACK; 7 and 9 are #1 and #2.
        let v = values(&list, 7);
        assert_eq!((v.dup_ack_num, v.dup_ack_of), (1, 5));
        let v = values(&list, 9);
        assert_eq!((v.dup_ack_num, v.dup_ack_of), (2, 5));
    }

    #[test]
    fn a_repeated_ack_still_takes_a_segment_resent_since() {
        // The client's list is out of order (frame 6 resends into the gap
        // after 5). Frame 7 takes frame 4's segment; frame 8 repeats the
        // ACK and finds nothing to take. Frame 9 resends frame 4's bytes,
        // which end at the ACK: the next repeat (frame 10) takes them, so
        // it acknowledges frame 9.
        let mut list = handshake(None);
        list.extend([
            data(1001, 100),
            data(1201, 100),
            data(1101, 100),
            srv_ack(1101, 1000),
            srv_ack(1101, 1000),
            data(1001, 100),
            srv_ack(1101, 1000),
        ]);
        assert_eq!(values(&list, 8).acks_frame, 0);
        let v = values(&list, 10);
        assert_eq!((v.dup_ack_num, v.acks_frame), (2, 9));
    }

    #[test]
    fn a_changed_window_is_an_update_not_a_dup() {
        let v = after_handshake(
            None,
            &[data(1001, 100), srv_ack(1101, 1000), srv_ack(1101, 999)],
        );
        assert_eq!(v[2], set(&[Flag::WindowUpdate]));
    }
}

mod ack_lost_segment {
    use super::*;

    #[test]
    fn acking_data_never_seen_flags_once() {
        let v = after_handshake(
            None,
            &[data(1001, 100), srv_ack(1201, 1000), srv_ack(1301, 1000)],
        );
        assert_eq!(v, vec![none(), set(&[Flag::AckLostSegment]), none()]);
    }
}

mod retransmission {
    use super::*;

    #[test]
    fn old_data_sent_again_later() {
        // Later than the initial RTT (200 ms) after the highest segment.
        let t = 1_800_000_000_000 * MS;
        let list = [
            TcpPacket {
                ts_ns: t,
                ..data(1001, 100)
            },
            TcpPacket {
                ts_ns: t + 100 * MS,
                ..data(1101, 100)
            },
            TcpPacket {
                ts_ns: t + 400 * MS,
                ..data(1001, 100)
            },
        ];
        let v = after_handshake(None, &list);
        assert_eq!(v[2], set(&[Flag::Retransmission]));
        let mut all = handshake(None);
        all.extend(list);
        // The oldest unacknowledged segment is frame 4.
        let v = values(&all, 6);
        assert_eq!((v.rto_frame, v.rto_ns), (4, 400 * MS));
    }

    #[test]
    fn a_retransmitted_syn() {
        let mut list = handshake(None);
        list.truncate(1);
        list.push(list[0].clone());
        let v = verdicts(&list);
        assert_eq!(v, vec![none(), set(&[Flag::Retransmission])]);
    }
}

mod fast_retransmission {
    use super::*;

    #[test]
    fn within_20ms_of_the_second_dup_ack() {
        let mut rest = vec![
            data(1001, 100),
            data(1101, 100),
            data(1201, 100),
            srv_ack(1001, 1000),
            srv_ack(1001, 1000),
            srv_ack(1001, 1000),
        ];
        let t = 1_800_000_000_000 * MS;
        rest[5].ts_ns = t;
        rest.push(TcpPacket {
            ts_ns: t + 5 * MS,
            ..data(1001, 100)
        });
        let v = after_handshake(None, &rest);
        assert_eq!(v[6], set(&[Flag::Retransmission, Flag::FastRetransmission]));
    }

    /// Wireshark quirk, followed (checked with tshark 4.0): after an ACK of
    /// data never seen, Wireshark sets the other side's duplicate count to
    /// -1 in a `guint32`, which passes `dupacknum >= 2`: the next resend
    /// of what that side last acknowledged, within 20 ms, is "fast" with
    /// no duplicate ACK at all.
    #[test]
    fn after_an_ack_of_unseen_data_even_without_dup_acks() {
        let t = 1_800_000_000_000 * MS;
        let rest = [
            data(1001, 100),
            TcpPacket {
                ts_ns: t,
                payload_len: 100,
                flags: ACK | PSH,
                ..SRV
            },
            TcpPacket {
                ts_ns: t + 5 * MS,
                seq: 1101,
                ack: 5201,
                ..TPL
            },
            TcpPacket {
                ts_ns: t + 10 * MS,
                ..data(1001, 100)
            },
        ];
        let v = after_handshake(None, &rest);
        assert_eq!(
            v,
            vec![
                none(),
                none(),
                set(&[Flag::AckLostSegment]),
                set(&[Flag::Retransmission, Flag::FastRetransmission])
            ]
        );
    }

    #[test]
    fn too_late_is_a_plain_retransmission() {
        let rest = [
            data(1001, 100),
            data(1101, 100),
            srv_ack(1001, 1000),
            srv_ack(1001, 1000),
            srv_ack(1001, 1000),
            data(1001, 100),
        ];
        let v = after_handshake(None, &rest);
        assert_eq!(v[5], set(&[Flag::Retransmission]));
    }
}

mod spurious_retransmission {
    use super::*;

    #[test]
    fn data_the_receiver_already_acknowledged() {
        let v = after_handshake(
            None,
            &[data(1001, 100), srv_ack(1101, 1000), data(1001, 100)],
        );
        assert_eq!(
            v[2],
            set(&[Flag::Retransmission, Flag::SpuriousRetransmission])
        );
    }
}

mod out_of_order {
    use super::*;

    #[test]
    fn an_earlier_segment_within_3ms_without_irtt() {
        let t = 1_800_000_000_000 * MS;
        let v = verdicts(&[
            TcpPacket {
                ts_ns: t,
                ..data(1001, 100)
            },
            TcpPacket {
                ts_ns: t + MS,
                ..data(1201, 100)
            },
            TcpPacket {
                ts_ns: t + 2 * MS,
                ..data(1101, 100)
            },
        ]);
        assert_eq!(
            v,
            vec![none(), set(&[Flag::LostSegment]), set(&[Flag::OutOfOrder])]
        );
    }

    #[test]
    fn after_3ms_without_irtt_it_is_a_retransmission() {
        let t = 1_800_000_000_000 * MS;
        let v = verdicts(&[
            TcpPacket {
                ts_ns: t,
                ..data(1001, 100)
            },
            TcpPacket {
                ts_ns: t + MS,
                ..data(1201, 100)
            },
            TcpPacket {
                ts_ns: t + 5 * MS,
                ..data(1101, 100)
            },
        ]);
        assert_eq!(v[2], set(&[Flag::Retransmission]));
    }

    #[test]
    fn the_window_is_the_initial_rtt_when_known() {
        // Handshake 100 ms + 100 ms: iRTT 200 ms, so 50 ms late is still
        // out of order.
        let mut rest = vec![data(1001, 100), data(1201, 100), data(1101, 100)];
        let t = 1_900_000_000_000 * MS;
        rest[1].ts_ns = t;
        rest[2].ts_ns = t + 50 * MS;
        let v = after_handshake(None, &rest);
        assert_eq!(v[2], set(&[Flag::OutOfOrder]));
    }
}

mod reused_ports {
    use super::*;

    #[test]
    fn a_syn_with_a_new_isn_on_the_same_ports() {
        let mut list = handshake(None);
        list.push(TcpPacket {
            seq: 1201,
            flags: FIN | ACK,
            ..TPL
        });
        list.push(TcpPacket {
            seq: 9000,
            ack: 0,
            flags: SYN,
            ..TPL
        });
        let v = verdicts(&list);
        assert_eq!(v[4], set(&[Flag::ReusedPorts]));
    }

    #[test]
    fn a_syn_ack_with_another_isn() {
        let mut list = handshake(None);
        list.truncate(2);
        list.push(TcpPacket {
            seq: 7000,
            ack: 1001,
            flags: SYN | ACK,
            ..SRV
        });
        let v = verdicts(&list);
        // Its ISN is also beyond the old one's next sequence number.
        assert_eq!(v[2], set(&[Flag::ReusedPorts, Flag::LostSegment]));
    }
}

mod tcp_fast_open {
    use super::*;

    #[test]
    fn syn_ack_acknowledging_syn_data() {
        let list = [
            TcpPacket {
                seq: 1000,
                ack: 0,
                flags: SYN,
                payload_len: 50,
                ..TPL
            },
            TcpPacket {
                seq: 5000,
                ack: 1051,
                flags: SYN | ACK,
                ..SRV
            },
        ];
        assert_eq!(verdicts(&list)[1], set(&[Flag::TfoAck]));
    }

    #[test]
    fn syn_with_a_cookie_and_data_the_server_ignores() {
        let list = [
            TcpPacket {
                seq: 1000,
                ack: 0,
                flags: SYN,
                info: info::TFO_COOKIE,
                payload_len: 50,
                ..TPL
            },
            TcpPacket {
                seq: 5000,
                ack: 1001,
                flags: SYN | ACK,
                ..SRV
            },
        ];
        assert_eq!(
            verdicts(&list),
            vec![set(&[Flag::TfoSyn]), set(&[Flag::TfoIgnored])]
        );
    }
}

mod not_analyzed {
    use super::*;

    #[test]
    fn segments_quoted_in_icmp_errors() {
        let quoted = TcpPacket {
            info: info::IN_ICMP_ERROR,
            ..data(1001, 100)
        };
        let v = after_handshake(None, &[data(1001, 100), quoted.clone(), quoted]);
        assert_eq!(v, vec![none(); 3]);
    }

    #[test]
    fn a_header_cut_by_the_snaplen_shows_nothing() {
        let cut = TcpPacket {
            info: info::HEADER_TRUNCATED,
            ..srv_ack(1101, 0)
        };
        let v = after_handshake(None, &[data(1001, 100), cut]);
        assert_eq!(v, vec![none(), none()]);
    }
}

mod robustness {
    use super::*;
    use twincap_parser::SackBlock;

    /// Random headers, times that go backwards, every info bit, SACK
    /// blocks: no panic (tests run with overflow checks), and every flagged
    /// frame is a real one.
    #[test]
    fn random_segments_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut cap = Capture {
            addrs: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
            ..Capture::default()
        };
        let seqs = [
            0u32,
            1,
            1000,
            1001,
            1100,
            0x7fff_ffff,
            0xffff_ffff,
            0xffff_ff00,
        ];
        for i in 0..50_000u32 {
            let r = next();
            let c2s = r & 1 == 0;
            let base = if c2s { TPL } else { SRV };
            let sack_count = (r >> 60) as u8 % 5;
            if sack_count > 0 {
                cap.sack_starts.push((i + 1, cap.sacks.len() as u32));
            }
            for _ in 0..sack_count {
                let left = next() as u32;
                cap.sacks.push(SackBlock {
                    left,
                    right: left.wrapping_add(next() as u32 % 3000),
                });
            }
            cap.packets.push(TcpPacket {
                frame: i + 1,
                ts_ns: (next() % 1_000_000_000) as i64 * if r & 2 == 0 { 1 } else { -1 },
                sport: if c2s { 40000 + (r >> 8) as u16 % 3 } else { 80 },
                dport: if c2s { 80 } else { 40000 + (r >> 8) as u16 % 3 },
                seq: seqs[(r >> 16) as usize % seqs.len()].wrapping_add((next() % 3000) as u32),
                ack: seqs[(r >> 20) as usize % seqs.len()].wrapping_add((next() % 3000) as u32),
                win: [0u16, 1, 1000, 65535][(r >> 24) as usize % 4],
                flags: (next() & 0x1ff) as u16,
                info: (next() & 0x3fff) as u16,
                payload_len: [0u16, 1, 2, 100, 65535][(r >> 28) as usize % 5],
                wscale: (r >> 32) as u8 % 20,
                tcp_hdr_len: [0u8, 16, 20, 40, 60][(r >> 36) as usize % 5],
                sack_count,
                ..base
            });
        }
        cap.stats.frames = cap.packets.len() as u32;
        let conns = conn::split(&cap);
        let a = analyze(&cap, &conns);
        assert!(!a.flagged().is_empty());
        for f in a.flagged() {
            assert_eq!(cap.packets[f.packet as usize].frame, f.frame);
            assert_eq!(a.flags(f.packet as usize), f.flags);
            assert_eq!(conns.stream_of[f.packet as usize], f.stream);
        }
        let per_stream: u32 = a.streams().iter().map(|s| s.flagged_frames).sum();
        assert_eq!(per_stream as usize, a.flagged().len());
        // One connection at a time gives the same frames.
        let mut one_by_one: Vec<_> = conns
            .list
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                let reused = conns.list[..i]
                    .iter()
                    .any(|o| (o.a == c.a && o.b == c.b) || (o.a == c.b && o.b == c.a));
                analyze_connection(&cap, c, reused).0
            })
            .collect();
        one_by_one.sort_by_key(|f| f.packet);
        assert_eq!(one_by_one, a.flagged());
    }
}

/// An analyzer hands the buffer of an unacked list that an ACK emptied to
/// the next segment listed by any of its connections: the lists must not
/// carry anything from one connection to the other.
mod unacked_buffers_between_connections {
    use super::*;

    /// `p` moved to client port `port`.
    fn on_port(p: &TcpPacket, port: u16) -> TcpPacket {
        if p.src == CLIENT {
            TcpPacket {
                sport: port,
                ..p.clone()
            }
        } else {
            TcpPacket {
                dport: port,
                ..p.clone()
            }
        }
    }

    /// Handshake, a segment and its ACK (which empties the client's list),
    /// then a second segment and a copy of the first, 500 ms later.
    fn exchange(port: u16) -> Vec<TcpPacket> {
        let mut list = handshake(None);
        list.extend([
            data(1001, 100),
            srv_ack(1101, 1000),
            data(1101, 100),
            data(1001, 100),
            srv_ack(1201, 1000),
        ]);
        list.iter().map(|p| on_port(p, port)).collect()
    }

    #[test]
    fn interleaved_connections_get_the_verdicts_they_get_alone() {
        let a = exchange(40000);
        let b = exchange(40001);
        let (alone_a, alone_b) = (verdicts(&a), verdicts(&b));
        // The retransmission is flagged, so the lists matter here.
        assert_eq!(
            alone_a[6],
            set(&[Flag::SpuriousRetransmission, Flag::Retransmission])
        );
        // b starts once a's first ACK has given its buffer back, and each
        // then lists segments into buffers the other emptied.
        let mut mixed = a[..5].to_vec();
        for i in 0..b.len().max(a.len() - 5) {
            mixed.extend(b.get(i).cloned());
            mixed.extend(a.get(5 + i).cloned());
        }
        let v = verdicts(&mixed);
        let port_of = |i: usize| match mixed[i].src {
            CLIENT => mixed[i].sport,
            _ => mixed[i].dport,
        };
        let of = |port| {
            (0..mixed.len())
                .filter(|&i| port_of(i) == port)
                .map(|i| v[i])
                .collect::<Vec<_>>()
        };
        assert_eq!(of(40000), alone_a);
        assert_eq!(of(40001), alone_b);
    }
}

/// `twincap analyze` hands the packets to `StreamingAnalysis`, which flags
/// them a chunk at a time in shards of streams (blocks of 64 stream
/// numbers), each shard with its own list of packets. A stream that takes
/// over the address/port pair of a stream in another shard has that shard
/// close the old one (which frees its state; the flags do not depend on
/// it). However the packets are sharded and chunked, the analysis is the
/// one `analyze` makes of the whole capture.
mod streaming_shards {
    use super::*;
    use twincap_matcher::analyze::StreamingAnalysis;
    use twincap_parser::conn::PairHint;
    use twincap_parser::{PacketExtras, PacketSink};

    /// The analysis of `cap` as the streaming path makes it, with
    /// `shards` shards and the flags run every `chunk` packets.
    fn streamed(cap: &Capture, shards: usize, chunk: usize) -> Analysis {
        let mut streaming = StreamingAnalysis::with_shards(shards);
        for (i, p) in cap.packets.iter().enumerate() {
            let (src, dst) = (cap.addrs[p.src as usize], cap.addrs[p.dst as usize]);
            let extras = PacketExtras {
                sacks: &[],
                addrs: &cap.addrs,
                rst_payload: false,
                f5_row: false,
                pair: PairHint::of(src, dst, p.sport, p.dport),
            };
            streaming.tcp(p.clone(), &extras);
            if (i + 1) % chunk == 0 {
                if let Some(mut later) = streaming.take_later() {
                    StreamingAnalysis::run_later(&mut later);
                    streaming.done_later(later);
                }
            }
        }
        streaming.finish()
    }

    #[test]
    fn a_pair_taken_over_across_shards_in_any_chunking() {
        // Stream 0 (port 40000) sends a segment and gets no ACK; 64 more
        // connections open (streams 1 to 64); then a SYN with a new ISN
        // reuses port 40000: stream 65, in the next block of 64, so
        // another shard when there are two or three. Its segment repeats
        // no byte of stream 0's.
        let mut list = handshake(None);
        list.push(data(1001, 100));
        for port in 40001..=40064 {
            list.push(TcpPacket {
                sport: port,
                flags: SYN,
                seq: 1000,
                ack: 0,
                ..TPL
            });
        }
        let reuse = |p: TcpPacket| TcpPacket {
            seq: p.seq.wrapping_add(700_000),
            ..p
        };
        let again: Vec<TcpPacket> = handshake(None)
            .into_iter()
            .map(|p| {
                if p.src == CLIENT {
                    reuse(p)
                } else {
                    TcpPacket {
                        ack: p.ack.wrapping_add(700_000),
                        ..p
                    }
                }
            })
            .collect();
        list.extend(again);
        list.push(reuse(data(1001, 100)));
        list.push(reuse(data(1001, 100)));
        let (cap, whole) = run(&list);
        let conns = conn::split(&cap);
        assert_eq!(conns.list.len(), 66, "stream 65 reuses stream 0's ports");
        // The SYN that reuses the ports, and the resent segment of the new
        // stream (a retransmission of its own first segment only).
        assert_eq!(whole.flags(68), set(&[Flag::ReusedPorts]));
        assert!(whole.flags(72).contains(Flag::Retransmission));
        for shards in [1, 2, 3] {
            for chunk in [1, 7, 66, list.len()] {
                let streamed = streamed(&cap, shards, chunk);
                assert_eq!(
                    streamed.flagged(),
                    whole.flagged(),
                    "{shards} shards, chunks of {chunk}"
                );
                assert_eq!(
                    streamed.streams(),
                    whole.streams(),
                    "{shards} shards, chunks of {chunk}"
                );
            }
        }
    }
}
