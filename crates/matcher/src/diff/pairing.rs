//! Which client-side connection is which LB-side connection.
//!
//! Ports and addresses are useless across SNAT/DNAT (and the SNAT pool reuses
//! the same LB-side 4-tuple within seconds), so connections are tied by what
//! the middle leaves alone: TCP timestamps, sequence and acknowledgment
//! numbers (per direction, so an ISN shift on one side still leaves the other
//! side's numbers), IP IDs and payload fingerprints, each together with the
//! packet's shape (flags and payload length).
//!
//! Every connection contributes the keys of its first [`INDEX_PACKETS`]
//! packets to an index; every packet of the other capture looks its keys up
//! there. That finds the twin when either capture starts late, and keeps the
//! index per connection rather than per packet. The votes are weighted per
//! evidence kind, and pairs are assigned one-to-one, strongest first.

use super::align::dir_of;
use super::side::{full_payload_hash, shape, Side};
use super::types::{ClockEstimate, Dir, Evidence};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHasher};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use twincap_parser::{info, tcp_flags, Connection, TcpPacket};

/// Packets of each connection that go into the index.
pub const INDEX_PACKETS: usize = 16;
/// A key found in more connections than this says nothing.
const MAX_CONNS_PER_KEY: usize = 6;
/// Evidence kinds, in the order of [`Votes`].
pub const EVIDENCE: [Evidence; 5] = [
    Evidence::TcpTimestamps,
    Evidence::Seq,
    Evidence::Ack,
    Evidence::Payload,
    Evidence::IpId,
];
const WEIGHT: [u32; 5] = [3, 2, 2, 2, 1];
/// Weighted votes that make a pair sure whatever the clock says (a clock
/// that jumped mid-capture must not undo it): several timestamp and
/// sequence matches at once.
pub const SURE_SCORE: u32 = 16;
/// Weighted votes a pair needs at least.
pub const MIN_SCORE: u32 = 3;

/// Matching packets per evidence kind.
pub type Votes = [u32; 5];

pub fn score(v: &Votes) -> u32 {
    v.iter().zip(WEIGHT).map(|(n, w)| n * w).sum()
}

/// A pair has evidence beyond IP IDs (16 bits collide too easily alone).
fn strong(v: &Votes) -> bool {
    v[0] + v[1] + v[2] + v[3] > 0
}

/// Evidence strong enough to call a further LB connection the same client
/// connection (a SYN retry through a new NAT mapping): the same TCP
/// timestamps or sequence numbers on several packets, not just a shared
/// payload or IP ID.
pub fn is_same_connection(v: &Votes) -> bool {
    v[0] + v[1] >= 2
}

/// The LB connection starts with one of the client connection's SYNs (a
/// retry that crossed through a new mapping): same TCP timestamps, or same
/// ISN where there are none. A port reused by the next connection shares
/// sequence numbers with the old one (TIME_WAIT answers, the RST that
/// follows) but never its SYN.
pub fn same_syn(client: &Side, client_stream: u32, lb: &Side, lb_stream: u32) -> bool {
    let syns = |side: &Side, stream: u32| -> Vec<(bool, u32, u32, u32)> {
        side.conn(stream)
            .packets
            .iter()
            .map(|&i| side.packet(i))
            .filter(|p| p.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN)
            .map(|p| (p.is(info::TIMESTAMPS), p.ts_val, p.ts_ecr, p.seq))
            .collect()
    };
    let theirs = syns(lb, lb_stream);
    syns(client, client_stream).iter().any(|c| {
        theirs.iter().any(|l| {
            if c.0 && l.0 {
                (c.1, c.2) == (l.1, l.2)
            } else {
                c.3 == l.3
            }
        })
    })
}

/// The fingerprint keys of one packet: (evidence index, key).
fn keys(p: &TcpPacket, dir: Dir, out: &mut Vec<(u8, u64)>) {
    out.clear();
    let sh = shape(p) as u64 | (dir.index() as u64) << 32;
    let h = |kind: u8, v: u64| {
        let mut s = FxHasher::default();
        (kind, sh, v).hash(&mut s);
        (kind, s.finish())
    };
    if p.is(info::TIMESTAMPS) && p.ts_val != 0 {
        out.push(h(0, (p.ts_val as u64) << 32 | p.ts_ecr as u64));
    }
    out.push(h(1, p.seq as u64));
    if p.has(tcp_flags::ACK) && p.ack != 0 {
        out.push(h(2, p.ack as u64));
    }
    if let Some(ph) = full_payload_hash(p) {
        out.push(h(3, ph as u64));
    }
    if p.ip_id != 0 {
        out.push(h(4, p.ip_id as u64));
    }
}

/// (key, evidence, stream) of the first packets of every connection, sorted,
/// with a directory by the keys' top bits: the keys are hashes, so each
/// bucket holds about one key, and a lookup reads the directory and then
/// the entries (a hash table from each key to its run cost one more cache
/// miss per lookup, and its inserts ran on one thread).
struct Index {
    entries: Vec<Entry>,
    /// `starts[b]..starts[b + 1]`: the entries whose key's top bits are `b`.
    starts: Vec<u32>,
    /// 64 minus the directory's bits.
    shift: u32,
}

/// An entry of an [`Index`]: (key, evidence, stream).
type Entry = (u64, u8, u32);

/// Keys of one packet at most (see [`keys`]).
const KEYS_PER_PACKET: usize = 5;

/// Room a connection's packets left unused (fewer keys than room): no
/// evidence kind is 255.
const NO_ENTRY: Entry = (u64::MAX, u8::MAX, u32::MAX);

/// [`Index::build`] places the entries in `2^PLACE_BITS` groups by their
/// key's top bits and sorts each group on its own: the keys are hashes, so
/// the groups are about even (~200 entries for 10 000 connections) and
/// each is sorted in the cache, where a sort of all entries moved each
/// about 20 times over the whole buffer.
const PLACE_BITS: u32 = 12;

/// The memory of an [`Index`], kept to build the next one in: fresh pages
/// cost a fault and a zeroed page each (~1.4 us per 4 KB here).
#[derive(Default)]
struct IndexBuffers {
    /// Every connection's room for its keys ([`Index::build`]).
    room: Vec<Entry>,
    entries: Vec<Entry>,
    starts: Vec<u32>,
}

impl Index {
    fn build(side: &Side, bufs: IndexBuffers) -> (Index, Vec<Entry>) {
        let IndexBuffers {
            mut room,
            mut entries,
            mut starts,
        } = bufs;
        // Each connection's keys in room of its own, filled in parallel;
        // what a connection leaves unused stays NO_ENTRY.
        let list = &side.conns.list;
        let room_of = |c: &Connection| c.packets.len().min(INDEX_PACKETS) * KEYS_PER_PACKET;
        room.clear();
        room.par_extend(rayon::iter::repeat_n(
            NO_ENTRY,
            list.iter().map(room_of).sum(),
        ));
        let mut mine = Vec::with_capacity(list.len());
        let mut rest = &mut room[..];
        for c in list {
            let (these, more) = rest.split_at_mut(room_of(c));
            mine.push(these);
            rest = more;
        }
        mine.into_par_iter()
            .zip(list.par_iter())
            .for_each_init(Vec::new, |ks, (out, c)| {
                let first = &c.packets[..c.packets.len().min(INDEX_PACKETS)];
                // The packets lie scattered over the capture: all asked
                // for at once.
                for &i in first {
                    side.prefetch(i);
                }
                let init = side.initiator(c);
                let mut n = 0;
                for &i in first {
                    let p = side.packet(i);
                    keys(p, dir_of(p, init), ks);
                    for &(e, k) in ks.iter() {
                        out[n] = (k, e, c.stream);
                        n += 1;
                    }
                }
            });
        // How many entries each group gets, and where it starts.
        let groups = 1usize << PLACE_BITS;
        let group = |e: &Entry| (e.0 >> (64 - PLACE_BITS)) as usize;
        let counts = room
            .par_chunks(1 << 16)
            .map(|part| {
                let mut n = vec![0u32; groups];
                for e in part.iter().filter(|e| e.1 != NO_ENTRY.1) {
                    n[group(e)] += 1;
                }
                n
            })
            .reduce(
                || vec![0u32; groups],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        let mut first = Vec::with_capacity(groups + 1);
        let mut sum = 0usize;
        for &n in &counts {
            first.push(sum);
            sum += n as usize;
        }
        first.push(sum);
        entries.clear();
        entries.par_extend(rayon::iter::repeat_n(NO_ENTRY, sum));
        // The groups in as many runs as threads: each run reads every
        // entry and places its groups' own, sorts each group, and keeps
        // what the index keeps of it at the run's start.
        let runs = rayon::current_num_threads().clamp(1, groups);
        let bounds: Vec<usize> = (0..=runs).map(|r| r * groups / runs).collect();
        let mut outs = Vec::with_capacity(runs);
        let mut rest = &mut entries[..];
        for r in 0..runs {
            let (these, more) = rest.split_at_mut(first[bounds[r + 1]] - first[bounds[r]]);
            outs.push(these);
            rest = more;
        }
        let kept: Vec<usize> = outs
            .into_par_iter()
            .enumerate()
            .map(|(r, out)| {
                let (g0, g1) = (bounds[r], bounds[r + 1]);
                let base = first[g0];
                let mut at: Vec<usize> = first[g0..g1].iter().map(|&f| f - base).collect();
                for e in room.iter().filter(|e| e.1 != NO_ENTRY.1) {
                    let g = group(e);
                    if (g0..g1).contains(&g) {
                        out[at[g - g0]] = *e;
                        at[g - g0] += 1;
                    }
                }
                let mut kept = 0;
                for g in g0..g1 {
                    let (from, to) = (first[g] - base, first[g + 1] - base);
                    out[from..to].sort_unstable();
                    kept = keep_telling(out, from..to, kept);
                }
                kept
            })
            .collect();
        let mut len = 0;
        for (r, n) in kept.into_iter().enumerate() {
            let start = first[bounds[r]];
            entries.copy_within(start..start + n, len);
            len += n;
        }
        entries.truncate(len);
        // About one key per bucket (at least 2 buckets, at most 2^31).
        let bits = entries
            .len()
            .max(2)
            .next_power_of_two()
            .trailing_zeros()
            .min(31);
        let shift = 64 - bits;
        // In parallel stretches of buckets, each starting where its first
        // bucket does.
        const STRETCH: usize = 1 << 14;
        starts.clear();
        starts.resize((1 << bits) + 1, 0);
        starts
            .par_chunks_mut(STRETCH)
            .enumerate()
            .for_each(|(n, slots)| {
                let first = (n * STRETCH) as u64;
                let mut i = entries.partition_point(|e| e.0 >> shift < first);
                for (bucket, slot) in (first..).zip(slots) {
                    while i < entries.len() && entries[i].0 >> shift < bucket {
                        i += 1;
                    }
                    *slot = i as u32;
                }
            });
        (
            Index {
                entries,
                starts,
                shift,
            },
            room,
        )
    }

    /// Its memory, for the next index.
    fn into_buffers(self, room: Vec<Entry>) -> IndexBuffers {
        IndexBuffers {
            room,
            entries: self.entries,
            starts: self.starts,
        }
    }

    /// Ask for the directory slot of `key` (a hint: see [`vote`]).
    fn prefetch_bucket(&self, key: u64) {
        let bucket = (key >> self.shift) as usize;
        if let Some(slot) = self.starts.get(bucket..bucket + 2) {
            if let Ok(pair) = <&[u32; 2]>::try_from(slot) {
                twincap_parser::prefetch_value(pair);
            }
        }
    }

    /// Ask for the first entry of `key`'s bucket (reads its directory
    /// slot, asked for before).
    fn prefetch_entries(&self, key: u64) {
        let bucket = (key >> self.shift) as usize;
        if let Some(e) = self.entries.get(self.starts[bucket] as usize) {
            twincap_parser::prefetch_value(e);
        }
    }

    fn lookup(&self, key: u64) -> &[(u64, u8, u32)] {
        let bucket = (key >> self.shift) as usize;
        let (from, to) = (self.starts[bucket], self.starts[bucket + 1]);
        let in_bucket = &self.entries[from as usize..to as usize];
        let lo = in_bucket.partition_point(|e| e.0 < key);
        let n = in_bucket[lo..].partition_point(|e| e.0 == key);
        &in_bucket[lo..lo + n]
    }
}

/// Of the sorted entries `v[run]`, one of each, and only of the keys that
/// at most [`MAX_CONNS_PER_KEY`] connections share (a key found in more
/// says nothing), moved to `v[kept..]` (`kept` at most `run.start`);
/// returns where they end.
fn keep_telling(v: &mut [Entry], run: std::ops::Range<usize>, mut kept: usize) -> usize {
    let mut at = run.start;
    while at < run.end {
        let key = v[at].0;
        let start = kept;
        while at < run.end && v[at].0 == key {
            if kept == start || v[kept - 1] != v[at] {
                v[kept] = v[at];
                kept += 1;
            }
            at += 1;
        }
        if kept - start > MAX_CONNS_PER_KEY {
            kept = start;
        }
    }
    kept
}

/// A packet of [`vote`] waiting for its look-ups: its stream and keys.
struct Waiting {
    stream: u32,
    n: usize,
    keys: [u64; 5],
}

/// Packets between asking for a packet's directory slots and looking its
/// keys up; the bucket's entries are asked for halfway. Each look-up was
/// two cache misses one after the other (the directory, then the
/// entries): ~8% of the diff's time on the bench pair.
const LOOKUP_AHEAD: usize = 8;

/// Votes of `query`'s packets for connections in `index`, keyed (query
/// stream, index stream). Packets are walked in capture order (memory order),
/// in parallel chunks.
fn vote(query: &Side, index: &Index, swap: bool, votes: &mut FxHashMap<(u32, u32), Votes>) {
    const CHUNK: usize = 1 << 16;
    // A connection that has found this many matching packets in a chunk has
    // said enough: its later packets there are not looked up (most of the work).
    const ENOUGH: u32 = 32;
    let packets = &query.cap.packets;
    let partial: Vec<FxHashMap<(u32, u32), Votes>> = (0..packets.len().div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut local: FxHashMap<(u32, u32), Votes> = FxHashMap::default();
            // Hits counted per chunk, not across threads: a shared counter
            // made the votes (and so scores, confidences and clock samples)
            // depend on thread timing. By stream: most packets are only
            // this look-up (their connection has said enough).
            let mut hits = vec![0u32; query.conns.list.len()];
            let mut ks = Vec::new();
            let mut seen: Vec<(u32, u8)> = Vec::new();
            // Packets are looked up in capture order, LOOKUP_AHEAD behind
            // the walk; each is asked again whether its connection has
            // said enough (hits only grow: one that had when it was walked
            // past still has).
            let mut waiting: VecDeque<Waiting> = VecDeque::with_capacity(LOOKUP_AHEAD + 1);
            let mut look_up = |w: &Waiting, hits: &mut [u32]| {
                if hits[w.stream as usize] >= ENOUGH {
                    return;
                }
                seen.clear();
                for &k in &w.keys[..w.n] {
                    for &(_, e, other) in index.lookup(k) {
                        if seen.contains(&(other, e)) {
                            continue;
                        }
                        seen.push((other, e));
                        hits[w.stream as usize] += 1;
                        let key = if swap {
                            (other, w.stream)
                        } else {
                            (w.stream, other)
                        };
                        local.entry(key).or_default()[e as usize] += 1;
                    }
                }
            };
            let (start, end) = (chunk * CHUNK, ((chunk + 1) * CHUNK).min(packets.len()));
            for (p, &stream) in packets[start..end]
                .iter()
                .zip(&query.conns.stream_of[start..end])
            {
                if hits[stream as usize] >= ENOUGH {
                    continue;
                }
                let init = query.initiator_of(stream);
                keys(p, dir_of(p, init), &mut ks);
                let mut w = Waiting {
                    stream,
                    n: 0,
                    keys: [0; 5],
                };
                for (slot, &(_, k)) in w.keys.iter_mut().zip(&ks) {
                    *slot = k;
                    index.prefetch_bucket(k);
                    w.n += 1;
                }
                waiting.push_back(w);
                if let Some(half) = waiting.len().checked_sub(LOOKUP_AHEAD / 2 + 1) {
                    let h = &waiting[half];
                    for &k in &h.keys[..h.n] {
                        index.prefetch_entries(k);
                    }
                }
                if waiting.len() > LOOKUP_AHEAD {
                    if let Some(w) = waiting.pop_front() {
                        look_up(&w, &mut hits);
                    }
                }
            }
            while let Some(w) = waiting.pop_front() {
                look_up(&w, &mut hits);
            }
            local
        })
        .collect();
    for local in partial {
        for (k, v) in local {
            let slot = votes.entry(k).or_default();
            for (a, b) in slot.iter_mut().zip(v) {
                *a += b;
            }
        }
    }
}

/// A candidate pair with its votes.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub client: u32,
    pub lb: u32,
    pub votes: Votes,
    pub score: u32,
}

/// All (client stream, LB stream) pairs with enough evidence, strongest first.
pub fn candidates(client: &Side, lb: &Side) -> Vec<Candidate> {
    let mut votes: FxHashMap<(u32, u32), Votes> = FxHashMap::default();
    let (lb_index, room) = Index::build(lb, IndexBuffers::default());
    vote(client, &lb_index, false, &mut votes);
    let (client_index, _) = Index::build(client, lb_index.into_buffers(room));
    vote(lb, &client_index, true, &mut votes);
    let mut out: Vec<Candidate> = votes
        .into_iter()
        .filter(|(_, v)| strong(v) && score(v) >= MIN_SCORE)
        .map(|((c, l), v)| Candidate {
            client: c,
            lb: l,
            votes: v,
            score: score(&v),
        })
        .collect();
    out.sort_unstable_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.client.cmp(&b.client))
            .then(a.lb.cmp(&b.lb))
    });
    out
}

/// The two connections' times can belong to one connection: their spans,
/// on one clock, overlap (with `slack_ns` to spare).
pub fn times_agree(
    client: &Side,
    lb: &Side,
    c: &Candidate,
    clock: &ClockEstimate,
    slack_ns: i64,
) -> bool {
    let (c0, c1) = client.span(client.conn(c.client));
    let (l0, l1) = lb.span(lb.conn(c.lb));
    let (l0, l1) = (clock.to_client(l0), clock.to_client(l1));
    c0 <= l1 + slack_ns && l0 <= c1 + slack_ns
}

/// One-to-one assignment, strongest first. Returns the chosen candidates and
/// for each a confidence in 0..1.
pub fn assign(cands: &[Candidate], n_client: usize, n_lb: usize) -> Vec<(Candidate, f64)> {
    let mut client_taken = vec![false; n_client];
    let mut lb_taken = vec![false; n_lb];
    // The best rival score of every connection, for the confidence.
    let mut best_c = vec![[0u32; 2]; n_client];
    let mut best_l = vec![[0u32; 2]; n_lb];
    for c in cands {
        for (slot, s) in [
            (&mut best_c[c.client as usize], c.score),
            (&mut best_l[c.lb as usize], c.score),
        ] {
            if s > slot[0] {
                slot[1] = slot[0];
                slot[0] = s;
            } else if s > slot[1] {
                slot[1] = s;
            }
        }
    }
    let mut out = Vec::new();
    for c in cands {
        if client_taken[c.client as usize] || lb_taken[c.lb as usize] {
            continue;
        }
        client_taken[c.client as usize] = true;
        lb_taken[c.lb as usize] = true;
        let rival = best_c[c.client as usize][1].max(best_l[c.lb as usize][1]);
        let s = c.score as f64;
        let margin = s / (s + rival as f64);
        let amount = 1.0 - (-s / 8.0).exp();
        out.push((*c, (margin * amount * 1000.0).round() / 1000.0));
    }
    out
}

/// Evidence kinds that voted, strongest first.
pub fn evidence(v: &Votes) -> Vec<Evidence> {
    let mut e: Vec<(u32, Evidence)> = v
        .iter()
        .zip(WEIGHT)
        .zip(EVIDENCE)
        .filter(|((n, _), _)| **n > 0)
        .map(|((n, w), e)| (n * w, e))
        .collect();
    e.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    e.into_iter().map(|(_, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index as one sort of all entries makes it: every connection's
    /// entries, sorted whole, duplicates and shared keys dropped.
    fn sorted_whole(side: &Side) -> Vec<Entry> {
        let mut all = Vec::new();
        let mut ks = Vec::new();
        for c in &side.conns.list {
            let init = side.initiator(c);
            for &i in c.packets.iter().take(INDEX_PACKETS) {
                let p = side.packet(i);
                keys(p, dir_of(p, init), &mut ks);
                all.extend(ks.iter().map(|&(e, k)| (k, e, c.stream)));
            }
        }
        all.sort_unstable();
        all.dedup();
        all.chunk_by(|a, b| a.0 == b.0)
            .filter(|run| run.len() <= MAX_CONNS_PER_KEY)
            .flatten()
            .copied()
            .collect()
    }

    #[test]
    fn grouped_build_is_the_whole_sort_on_every_lab_dataset() {
        let lab = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lab");
        let mut dirs: Vec<_> = std::fs::read_dir(lab)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        let mut bufs = IndexBuffers::default();
        let mut checked = 0;
        for dir in dirs {
            for name in ["client.pcap", "lb.pcap", "lb.pcapng"] {
                let path = dir.join(name);
                if !path.exists() {
                    continue;
                }
                let opts = twincap_parser::ReadOptions::default();
                let cap = twincap_parser::read_capture(&path, &opts).unwrap();
                let conns = twincap_parser::conn::split(&cap);
                let side = Side::new(&cap, &conns);
                let init = side.initiators();
                let side = side.with_initiators(&init);
                // Built in the last index's memory, as `candidates` does.
                let (index, room) = Index::build(&side, bufs);
                assert_eq!(index.entries, sorted_whole(&side), "{}", path.display());
                for e in &index.entries {
                    assert!(index.lookup(e.0).contains(e), "{}", path.display());
                }
                bufs = index.into_buffers(room);
                checked += 1;
            }
        }
        assert!(checked >= 20, "lab datasets missing");
    }
}
