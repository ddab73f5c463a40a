//! `tcp_analyze_sequence_number` of Wireshark 4.0's
//! `epan/dissectors/packet-tcp.c`, one named rule per expert flag, run in
//! Wireshark's order. The order matters: a zero window probe skips every
//! later rule up to the ACK checks, a keep-alive is never a retransmission,
//! a keep-alive ACK or zero window probe ACK is never a duplicate ACK, a
//! spurious retransmission is never fast, a fast retransmission never out
//! of order.
//!
//! Each rule is a predicate over the segment and the state of both
//! directions *before* the segment; [`analyze_sequence_number`] applies
//! them and then updates the state exactly as Wireshark does.

use super::state::{seq, Flow, Unacked, MAX_UNACKED_SEGMENTS};
use super::{Flag, Flags, Values};
use twincap_parser::tcp_flags::{ACK, FIN, RST, SYN};

/// The fields of one segment the rules read (Wireshark's arguments to
/// `tcp_analyze_sequence_number`).
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub frame: u32,
    pub ts_ns: i64,
    /// Absolute sequence number.
    pub seq: u32,
    /// Absolute acknowledgement field, whether or not ACK is set.
    pub ack: u32,
    /// TCP payload length from the IP header.
    pub seglen: u32,
    /// TCP header flags.
    pub flags: u16,
    /// Raw (unscaled) window field.
    pub window: u32,
}

impl Segment {
    fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
    /// SYN, FIN or RST: never a keep-alive, window update, window full or
    /// duplicate ACK.
    fn syn_fin_rst(&self) -> bool {
        self.has(SYN | FIN | RST)
    }
    /// "ACK repeats": the segment brings no new data and repeats the
    /// sequence and acknowledgement numbers this direction sent last.
    fn repeats_seq_and_ack(&self, fwd: &Flow) -> bool {
        self.seglen == 0
            && self.seq == fwd.nextseq
            && self.ack == fwd.lastack
            && !self.syn_fin_rst()
    }
}

/// ZERO WINDOW PROBE: "it is a zero window probe if the sequence number is
/// the next expected one, the window in the other direction is 0, the
/// segment is exactly 1 byte". (RFC 9293 3.8.6.1: the sender "MUST
/// regularly transmit at least one octet of new data" into a zero window.)
/// A probe that resends the last byte instead (seq = next - 1, as Windows
/// does) is not one: the keep-alive rule takes it.
pub fn zero_window_probe(s: &Segment, fwd: &Flow, rev: &Flow) -> bool {
    s.seglen == 1 && s.seq == fwd.nextseq && rev.window == 0
}

/// ZERO WINDOW: "a zero window packet has window == 0 but none of the
/// SYN/FIN/RST set".
pub fn zero_window(s: &Segment) -> bool {
    s.window == 0 && !s.syn_fin_rst()
}

/// LOST PACKET: "If this segment is beyond the last seen nextseq we must
/// have missed some previous segment ... RST packets are not checked".
pub fn lost_segment(s: &Segment, fwd: &Flow) -> bool {
    fwd.nextseq != 0 && seq::gt(s.seq, fwd.nextseq) && !s.has(RST)
}

/// KEEP ALIVE: "a keepalive contains 0 or 1 bytes of data and starts one
/// byte prior to what should be the next sequence number. SYN/FIN/RST
/// segments are never keepalives". (RFC 9293 3.8.4: a keep-alive is sent
/// with SEG.SEQ = SND.NXT-1 and may carry one garbage octet.)
pub fn keep_alive(s: &Segment, fwd: &Flow) -> bool {
    s.seglen <= 1 && s.seq == fwd.nextseq.wrapping_sub(1) && !s.syn_fin_rst()
}

/// WINDOW UPDATE: "a 0 byte segment with the same SEQ/ACK numbers as the
/// previous seen segment and with a new window value" (not zero).
pub fn window_update(s: &Segment, fwd: &Flow) -> bool {
    s.window != 0 && s.window != fwd.window && s.repeats_seq_and_ack(fwd)
}

/// WINDOW FULL: "If we know the window scaling and if this segment contains
/// data and goes all the way to the edge of the advertised window";
/// SYN/FIN/RST never. The edge is the receiver's last ACK plus its last
/// window, scaled by its shift (not during the handshake).
pub fn window_full(s: &Segment, rev: &Flow) -> bool {
    use super::state::WinScale;
    let edge = rev
        .lastack
        .wrapping_add(rev.window.wrapping_shl(rev.window_shift()));
    s.seglen > 0
        && rev.win_scale != WinScale::Unknown
        && s.seq.wrapping_add(s.seglen) == edge
        && !s.syn_fin_rst()
}

/// KEEP ALIVE ACK: "if it repeats the previous ACK and if the last segment
/// in the reverse direction was a keepalive" (same non-zero window).
pub fn keep_alive_ack(s: &Segment, fwd: &Flow, rev: &Flow) -> bool {
    s.window != 0
        && s.window == fwd.window
        && s.repeats_seq_and_ack(fwd)
        && rev.last_segment_flags.contains(Flag::KeepAlive)
}

/// ZERO WINDOW PROBE ACK: "if it repeats the previous ACK and if the last
/// segment in the reverse direction was a zerowindowprobe. It also repeats
/// the previous zero window indication".
pub fn zero_window_probe_ack(s: &Segment, fwd: &Flow, rev: &Flow) -> bool {
    s.window == 0
        && s.window == fwd.window
        && s.repeats_seq_and_ack(fwd)
        && rev.last_segment_flags.contains(Flag::ZeroWindowProbe)
}

/// DUPLICATE ACK: "if window/seq/ack is the same as the previous segment
/// and if the segment length is 0" (window not zero). (RFC 5681 2: a
/// duplicate ACK carries no data, no SYN/FIN, the same ACK number and the
/// same window.) MPTCP's exception (RFC 8684 4) is not followed.
pub fn duplicate_ack(s: &Segment, fwd: &Flow) -> bool {
    s.window != 0 && s.window == fwd.window && s.repeats_seq_and_ack(fwd)
}

/// ACKED LOST PACKET: "If this segment acks beyond the 'max seq to be
/// acked' in the other direction then that means we have missed packets
/// going in the other direction" (only once data was seen that way).
pub fn acks_beyond_seen(s: &Segment, rev: &Flow) -> bool {
    rev.max_seq_to_be_acked != 0 && seq::gt(s.ack, rev.max_seq_to_be_acked) && s.has(ACK)
}

/// SPURIOUS RETRANSMISSION: "If the current seq + segment length is less
/// than or equal to the current lastack, the packet contains duplicate data
/// and may be considered spurious."
pub fn spurious_retransmission(s: &Segment, rev: &Flow) -> bool {
    s.seglen > 0 && rev.lastack != 0 && seq::le(s.seq.wrapping_add(s.seglen), rev.lastack)
}

/// Wireshark's fast retransmission window: 20 ms after the last duplicate ACK.
pub const FAST_RETRANSMISSION_WINDOW_NS: u64 = 20_000_000;

/// Wireshark's out-of-order window when the initial RTT is unknown: 3 ms.
pub const OUT_OF_ORDER_DEFAULT_NS: u64 = 3_000_000;

/// Nanoseconds from `then` to `now`, wrapping as Wireshark's `guint64 t`
/// does (a negative interval is huge).
fn elapsed(now: i64, then: i64) -> u64 {
    now.wrapping_sub(then) as u64
}

/// FAST RETRANSMISSION: "If there were >=2 duplicate ACKs in the reverse
/// direction ... and if this sequence number matches those ACKs and if the
/// packet occurs within 20ms of the last duplicate ack".
pub fn fast_retransmission(s: &Segment, seq_not_advanced: bool, rev: &Flow) -> bool {
    seq_not_advanced
        && rev.dup_ack_num >= 2
        && rev.lastack == s.seq
        && elapsed(s.ts_ns, rev.lastack_ts) < FAST_RETRANSMISSION_WINDOW_NS
}

/// OUT-OF-ORDER: "If the segment came relatively close since the segment
/// with the highest seen sequence number and it doesn't look like a
/// retransmission": within the initial RTT (3 ms when unknown) of the
/// segment that set nextseq, and not ending exactly at nextseq.
pub fn out_of_order(s: &Segment, seq_not_advanced: bool, fwd: &Flow, first_rtt_ns: i64) -> bool {
    let threshold = if first_rtt_ns == 0 {
        OUT_OF_ORDER_DEFAULT_NS
    } else {
        first_rtt_ns as u64
    };
    let syn_fin = s.has(SYN | FIN) as u32;
    seq_not_advanced
        && elapsed(s.ts_ns, fwd.nextseq_ts) < threshold
        && fwd.nextseq != s.seq.wrapping_add(s.seglen).wrapping_add(syn_fin)
}

/// Run Wireshark's sequence analysis for one segment sent by `fwd` to
/// `rev`: add the flags and values to `flags`/`values` and update both
/// directions' state.
pub fn analyze_sequence_number(
    s: &Segment,
    fwd: &mut Flow,
    rev: &mut Flow,
    first_rtt_ns: i64,
    flags: &mut Flags,
    values: &mut Values,
) {
    if s.has(ACK) {
        rev.valid_bif = true;
    }

    // Rules up to `finished_fwd`: about what this side sends.
    if zero_window_probe(s, fwd, rev) {
        flags.insert(Flag::ZeroWindowProbe);
    } else {
        if zero_window(s) {
            flags.insert(Flag::ZeroWindow);
        }
        if lost_segment(s, fwd) {
            flags.insert(Flag::LostSegment);
            // "Disable BiF until an ACK is seen in the other direction".
            fwd.valid_bif = false;
        }
        if keep_alive(s, fwd) {
            flags.insert(Flag::KeepAlive);
        }
        if window_update(s, fwd) {
            flags.insert(Flag::WindowUpdate);
        }
        if window_full(s, rev) {
            flags.insert(Flag::WindowFull);
        }
        if keep_alive_ack(s, fwd, rev) {
            flags.insert(Flag::KeepAliveAck);
        } else if zero_window_probe_ack(s, fwd, rev) {
            flags.insert(Flag::ZeroWindowProbeAck);
        } else if duplicate_ack(s, fwd) {
            // -1 (an unseen segment was ACKed) restarts the count at 1.
            fwd.dup_ack_num = if fwd.dup_ack_num == u32::MAX {
                1
            } else {
                fwd.dup_ack_num.wrapping_add(1)
            };
            flags.insert(Flag::DuplicateAck);
            values.dup_ack_num = fwd.dup_ack_num;
            values.dup_ack_of = fwd.last_non_dup_ack;
        }
    }

    // finished_fwd: a new ACK number restarts the duplicate count.
    if s.ack != fwd.lastack {
        fwd.last_non_dup_ack = s.frame;
        fwd.dup_ack_num = 0;
    }

    if acks_beyond_seen(s, rev) {
        // Flag once per hole: move the other side's 'max seq to be acked'
        // up, or mark the count so that later ACKs of it stay quiet.
        if seq::lt(rev.max_seq_to_be_acked, rev.nextseq) {
            rev.max_seq_to_be_acked = rev.nextseq;
            flags.insert(Flag::AckLostSegment);
        } else {
            if rev.dup_ack_num == 0 {
                flags.insert(Flag::AckLostSegment);
            }
            rev.dup_ack_num = u32::MAX;
        }
    }

    // RETRANSMISSION / FAST RETRANSMISSION / OUT-OF-ORDER: a segment that
    // occupies sequence space and does not advance nextseq.
    if s.seglen > 0 || s.has(SYN | FIN) {
        retransmission_family(s, fwd, rev, first_rtt_ns, flags, values);
    }

    // finished_checking_retransmission_type: remember the segment.
    let mut nextseq = s.seq.wrapping_add(s.seglen);
    if (s.seglen > 0 || s.has(SYN | FIN)) && fwd.unacked.len() < MAX_UNACKED_SEGMENTS {
        // SYN and FIN count as one byte (only here, as in Wireshark).
        if s.has(SYN | FIN) {
            nextseq = nextseq.wrapping_add(1);
        }
        if let Some(last) = fwd.unacked.back() {
            if seq::lt(s.seq, last.nextseq) {
                fwd.unacked_in_order = false;
            }
        }
        // Does an ACK that found nothing to take still find nothing?
        if fwd.quiet_ack_known {
            let a = fwd.quiet_ack;
            fwd.quiet_ack_known = seq::gt(nextseq, a) && !seq::gt(a, s.seq);
        }
        fwd.unacked.push_back(Unacked {
            frame: s.frame,
            seq: s.seq,
            nextseq,
            ts_ns: s.ts_ns,
        });
    }
    // "ZeroWindowProbes are special and don't really advance the nextseq".
    let probe = flags.contains(Flag::ZeroWindowProbe);
    if (seq::gt(nextseq, fwd.nextseq) || fwd.nextseq == 0) && !probe {
        fwd.nextseq = nextseq;
        fwd.nextseq_frame = s.frame;
        fwd.nextseq_ts = s.ts_ns;
    }
    if (s.seq == fwd.max_seq_to_be_acked || fwd.max_seq_to_be_acked == 0) && !probe {
        fwd.max_seq_to_be_acked = fwd.nextseq;
    }
    fwd.window = s.window;
    fwd.lastack = s.ack;
    fwd.lastack_ts = s.ts_ns;
    fwd.last_segment_flags = *flags;

    take_acked(s, rev, values);
    // Bytes in flight are only ever shown with a flag: skip the walk over
    // the unacked list for the (many) frames without one. A SYN may still
    // get a TFO flag after this.
    if !flags.is_empty() || s.has(SYN) {
        bytes_in_flight(s, fwd, rev, values);
    }
}

/// The retransmission checks, in Wireshark's order (fast retransmission
/// before out-of-order: `tcp_fastrt_precedence` defaults to TRUE).
fn retransmission_family(
    s: &Segment,
    fwd: &Flow,
    rev: &Flow,
    first_rtt_ns: i64,
    flags: &mut Flags,
    values: &mut Values,
) {
    let mut seq_not_advanced = fwd.nextseq != 0 && seq::lt(s.seq, fwd.nextseq);
    // "a simple KeepAlive is not a retransmission".
    if flags.contains(Flag::KeepAlive) {
        return;
    }
    // "not considered a retransmission/out-of-order if the segment length
    // is larger than one (it really adds new data) [and] the sequence
    // number is one less than the previous nextseq" (after a zero window
    // probe).
    if s.seglen > 1 && fwd.nextseq.wrapping_sub(1) == s.seq {
        seq_not_advanced = false;
    }
    if spurious_retransmission(s, rev) {
        flags.insert(Flag::SpuriousRetransmission);
        return;
    }
    if fast_retransmission(s, seq_not_advanced, rev) {
        flags.insert(Flag::FastRetransmission);
        return;
    }
    if out_of_order(s, seq_not_advanced, fwd, first_rtt_ns) {
        flags.insert(Flag::OutOfOrder);
        return;
    }
    if seq_not_advanced {
        // "Then it has to be a generic retransmission". The frame it
        // repeats: the oldest unacknowledged segment, else the one that
        // set nextseq.
        flags.insert(Flag::Retransmission);
        let (frame, ts) = match fwd.unacked.front() {
            Some(u) => (u.frame, u.ts_ns),
            None => (fwd.nextseq_frame, fwd.nextseq_ts),
        };
        values.rto_frame = frame;
        values.rto_ns = s.ts_ns.wrapping_sub(ts);
    }
}

/// Remove what this segment acknowledges from the other side's unacked
/// list; the oldest segment ending exactly at the ACK number gives the ACK
/// RTT (`tcp.analysis.acks_frame`, `ack_rtt`).
///
/// Wireshark walks the whole list for every segment. While the list holds
/// segments in sequence order without overlap (no retransmission in it),
/// what an ACK removes is a prefix and at most the next segment is cut, so
/// we stop there; the result is the same.
fn take_acked(s: &Segment, rev: &mut Flow, values: &mut Values) {
    let ack = s.ack;
    let acked = |u: &Unacked, values: &mut Values| {
        // Wireshark walks newest to oldest and overwrites: the oldest
        // exact match wins. We walk oldest first: keep the first.
        if ack == u.nextseq && values.acks_frame == 0 {
            values.acks_frame = u.frame;
            values.ack_rtt_ns = s.ts_ns.wrapping_sub(u.ts_ns);
        }
    };
    if rev.unacked_in_order {
        // (The prefix taken and the segment cut leave no ACK known quiet.)
        rev.quiet_ack_known = false;
        while let Some(u) = rev.unacked.front() {
            if seq::gt(u.nextseq, ack) {
                break;
            }
            acked(u, values);
            rev.unacked.pop_front();
        }
        if let Some(u) = rev.unacked.front_mut() {
            if seq::gt(ack, u.seq) {
                // Part of it acknowledged.
                u.seq = ack;
            }
        }
    } else if !(rev.quiet_ack_known && rev.quiet_ack == ack) {
        rev.unacked.retain_mut(|u| {
            if ack == u.nextseq {
                acked(u, values);
                false
            } else if seq::gt(ack, u.seq) && seq::le(ack, u.nextseq) {
                // Part of it acknowledged.
                u.seq = ack;
                true
            } else {
                seq::gt(u.nextseq, ack)
            }
        });
        // Every segment left ends after the ACK and starts at or after
        // it: the same ACK again would change nothing (until a segment
        // that it would take or cut is added).
        rev.quiet_ack = ack;
        rev.quiet_ack_known = true;
    }
    if rev.unacked.is_empty() {
        rev.unacked_in_order = true;
    }
}

/// Bytes in flight after this segment (Wireshark's default, payload-based
/// method): the span of this side's unacknowledged segments, less what the
/// other side's last SACK blocks cover.
fn bytes_in_flight(s: &Segment, fwd: &Flow, rev: &Flow, values: &mut Values) {
    if s.seglen == 0 || fwd.unacked.is_empty() || !fwd.valid_bif {
        return;
    }
    let base = fwd.base_seq.unwrap_or(0);
    let mut first = u32::MAX;
    let mut last = 0u32;
    for u in &fwd.unacked {
        first = first.min(u.seq.wrapping_sub(base));
        last = last.max(u.nextseq.wrapping_sub(base));
    }
    // Wireshark starts from the newest segment's edges; min/max over all
    // is the same set.
    let in_flight = last.wrapping_sub(first).wrapping_sub(rev.sacked);
    if in_flight > 0 && in_flight < 2_000_000_000 {
        values.bytes_in_flight = in_flight - s.has(SYN | FIN) as u32;
    }
}
