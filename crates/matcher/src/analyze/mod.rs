//! Wireshark's TCP expert flags (`tcp.analysis.*`) on one capture, as
//! Wireshark 4.0 sets them with default preferences (sequence analysis on,
//! relative sequence numbers on, checksums not checked, window scaling
//! "not known" when the handshake is missing, fast retransmission before
//! out-of-order).
//!
//! Everything follows `epan/dissectors/packet-tcp.c` of Wireshark 4.0:
//! [`rules`] is `tcp_analyze_sequence_number`, one named rule per flag;
//! [`frame`] is the part of `dissect_tcp` around it (reused ports, base
//! sequence numbers, the initial RTT, window scale options, TCP Fast Open).
//! Connections are independent and analyzed in parallel.
//!
//! What Wireshark does not analyze, and neither do we:
//! - a TCP header quoted inside an ICMP error (`info::IN_ICMP_ERROR`), or
//!   one whose IP length ends inside the TCP header ("Short segment"): no
//!   segment length, so no sequence analysis (they can still start a new
//!   conversation, and so carry `reused_ports`);
//! - the frames of an IP datagram that was fragmented (only the frame that
//!   completes it carries the segment);
//! - a frame cut by the snaplen inside the TCP header: Wireshark analyzes
//!   it but stops (an exception) before showing the flags;
//! - a TCP header length below 20 ("bogus"): analyzed, never shown.
//!
//! Not followed: MPTCP's tolerance of duplicate ACKs (RFC 8684 3.3.6), the
//! sequence-number based bytes-in-flight method (a preference, off).

pub mod flags;
pub mod frame;
pub mod rules;
pub mod state;

pub use flags::{Flag, Flags};

use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde::Serialize;
use twincap_parser::{Capture, Connection, Connections};

/// The values Wireshark shows with a frame's flags (0 when it shows none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Values {
    /// `tcp.analysis.duplicate_ack_num`: this is the n-th duplicate ACK.
    pub dup_ack_num: u32,
    /// `tcp.analysis.duplicate_ack_frame`: the frame it duplicates.
    pub dup_ack_of: u32,
    /// `tcp.analysis.rto_frame`: for a retransmission, the oldest frame of
    /// that side not yet acknowledged (the one most likely repeated).
    pub rto_frame: u32,
    /// `tcp.analysis.rto`: time since that frame, ns.
    pub rto_ns: i64,
    /// `tcp.analysis.bytes_in_flight` after this frame.
    pub bytes_in_flight: u32,
    /// `tcp.analysis.acks_frame`: the segment this frame acknowledges.
    pub acks_frame: u32,
    /// `tcp.analysis.ack_rtt`: time since that segment, ns.
    pub ack_rtt_ns: i64,
}

/// One frame with at least one flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flagged {
    /// Index into `Capture::packets`.
    pub packet: u32,
    pub frame: u32,
    pub stream: u32,
    pub flags: Flags,
    pub values: Values,
}

/// Flag counts of one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamCounts {
    pub stream: u32,
    /// Frames carrying each flag, indexed by `Flag as usize`.
    pub counts: [u32; Flag::COUNT],
    /// Frames carrying at least one flag.
    pub flagged_frames: u32,
    /// Initial RTT (`tcp.analysis.initial_rtt`), ns, when the handshake
    /// was seen.
    pub initial_rtt_ns: Option<i64>,
}

impl StreamCounts {
    pub fn count(&self, flag: Flag) -> u32 {
        self.counts[flag as usize]
    }
}

/// The expert flags of every frame of one capture.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// `flags[i]` belongs to `Capture::packets[i]`.
    flags: Vec<Flags>,
    /// Every flagged frame, in packet order.
    flagged: Vec<Flagged>,
    /// Connections with at least one flagged frame, in stream order.
    streams: Vec<StreamCounts>,
}

impl Analysis {
    /// The flags of `Capture::packets[index]` (empty when none, or out of range).
    pub fn flags(&self, index: usize) -> Flags {
        self.flags.get(index).copied().unwrap_or_default()
    }
    /// The flagged frame at `Capture::packets[index]`, with its values.
    pub fn flagged_at(&self, index: usize) -> Option<&Flagged> {
        if self.flags(index).is_empty() {
            return None;
        }
        let i = self
            .flagged
            .binary_search_by_key(&(index as u32), |f| f.packet)
            .ok()?;
        Some(&self.flagged[i])
    }
    /// Every frame with at least one flag, in frame order.
    pub fn flagged(&self) -> &[Flagged] {
        &self.flagged
    }
    /// Counts of every connection with at least one flagged frame, in
    /// stream order.
    pub fn streams(&self) -> &[StreamCounts] {
        &self.streams
    }
    /// Counts of connection `stream` (`None` when none of its frames is
    /// flagged).
    pub fn stream(&self, stream: u32) -> Option<&StreamCounts> {
        let i = self
            .streams
            .binary_search_by_key(&stream, |s| s.stream)
            .ok()?;
        Some(&self.streams[i])
    }
    /// Frames carrying each flag over the whole capture.
    pub fn totals(&self) -> [u32; Flag::COUNT] {
        let mut t = [0; Flag::COUNT];
        for s in &self.streams {
            for (a, b) in t.iter_mut().zip(s.counts) {
                *a += b;
            }
        }
        t
    }
    /// Connections with at least one frame carrying `flag`.
    pub fn connections_with(&self, flag: Flag) -> usize {
        self.streams.iter().filter(|s| s.count(flag) > 0).count()
    }
}

/// Flag every frame of `cap` as Wireshark 4.0's TCP analysis does.
/// `conns` must be `conn::split(cap)`.
pub fn analyze(cap: &Capture, conns: &Connections) -> Analysis {
    let reused = reused_port_streams(conns);
    // Only connections with a flagged frame come back (in stream order).
    let per_stream: Vec<(Vec<Flagged>, StreamCounts)> = conns
        .list
        .par_iter()
        .filter_map(|c| {
            let (list, counts) = analyze_connection(cap, c, reused[c.stream as usize]);
            (!list.is_empty()).then_some((list, counts))
        })
        .collect();
    let mut flags = vec![Flags::EMPTY; cap.packets.len()];
    let mut flagged = Vec::with_capacity(per_stream.iter().map(|(f, _)| f.len()).sum());
    let mut streams = Vec::with_capacity(per_stream.len());
    for (list, counts) in per_stream {
        for f in &list {
            flags[f.packet as usize] = f.flags;
        }
        flagged.extend(list);
        streams.push(counts);
    }
    flagged.sort_unstable_by_key(|f| f.packet);
    Analysis {
        flags,
        flagged,
        streams,
    }
}

/// Streams that start while an earlier connection of the same address and
/// port pair exists. Wireshark's `find_conversation` always finds that
/// earlier one, so such a stream can only have been started by a SYN with
/// a new ISN (`TCP_A_REUSED_PORTS` on its first frame).
fn reused_port_streams(conns: &Connections) -> Vec<bool> {
    let mut seen = FxHashSet::default();
    conns
        .list
        .iter()
        .map(|c| {
            let key = if c.a <= c.b { (c.a, c.b) } else { (c.b, c.a) };
            !seen.insert(key)
        })
        .collect()
}

/// Analyze one connection, its frames in order.
pub fn analyze_connection(
    cap: &Capture,
    conn: &Connection,
    reused_ports: bool,
) -> (Vec<Flagged>, StreamCounts) {
    let mut conv = state::Conversation::default();
    let mut out = Vec::new();
    let mut counts = StreamCounts {
        stream: conn.stream,
        ..StreamCounts::default()
    };
    for (k, &index) in conn.packets.iter().enumerate() {
        let p = &cap.packets[index as usize];
        let dir = (conn.direction(p) == twincap_parser::Direction::BtoA) as usize;
        let mut flags = Flags::EMPTY;
        if k == 0 && reused_ports {
            flags.insert(Flag::ReusedPorts);
        }
        let mut values = Values::default();
        let shown = frame::dissect(p, cap.sacks_of(p), dir, &mut conv, &mut flags, &mut values);
        if shown && !flags.is_empty() {
            // Fast and spurious retransmissions are also shown as
            // retransmissions (tcp_sequence_number_analysis_print_retransmission).
            if flags.contains(Flag::FastRetransmission)
                || flags.contains(Flag::SpuriousRetransmission)
            {
                flags.insert(Flag::Retransmission);
            }
            counts.flagged_frames += 1;
            for f in flags.iter() {
                counts.counts[f as usize] += 1;
            }
            out.push(Flagged {
                packet: index,
                frame: p.frame,
                stream: conn.stream,
                flags,
                values,
            });
        }
    }
    if conv.first_rtt_ns != 0 {
        counts.initial_rtt_ns = Some(conv.first_rtt_ns);
    }
    (out, counts)
}
