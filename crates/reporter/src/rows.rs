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

/// Lateness of every row that arrived (`None` where nothing sent after it
/// overtook it): the packets of the same direction sent after it (higher
/// sender frame) that arrived before it (lower receiver frame), extra copies
/// of duplicates left out.
///
/// One sweep per direction in receiver-frame order with two Fenwick trees
/// over sender-frame ranks (count, earliest arrival) and the latest-sent
/// packet so far: O(n log n), where asking row by row was O(n) each and a
/// connection of millions of packets took minutes.
pub fn lateness_all(rows: &[Row], caps: &Captures) -> Vec<Option<Lateness>> {
    let mut out = vec![None; rows.len()];
    for d in Dir::BOTH {
        let rcv_lb = d == Dir::C2s;
        // (receiver frame, sender frame, receiver time, row)
        let mut arrivals: Vec<(u32, u32, i64, usize)> = rows
            .iter()
            .enumerate()
            .filter(|(_, o)| o.dir == d && o.event != Some(EventKind::Duplicated))
            .filter_map(|(i, o)| {
                let (s, r) = (o.sender()?, o.receiver()?);
                let (sp, rp) = (caps.packet(!rcv_lb, s), caps.packet(rcv_lb, r));
                Some((rp.frame, sp.frame, rp.ts_ns, i))
            })
            .collect();
        arrivals.sort_unstable();
        let mut ranks: Vec<u32> = arrivals.iter().map(|a| a.1).collect();
        ranks.sort_unstable();
        ranks.dedup();
        let n = ranks.len();
        // Fenwick trees indexed by reversed sender rank, so a prefix query
        // covers the sender frames above a given one.
        let mut count = vec![0u32; n + 1];
        let mut earliest = vec![i64::MAX; n + 1];
        let rev = |sender: u32| n - ranks.partition_point(|&f| f < sender);
        let mut latest_sent: Option<(u32, u32)> = None; // (sender frame, receiver frame)
        let mut k = 0;
        while k < arrivals.len() {
            // Packets with the same receiver frame (one frame, two rows) do
            // not overtake one another: query the group, then insert it.
            let mut end = k;
            while end < arrivals.len() && arrivals[end].0 == arrivals[k].0 {
                end += 1;
            }
            for &(_, sender, ts, row) in &arrivals[k..end] {
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
                    if let Some((_, after_frame)) = latest_sent.filter(|l| l.0 > sender) {
                        out[row] = Some(Lateness {
                            packets,
                            ns: ts - first_ns,
                            after_frame,
                        });
                    }
                }
            }
            for &(recv, sender, ts, _) in &arrivals[k..end] {
                let mut j = rev(sender);
                while j <= n {
                    count[j] += 1;
                    earliest[j] = earliest[j].min(ts);
                    j += j & j.wrapping_neg();
                }
                if latest_sent.map_or(true, |(f, _)| sender > f) {
                    latest_sent = Some((sender, recv));
                }
            }
            k = end;
        }
    }
    out
}
