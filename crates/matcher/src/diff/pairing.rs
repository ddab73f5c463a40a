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

use super::side::{full_payload_hash, shape, Side};
use super::types::{ClockEstimate, Dir, Evidence};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHasher};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use twincap_parser::{info, tcp_flags, TcpPacket};

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
    entries: Vec<(u64, u8, u32)>,
    /// `starts[b]..starts[b + 1]`: the entries whose key's top bits are `b`.
    starts: Vec<u32>,
    /// 64 minus the directory's bits.
    shift: u32,
}

impl Index {
    fn build(side: &Side) -> Index {
        let mut entries: Vec<(u64, u8, u32)> = side
            .conns
            .list
            .par_iter()
            .flat_map_iter(|c| {
                let init = side.initiator(c);
                let mut out = Vec::with_capacity(INDEX_PACKETS * 5);
                let mut ks = Vec::new();
                for &i in c.packets.iter().take(INDEX_PACKETS) {
                    let p = side.packet(i);
                    let d = if (p.src, p.sport) == init {
                        Dir::C2s
                    } else {
                        Dir::S2c
                    };
                    keys(p, d, &mut ks);
                    out.extend(ks.iter().map(|&(e, k)| (k, e, c.stream)));
                }
                out
            })
            .collect();
        entries.par_sort_unstable();
        entries.dedup();
        // Drop keys that too many connections share (in place).
        let mut kept = 0;
        let mut at = 0;
        while at < entries.len() {
            let key = entries[at].0;
            let mut end = at + 1;
            while end < entries.len() && entries[end].0 == key {
                end += 1;
            }
            if end - at <= MAX_CONNS_PER_KEY {
                entries.copy_within(at..end, kept);
                kept += end - at;
            }
            at = end;
        }
        entries.truncate(kept);
        // About one key per bucket (at least 2 buckets, at most 2^31).
        let bits = entries
            .len()
            .max(2)
            .next_power_of_two()
            .trailing_zeros()
            .min(31);
        let shift = 64 - bits;
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut i = 0;
        for bucket in 0..=(1u64 << bits) {
            while i < entries.len() && entries[i].0 >> shift < bucket {
                i += 1;
            }
            starts.push(i as u32);
        }
        Index {
            entries,
            starts,
            shift,
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
                let d = if (p.src, p.sport) == init {
                    Dir::C2s
                } else {
                    Dir::S2c
                };
                keys(p, d, &mut ks);
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
    let lb_index = Index::build(lb);
    vote(client, &lb_index, false, &mut votes);
    drop(lb_index);
    let client_index = Index::build(client);
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
