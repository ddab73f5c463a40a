//! The packets of one pair, gathered per direction for the alignment.
//!
//! A connection's packets are scattered over its capture (tens of
//! connections interleave), so reading one is a cache miss: each packet of
//! the pair is read once here, split by direction with its key, and the
//! rest of the pair's work finds it in cache.

use super::align::{self, DirPackets, Pkt, SeqOffsets};
use super::side::Side;
use super::types::Dir;

/// The packets of client connection `client_stream` and of its LB twin(s)
/// `lb_streams`, per direction (`[c2s, s2c]`, each sender and receiver
/// side in capture order, keys in the client's sequence space), and the
/// sequence offsets of each LB connection.
pub fn gather(
    client: &Side,
    client_stream: u32,
    lb: &Side,
    lb_streams: &[u32],
) -> ([DirPackets; 2], Vec<SeqOffsets>) {
    let [c_send, c_recv] = split(client, client_stream, 0);
    let mut lb_dirs: Vec<[Vec<Pkt>; 2]> = lb_streams
        .iter()
        .enumerate()
        .map(|(slot, &s)| split(lb, s, slot as u32))
        .collect();
    let offsets: Vec<SeqOffsets> = lb_dirs
        .iter()
        .map(|[l_c2s, l_s2c]| align::seq_offsets(client, [&c_send, &c_recv], lb, [l_c2s, l_s2c]))
        .collect();
    // The LB keys into the client's sequence space (packets still in cache).
    for (dirs, off) in lb_dirs.iter_mut().zip(&offsets) {
        for d in Dir::BOTH {
            for pk in &mut dirs[d.index()] {
                pk.key = align::key(lb.packet(pk.index), d, off);
            }
        }
    }
    let (l_recv, l_send) = if lb_dirs.len() == 1 {
        let [c2s, s2c] = lb_dirs.pop().unwrap_or_default();
        (c2s, s2c)
    } else {
        // Several LB connections of one client connection: one capture order.
        let mut both: [Vec<Pkt>; 2] = Default::default();
        for dirs in lb_dirs {
            for (all, one) in both.iter_mut().zip(dirs) {
                all.extend(one);
            }
        }
        for v in &mut both {
            v.sort_by_key(|p| p.index);
        }
        let [c2s, s2c] = both;
        (c2s, s2c)
    };
    (
        [dir_packets(c_send, l_recv), dir_packets(l_send, c_recv)],
        offsets,
    )
}

/// How many packets ahead [`split`] asks for a connection's packets.
const PREFETCH_AHEAD: usize = 12;

/// One connection's packets by direction (`[c2s, s2c]`) in capture order,
/// keyed by their own seq and ack (no offset yet), tagged with `slot`.
fn split(side: &Side, stream: u32, slot: u32) -> [Vec<Pkt>; 2] {
    let c = side.conn(stream);
    let init = side.initiator(c);
    let mut out = [
        Vec::with_capacity(c.packets.len()),
        Vec::with_capacity(c.packets.len()),
    ];
    for (k, &i) in c.packets.iter().enumerate() {
        // The connection's packets are scattered over the capture: ask for
        // the ones a few steps ahead while this one is worked on.
        if let Some(&ahead) = c.packets.get(k + PREFETCH_AHEAD) {
            side.prefetch(ahead);
        }
        let p = side.packet(i);
        let d = align::dir_of(p, init);
        out[d.index()].push(Pkt {
            index: i,
            slot,
            key: align::key(p, d, &[0, 0]),
        });
    }
    out
}

/// A direction's packets with their keys sorted, for lookups and groups.
fn dir_packets(sender: Vec<Pkt>, receiver: Vec<Pkt>) -> DirPackets {
    DirPackets {
        sender_sorted: sorted_keys(&sender),
        receiver_sorted: sorted_keys(&receiver),
        sender,
        receiver,
    }
}

/// Positions sorted by key. Keys mostly grow in capture order, which the
/// stable sort takes in a pass or two; entries are distinct (the position
/// is part of each), so the order is the one any sort gives.
fn sorted_keys(pk: &[Pkt]) -> Vec<((u32, u32, u32), u32)> {
    let mut v: Vec<_> = pk
        .iter()
        .enumerate()
        .map(|(i, p)| (p.key, i as u32))
        .collect();
    v.sort();
    v
}
