//! One frame through the parts of Wireshark 4.0's `dissect_tcp` that set
//! or feed the expert flags, in its order:
//!
//! 1. SYN with the ISN already seen: a retransmitted SYN; restore nextseq
//!    (issue 17616). (A SYN with a new ISN starts a new conversation: the
//!    caller flags `reused_ports` on a stream's first frame.)
//! 2. SYN/ACK with another ISN than the one seen: `reused_ports`, and the
//!    base sequence number becomes its ISN (issue 16944).
//! 3. When the segment length is known (not in an ICMP error, not a short
//!    segment): base sequence numbers, then `tcp_analyze_sequence_number`.
//! 4. A bogus header length (< 20) ends the dissection: nothing shown.
//! 5. SYN/ACK: `tfo_ack` when its relative ACK is above 1, else
//!    `tfo_ignored` if the SYN carried TFO data.
//! 6. SYN: time of the last SYN, start of the handshake window; the first
//!    segment with ACK and without SYN after it gives the initial RTT.
//! 7. Options: window scale, SACK blocks, TFO cookie (`tfo_syn`). A header
//!    cut by the snaplen throws here in Wireshark: nothing shown.
//! 8. The flags are shown; then a SYN settles the window scale
//!    (`verify_tcp_window_scaling`).

use super::rules::{analyze_sequence_number, Segment};
use super::state::{Conversation, WinScale};
use super::{Flag, Flags, Values};
use twincap_parser::tcp_flags::{ACK, SYN};
use twincap_parser::{info, SackBlock, TcpPacket};

/// RFC 7323 2.3: "If a Window Scale option is received with a shift.cnt
/// value larger than 14, the TCP SHOULD log the error but MUST use 14".
const MAX_WINDOW_SHIFT: u8 = 14;

/// Run one frame sent in direction `dir` (0: a→b) through the conversation.
/// Adds its flags and values; returns whether Wireshark gets as far as
/// showing them.
pub fn dissect(
    p: &TcpPacket,
    sacks: &[SackBlock],
    dir: usize,
    conv: &mut Conversation,
    flags: &mut Flags,
    values: &mut Values,
) -> bool {
    let first_rtt_ns = conv.first_rtt_ns;
    let tfo_syn_data = conv.tfo_syn_data;
    let syn_ack = p.flags & (SYN | ACK);
    let analyzed = !p.is(info::IN_ICMP_ERROR) && !p.is(info::NO_SEGMENT_LEN);
    let (fwd, rev) = conv.fwd_rev(dir);

    // 1. A SYN repeating the ISN: "Sometimes we need to restore the nextseq
    // value. As stated in RFC 793 3.4 a RST packet might be sent with SEQ
    // being equal to the ACK received".
    if syn_ack == SYN && fwd.base_seq == Some(p.seq) {
        fwd.nextseq = fwd.max_seq_to_be_acked;
    }
    // 2. "the retrieved conversation might have a different base_seq".
    if syn_ack == SYN | ACK {
        if let Some(base) = fwd.base_seq {
            if p.seq != base {
                fwd.base_seq = Some(p.seq);
                flags.insert(Flag::ReusedPorts);
            }
        }
    }
    // "initialize the SACK blocks seen to 0".
    fwd.sacked = 0;

    // 3. Sequence analysis, when Wireshark knows the segment length.
    if analyzed {
        if fwd.base_seq.is_none() {
            fwd.base_seq = Some(if p.has(SYN) {
                p.seq
            } else {
                p.seq.wrapping_sub(1)
            });
        }
        if rev.base_seq.is_none() && p.has(ACK) {
            rev.base_seq = Some(p.ack.wrapping_sub(1));
        }
        let segment = Segment {
            frame: p.frame,
            ts_ns: p.ts_ns,
            seq: p.seq,
            ack: p.ack,
            seglen: p.payload_len as u32,
            flags: p.flags,
            window: p.win as u32,
        };
        analyze_sequence_number(&segment, fwd, rev, first_rtt_ns, flags, values);
    }

    // 4. "Bogus TCP header length": dissect_tcp returns here.
    if p.tcp_hdr_len < 20 {
        return false;
    }

    // 5. TCP Fast Open seen from the SYN/ACK. The ACK number is relative
    // only when the sequence analysis ran.
    if syn_ack == SYN | ACK {
        let ack = if analyzed {
            p.ack.wrapping_sub(rev.base_seq.unwrap_or(0))
        } else {
            p.ack
        };
        if ack > 1 {
            flags.insert(Flag::TfoAck);
        } else if tfo_syn_data {
            flags.insert(Flag::TfoIgnored);
        }
    }

    // 6. The handshake: "Initiliaze the is_first_ack" on every SYN; the
    // initial RTT runs from the most recent SYN to the first segment with
    // ACK and without SYN.
    if p.has(SYN) {
        fwd.is_first_ack = true;
    }
    if syn_ack == ACK {
        fwd.is_first_ack = false;
    }
    if syn_ack == SYN {
        conv.ts_mru_syn = p.ts_ns;
    }
    if syn_ack == ACK && conv.ts_mru_syn != 0 && conv.first_rtt_ns == 0 {
        conv.first_rtt_ns = p.ts_ns.wrapping_sub(conv.ts_mru_syn);
    }

    // 7. Options.
    let fwd = &mut conv.flows[dir];
    if p.is(info::WSCALE) {
        fwd.win_scale = WinScale::Shift(p.wscale.min(MAX_WINDOW_SHIFT));
    }
    // Wireshark keeps the first three blocks for bytes in flight.
    fwd.sacked = sacks.iter().take(3).fold(0u32, |sum, b| {
        sum.wrapping_add(b.right.wrapping_sub(b.left))
    });
    if p.is(info::TFO_COOKIE) && syn_ack == SYN {
        flags.insert(Flag::TfoSyn);
        if analyzed && p.payload_len > 0 {
            conv.tfo_syn_data = true;
        }
    }
    // A header cut by the snaplen: the option dissection throws.
    if p.is(info::HEADER_TRUNCATED) {
        return false;
    }

    // 8. Shown. Then `verify_tcp_window_scaling`: a SYN without the option
    // means no scaling both ways; a SYN/ACK with it after a SYN without
    // it means none for the SYN/ACK's side either.
    if p.has(SYN) {
        let (fwd, rev) = conv.fwd_rev(dir);
        if fwd.win_scale == WinScale::Unknown {
            fwd.win_scale = WinScale::NotUsed;
            rev.win_scale = WinScale::NotUsed;
        } else if p.has(ACK) && rev.win_scale == WinScale::NotUsed {
            fwd.win_scale = WinScale::NotUsed;
        }
    }
    true
}
