//! One paired connection packet by packet: each sender frame next to its
//! receiver copy, the rows of the side-by-side frame tables and the
//! evidence the diagnoses read (who arrived after whom, what crossed what).
//!
//! The rows are the matcher's ([`frame_pairs`]: the diff's own alignment,
//! redone for the few connections shown), projected onto packet indices.

use twincap_matcher::diff::frames::FramePair;
use twincap_matcher::diff::{Dir, EventKind, Side};
use twincap_parser::{Capture, Connections, TcpPacket};

/// One packet as both captures saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub dir: Dir,
    /// Index into the client capture's `packets`.
    pub client: Option<u32>,
    /// Index into the LB capture's `packets`.
    pub lb: Option<u32>,
    /// What the path did to this packet (never `Modified`). The extra
    /// copies of a duplicate carry `Duplicated`.
    pub event: Option<EventKind>,
    /// When it happened on the client's clock: the earlier of its two
    /// times (send time, or arrival of a packet nobody sent).
    pub at_ns: i64,
}

impl Row {
    pub fn sender(&self) -> Option<u32> {
        match self.dir {
            Dir::C2s => self.client,
            Dir::S2c => self.lb,
        }
    }
    pub fn receiver(&self) -> Option<u32> {
        match self.dir {
            Dir::C2s => self.lb,
            Dir::S2c => self.client,
        }
    }
}

/// The two captures and their connections, as the diff saw them.
#[derive(Clone, Copy)]
pub struct Captures<'a> {
    pub client: &'a Capture,
    pub client_conns: &'a Connections,
    pub lb: &'a Capture,
    pub lb_conns: &'a Connections,
}

impl<'a> Captures<'a> {
    /// The capture of a side (`lb == true`: the LB side).
    pub fn cap(&self, lb: bool) -> &'a Capture {
        if lb {
            self.lb
        } else {
            self.client
        }
    }
    pub fn packet(&self, lb: bool, index: u32) -> &'a TcpPacket {
        &self.cap(lb).packets[index as usize]
    }
    /// The two captures as the matcher's diff sides.
    pub fn sides(&self) -> (Side<'a>, Side<'a>) {
        (
            Side::new(self.client, self.client_conns),
            Side::new(self.lb, self.lb_conns),
        )
    }
}

impl From<&FramePair> for Row {
    fn from(f: &FramePair) -> Row {
        Row {
            dir: f.dir,
            client: f.client.map(|x| x.packet),
            lb: f.lb.map(|x| x.packet),
            event: f.event,
            at_ns: f.at_ns(),
        }
    }
}

/// How late a reordered packet arrived: the packets sent after it that
/// arrived before it, and the time from the first of those arrivals to its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lateness {
    pub packets: u32,
    pub ns: i64,
    /// Receiver-side frame of the latest-sent packet it arrived after.
    pub after_frame: u32,
}

/// Lateness of every row (`frames`, the rows as the matcher made them:
/// row `i` is `frames[i]`) that arrived (`None` where nothing sent after it
/// overtook it): the packets of the same direction sent after it (higher
/// sender frame) that arrived before it (lower receiver frame), extra copies
/// of duplicates left out. The frame numbers and times are the rows' own
/// (read from the captures when the rows were made): one pass over the
/// rows for both directions, no packet read again.
pub fn lateness_all(frames: &[FramePair]) -> Vec<Option<Lateness>> {
    let mut out = vec![None; frames.len()];
    let mut arrivals: [Vec<Arrival>; 2] = [0, 1].map(|_| Vec::with_capacity(frames.len()));
    for (i, f) in frames.iter().enumerate() {
        if f.event == Some(EventKind::Duplicated) {
            continue;
        }
        if let (Some(s), Some(r)) = (f.sender(), f.receiver()) {
            arrivals[f.dir.index()].push((r.frame, s.frame, r.ts_ns, i));
        }
    }
    for mut arrivals in arrivals {
        // Rows come in time order, so nearly in receiver-frame order: the
        // adaptive stable sort (entries are distinct: the row is in each).
        arrivals.sort();
        late_arrivals(&arrivals, &mut out);
    }
    out
}

/// (receiver frame, sender frame, receiver time, row) of one arrival.
type Arrival = (u32, u32, i64, usize);

/// Late arrivals up to which each is asked about the arrivals before it one
/// by one (O(n) each); beyond, the Fenwick sweep (O(n log n) in all).
const DIRECT_LATE: usize = 16;

/// The lateness of each of `arrivals` (sorted by receiver frame) into
/// `out[row]`. Only an arrival whose sender frame is below the highest of
/// the earlier arrivals has one; most connections have none or a few, and
/// those are found directly, where the sweep sorts and counts every arrival.
fn late_arrivals(arrivals: &[Arrival], out: &mut [Option<Lateness>]) {
    let late = groups(arrivals)
        .scan(None, |highest: &mut Option<u32>, g| {
            let n = g
                .iter()
                .filter(|a| highest.is_some_and(|h| h > a.1))
                .count();
            *highest = g.iter().map(|a| a.1).chain(*highest).max();
            Some(n)
        })
        .sum::<usize>();
    match late {
        0 => {}
        1..=DIRECT_LATE => late_direct(arrivals, out),
        _ => late_sweep(arrivals, out),
    }
}

/// Arrivals with the same receiver frame (one frame, two rows): they do
/// not overtake one another.
fn groups(
    arrivals: &[Arrival],
) -> std::slice::ChunkBy<'_, Arrival, impl FnMut(&Arrival, &Arrival) -> bool> {
    arrivals.chunk_by(|a, b| a.0 == b.0)
}

/// The latest-sent of the arrivals so far, after `g` arrived: (sender frame,
/// receiver frame), the first to arrive of the highest sender frame.
fn latest_after(latest: Option<(u32, u32)>, g: &[Arrival]) -> Option<(u32, u32)> {
    g.iter().fold(latest, |l, &(recv, sender, _, _)| {
        if l.map_or(true, |(f, _)| sender > f) {
            Some((sender, recv))
        } else {
            l
        }
    })
}

/// [`late_arrivals`] for a few late arrivals: each counts the earlier
/// arrivals sent after it.
fn late_direct(arrivals: &[Arrival], out: &mut [Option<Lateness>]) {
    let mut latest: Option<(u32, u32)> = None;
    let mut start = 0;
    for g in groups(arrivals) {
        for &(_, sender, ts, row) in g {
            let Some((_, after_frame)) = latest.filter(|l| l.0 > sender) else {
                continue;
            };
            let (packets, first_ns) = arrivals[..start]
                .iter()
                .filter(|a| a.1 > sender)
                .fold((0u32, i64::MAX), |(n, t), a| (n + 1, t.min(a.2)));
            out[row] = Some(Lateness {
                packets,
                ns: ts - first_ns,
                after_frame,
            });
        }
        latest = latest_after(latest, g);
        start += g.len();
    }
}

/// [`late_arrivals`] for many: one sweep in receiver-frame order with two
/// Fenwick trees over sender-frame ranks (count, earliest arrival) and the
/// latest-sent packet so far: O(n log n), where asking arrival by arrival
/// was O(n) each and a connection of millions of packets took minutes.
fn late_sweep(arrivals: &[Arrival], out: &mut [Option<Lateness>]) {
    let mut ranks: Vec<u32> = arrivals.iter().map(|a| a.1).collect();
    ranks.sort_unstable();
    ranks.dedup();
    let n = ranks.len();
    // Fenwick trees indexed by reversed sender rank, so a prefix query
    // covers the sender frames above a given one.
    let mut count = vec![0u32; n + 1];
    let mut earliest = vec![i64::MAX; n + 1];
    let rev = |sender: u32| n - ranks.partition_point(|&f| f < sender);
    let mut latest: Option<(u32, u32)> = None;
    for g in groups(arrivals) {
        for &(_, sender, ts, row) in g {
            // Sender frames strictly above `sender`: reversed ranks below.
            let above = n - ranks.partition_point(|&f| f <= sender);
            let (mut packets, mut first_ns) = (0u32, i64::MAX);
            let mut j = above;
            while j > 0 {
                packets += count[j];
                first_ns = first_ns.min(earliest[j]);
                j &= j - 1;
            }
            if packets > 0 {
                if let Some((_, after_frame)) = latest.filter(|l| l.0 > sender) {
                    out[row] = Some(Lateness {
                        packets,
                        ns: ts - first_ns,
                        after_frame,
                    });
                }
            }
        }
        for &(_, sender, ts, _) in g {
            let mut j = rev(sender);
            while j <= n {
                count[j] += 1;
                earliest[j] = earliest[j].min(ts);
                j += j & j.wrapping_neg();
            }
        }
        latest = latest_after(latest, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(arrivals: &[Arrival]) -> (Vec<Option<Lateness>>, Vec<Option<Lateness>>) {
        let rows = arrivals.iter().map(|a| a.3).max().map_or(0, |m| m + 1);
        let (mut direct, mut sweep) = (vec![None; rows], vec![None; rows]);
        late_direct(arrivals, &mut direct);
        late_sweep(arrivals, &mut sweep);
        (direct, sweep)
    }

    /// Sender frames 1..=4 arrive as 1, 3, 4, 2: frame 2 came after two
    /// packets sent later, 3 µs after the first of them; the latest-sent
    /// it arrived after is 4 (receiver frame 12).
    #[test]
    fn a_held_packet_is_late_by_the_packets_that_overtook_it() {
        let arrivals = [
            (10, 1, 100, 0),
            (11, 3, 200, 1),
            (12, 4, 300, 2),
            (13, 2, 500, 3),
        ];
        let (direct, sweep) = both(&arrivals);
        let want = Lateness {
            packets: 2,
            ns: 300,
            after_frame: 12,
        };
        assert_eq!(direct, vec![None, None, None, Some(want)]);
        assert_eq!(sweep, direct);
        let mut out = vec![None; 4];
        late_arrivals(&arrivals, &mut out);
        assert_eq!(out, direct);
    }

    /// Two rows of one receiver frame do not overtake one another, and the
    /// direct count agrees with the sweep on shuffled arrivals of every
    /// size (a fixed pseudo-random order, with shared receiver frames).
    #[test]
    fn the_direct_count_agrees_with_the_sweep() {
        let same: [Arrival; 2] = [(10, 2, 100, 0), (10, 1, 100, 1)];
        assert_eq!(both(&same), (vec![None, None], vec![None, None]));
        let mut x = 12345u64;
        for n in 1..60usize {
            for _ in 0..20 {
                let mut arrivals: Vec<Arrival> = (0..n)
                    .map(|i| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let sender = (x >> 33) as u32 % (n as u32 + 3);
                        let recv = (i as u32) / 2 * 2 + (x >> 20) as u32 % 2;
                        (recv, sender, (x >> 40) as i64 % 1000, i)
                    })
                    .collect();
                arrivals.sort();
                let (direct, sweep) = both(&arrivals);
                assert_eq!(direct, sweep, "{arrivals:?}");
            }
        }
    }
}
