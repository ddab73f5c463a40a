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
use super::types::ClockEstimate;
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
}

/// Windows of the client and LB capture on the client clock, from the
/// packets of the given (client stream, LB streams) pairs.
pub fn bounds(
    client: &Side,
    lb: &Side,
    pairs: &[(u32, Vec<u32>)],
    clock: &ClockEstimate,
    typical_delay_ns: [i64; 2],
) -> (Bounds, Bounds) {
    let cw = client.window();
    let lw = lb.window();
    let (c_first, c_last) = (cw.first_ns, cw.last_ns);
    let (l_first, l_last) = (clock.to_client(lw.first_ns), clock.to_client(lw.last_ns));
    let mut client_b = Bounds::OPEN;
    let mut lb_b = Bounds::OPEN;
    if client.cap.packets.is_empty() || lb.cap.packets.is_empty() {
        return (client_b, lb_b);
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
    // Client-sent packets the LB saw: bound the client capture.
    for (p, &st) in lb.cap.packets.iter().zip(&lb.conns.stream_of) {
        if !lb_paired[st as usize] || (p.src, p.sport) != lb.initiator_of(st) {
            continue;
        }
        let t = lb_sent(p);
        if t < c_first - MARGIN_NS {
            client_b.start = c_first;
        }
        if t > c_last + MARGIN_NS {
            client_b.end = c_last;
        }
    }
    // LB-sent packets the client saw: bound the LB capture.
    for (p, &st) in client.cap.packets.iter().zip(&client.conns.stream_of) {
        if !client_used[st as usize] || (p.src, p.sport) == client.initiator_of(st) {
            continue;
        }
        let t = client_sent(p);
        if t < l_first - MARGIN_NS {
            lb_b.start = l_first;
        }
        if t > l_last + MARGIN_NS {
            lb_b.end = l_last;
        }
    }
    (client_b, lb_b)
}
