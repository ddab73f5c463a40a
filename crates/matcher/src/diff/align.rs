//! Packet-by-packet alignment of one paired connection, per direction.
//!
//! Every packet gets a key in the client's sequence space: its seq and ack
//! with the middle's per-direction sequence offset taken off (LB side), and
//! its shape (flags, payload length). A receiver packet can only be a copy of
//! a sender packet with the same key. Among those (retransmissions share
//! seq and payload) the copy is told apart by identity (IP ID where the
//! middle keeps it, TCP timestamps, payload fingerprint) and then by timing:
//! the sender copy whose one-way delay is closest to the connection's
//! typical delay, never one sent after the receiver saw it. A second
//! receiver copy of a sender packet is a duplicate only when it is
//! byte-for-byte the first copy again (same IP ID, TTL, window, timestamps);
//! otherwise it was injected.
//!
//! Bytes that crossed in other segment boundaries (TSO/GSO split, GRO merge)
//! are matched by sequence ranges afterwards, so a split is never a loss.

use super::side::{full_payload_hash, shape, Side};
use super::types::{ClockEstimate, Dir};
use twincap_parser::{info, tcp_flags, TcpPacket};

/// No packet.
pub const NONE: u32 = u32::MAX;

/// A packet as the alignment sees it.
#[derive(Clone, Copy, Debug)]
pub struct Pkt {
    /// Index into its capture's packets.
    pub index: u32,
    /// Which LB connection of the pair it belongs to (0 on the client side).
    pub slot: u32,
    /// Seq, ack and shape in the client's sequence space.
    pub key: (u32, u32, u32),
}

/// The packets of one direction: sender side and receiver side.
#[derive(Clone, Debug, Default)]
pub struct DirPackets {
    pub sender: Vec<Pkt>,
    pub receiver: Vec<Pkt>,
    /// (key, position) of each side, sorted by key: for lookups and groups.
    pub sender_sorted: Vec<((u32, u32, u32), u32)>,
    pub receiver_sorted: Vec<((u32, u32, u32), u32)>,
}

/// Which receiver packet is which sender packet, for one direction.
#[derive(Clone, Debug, Default)]
pub struct DirAlignment {
    /// `first_copy[s]`: receiver position of the first copy of sender `s`, or NONE.
    pub first_copy: Vec<u32>,
    /// `sender_of[r]`: sender position of receiver `r`, or NONE.
    pub sender_of: Vec<u32>,
    /// Sender packets whose bytes crossed in other segment boundaries.
    pub resegmented_sender: Vec<bool>,
    /// Receiver packets made of bytes from other segment boundaries.
    pub resegmented_receiver: Vec<bool>,
    /// Pairs of identical sender packets (positions) the two captures cannot
    /// tell apart: an event naming one could as well name the other.
    pub alternatives: Vec<(u32, u32)>,
}

impl DirAlignment {
    /// The sender positions an event on sender `s` could name instead.
    pub fn alternatives_of(&self, s: u32) -> impl Iterator<Item = u32> + '_ {
        self.alternatives.iter().filter_map(move |&(a, b)| {
            if a == s {
                Some(b)
            } else if b == s {
                Some(a)
            } else {
                None
            }
        })
    }
}

/// Per-direction sequence offsets: LB seq minus client seq for the bytes of
/// that direction.
pub type SeqOffsets = [u32; 2];

/// The direction of a packet in a connection whose client end is `init`.
pub fn dir_of(p: &TcpPacket, init: (u32, u16)) -> Dir {
    if (p.src, p.sport) == init {
        Dir::C2s
    } else {
        Dir::S2c
    }
}

/// What names one sent packet whatever the middle did to seq numbers: which
/// field (0 timestamps, 1 payload, 2 IP ID), its value, and the shape.
type Identity = (u8, u64, u32);

/// A key that names one sent packet whatever the middle did to seq numbers:
/// its timestamps, else its IP ID, else its payload.
fn identity(p: &TcpPacket) -> Option<Identity> {
    if p.is(info::TIMESTAMPS) && p.ts_val != 0 {
        Some((0, (p.ts_val as u64) << 32 | p.ts_ecr as u64, shape(p)))
    } else if let Some(h) = full_payload_hash(p) {
        Some((1, h as u64, shape(p)))
    } else if p.ip_id != 0 {
        Some((2, p.ip_id as u64, shape(p)))
    } else {
        None
    }
}

/// The most common value.
fn mode(v: &mut [u32]) -> Option<u32> {
    v.sort_unstable();
    let mut best = None;
    let mut best_n = 0;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j] == v[i] {
            j += 1;
        }
        if j - i > best_n {
            best_n = j - i;
            best = Some(v[i]);
        }
        i = j;
    }
    best
}

/// Matching packets per direction the sequence offset is learnt from.
const OFFSET_PACKETS: usize = 16;

/// The sequence offsets of one LB connection against its client twin.
/// From packets with the same identity on both sides; else from the SYN and
/// SYN-ACK; else none.
pub fn seq_offsets(
    client: &Side,
    c_dirs: [&[Pkt]; 2],
    lb: &Side,
    l_dirs: [&[Pkt]; 2],
) -> SeqOffsets {
    let mut out = [0u32; 2];
    for d in Dir::BOTH {
        let (c_list, l_list) = (c_dirs[d.index()], l_dirs[d.index()]);
        let (mut diffs, next) = first_offsets(client, c_list, lb, l_list);
        if diffs.len() < OFFSET_PACKETS && next < l_list.len() {
            // Fewer than that of the first LB packets with an identity
            // have a twin: every client identity, sorted, for the rest.
            let mut ids: Vec<(Identity, u32)> = c_list
                .iter()
                .filter_map(|pk| {
                    let p = client.packet(pk.index);
                    identity(p).map(|k| (k, p.seq))
                })
                .collect();
            // Nearly sorted already (timestamps grow), which the stable sort
            // takes in one pass; equal entries are identical, so the order is
            // the unstable sort's.
            ids.sort();
            for pk in &l_list[next..] {
                // A few agreeing packets say it (one number per direction).
                if diffs.len() >= OFFSET_PACKETS {
                    break;
                }
                let p = lb.packet(pk.index);
                if let Some(k) = identity(p) {
                    let at = ids.partition_point(|e| e.0 < k);
                    if let Some(e) = ids.get(at) {
                        // Only a key that names one client seq says it.
                        let end = ids[at..].partition_point(|x| x.0 == k) + at;
                        if e.0 == k && ids[end - 1].1 == e.1 {
                            diffs.push(p.seq.wrapping_sub(e.1));
                        }
                    }
                }
            }
        }
        let syn = |side: &Side, list: &[Pkt]| {
            list.iter()
                .map(|pk| side.packet(pk.index))
                .find(|p| p.has(tcp_flags::SYN))
                .map(|p| p.seq)
        };
        out[d.index()] = match mode(&mut diffs) {
            Some(m) => m,
            None => match (syn(client, c_dirs[d.index()]), syn(lb, l_dirs[d.index()])) {
                (Some(c), Some(l)) => l.wrapping_sub(c),
                _ => 0,
            },
        };
    }
    out
}

/// The seq differences of the first [`OFFSET_PACKETS`] LB packets with an
/// identity (`l_list`, in capture order) against the client seq of the
/// same identity, for those whose identity names one client seq; and the LB
/// position after the last packet looked at. The client's packets are read
/// once against those few identities, not all sorted.
fn first_offsets(client: &Side, c_list: &[Pkt], lb: &Side, l_list: &[Pkt]) -> (Vec<u32>, usize) {
    let mut first: Vec<(Identity, u32)> = Vec::with_capacity(OFFSET_PACKETS);
    let mut next = 0;
    for pk in l_list {
        if first.len() >= OFFSET_PACKETS {
            break;
        }
        next += 1;
        let p = lb.packet(pk.index);
        if let Some(k) = identity(p) {
            first.push((k, p.seq));
        }
    }
    // Each identity wanted, with the lowest client seq found for it and
    // whether every client packet of that identity has that seq. Only a key
    // that names one client seq says the offset: pure ACKs sent in the same
    // timestamp tick share their timestamps and shape whatever their seq
    // (the first ACK of a connection and the ACKs after the request), and
    // one of them would vote for an offset of the request's length.
    let mut lowest: Vec<(Identity, Option<(u32, bool)>)> =
        first.iter().map(|&(k, _)| (k, None)).collect();
    lowest.sort_unstable_by_key(|e| e.0);
    lowest.dedup_by_key(|e| e.0);
    // One bit per identity wanted: most client packets are none of them,
    // and are passed over without a search.
    let bit = |k: &Identity| {
        let h = (k.1 ^ (k.2 as u64) << 8 ^ k.0 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        1u64 << (h >> 58)
    };
    let wanted = lowest.iter().fold(0u64, |m, e| m | bit(&e.0));
    for pk in c_list {
        let p = client.packet(pk.index);
        if let Some(k) = identity(p).filter(|k| wanted & bit(k) != 0) {
            if let Ok(at) = lowest.binary_search_by_key(&k, |e| e.0) {
                let slot = &mut lowest[at].1;
                *slot =
                    Some(slot.map_or((p.seq, true), |(s, one)| (s.min(p.seq), one && s == p.seq)));
            }
        }
    }
    let diffs = first
        .iter()
        .filter_map(|&(k, seq)| {
            let at = lowest.binary_search_by_key(&k, |e| e.0).ok()?;
            lowest[at]
                .1
                .filter(|&(_, one)| one)
                .map(|(c, _)| seq.wrapping_sub(c))
        })
        .collect();
    (diffs, next)
}

/// A packet's key in the client's sequence space.
pub fn key(p: &TcpPacket, d: Dir, offsets: &SeqOffsets) -> (u32, u32, u32) {
    let seq = p.seq.wrapping_sub(offsets[d.index()]);
    let ack = if p.has(tcp_flags::ACK) {
        p.ack.wrapping_sub(offsets[d.other().index()])
    } else {
        0
    };
    (seq, ack, shape(p))
}

/// The sender and receiver capture of a direction.
pub fn sides<'a>(d: Dir, client: &Side<'a>, lb: &Side<'a>) -> (Side<'a>, Side<'a>) {
    match d {
        Dir::C2s => (*client, *lb),
        Dir::S2c => (*lb, *client),
    }
}

/// For each receiver position, the run of sender entries with its key in
/// `sender_sorted` (start, length): one merge of the two sorted lists, not
/// a binary search per receiver packet.
fn sender_runs(dp: &DirPackets) -> Vec<(u32, u32)> {
    let s = &dp.sender_sorted;
    let mut out = vec![(0u32, 0u32); dp.receiver.len()];
    let mut i = 0;
    for g in dp.receiver_sorted.chunk_by(|a, b| a.0 == b.0) {
        let k = g[0].0;
        while i < s.len() && s[i].0 < k {
            i += 1;
        }
        // Runs of one key are short (a packet and its retransmissions).
        let n = s[i..].iter().take_while(|e| e.0 == k).count();
        for e in g {
            out[e.1 as usize] = (i as u32, n as u32);
        }
    }
    out
}

/// Pairs (sender position, receiver position) whose key occurs exactly once
/// on each side: sure matches, used for the clock, delays and what the
/// middle changed.
pub fn anchors(dp: &DirPackets) -> Vec<(u32, u32)> {
    let (s, r) = (&dp.sender_sorted, &dp.receiver_sorted);
    // Most packets are anchors: room for all, not a buffer grown ten times.
    let mut out = Vec::with_capacity(s.len().min(r.len()));
    let (mut i, mut j) = (0, 0);
    while i < s.len() && j < r.len() {
        match s[i].0.cmp(&r[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let k = s[i].0;
                let i2 = i + s[i..].iter().take_while(|e| e.0 == k).count();
                let j2 = j + r[j..].iter().take_while(|e| e.0 == k).count();
                if i2 - i == 1 && j2 - j == 1 {
                    out.push((s[i].1, r[j].1));
                }
                i = i2;
                j = j2;
            }
        }
    }
    out
}

/// What the alignment of one direction needs to know beyond the packets.
#[derive(Clone, Copy, Debug)]
pub struct DirRules {
    /// The middle keeps the IP ID in this direction: copies must agree on it.
    pub ip_id_kept: bool,
    /// The middle keeps TCP timestamps: copies must agree on them.
    pub ts_kept: bool,
    /// The middle keeps the TCP window field: copies must agree on it (the
    /// dup ACKs of one loss differ only in their window and SACK blocks).
    pub win_kept: bool,
    /// What the path takes off the TTL in this direction, where the sure
    /// matches agree on it: a copy must arrive with the sender's TTL less
    /// that (a reset the middle made up carries the middle's own TTL, and
    /// may otherwise be the very bytes of the sender's reset).
    pub ttl_drop: Option<u8>,
    /// The middle keeps the TCP options of segments other than SYNs: copies
    /// must have the same TCP header length (an ACK with a SACK block is
    /// not a copy of the plain ACK before it).
    pub options_kept: bool,
    /// Typical one-way delay of this connection and direction, ns.
    pub typical_delay_ns: i64,
    /// No copy arrives sooner than this after it was sent, ns (may be
    /// negative: clock uncertainty).
    pub min_delay_ns: i64,
}

/// One-way delay of a copy, on the client clock.
pub fn delay_ns(d: Dir, s: &TcpPacket, r: &TcpPacket, clock: &ClockEstimate) -> i64 {
    match d {
        Dir::C2s => clock.to_client(r.ts_ns) - s.ts_ns,
        Dir::S2c => r.ts_ns - clock.to_client(s.ts_ns),
    }
}

/// The sender and receiver copy can be the same sent packet.
fn same_identity(s: &TcpPacket, r: &TcpPacket, rules: &DirRules) -> bool {
    if rules.ip_id_kept && s.ip_id != r.ip_id {
        return false;
    }
    if rules.ts_kept
        && s.is(info::TIMESTAMPS)
        && r.is(info::TIMESTAMPS)
        && (s.ts_val != r.ts_val || s.ts_ecr != r.ts_ecr)
    {
        return false;
    }
    if rules.win_kept && s.win != r.win {
        return false;
    }
    if rules
        .ttl_drop
        .is_some_and(|d| s.ttl.wrapping_sub(r.ttl) != d)
    {
        return false;
    }
    if rules.options_kept && s.flags & tcp_flags::SYN == 0 && s.tcp_hdr_len != r.tcp_hdr_len {
        return false;
    }
    if let (Some(a), Some(b)) = (full_payload_hash(s), full_payload_hash(r)) {
        if a != b {
            return false;
        }
    }
    true
}

/// The two copies carry the same SACK blocks, each taken relative to the
/// packet's ack: a middle that shifts sequence numbers fixes up the ack and
/// the blocks by the same offset.
fn same_sacks(sender: &Side, s: &TcpPacket, receiver: &Side, r: &TcpPacket) -> bool {
    if s.sack_count != r.sack_count {
        return false;
    }
    if s.sack_count == 0 {
        return true;
    }
    let rel = |p: &TcpPacket, b: &twincap_parser::SackBlock| {
        (b.left.wrapping_sub(p.ack), b.right.wrapping_sub(p.ack))
    };
    let (a, b) = (sender.cap.sacks_of(s), receiver.cap.sacks_of(r));
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| rel(s, x) == rel(r, y))
}

/// Two receiver frames hold the same bytes (a duplicate copy).
pub fn identical(receiver: &Side, a: &TcpPacket, b: &TcpPacket) -> bool {
    a.seq == b.seq
        && a.ack == b.ack
        && a.flags == b.flags
        && a.ip_id == b.ip_id
        && a.ttl == b.ttl
        && a.win == b.win
        && a.ip_len == b.ip_len
        && a.tcp_hdr_len == b.tcp_hdr_len
        && a.ts_val == b.ts_val
        && a.ts_ecr == b.ts_ecr
        && (a.captured_len != b.captured_len || a.payload_hash == b.payload_hash)
        // Last: a lookup in the capture's SACK table.
        && same_sacks(receiver, a, receiver, b)
}

/// Where a key has more receiver copies (`group`, in receiver order) than
/// sender packets (`senders`), which copies are likely the middle's
/// duplicates (`dup_likely`), and whether the gaps that say so are too
/// alike to tell (`dup_close`, on every copy of the class).
///
/// Copies are counted per class of what the receiver sees where the middle
/// keeps it (TTL less the hop count, timestamps, IP ID, window, header
/// length): a class with as many
/// sender packets as copies has no duplicate, however close its copies
/// follow one another (a queue drained back to back spaces fresh packets as
/// tightly as a duplicate). Within a class the duplicates are the copies
/// closest behind an identical earlier one (the middle sends a second copy
/// straight after the first; a fresh packet waits its turn); a copy like no
/// earlier one (the middle gave each packet it forwarded a new IP ID) is
/// fresh however close it follows.
#[allow(clippy::too_many_arguments)]
fn mark_duplicates(
    group: &[((u32, u32, u32), u32)],
    senders: &[((u32, u32, u32), u32)],
    dp: &DirPackets,
    sender: &Side,
    receiver: &Side,
    rules: &DirRules,
    dup_likely: &mut [bool],
    dup_close: &mut [bool],
) {
    let pkt = |e: &((u32, u32, u32), u32)| receiver.packet(dp.receiver[e.1 as usize].index);
    // The sender's TTL as the receiver should see it, where the hop count
    // is known.
    let seen = |p: &TcpPacket, sent: bool| {
        (
            rules
                .ttl_drop
                .map_or(0, |d| if sent { p.ttl.wrapping_sub(d) } else { p.ttl }),
            if rules.ts_kept {
                (p.ts_val, p.ts_ecr)
            } else {
                (0, 0)
            },
            if rules.ip_id_kept { p.ip_id } else { 0 },
            if rules.win_kept { p.win } else { 0 },
            if rules.options_kept && p.flags & tcp_flags::SYN == 0 {
                p.tcp_hdr_len
            } else {
                0
            },
        )
    };
    let mut sent: Vec<_> = senders
        .iter()
        .map(|e| seen(sender.packet(dp.sender[e.1 as usize].index), true))
        .collect();
    sent.sort_unstable();
    // (what the receiver sees, position in the group): sorted, each class
    // keeps receiver order.
    let mut copies: Vec<_> = group
        .iter()
        .enumerate()
        .map(|(i, e)| (seen(pkt(e), false), i))
        .collect();
    copies.sort_unstable();
    for class in copies.chunk_by(|a, b| a.0 == b.0) {
        let k = class[0].0;
        let n_sent = sent.partition_point(|s| *s <= k) - sent.partition_point(|s| *s < k);
        if class.len() <= n_sent || n_sent == 0 {
            continue;
        }
        let mut gaps: Vec<(i64, u32)> = (1..class.len())
            .map(|i| {
                let r = pkt(&group[class[i].1]);
                let gap = class[i.saturating_sub(16)..i]
                    .iter()
                    .rev()
                    .map(|c| pkt(&group[c.1]))
                    .find(|q| identical(receiver, q, r))
                    .map_or(i64::MAX, |q| r.ts_ns - q.ts_ns);
                (gap, group[class[i].1].1)
            })
            .collect();
        gaps.sort_unstable();
        let dups = class.len() - n_sent;
        for &(_, r) in gaps.iter().take(dups).filter(|e| e.0 != i64::MAX) {
            dup_likely[r as usize] = true;
        }
        if let (Some(a), Some(b)) = (gaps.get(dups - 1), gaps.get(dups)) {
            if b.0 < a.0.saturating_mul(2) {
                for c in class {
                    dup_close[group[c.1].1 as usize] = true;
                }
            }
        }
    }
}

/// Align one direction.
pub fn align(
    d: Dir,
    dp: &DirPackets,
    sender: &Side,
    receiver: &Side,
    rules: &DirRules,
    clock: &ClockEstimate,
) -> DirAlignment {
    let sorted = &dp.sender_sorted;
    // The sender entries with each receiver packet's key.
    let runs = sender_runs(dp);
    let run = |rpos: usize| {
        let (at, n) = runs[rpos];
        &sorted[at as usize..(at + n) as usize]
    };
    let mut first_copy = vec![NONE; dp.sender.len()];
    let mut sender_of = vec![NONE; dp.receiver.len()];
    // How many later receiver packets share each receiver packet's key.
    let mut later_same = vec![0u32; dp.receiver.len()];
    // Where a key has more receiver copies than sender packets, some are
    // duplicates: the ones that follow the previous copy most closely (the
    // middle sends a second copy straight after the first; a fresh packet
    // waits its turn). `dup_close` marks groups where the gaps that decide
    // are too alike to tell.
    let mut dup_likely = vec![false; dp.receiver.len()];
    let mut dup_close = vec![false; dp.receiver.len()];
    for g in dp.receiver_sorted.chunk_by(|a, b| a.0 == b.0) {
        for (rank, e) in g.iter().enumerate() {
            later_same[e.1 as usize] = (g.len() - rank - 1) as u32;
        }
        let senders = run(g[0].1 as usize);
        if g.len() > senders.len() && !senders.is_empty() {
            mark_duplicates(
                g,
                senders,
                dp,
                sender,
                receiver,
                rules,
                &mut dup_likely,
                &mut dup_close,
            );
        }
    }
    let low = rules.min_delay_ns - 5_000_000;
    // A duplicate costs its gap to the first copy plus this bias toward a
    // fresh sender packet: when the sender sent several identical packets
    // (RSTs from a closed socket, ACKs whose IP ID the middle zeroed), one
    // copy each is the likelier story than one duplicated and one lost.
    const DUP_BIAS: i64 = 50_000_000;
    // The delay of the latest one-to-one match: delays drift slowly, so the
    // sender copy whose delay is closest to it is the likely one.
    let mut recent_delay = rules.typical_delay_ns;
    // One past the latest sender position that arrived (RFC 4737's NextExp).
    let mut next_expected = 0u32;
    const REORDER_COST: i64 = 10_000_000;
    // A copy whose SACK blocks differ is an unlikely copy (the dup ACKs of
    // one loss differ only there), but not an impossible one: a middle
    // may rewrite them badly. Above REORDER_COST and DUP_BIAS: a
    // reordering or a duplicate that keeps the blocks is the likelier story.
    const SACK_COST: i64 = 100_000_000;
    // Arriving before it was sent, beyond what the clock estimate allows,
    // costs this much per nanosecond: 100 us too early costs a reordering.
    // (At 4 per ns a server's retransmission sent after its held original
    // arrived took the original's place and made the segments between
    // reordered.)
    const EARLY_COST_PER_NS: i64 = 100;
    // Costs closer than this are a tie.
    const FIFO_SLACK: i64 = 2_000_000;
    // Identical copies whose costs are closer than this are a guess: the
    // path's jitter is larger than the gap between their sending.
    const AMBIGUOUS: i64 = 100_000;
    let mut viable: Vec<(u32, i64)> = Vec::new();
    let mut alternatives = Vec::new();
    let clock_slack = (clock.uncertainty_s * 2e9) as i64;
    // Queueing only ever adds delay: the pair's fastest sure match is the
    // path's own delay, and a copy nearer to it is the likelier (a stale
    // recent delay, e.g. of a held packet, must not pull the choice up).
    let base_delay = rules.min_delay_ns + clock_slack;
    // The next receiver frame with the same key.
    let mut next_same = vec![NONE; dp.receiver.len()];
    for g in dp.receiver_sorted.chunk_by(|a, b| a.0 == b.0) {
        for w in g.windows(2) {
            next_same[w[0].1 as usize] = w[1].1;
        }
    }
    // The next copy of the key arrives late whichever of the identical
    // sender packets this one is: held beyond a normal delay, or after a
    // packet sent later than all of them.
    let late_anyway = |rpos: usize, viable: &[(u32, i64)]| -> bool {
        let nx = next_same[rpos] as usize;
        let last = viable.iter().map(|v| v.0).max().unwrap_or(0);
        let s = sender.packet(dp.sender[last as usize].index);
        let rn = receiver.packet(dp.receiver[nx].index);
        let typical = rules.typical_delay_ns.max(0);
        delay_ns(d, s, rn, clock) > 2 * typical + 1_000_000
            || nx > rpos + 256
            || (rpos + 1..nx).any(|q| {
                let g = run(q);
                !g.is_empty() && g.iter().all(|e| e.1 > last)
            })
    };
    // Whether the receiver copy `skipped` copies after `rpos` brings `spos`
    // at a normal delay: the copies before it, taken in order, were a burst
    // that came late together, and the path caught up.
    let caught_up = |rpos: usize, skipped: usize, spos: u32| -> bool {
        let mut nx = rpos;
        for _ in 0..skipped {
            nx = next_same[nx] as usize;
            if nx == NONE as usize {
                return false;
            }
        }
        let s = sender.packet(dp.sender[spos as usize].index);
        let rn = receiver.packet(dp.receiver[nx].index);
        let typical = rules.typical_delay_ns.max(0);
        delay_ns(d, s, rn, clock) <= 2 * typical + 1_000_000
    };
    for (rpos, rp) in dp.receiver.iter().enumerate() {
        let r = receiver.packet(rp.index);
        let mut best: Option<(i64, u32)> = None;
        let mut best_dup: Option<(i64, u32)> = None;
        viable.clear();
        let reference = recent_delay.min(base_delay);
        for &(_, spos) in run(rpos) {
            let s = sender.packet(dp.sender[spos as usize].index);
            if !same_identity(s, r, rules) {
                continue;
            }
            let delay = delay_ns(d, s, r, clock);
            if delay < low {
                continue;
            }
            let fc = first_copy[spos as usize];
            if fc != NONE {
                let first = receiver.packet(dp.receiver[fc as usize].index);
                if !identical(receiver, first, r) {
                    continue;
                }
                let cost =
                    (r.ts_ns - first.ts_ns).abs() + if dup_likely[rpos] { 0 } else { DUP_BIAS };
                if best_dup.map_or(true, |(c, _)| cost < c) {
                    best_dup = Some((cost, spos));
                }
                continue;
            }
            // A copy of a packet sent before one that already arrived
            // would be a reordering: possible, but less likely.
            let late = if spos < next_expected {
                REORDER_COST
            } else {
                0
            };
            // Arriving before it was sent is only clock error: costly
            // beyond what the clock estimate allows.
            // Saturating: timestamps of damaged captures can be absurd.
            let early = if delay < -clock_slack {
                delay
                    .saturating_add(clock_slack)
                    .saturating_mul(-EARLY_COST_PER_NS)
            } else {
                0
            };
            let c = delay
                .saturating_sub(reference)
                .saturating_abs()
                .saturating_add(late)
                .saturating_add(early)
                .saturating_add(if same_sacks(sender, s, receiver, r) {
                    0
                } else {
                    SACK_COST
                });
            viable.push((spos, c));
            if best.map_or(true, |(b, _)| c < b) {
                best = Some((c, spos));
            }
        }
        // Copies the timing cannot tell apart (identical RSTs sent together)
        // with more copies of the same key still to come: assume the path
        // kept their order, the earliest sent arrived first.
        if let Some((cost, spos)) = best {
            if later_same[rpos] > 0 {
                let earliest = viable
                    .iter()
                    .filter(|v| v.1 <= cost + FIFO_SLACK)
                    .map(|v| v.0)
                    .min()
                    .unwrap_or(spos);
                // Earlier copies beyond the slack are still the likelier
                // ones when they only came late as a burst: taken in order,
                // the receiver caught up with the sender a few copies on.
                // Skipping them would call each of them reordered (their
                // delay can only grow) for no copy on time more.
                let near = || viable.iter().filter(|v| v.1 <= cost + REORDER_COST);
                let skipped = near().filter(|v| v.0 < earliest).count();
                let first = near().map(|v| v.0).min().unwrap_or(earliest);
                // Only when the copies still to come can be all of them:
                // with fewer receiver copies than sender copies from the
                // first on, one is lost whichever story holds, and a copy
                // at the path's delay is the likelier.
                let copies_left = later_same[rpos] as usize + 1;
                let senders_left = viable.iter().filter(|v| v.0 >= first).count();
                let chosen = if skipped > 0
                    && first >= next_expected
                    && copies_left >= senders_left
                    && caught_up(rpos, skipped, earliest)
                {
                    first
                } else {
                    earliest
                };
                best = Some((cost, chosen));
            }
        }
        // Fresh or duplicate: where the key has more receiver copies than
        // sender packets, the gaps said which copies are the duplicates.
        let chosen = match (best, best_dup) {
            (Some(f), Some(dd)) => {
                if dup_close[rpos] {
                    alternatives.push((dd.1, f.1));
                }
                Some(if dup_likely[rpos] || dd.0 < f.0 {
                    dd
                } else {
                    f
                })
            }
            (f, dd) => f.or(dd),
        };
        // Another sender packet this frame is as much a copy of, by every
        // field the receiver sees and by timing within the path's jitter.
        // Where more copies follow in order, keeping the order is the
        // likelier story; only a next copy that comes late anyway leaves
        // the order open.
        if let (Some((_, spos)), Some((cost, _))) = (chosen, best) {
            if first_copy[spos as usize] == NONE
                && (later_same[rpos] == 0 || late_anyway(rpos, &viable))
            {
                alternatives.extend(
                    viable
                        .iter()
                        .filter(|v| v.0 != spos && (v.1 - cost).abs() < AMBIGUOUS)
                        .map(|v| (spos, v.0)),
                );
            }
        }
        if let Some((_, spos)) = chosen {
            sender_of[rpos] = spos;
            if first_copy[spos as usize] == NONE {
                first_copy[spos as usize] = rpos as u32;
                let s = sender.packet(dp.sender[spos as usize].index);
                recent_delay = delay_ns(d, s, r, clock);
                next_expected = next_expected.max(spos + 1);
            }
        }
    }
    let mut out = DirAlignment {
        resegmented_sender: vec![false; dp.sender.len()],
        resegmented_receiver: vec![false; dp.receiver.len()],
        first_copy,
        sender_of,
        alternatives,
    };
    resegment(dp, sender, receiver, &mut out);
    out
}

/// Match leftover data segments by sequence range: a sender segment whose
/// bytes all arrived in leftover receiver segments was split (or merged with
/// neighbours) on the way, and vice versa.
fn resegment(dp: &DirPackets, sender: &Side, receiver: &Side, al: &mut DirAlignment) {
    let Some(base) = dp.sender.first().map(|p| p.key.0) else {
        return;
    };
    let data_range = |p: &Pkt, side: &Side| -> Option<(i64, i64)> {
        let len = side.packet(p.index).payload_len as i64;
        (len > 0).then(|| {
            let a = p.key.0.wrapping_sub(base) as i32 as i64;
            (a, a + len)
        })
    };
    let leftover_s: Vec<(usize, (i64, i64))> = dp
        .sender
        .iter()
        .enumerate()
        .filter(|(i, _)| al.first_copy[*i] == NONE)
        .filter_map(|(i, p)| data_range(p, sender).map(|r| (i, r)))
        .collect();
    let leftover_r: Vec<(usize, (i64, i64))> = dp
        .receiver
        .iter()
        .enumerate()
        .filter(|(i, _)| al.sender_of[*i] == NONE)
        .filter_map(|(i, p)| data_range(p, receiver).map(|r| (i, r)))
        .collect();
    if leftover_s.is_empty() || leftover_r.is_empty() {
        return;
    }
    let union = |v: &[(usize, (i64, i64))]| {
        let mut iv: Vec<(i64, i64)> = v.iter().map(|e| e.1).collect();
        iv.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::new();
        for (a, b) in iv {
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    };
    let covered = |u: &[(i64, i64)], (a, b): (i64, i64)| {
        let i = u.partition_point(|e| e.1 < b);
        u.get(i).is_some_and(|e| e.0 <= a && b <= e.1)
    };
    let us = union(&leftover_s);
    let ur = union(&leftover_r);
    // Only segments that are not one-to-one copies of each other.
    let same_range = |r: (i64, i64), v: &[(usize, (i64, i64))]| v.iter().any(|e| e.1 == r);
    for &(i, r) in &leftover_s {
        if covered(&ur, r) && !same_range(r, &leftover_r) {
            al.resegmented_sender[i] = true;
        }
    }
    for &(i, r) in &leftover_r {
        if covered(&us, r) && !same_range(r, &leftover_s) {
            al.resegmented_receiver[i] = true;
        }
    }
}

/// The direction of every packet of a connection, for callers outside.
pub fn direction(side: &Side, stream: u32, p: &TcpPacket) -> Dir {
    dir_of(p, side.initiator(side.conn(stream)))
}
