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
use twincap_parser::{Capture, Connection, Connections, TcpPacket};

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
///
/// Connections are independent. Each of rayon's threads takes the
/// connections whose stream number falls in its shard and walks the
/// packets in frame order, so packets are read in memory order and only
/// the connections open at that point of the capture hold state.
pub fn analyze(cap: &Capture, conns: &Connections) -> Analysis {
    let reused = reused_port_streams(conns);
    let last = last_packet_of_streams(conns);
    let shards = rayon::current_num_threads().clamp(1, 64);
    let results: Vec<(Vec<Flagged>, Vec<StreamCounts>)> = (0..shards)
        .into_par_iter()
        .map(|shard| analyze_shard(cap, conns, &reused, &last, shard, shards))
        .collect();
    let mut flags = vec![Flags::EMPTY; cap.packets.len()];
    let mut flagged = Vec::with_capacity(results.iter().map(|(f, _)| f.len()).sum());
    let mut streams = Vec::with_capacity(results.iter().map(|(_, s)| s.len()).sum());
    for (list, counts) in results {
        for f in &list {
            flags[f.packet as usize] = f.flags;
        }
        flagged.extend(list);
        streams.extend(counts);
    }
    flagged.sort_unstable_by_key(|f| f.packet);
    streams.sort_unstable_by_key(|s| s.stream);
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

/// The index of each stream's last packet.
fn last_packet_of_streams(conns: &Connections) -> Vec<u32> {
    let mut last = vec![0u32; conns.list.len()];
    for (i, &s) in conns.stream_of.iter().enumerate() {
        last[s as usize] = i as u32;
    }
    last
}

/// The streams `s` with `s % shards == shard`, walked in frame order.
/// Returns their flagged frames (in frame order) and the counts of the
/// streams with any.
fn analyze_shard(
    cap: &Capture,
    conns: &Connections,
    reused: &[bool],
    last: &[u32],
    shard: usize,
    shards: usize,
) -> (Vec<Flagged>, Vec<StreamCounts>) {
    const NONE: u32 = u32::MAX;
    let mut slot_of = vec![NONE; conns.list.len()];
    let mut open: Vec<ConnectionAnalyzer> = Vec::new();
    let mut free: Vec<u32> = Vec::new();
    let mut flagged = Vec::new();
    let mut counts = Vec::new();
    for (index, (&stream, p)) in conns.stream_of.iter().zip(&cap.packets).enumerate() {
        if stream as usize % shards != shard {
            continue;
        }
        let s = stream as usize;
        let slot = match slot_of[s] {
            NONE => {
                let slot = match free.pop() {
                    Some(slot) => {
                        open[slot as usize].restart(stream, p, reused[s]);
                        slot
                    }
                    None => {
                        open.push(ConnectionAnalyzer::new(stream, p, reused[s]));
                        open.len() as u32 - 1
                    }
                };
                slot_of[s] = slot;
                slot
            }
            slot => slot,
        };
        let conn = &mut open[slot as usize];
        if let Some(f) = conn.packet(cap, index as u32, p) {
            flagged.push(f);
        }
        if last[s] == index as u32 {
            if let Some(c) = conn.finish() {
                counts.push(c);
            }
            free.push(slot);
        }
    }
    (flagged, counts)
}

/// Analyze one connection, its frames in order: its flagged frames and
/// its counts.
pub fn analyze_connection(
    cap: &Capture,
    conn: &Connection,
    reused_ports: bool,
) -> (Vec<Flagged>, StreamCounts) {
    let Some(&first) = conn.packets.first() else {
        return (Vec::new(), StreamCounts::default());
    };
    let mut analyzer =
        ConnectionAnalyzer::new(conn.stream, &cap.packets[first as usize], reused_ports);
    let flagged = conn
        .packets
        .iter()
        .filter_map(|&index| analyzer.packet(cap, index, &cap.packets[index as usize]))
        .collect();
    let mut counts = analyzer.counts.clone();
    counts.initial_rtt_ns = (analyzer.conv.first_rtt_ns != 0).then_some(analyzer.conv.first_rtt_ns);
    (flagged, counts)
}

/// One connection being analyzed.
struct ConnectionAnalyzer {
    conv: state::Conversation,
    /// The endpoint that sent the first frame (direction a→b).
    a: (twincap_parser::AddrId, u16),
    /// The next frame is the connection's first.
    first: bool,
    reused_ports: bool,
    counts: StreamCounts,
}

impl ConnectionAnalyzer {
    fn new(stream: u32, first: &TcpPacket, reused_ports: bool) -> ConnectionAnalyzer {
        ConnectionAnalyzer {
            conv: state::Conversation::default(),
            a: (first.src, first.sport),
            first: true,
            reused_ports,
            counts: StreamCounts {
                stream,
                ..StreamCounts::default()
            },
        }
    }

    /// Start over for another connection, keeping allocated buffers.
    fn restart(&mut self, stream: u32, first: &TcpPacket, reused_ports: bool) {
        self.conv.reset();
        self.a = (first.src, first.sport);
        self.first = true;
        self.reused_ports = reused_ports;
        self.counts = StreamCounts {
            stream,
            ..StreamCounts::default()
        };
    }

    /// The next frame of the connection (`index` into `Capture::packets`);
    /// returns it if it carries a flag.
    fn packet(&mut self, cap: &Capture, index: u32, p: &TcpPacket) -> Option<Flagged> {
        let dir = ((p.src, p.sport) != self.a) as usize;
        let mut flags = Flags::EMPTY;
        if std::mem::take(&mut self.first) && self.reused_ports {
            flags.insert(Flag::ReusedPorts);
        }
        let mut values = Values::default();
        let sacks = if p.sack_count > 0 {
            cap.sacks_of(p)
        } else {
            &[]
        };
        let shown = frame::dissect(p, sacks, dir, &mut self.conv, &mut flags, &mut values);
        if !shown || flags.is_empty() {
            return None;
        }
        // Fast and spurious retransmissions are also shown as
        // retransmissions (tcp_sequence_number_analysis_print_retransmission).
        if flags.contains(Flag::FastRetransmission) || flags.contains(Flag::SpuriousRetransmission)
        {
            flags.insert(Flag::Retransmission);
        }
        self.counts.flagged_frames += 1;
        for f in flags.iter() {
            self.counts.counts[f as usize] += 1;
        }
        Some(Flagged {
            packet: index,
            frame: p.frame,
            stream: self.counts.stream,
            flags,
            values,
        })
    }

    /// The connection's counts, if any frame of it was flagged.
    fn finish(&mut self) -> Option<StreamCounts> {
        if self.counts.flagged_frames == 0 {
            return None;
        }
        let mut counts = std::mem::take(&mut self.counts);
        let rtt = self.conv.first_rtt_ns;
        counts.initial_rtt_ns = (rtt != 0).then_some(rtt);
        Some(counts)
    }
}
