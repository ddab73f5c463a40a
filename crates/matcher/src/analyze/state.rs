//! The state Wireshark keeps per TCP conversation (`struct tcp_analysis`)
//! and per direction (`tcp_flow_t` with its `tcp_analyze_seq_flow_info_t`),
//! reduced to what the expert flags and their values need.
//!
//! Sequence and acknowledgement numbers here are the absolute ones from the
//! header: Wireshark 4.0 calls `tcp_analyze_sequence_number` with
//! `tcph->th_seq`/`th_ack` *before* it makes them relative, so a value of 0
//! means "not seen yet" for `nextseq`, `lastack` and `maxseqtobeacked` even
//! when 0 is a real sequence number. Windows are the raw header field,
//! unscaled, as Wireshark stores them (`tcpd->fwd->window = window`).

use std::collections::VecDeque;

/// Sequence-number comparisons modulo 2^32 (`packet-tcp.h`: `GT_SEQ` etc.).
pub mod seq {
    /// `GT_SEQ(x, y)`: x is after y.
    pub fn gt(x: u32, y: u32) -> bool {
        (y.wrapping_sub(x) as i32) < 0
    }
    /// `LT_SEQ(x, y)`: x is before y.
    pub fn lt(x: u32, y: u32) -> bool {
        (x.wrapping_sub(y) as i32) < 0
    }
    /// `LE_SEQ(x, y)`.
    pub fn le(x: u32, y: u32) -> bool {
        (x.wrapping_sub(y) as i32) <= 0
    }
}

/// Window scale of one direction (`tcp_flow_t.win_scale`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WinScale {
    /// -1: no SYN seen, so unknown. Wireshark's default preference
    /// (`tcp.default_window_scaling`: "not known") then scales nothing and
    /// never flags a full window.
    Unknown,
    /// -2: the handshake showed that scaling is not used.
    NotUsed,
    /// The shift from the Window Scale option (RFC 7323 caps it at 14).
    Shift(u8),
}

/// A segment sent but not yet acknowledged (`tcp_unacked_t`).
#[derive(Clone, Copy, Debug)]
pub struct Unacked {
    pub frame: u32,
    pub seq: u32,
    pub nextseq: u32,
    pub ts_ns: i64,
}

/// Empty unacked-list buffers, given back by connections whose lists
/// emptied, for the next that list a segment ([`Conversation::give_back`],
/// [`Conversation::supply`]).
pub type SpareLists = Vec<VecDeque<Unacked>>;

/// `TCP_MAX_UNACKED_SEGMENTS`: Wireshark stops listing unacked segments
/// beyond this many (when it does not see the ACKs).
pub const MAX_UNACKED_SEGMENTS: usize = 10_000;

/// One direction of a conversation: what its sender has done so far.
#[derive(Clone, Debug)]
pub struct Flow {
    /// `base_seq` once `TCP_S_BASE_SEQ_SET`.
    pub base_seq: Option<u32>,
    pub win_scale: WinScale,
    /// Last window field sent (raw), `G_MAXUINT32` before the first segment.
    pub window: u32,
    /// A SYN was sent and no segment with ACK and without SYN since
    /// (issue 14690: the window of the handshake is not scaled).
    pub is_first_ack: bool,
    /// Bytes in flight are valid (cleared by a lost segment, set again by
    /// an ACK from the other side).
    pub valid_bif: bool,
    /// The flags of this direction's last segment (`lastsegmentflags`).
    pub last_segment_flags: super::Flags,
    /// Sent, not yet acknowledged; oldest first (Wireshark's list is newest
    /// first; the order matters only for which match wins).
    pub unacked: VecDeque<Unacked>,
    /// Every unacked segment starts at or after the end of the one before
    /// (nothing resent in the list), so ACKs remove a prefix.
    pub unacked_in_order: bool,
    /// When `quiet_ack_known`: an ACK number that acknowledges no segment
    /// of the list and cuts none (walking the list for it changes
    /// nothing). The duplicate ACKs of a hole repeat it and skip the walk
    /// of a list out of order.
    pub quiet_ack: u32,
    pub quiet_ack_known: bool,
    /// Highest next sequence number seen (0: none yet).
    pub nextseq: u32,
    pub nextseq_frame: u32,
    pub nextseq_ts: i64,
    /// Highest sequence number seen without a hole before it: what the
    /// other side can acknowledge without having seen more.
    pub max_seq_to_be_acked: u32,
    /// Last acknowledgement number sent (the raw field, even without ACK).
    pub lastack: u32,
    pub lastack_ts: i64,
    /// Frame of the last segment whose ACK number changed.
    pub last_non_dup_ack: u32,
    /// Duplicate ACKs in a row; `u32::MAX` is Wireshark's `-1` ("an ACK of
    /// an unseen segment was counted"), which as a `guint32` also passes the
    /// fast retransmission test `dupacknum >= 2`.
    pub dup_ack_num: u32,
    /// Bytes covered by the SACK blocks of this direction's last segment
    /// (at most three blocks, as Wireshark stores them).
    pub sacked: u32,
}

impl Default for Flow {
    fn default() -> Flow {
        Flow {
            base_seq: None,
            win_scale: WinScale::Unknown,
            window: u32::MAX,
            is_first_ack: false,
            valid_bif: true,
            last_segment_flags: super::Flags::EMPTY,
            unacked: VecDeque::new(),
            unacked_in_order: true,
            quiet_ack: 0,
            quiet_ack_known: false,
            nextseq: 0,
            nextseq_frame: 0,
            nextseq_ts: 0,
            max_seq_to_be_acked: 0,
            lastack: 0,
            lastack_ts: 0,
            last_non_dup_ack: 0,
            dup_ack_num: 0,
            sacked: 0,
        }
    }
}

impl Flow {
    /// The shift the window full rule applies to this direction's window:
    /// none during the handshake, none when scaling is not used.
    pub fn window_shift(&self) -> u32 {
        match self.win_scale {
            WinScale::Shift(s) if !self.is_first_ack => s as u32,
            _ => 0,
        }
    }
}

/// One conversation (`struct tcp_analysis`): its two directions and the
/// handshake timing.
#[derive(Clone, Debug, Default)]
pub struct Conversation {
    /// Indexed by [`twincap_parser::Direction`]: 0 is a→b.
    pub flows: [Flow; 2],
    /// Time of the most recent SYN (0: none), `ts_mru_syn`.
    pub ts_mru_syn: i64,
    /// Initial RTT: from the last SYN to the first segment with ACK and
    /// without SYN (0: not known), `ts_first_rtt`.
    pub first_rtt_ns: i64,
    /// A SYN carried a TFO cookie and data (`tfo_syn_data`).
    pub tfo_syn_data: bool,
}

impl Conversation {
    /// Back to a new conversation, keeping the unacked lists' buffers.
    pub fn reset(&mut self) {
        for flow in &mut self.flows {
            let mut unacked = std::mem::take(&mut flow.unacked);
            unacked.clear();
            *flow = Flow {
                unacked,
                ..Flow::default()
            };
        }
        self.ts_mru_syn = 0;
        self.first_rtt_ns = 0;
        self.tfo_syn_data = false;
    }

    /// Give direction `dir`, about to list a segment, a buffer from
    /// `spare` if its list has none: one given back by another connection
    /// costs no allocation.
    #[inline]
    pub fn supply(&mut self, dir: usize, spare: &mut SpareLists) {
        let unacked = &mut self.flows[dir].unacked;
        if unacked.capacity() == 0 {
            if let Some(buffer) = spare.pop() {
                *unacked = buffer;
            }
        }
    }

    /// Give the buffer of direction `dir`'s unacked list back to `spare`
    /// if the list is empty, while `spare` holds fewer than `keep` (freed
    /// beyond): most connections of a large capture sit idle with
    /// everything acknowledged, and their buffers would add up to more
    /// than the rest of their state.
    #[inline]
    pub fn give_back(&mut self, dir: usize, spare: &mut SpareLists, keep: usize) {
        let unacked = &mut self.flows[dir].unacked;
        if unacked.is_empty() && unacked.capacity() > 0 {
            let buffer = std::mem::take(unacked);
            if spare.len() < keep {
                spare.push(buffer);
            }
        }
    }

    /// (sender's flow, receiver's flow) for a segment going `dir`.
    pub fn fwd_rev(&mut self, dir: usize) -> (&mut Flow, &mut Flow) {
        let [a, b] = &mut self.flows;
        if dir == 0 {
            (a, b)
        } else {
            (b, a)
        }
    }
}
