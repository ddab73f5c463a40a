//! One paired connection packet by packet: each sender frame next to its
//! receiver copy, the rows of the side-by-side frame tables and the
//! evidence the diagnoses read (who arrived after whom, what crossed what).
//!
//! The rows are the matcher's ([`frame_pairs`]: the diff's own alignment,
//! redone for the few connections shown), projected onto packet indices.

use twincap_matcher::diff::frames::{frame_pairs, FramePair};
use twincap_matcher::diff::{DiffResult, Dir, EventKind, FlowPair, Side};
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

/// The rows of one paired connection, in time order on the client clock.
pub fn flow_rows(flow: &FlowPair, result: &DiffResult, caps: &Captures) -> Vec<Row> {
    let (client, lb) = caps.sides();
    frame_pairs(&client, &lb, result, flow)
        .iter()
        .map(Row::from)
        .collect()
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

/// Lateness of `rows[i]` (a packet that arrived; `None` when nothing sent
/// after it overtook it).
pub fn lateness(rows: &[Row], i: usize, caps: &Captures) -> Option<Lateness> {
    let r = &rows[i];
    let rcv_lb = r.dir == Dir::C2s;
    let (s, rv) = (r.sender()?, r.receiver()?);
    let (sp, rp) = (caps.packet(!rcv_lb, s), caps.packet(rcv_lb, rv));
    let mut packets = 0;
    let mut first_ns = i64::MAX;
    let mut after: Option<(u32, u32)> = None; // (sender frame, receiver frame)
    for o in rows
        .iter()
        .filter(|o| o.dir == r.dir && o.event != Some(EventKind::Duplicated))
    {
        let (Some(os), Some(orv)) = (o.sender(), o.receiver()) else {
            continue;
        };
        let (osp, orp) = (caps.packet(!rcv_lb, os), caps.packet(rcv_lb, orv));
        if osp.frame > sp.frame && orp.frame < rp.frame {
            packets += 1;
            first_ns = first_ns.min(orp.ts_ns);
            if after.map_or(true, |(f, _)| osp.frame > f) {
                after = Some((osp.frame, orp.frame));
            }
        }
    }
    let (_, after_frame) = after?;
    Some(Lateness {
        packets,
        ns: rp.ts_ns - first_ns,
        after_frame,
    })
}
