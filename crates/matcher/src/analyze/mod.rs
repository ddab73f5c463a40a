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

use crate::f5::PacketFacts;
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde::Serialize;
use twincap_parser::conn::Splitter;
use twincap_parser::tcp_flags;
use twincap_parser::{
    AddrId, Capture, Connection, Connections, Direction, PacketExtras, PacketSink, SackBlock,
    TcpPacket,
};

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
    /// Capture time of the frame, ns since the epoch.
    pub ts_ns: i64,
    /// Which way the frame travels in its connection (a is the endpoint
    /// that sent the connection's first frame, see [`StreamCounts::a`]).
    pub dir: Direction,
    pub flags: Flags,
    pub values: Values,
}

/// Flag counts of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCounts {
    pub stream: u32,
    /// The endpoint that sent the connection's first frame, and the other
    /// (as `Connection::a` and `b`).
    pub a: (AddrId, u16),
    pub b: (AddrId, u16),
    /// Frames of the connection.
    pub packets: u32,
    /// Frames carrying each flag, indexed by `Flag as usize`.
    pub counts: [u32; Flag::COUNT],
    /// Frames carrying at least one flag.
    pub flagged_frames: u32,
    /// Initial RTT (`tcp.analysis.initial_rtt`), ns, when the handshake
    /// was seen.
    pub initial_rtt_ns: Option<i64>,
}

impl StreamCounts {
    /// No frames yet of connection `stream`, whose first frame is `first`.
    fn start(stream: u32, first: &TcpPacket) -> StreamCounts {
        StreamCounts {
            stream,
            a: (first.src, first.sport),
            b: (first.dst, first.dport),
            ..StreamCounts::default()
        }
    }
    pub fn count(&self, flag: Flag) -> u32 {
        self.counts[flag as usize]
    }
}

/// The expert flags of every frame of one capture.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Every flagged frame, in packet order.
    flagged: Vec<Flagged>,
    /// Connections with at least one flagged frame, in stream order.
    streams: Vec<StreamCounts>,
}

impl Analysis {
    /// The flags of `Capture::packets[index]` (empty when none, or out of range).
    pub fn flags(&self, index: usize) -> Flags {
        self.flagged_at(index).map(|f| f.flags).unwrap_or_default()
    }
    /// The flagged frame at `Capture::packets[index]`, with its values.
    pub fn flagged_at(&self, index: usize) -> Option<&Flagged> {
        let i = self
            .flagged
            .binary_search_by_key(&index, |f| f.packet as usize)
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

    /// One analysis from the analyses of disjoint sets of connections
    /// (each in packet and stream order, as [`Analyzer::finish`] leaves
    /// it): their sorted lists merged, not sorted again (on the 3 M-frame
    /// bench capture, copying and sorting the 141 k flagged frames and
    /// 111 k connections took 27 ms).
    fn merge(parts: Vec<Analysis>) -> Analysis {
        let (flagged, streams): (Vec<_>, Vec<_>) =
            parts.into_iter().map(|a| (a.flagged, a.streams)).unzip();
        let (flagged, streams) = rayon::join(
            || merge_sorted(flagged, |f| f.packet),
            || merge_sorted(streams, |s| s.stream),
        );
        Analysis { flagged, streams }
    }
}

/// One list, in order of `key`, from lists each in that order: merged two
/// by two, each element copied once per round (an odd list out is kept as
/// it is).
fn merge_sorted<T: Copy, K: Ord>(mut lists: Vec<Vec<T>>, key: impl Fn(&T) -> K + Copy) -> Vec<T> {
    while lists.len() > 1 {
        let mut next = Vec::with_capacity(lists.len().div_ceil(2));
        let mut rest = lists.into_iter();
        while let Some(a) = rest.next() {
            next.push(match rest.next() {
                Some(b) => merge_two(&a, &b, key),
                None => a,
            });
        }
        lists = next;
    }
    lists.pop().unwrap_or_default()
}

/// `a` and `b`, each in order of `key`, as one list in that order (on
/// equal keys `a`'s element comes first).
fn merge_two<T: Copy, K: Ord>(a: &[T], b: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
    debug_assert!(a.windows(2).all(|w| key(&w[0]) <= key(&w[1])));
    debug_assert!(b.windows(2).all(|w| key(&w[0]) <= key(&w[1])));
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if key(&a[i]) <= key(&b[j]) {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Flag every frame of `cap` as Wireshark 4.0's TCP analysis does.
/// `conns` must be `conn::split(cap)`.
///
/// Connections are independent. Each of rayon's threads feeds an
/// [`Analyzer`] the packets of the connections whose stream number falls
/// in its shard, in frame order, so packets are read in memory order and
/// only the connections open at that point of the capture hold state.
pub fn analyze(cap: &Capture, conns: &Connections) -> Analysis {
    let reused = reused_port_streams(conns);
    let last = last_packet_of_streams(conns);
    let shards = rayon::current_num_threads().clamp(1, 64);
    // Each shard asks of every packet whether it is its own: a table, not
    // a division per packet and shard. Streams go to the shards in blocks of
    // consecutive numbers, four blocks per shard over the capture: streams
    // open at one time have near numbers, so a shard's walk meets long runs
    // of its own packets and of others' (a branch the processor predicts,
    // where streams dealt one by one made every other packet a
    // misprediction: ~50 ms per walk of 2 M packets), and each shard still
    // gets connections from all over the capture.
    let block = conns.list.len().div_ceil(shards * 4).max(64);
    let shard_of: Vec<u8> = (0..conns.list.len())
        .map(|s| ((s / block) % shards) as u8)
        .collect();
    let parts: Vec<Analysis> = (0..shards)
        .into_par_iter()
        .map(|shard| {
            let mut analyzer = Analyzer::default();
            for (index, (&stream, p)) in conns.stream_of.iter().zip(&cap.packets).enumerate() {
                let s = stream as usize;
                if shard_of[s] as usize != shard {
                    continue;
                }
                analyzer.push(index as u32, p, sacks_of(cap, p), stream, reused[s]);
                if last[s] == index as u32 {
                    analyzer.close(stream);
                }
            }
            analyzer.finish()
        })
        .collect();
    Analysis::merge(parts)
}

/// Wireshark's TCP analysis fed one packet at a time, in frame order, for
/// a reader that does not keep the packets (`twincap analyze`); [`analyze`]
/// is built on it. Holds the state of the connections still open and the
/// flagged frames.
#[derive(Default)]
pub struct Analyzer {
    /// Analyzers of open connections; free slots are reused.
    open: Vec<ConnectionAnalyzer>,
    free: Vec<u32>,
    /// Slot in `open` of each stream pushed so far ([`NOT_OPEN`] when
    /// closed).
    slot_of: Vec<u32>,
    flagged: Vec<Flagged>,
    streams: Vec<StreamCounts>,
    /// Buffers of emptied unacked lists, for the next segments to list.
    spare: state::SpareLists,
}

/// Empty unacked-list buffers an analyzer keeps for the next segments
/// to list (~110 bytes each); more are freed. A list's buffer goes back
/// as soon as an ACK empties it, and the next segment of any connection
/// takes the one given back last (still in cache). On the 3 M-frame bench
/// capture each direction allocated its own (54% of the process's
/// `malloc` calls), and sweeps of every open connection gave the buffers
/// of idle ones back to `malloc`.
const SPARE_LISTS: usize = 1 << 14;

/// The analysis of a capture as its reader decodes it: give it to
/// `twincap_parser::read_packets`, which hands it each TCP packet in frame
/// order; it numbers connections as `conn::split` does and flags frames as
/// [`analyze`] does, keeping no packet, and gathers what the F5 report and
/// the reset causes need ([`PacketFacts`]).
///
/// Numbering connections and the facts need frame order and are done as
/// each packet comes; the flags, most of the work, are left for later
/// ([`PacketSink::take_later`]): the reader runs them on a chunk's packets
/// while it folds the next chunk, sharded by stream over its threads as
/// [`analyze`] does, so they are off the reader's sequential path.
pub struct StreamingAnalysis {
    splitter: Splitter,
    facts: PacketFacts,
    /// TCP packets so far (the index the next would have in `Capture::packets`).
    packets: u32,
    /// Packets handed over since the last [`PacketSink::take_later`].
    frames: Frames,
    /// An empty [`Frames`] to swap in (its buffers reused).
    spare: Frames,
    /// One analyzer per shard of streams ([`shard_of`]); `None` while the
    /// reader runs them.
    shards: Option<Vec<Analyzer>>,
    /// How many shards there are (also while the reader runs them).
    shard_count: u32,
}

impl Default for StreamingAnalysis {
    /// Sharded over the threads of rayon's pool, as [`analyze`] is.
    fn default() -> Self {
        StreamingAnalysis::with_shards(rayon::current_num_threads().clamp(1, 64))
    }
}

/// Packets waiting for their flags, in a list per shard of streams: each
/// shard walks only its own (when each walked every packet and skipped
/// the others', the skipping was ~3% of the command's CPU).
#[derive(Default)]
struct Frames {
    shards: Vec<ShardFrames>,
}

impl Frames {
    fn clear(&mut self) {
        for shard in &mut self.shards {
            shard.list.clear();
            shard.sacks.clear();
            shard.closes.clear();
        }
    }

    fn is_empty(&self) -> bool {
        self.shards
            .iter()
            .all(|s| s.list.is_empty() && s.closes.is_empty())
    }
}

/// The packets of one shard's streams, in frame order.
#[derive(Default)]
struct ShardFrames {
    list: Vec<Routed>,
    /// The packets' SACK blocks, each packet's after the one's before.
    sacks: Vec<SackBlock>,
    /// (n, stream): close `stream`, of this shard, before the n-th packet
    /// of `list` (or after the last when n is its length), because a
    /// stream of another shard took over its address/port pair. In order.
    closes: Vec<(u32, u32)>,
}

/// One packet waiting for its flags.
struct Routed {
    /// Index in the capture's TCP packets.
    index: u32,
    stream: u32,
    /// The stream starts while an earlier one of its address/port pair exists.
    reused: bool,
    /// The stream takes over its pair from this one, of the same shard,
    /// which is closed first.
    replaces: Option<u32>,
    sacks: u8,
    packet: TcpPacket,
}

/// Consecutive stream numbers that go to one shard of the streaming flags
/// (streams open at one time have near numbers: when each shard walked
/// every packet, blocks made its test a branch the processor predicts).
const STREAM_BLOCK: u32 = 64;

/// The shard of `stream`'s flags, of `count`.
fn shard_of(stream: u32, count: u32) -> usize {
    ((stream / STREAM_BLOCK) % count) as usize
}

/// The flags left for later: packets and the analyzers that flag them
/// (what [`StreamingAnalysis`] gives its reader to run; see
/// [`PacketSink::take_later`]).
pub struct PendingFlags {
    frames: Frames,
    shards: Vec<Analyzer>,
}

impl PendingFlags {
    /// Flag the packets, each shard of streams on a thread of its own.
    fn run(&mut self) {
        self.shards
            .par_iter_mut()
            .zip(&self.frames.shards)
            .for_each(|(analyzer, mine)| {
                let mut sacks = &mine.sacks[..];
                let mut closes = mine.closes.iter().peekable();
                for (n, r) in mine.list.iter().enumerate() {
                    while let Some((_, old)) = closes.next_if(|&&(at, _)| at as usize == n) {
                        analyzer.close(*old);
                    }
                    let (these, rest) = sacks.split_at(r.sacks as usize);
                    sacks = rest;
                    if let Some(old) = r.replaces {
                        analyzer.close(old);
                    }
                    analyzer.push(r.index, &r.packet, these, r.stream, r.reused);
                }
                for (_, old) in closes {
                    analyzer.close(*old);
                }
            });
    }
}

impl StreamingAnalysis {
    /// The analysis with the flags sharded `shards` ways (at least one).
    pub fn with_shards(shards: usize) -> StreamingAnalysis {
        let shards = shards.max(1);
        let frames = || Frames {
            shards: (0..shards).map(|_| ShardFrames::default()).collect(),
        };
        StreamingAnalysis {
            splitter: Splitter::default(),
            facts: PacketFacts::default(),
            packets: 0,
            frames: frames(),
            spare: frames(),
            shards: Some((0..shards).map(|_| Analyzer::default()).collect()),
            shard_count: shards as u32,
        }
    }

    /// Connections seen.
    pub fn connections(&self) -> u32 {
        self.splitter.streams()
    }

    /// The flags of every frame pushed.
    pub fn finish(self) -> Analysis {
        self.finish_with_facts().0
    }

    /// The flags of every frame pushed, and the facts of the packets for
    /// the F5 report and the reset causes.
    pub fn finish_with_facts(mut self) -> (Analysis, PacketFacts) {
        // Packets a reader did not run the flags of (none from
        // `read_packets`).
        if let Some(mut pending) = self.take_later() {
            pending.run();
            self.done_later(pending);
        }
        let shards = self.shards.take().unwrap_or_default();
        // Each shard closes its open connections and frees their state on
        // a thread of its own. Freed, not left to the OS at exit: the
        // report reuses the memory (the bench capture's 243 k connections
        // hold ~60 MB, which would otherwise add to the peak).
        let parts = shards.into_par_iter().map(Analyzer::finish).collect();
        (Analysis::merge(parts), self.facts)
    }
}

impl PacketSink for StreamingAnalysis {
    type Later = PendingFlags;

    #[inline]
    fn tcp(&mut self, packet: TcpPacket, extras: &PacketExtras<'_>) {
        let assigned = self
            .splitter
            .push_hinted(&packet, extras.addrs, extras.pair);
        self.facts
            .push(&packet, assigned.stream, extras.f5_row, extras.rst_payload);
        // A stream that takes over its address/port pair from an older one
        // is the only kind that starts while an earlier connection of the
        // pair exists (what `reused_port_streams` finds).
        let shard = shard_of(assigned.stream, self.shard_count);
        // The stream it takes over is closed by its own shard, before
        // that shard's next packet.
        let mut replaces = assigned.replaces;
        if let Some(old) = replaces {
            let theirs = shard_of(old, self.shard_count);
            if theirs != shard {
                let other = &mut self.frames.shards[theirs];
                other.closes.push((other.list.len() as u32, old));
                replaces = None;
            }
        }
        let mine = &mut self.frames.shards[shard];
        mine.sacks.extend_from_slice(extras.sacks);
        mine.list.push(Routed {
            index: self.packets,
            stream: assigned.stream,
            reused: assigned.replaces.is_some(),
            replaces,
            sacks: extras.sacks.len() as u8,
            packet,
        });
        self.packets += 1;
    }

    fn soon(&self, pair: &twincap_parser::conn::PairHint) {
        self.splitter.prefetch(pair.hash);
    }

    fn take_later(&mut self) -> Option<PendingFlags> {
        if self.frames.is_empty() {
            return None;
        }
        // The analyzers are back from the last run (the reader gives them
        // back before it takes more); if not, the packets wait for them.
        let shards = self.shards.take()?;
        let frames = std::mem::replace(&mut self.frames, std::mem::take(&mut self.spare));
        Some(PendingFlags { frames, shards })
    }

    fn run_later(later: &mut PendingFlags) {
        later.run();
    }

    fn done_later(&mut self, later: PendingFlags) {
        let PendingFlags { mut frames, shards } = later;
        self.shards = Some(shards);
        frames.clear();
        self.spare = frames;
    }
}

/// A stream with no analyzer (closed, or not started).
const NOT_OPEN: u32 = u32::MAX;

impl Analyzer {
    /// The next packet of the capture, in frame order: `index` is its
    /// index in the capture (`Capture::packets`), `sacks` its SACK blocks,
    /// `stream` its `tcp.stream` (from `conn::split` or `conn::Splitter`),
    /// and `reused_ports` says, for a stream's first packet, that an
    /// earlier connection of the same address/port pair exists. Returns
    /// the frame's flags if it has any (it is also kept for [`Self::finish`]).
    pub fn push(
        &mut self,
        index: u32,
        p: &TcpPacket,
        sacks: &[SackBlock],
        stream: u32,
        reused_ports: bool,
    ) -> Option<&Flagged> {
        let s = stream as usize;
        if s >= self.slot_of.len() {
            self.slot_of.resize(s + 1, NOT_OPEN);
        }
        let slot = match self.slot_of[s] {
            NOT_OPEN => {
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.open[slot as usize].restart(stream, p, reused_ports);
                        slot
                    }
                    None => {
                        self.open
                            .push(ConnectionAnalyzer::new(stream, p, reused_ports));
                        self.open.len() as u32 - 1
                    }
                };
                self.slot_of[s] = slot;
                slot
            }
            slot => slot,
        };
        let flagged = self.open[slot as usize].packet(sacks, index, p, &mut self.spare)?;
        self.flagged.push(flagged);
        self.flagged.last()
    }

    /// Connection `stream` gets no more packets: keep its counts if any of
    /// its frames was flagged, and free its state.
    pub fn close(&mut self, stream: u32) {
        let Some(slot) = self.slot_of.get_mut(stream as usize) else {
            return;
        };
        if *slot == NOT_OPEN {
            return;
        }
        let conn = &mut self.open[*slot as usize];
        if let Some(c) = conn.finish() {
            self.streams.push(c);
        }
        self.free.push(*slot);
        *slot = NOT_OPEN;
    }

    /// Close every open connection; the flagged frames and counts.
    pub fn finish(mut self) -> Analysis {
        // The open connections in memory order, not by stream: a stream's
        // slot is anywhere in `open`, and looking each one up missed the
        // cache (~10 ms a shard on the bench capture). A slot is open when
        // its stream still points at it; each is visited once, and the
        // analyzer ends here, so nothing is marked closed.
        for (slot, conn) in self.open.iter_mut().enumerate() {
            let stream = conn.counts.stream as usize;
            if self.slot_of.get(stream) == Some(&(slot as u32)) {
                if let Some(c) = conn.finish() {
                    self.streams.push(c);
                }
            }
        }
        // Pushed in frame order, closed in any order.
        self.streams.sort_unstable_by_key(|s| s.stream);
        Analysis {
            flagged: self.flagged,
            streams: self.streams,
        }
    }
}

/// The SACK blocks of `p` (none without a count, whatever its index says).
fn sacks_of<'c>(cap: &'c Capture, p: &TcpPacket) -> &'c [SackBlock] {
    if p.sack_count > 0 {
        cap.sacks_of(p)
    } else {
        &[]
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
        .filter_map(|&index| {
            let p = &cap.packets[index as usize];
            analyzer.packet(sacks_of(cap, p), index, p, &mut Vec::new())
        })
        .collect();
    let mut counts = analyzer.counts;
    counts.initial_rtt_ns = (analyzer.conv.first_rtt_ns != 0).then_some(analyzer.conv.first_rtt_ns);
    (flagged, counts)
}

/// One connection being analyzed.
struct ConnectionAnalyzer {
    conv: state::Conversation,
    /// The next frame is the connection's first.
    first: bool,
    reused_ports: bool,
    counts: StreamCounts,
}

impl ConnectionAnalyzer {
    fn new(stream: u32, first: &TcpPacket, reused_ports: bool) -> ConnectionAnalyzer {
        ConnectionAnalyzer {
            conv: state::Conversation::default(),
            first: true,
            reused_ports,
            counts: StreamCounts::start(stream, first),
        }
    }

    /// Start over for another connection, keeping allocated buffers.
    fn restart(&mut self, stream: u32, first: &TcpPacket, reused_ports: bool) {
        self.conv.reset();
        self.first = true;
        self.reused_ports = reused_ports;
        self.counts = StreamCounts::start(stream, first);
    }

    /// The next frame of the connection (`index` into `Capture::packets`);
    /// returns it if it carries a flag.
    /// `spare`: unacked-list buffers to take from rather than allocate.
    fn packet(
        &mut self,
        sacks: &[SackBlock],
        index: u32,
        p: &TcpPacket,
        spare: &mut state::SpareLists,
    ) -> Option<Flagged> {
        let dir = ((p.src, p.sport) != self.counts.a) as usize;
        // What the sequence analysis lists (SYN and FIN take a number).
        if p.payload_len > 0 || p.has(tcp_flags::SYN | tcp_flags::FIN) {
            self.conv.supply(dir, spare);
        }
        self.counts.packets += 1;
        let mut flags = Flags::EMPTY;
        if std::mem::take(&mut self.first) && self.reused_ports {
            flags.insert(Flag::ReusedPorts);
        }
        let mut values = Values::default();
        let shown = frame::dissect(p, sacks, dir, &mut self.conv, &mut flags, &mut values);
        // An ACK may have emptied the other side's list.
        self.conv.give_back(1 - dir, spare, SPARE_LISTS);
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
            ts_ns: p.ts_ns,
            dir: if dir == 0 {
                Direction::AtoB
            } else {
                Direction::BtoA
            },
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
