//! Every packet of one paired connection next to its twin, on demand.
//!
//! A [`DiffResult`] keeps only the events: keeping the packet-by-packet
//! alignment of every pair would cost memory in proportion to both captures.
//! The reports that draw a connection (side-by-side frame tables, the ladder
//! diagram, the annotated pcapng) need that alignment for the few problem
//! connections only, so [`frame_pairs`] redoes it for one pair with the very
//! steps the diff used ([`Prepared`], [`events::align_dir`]) and the same
//! inputs (the clock and the capture-wide typical delays the result keeps).
//! The rows therefore agree with the pair's events, which are copied onto
//! them rather than judged again (whether a packet fell outside the other
//! capture's window is known to the diff only).

use super::align::{self, DirAlignment, NONE};
use super::events;
use super::side::Side;
use super::types::*;
use super::Prepared;
use rustc_hash::FxHashMap;

/// One frame of one capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef {
    /// Index into the capture's `packets`.
    pub packet: u32,
    /// Frame number, as Wireshark numbers it.
    pub frame: u32,
    /// Capture time on this capture's own clock, ns since the epoch.
    pub ts_ns: i64,
    /// The same instant on the client's clock (the aligned clock).
    pub at_ns: i64,
}

/// One packet as both captures saw it: the sender's frame and the receiver's
/// copy, either missing where the path lost or injected it.
#[derive(Clone, Debug, PartialEq)]
pub struct FramePair {
    pub dir: Dir,
    pub client: Option<FrameRef>,
    pub lb: Option<FrameRef>,
    /// What the path did to this packet (never `Modified`: see `modified`).
    /// On a duplicate, the rows of the extra copies carry `Duplicated`; the
    /// first copy's row carries nothing (or `Reordered`).
    pub event: Option<EventKind>,
    /// `Reordered`: the receiver-side frame number of the packet, sent
    /// later, that it arrived after.
    pub arrived_after: Option<u32>,
    /// `Duplicated`: which copy this row is (2 for the first extra copy).
    pub copy: u32,
    /// The bytes crossed in other segment boundaries (split or merged on
    /// the way): not a loss, not an injection.
    pub resegmented: bool,
    /// Header changes the diff reported on this packet (the first packet of
    /// each kind per direction).
    pub modified: Vec<Modification>,
}

impl FramePair {
    /// The sender's and the receiver's frame of this row.
    pub fn sender(&self) -> Option<FrameRef> {
        match self.dir {
            Dir::C2s => self.client,
            Dir::S2c => self.lb,
        }
    }
    pub fn receiver(&self) -> Option<FrameRef> {
        match self.dir {
            Dir::C2s => self.lb,
            Dir::S2c => self.client,
        }
    }
    /// When the row happened on the aligned clock: the send time, or the
    /// arrival time of a packet nobody sent.
    pub fn at_ns(&self) -> i64 {
        match (self.client, self.lb) {
            (Some(a), Some(b)) => a.at_ns.min(b.at_ns),
            (Some(a), None) | (None, Some(a)) => a.at_ns,
            (None, None) => 0,
        }
    }
}

fn frame_ref(side: &Side, index: u32, lb: bool, clock: &ClockEstimate) -> FrameRef {
    let p = side.packet(index);
    FrameRef {
        packet: index,
        frame: p.frame,
        ts_ns: p.ts_ns,
        at_ns: if lb {
            clock.to_client(p.ts_ns)
        } else {
            p.ts_ns
        },
    }
}

/// The rows of one direction, from its alignment.
fn direction_rows(
    d: Dir,
    dp: &align::DirPackets,
    al: &DirAlignment,
    client: &Side,
    lb: &Side,
    clock: &ClockEstimate,
    out: &mut Vec<FramePair>,
) {
    let (snd, rcv) = align::sides(d, client, lb);
    let sender_is_lb = d == Dir::S2c;
    let row = |s: Option<u32>, r: Option<u32>| {
        let sf = s.map(|i| frame_ref(&snd, dp.sender[i as usize].index, sender_is_lb, clock));
        let rf = r.map(|i| frame_ref(&rcv, dp.receiver[i as usize].index, !sender_is_lb, clock));
        let (client, lb) = match d {
            Dir::C2s => (sf, rf),
            Dir::S2c => (rf, sf),
        };
        FramePair {
            dir: d,
            client,
            lb,
            event: None,
            arrived_after: None,
            copy: 1,
            resegmented: false,
            modified: Vec::new(),
        }
    };
    // One row per sender packet, at `base + position`.
    let base = out.len();
    for (s, &r) in al.first_copy.iter().enumerate() {
        let mut fp = row(Some(s as u32), (r != NONE).then_some(r));
        fp.resegmented = r == NONE && al.resegmented_sender[s];
        out.push(fp);
    }
    // Receiver order: extra copies, packets nobody sent, and for each first
    // copy that came late the latest-sent packet that had arrived before it.
    let mut copies = vec![1u32; dp.sender.len()];
    let mut latest: Option<(u32, u32)> = None; // (sender position, receiver frame)
    for (r, &s) in al.sender_of.iter().enumerate() {
        if s == NONE {
            let mut fp = row(None, Some(r as u32));
            fp.resegmented = al.resegmented_receiver[r];
            out.push(fp);
        } else if al.first_copy[s as usize] != r as u32 {
            copies[s as usize] += 1;
            let mut fp = row(Some(s), Some(r as u32));
            fp.event = Some(EventKind::Duplicated);
            fp.copy = copies[s as usize];
            out.push(fp);
        } else {
            match latest {
                Some((ls, frame)) if s < ls => out[base + s as usize].arrived_after = Some(frame),
                _ => latest = Some((s, rcv.packet(dp.receiver[r].index).frame)),
            }
        }
    }
}

/// The packets of one paired connection (`flow`, one of `result.flows`),
/// each sender frame next to its receiver copy, in time order on the client
/// clock (send time; arrival time for a packet nobody sent). `client` and
/// `lb` are the captures the diff ran on.
///
/// Events are the flow's own: every event of the flow but `Modified` lands
/// on exactly one row (a `Duplicated` event on the rows of its extra copies).
pub fn frame_pairs(
    client: &Side,
    lb: &Side,
    result: &DiffResult,
    flow: &FlowPair,
) -> Vec<FramePair> {
    let mut streams = vec![flow.lb.stream];
    streams.extend(flow.lb_extra.iter().map(|c| c.stream));
    let prep = Prepared::new(client, lb, flow.client.stream, streams);
    let clock = &result.clock;
    let aligned = Dir::BOTH
        .map(|d| events::align_dir(client, lb, clock, result.typical_delay_ns, &prep, d).2);
    frame_pairs_from(client, lb, clock, &prep, &aligned, flow)
}

/// Events of one flow up to which each finds its row by a scan of the rows.
const EVENTS_SCANNED: usize = 16;

/// [`frame_pairs`] from the pair's alignment as the diff made it (`prep`,
/// and the alignment of each direction), without redoing it.
pub fn frame_pairs_from(
    client: &Side,
    lb: &Side,
    clock: &ClockEstimate,
    prep: &Prepared,
    aligned: &[DirAlignment; 2],
    flow: &FlowPair,
) -> Vec<FramePair> {
    let mut out = Vec::with_capacity(
        prep.dirs
            .iter()
            .map(|dp| dp.sender.len() + dp.receiver.len())
            .sum(),
    );
    for d in Dir::BOTH {
        let al = &aligned[d.index()];
        direction_rows(d, &prep.dirs[d.index()], al, client, lb, clock, &mut out);
    }
    // The flow's events onto their rows: an event names the same frames
    // (packet indices) as the row of its packet (one row per key: a row
    // per sender packet, one per receiver packet nobody sent).
    let key = |d: Dir, c: Option<u32>, l: Option<u32>| (d.index(), c, l);
    let row_key = |f: &FramePair| key(f.dir, f.client.map(|c| c.packet), f.lb.map(|c| c.packet));
    // Most flows have a few events among hundreds of rows: each event looks
    // for its row; a table of every row only where events are many.
    let rows: Option<FxHashMap<_, usize>> = (flow.events.len() > EVENTS_SCANNED).then(|| {
        out.iter()
            .enumerate()
            .filter(|(_, f)| f.copy == 1)
            .map(|(i, f)| (row_key(f), i))
            .collect()
    });
    for e in &flow.events {
        let k = key(e.dir, e.client_packet, e.lb_packet);
        let found = match &rows {
            Some(rows) => rows.get(&k).copied(),
            None => out.iter().rposition(|f| f.copy == 1 && row_key(f) == k),
        };
        let Some(i) = found else {
            continue;
        };
        match (e.kind, e.modification) {
            // On the rows of the extra copies already.
            (EventKind::Duplicated, _) => {}
            (EventKind::Modified, Some(m)) => out[i].modified.push(m),
            (EventKind::Modified, None) => {}
            (kind, _) => out[i].event = Some(kind),
        }
    }
    for f in &mut out {
        if f.event != Some(EventKind::Reordered) {
            f.arrived_after = None;
        }
    }
    // In time order: the keys sorted with each row's position (so ties
    // keep the rows' order, as a stable sort of the rows would), then the
    // rows (104 bytes each) moved once, not at every step of the sort.
    // (`sort_by_cached_key` sorts unstably, without the runs the rows
    // come in: more instructions than the sort of the rows.)
    let mut order: Vec<_> = out
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let key = (
                f.at_ns(),
                f.dir.index(),
                f.client.map(|c| c.frame),
                f.lb.map(|c| c.frame),
            );
            (key, i as u32)
        })
        .collect();
    order.sort();
    let mut rows: Vec<Option<FramePair>> = out.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|&(_, i)| rows[i as usize].take())
        .collect()
}
