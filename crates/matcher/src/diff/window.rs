//! When each capture really ran.
//!
//! A capture's first and last packet do not say when it started and stopped:
//! a quiet LB capture that ran on while the client retransmitted into a dead
//! NAT mapping saw those packets lost, not missed. A capture's window is
//! therefore bounded only where the other capture proves it: packets sent
//! by this capture's host, seen by the other capture, that must have left
//! before this capture's first packet or after its last. Elsewhere the
//! window is open, and a missing packet is a loss.

use super::side::Side;
use super::types::{ClockEstimate, Window};
use rayon::prelude::*;
use twincap_parser::TcpPacket;

/// How far a packet must be beyond a capture's edge to prove the edge (a
/// held or queued packet can be late by tens of milliseconds).
const MARGIN_NS: i64 = 200_000_000;

/// A capture's window on the client clock; `i64::MIN`/`MAX` where open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub start: i64,
    pub end: i64,
}

impl Bounds {
    pub const OPEN: Bounds = Bounds {
        start: i64::MIN,
        end: i64::MAX,
    };
    pub fn contains(&self, t: i64) -> bool {
        t >= self.start && t <= self.end
    }

    /// Whether this capture, on the receiving end, would have seen a packet
    /// sent at `sent` (client clock) that it does not hold: it arrives
    /// after the start at the path's `typical` delay, and before the end
    /// even if held up to [`MARGIN_NS`] on the way. A packet sent just
    /// before the capture stopped may have arrived just after: not lost.
    pub fn would_receive(&self, sent: i64, typical: i64) -> bool {
        sent.saturating_add(typical) >= self.start && sent.saturating_add(MARGIN_NS) <= self.end
    }

    /// Whether this capture, on the sending end, would have seen the
    /// sending of a packet received at `received` (client clock) that it
    /// does not hold: sent after the start even if it was held up to
    /// [`MARGIN_NS`] on the way (a packet received just after the capture
    /// started may have been sent just before: not injected), and before
    /// the end at the path's `typical` delay.
    pub fn would_have_sent(&self, received: i64, typical: i64) -> bool {
        received.saturating_sub(MARGIN_NS) >= self.start
            && received.saturating_sub(typical) <= self.end
    }
}

/// Windows of the client and LB capture on the client clock, from the
/// packets of the given (client stream, LB streams) pairs; `cw` and `lw`
/// are the captures' first and last packets ([`Side::window`]).
pub fn bounds(
    (client, cw): (&Side, Window),
    (lb, lw): (&Side, Window),
    pairs: &[(u32, Vec<u32>)],
    clock: &ClockEstimate,
    typical_delay_ns: [i64; 2],
) -> (Bounds, Bounds) {
    let (c_first, c_last) = (cw.first_ns, cw.last_ns);
    let (l_first, l_last) = (clock.to_client(lw.first_ns), clock.to_client(lw.last_ns));
    if client.cap.packets.is_empty() || lb.cap.packets.is_empty() {
        return (Bounds::OPEN, Bounds::OPEN);
    }
    // Nothing could be paired: no packet proves either window, and no
    // clock ties the two files. The only evidence left is each capture's own
    // first and last packet; judging beyond them would call everything of
    // two captures that do not even overlap in time lost or injected.
    if pairs.is_empty() {
        return (
            Bounds {
                start: c_first,
                end: c_last,
            },
            Bounds {
                start: l_first.min(l_last),
                end: l_first.max(l_last),
            },
        );
    }
    // When a packet left its sender, on the client clock.
    let lb_sent = |p: &TcpPacket| clock.to_client(p.ts_ns) - typical_delay_ns[0].max(0);
    let client_sent = |p: &TcpPacket| p.ts_ns - typical_delay_ns[1].max(0);
    // Which connections speak for each capture (walked in capture order).
    let mut lb_paired = vec![false; lb.conns.list.len()];
    let mut client_used = vec![false; client.conns.list.len()];
    for (c, ls) in pairs {
        client_used[*c as usize] = true;
        for &l in ls {
            lb_paired[l as usize] = true;
        }
    }
    rayon::join(
        // Client-sent packets the LB saw: bound the client capture.
        || {
            proven(
                lb,
                |p, st| lb_paired[st as usize] && (p.src, p.sport) == lb.initiator_of(st),
                lb_sent,
                (c_first, c_last),
            )
        },
        // LB-sent packets the client saw: bound the LB capture.
        || {
            proven(
                client,
                |p, st| client_used[st as usize] && (p.src, p.sport) != client.initiator_of(st),
                client_sent,
                (l_first, l_last),
            )
        },
    )
}

/// The window of the capture whose first and last packets are at `first`
/// and `last` (client clock), as far as the packets of `side` that `counts`
/// (given its stream) prove it: an edge is closed when one of them was
/// sent, by `sent`, more than [`MARGIN_NS`] beyond it. Parallel chunks in
/// capture order: it reads every packet of the capture.
fn proven(
    side: &Side,
    counts: impl Fn(&TcpPacket, u32) -> bool + Sync,
    sent: impl Fn(&TcpPacket) -> i64 + Sync,
    (first, last): (i64, i64),
) -> Bounds {
    const CHUNK: usize = 1 << 16;
    let (lo, hi) = (first - MARGIN_NS, last + MARGIN_NS);
    let (early, late) = side
        .cap
        .packets
        .par_chunks(CHUNK)
        .zip(side.conns.stream_of.par_chunks(CHUNK))
        .map(|(ps, ss)| {
            let (mut early, mut late) = (false, false);
            for (p, &st) in ps.iter().zip(ss) {
                if counts(p, st) {
                    let t = sent(p);
                    early |= t < lo;
                    late |= t > hi;
                }
            }
            (early, late)
        })
        .reduce(|| (false, false), |a, b| (a.0 | b.0, a.1 | b.1));
    Bounds {
        start: if early { first } else { i64::MIN },
        end: if late { last } else { i64::MAX },
    }
}
