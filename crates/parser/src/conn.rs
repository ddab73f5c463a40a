//! TCP connections numbered as Wireshark's `tcp.stream`.
//!
//! Wireshark 4.0 (`epan/dissectors/packet-tcp.c`, `dissect_tcp`) gives a TCP
//! frame the stream of the conversation `find_conversation` returns for its
//! address/port pair, and numbers conversations in the order it creates
//! their TCP data (`init_tcp_conversation_data`: `tcpd->stream =
//! tcp_stream_count++`). We replay the rules it applies on its first,
//! in-order pass:
//!
//! 1. Lookup. `find_conversation` (`epan/conversation.c`) tries the exact key
//!    in both directions and, of the two, keeps the conversation created last
//!    (highest `conv_index`); within one key it keeps the latest set up at or
//!    before the frame. In frame order that is simply the newest conversation
//!    for the unordered address/port pair. None found: a new one.
//! 2. Reused ports. A SYN without ACK whose sequence number differs from the
//!    base_seq of its direction, once `TCP_S_BASE_SEQ_SET`, starts a new
//!    conversation (`conversation_new`, `TCP_A_REUSED_PORTS`). A SYN with the
//!    same sequence number is a retransmission and stays.
//! 3. SYN/ACK with another sequence number than its direction's base_seq:
//!    no new conversation, but base_seq becomes its seq (issue 16944).
//! 4. base_seq. Only when Wireshark computes a segment length: not in an IP
//!    fragment, not inside an ICMP error, and the IP length covers the TCP
//!    header ("Short segment" otherwise; see `info::NO_SEGMENT_LEN`): the
//!    first segment of a direction sets that direction's base_seq (seq for a
//!    SYN, seq - 1 otherwise), and the first segment with ACK sets the other
//!    direction's to ack - 1.
//!
//! The two directions are Wireshark's flow1/flow2, chosen by comparing
//! source and destination address (then ports when the addresses are equal),
//! as `get_tcp_conversation_data` does.

use crate::packet::{info, tcp_flags, AddrId, Capture, TcpPacket};
use std::net::IpAddr;

/// Which way a packet travels inside its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Direction {
    /// From `a` (the endpoint that sent the connection's first frame) to `b`.
    AtoB,
    BtoA,
}

/// One TCP connection.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Wireshark's `tcp.stream` index.
    pub stream: u32,
    /// The endpoint that sent the connection's first frame.
    pub a: (AddrId, u16),
    pub b: (AddrId, u16),
    /// Indices into `Capture::packets`, in frame order.
    pub packets: Vec<u32>,
}

impl Connection {
    pub fn direction(&self, p: &TcpPacket) -> Direction {
        if (p.src, p.sport) == self.a {
            Direction::AtoB
        } else {
            Direction::BtoA
        }
    }
}

/// All connections of one capture.
#[derive(Clone, Debug, Default)]
pub struct Connections {
    /// Indexed by stream number.
    pub list: Vec<Connection>,
    /// `stream_of[i]` is the stream of `Capture::packets[i]`.
    pub stream_of: Vec<u32>,
}

/// The per-direction state of Wireshark's `tcp_flow_t` that decides streams.
#[derive(Clone, Copy, Debug, Default)]
struct Flow {
    /// `TCP_S_BASE_SEQ_SET` with its `base_seq`.
    base_seq: Option<u32>,
}

/// The part of Wireshark's `tcp_analysis` that decides streams.
#[derive(Clone, Copy, Debug)]
struct Conversation {
    stream: u32,
    /// flow1 and flow2.
    flows: [Flow; 2],
}

/// An unordered address/port pair: the smaller endpoint first.
type PairKey = ((AddrId, u16), (AddrId, u16));

fn pair_key(p: &TcpPacket) -> PairKey {
    let s = (p.src, p.sport);
    let d = (p.dst, p.dport);
    if s <= d {
        (s, d)
    } else {
        (d, s)
    }
}

/// Wireshark's flow index for a packet (`get_tcp_conversation_data`):
/// `direction = cmp_address(src, dst)`, or the port comparison when the
/// addresses are equal; `fwd` is flow1 when `direction >= 0`, else flow2.
/// `cmp_address` compares type, then length, then the bytes.
#[inline]
fn flow_index(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> usize {
    let ordering = match (src, dst) {
        // As numbers: the same order as the octets', in fewer instructions.
        (IpAddr::V4(s), IpAddr::V4(d)) => u32::from(s).cmp(&u32::from(d)),
        (IpAddr::V6(s), IpAddr::V6(d)) => u128::from(s).cmp(&u128::from(d)),
        // Never in one conversation; any fixed choice will do.
        (IpAddr::V4(_), IpAddr::V6(_)) => std::cmp::Ordering::Less,
        (IpAddr::V6(_), IpAddr::V4(_)) => std::cmp::Ordering::Greater,
    };
    let forward = match ordering {
        std::cmp::Ordering::Equal => sport > dport,
        o => o == std::cmp::Ordering::Greater,
    };
    if forward {
        0
    } else {
        1
    }
}

/// What [`Splitter`] needs of a packet's addresses, worked out from the
/// addresses themselves (not their ids), so that the decoding threads can
/// do it before the addresses are interned: the hash of the unordered
/// address/port pair, by which the splitter's table is looked up (and
/// asked for ahead, [`Splitter::prefetch`]), and the packet's flow index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairHint {
    /// The same for both directions of the pair.
    pub hash: u32,
    /// Wireshark's flow index of the packet's direction (0 flow1, 1 flow2).
    pub flow: u8,
}

impl PairHint {
    #[inline]
    pub fn of(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> PairHint {
        let (a, b) = (endpoint_bits(src, sport), endpoint_bits(dst, dport));
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        PairHint {
            hash: mix(low.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ high) as u32,
            flow: flow_index(src, dst, sport, dport) as u8,
        }
    }
}

/// An endpoint as 64 bits: exactly for IPv4, folded for IPv6.
#[inline]
fn endpoint_bits(addr: IpAddr, port: u16) -> u64 {
    match addr {
        IpAddr::V4(a) => (u32::from(a) as u64) << 16 | port as u64,
        IpAddr::V6(a) => {
            let v = u128::from(a);
            mix(v as u64 ^ ((v >> 64) as u64).rotate_left(29)) ^ port as u64
        }
    }
}

/// splitmix64's finalizer: every input bit moves every output bit.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Split a capture's packets into connections, as Wireshark does.
pub fn split(cap: &Capture) -> Connections {
    let mut out = Split::with_capacity(cap.packets.len());
    for p in &cap.packets {
        let hint = PairHint::of(
            cap.addrs[p.src as usize],
            cap.addrs[p.dst as usize],
            p.sport,
            p.dport,
        );
        out.push(p, &cap.addrs, hint);
    }
    out.finish()
}

/// [`split`] one packet at a time, as a reader hands them over in frame
/// order: `twincap diff` splits each capture while reading it, with the
/// [`PairHint`]s the decoding threads worked out, where a second pass over
/// the packets made them again.
#[derive(Debug, Default)]
pub struct Split {
    splitter: Splitter,
    out: Connections,
}

impl Split {
    /// Room for `packets` packets.
    pub fn with_capacity(packets: usize) -> Split {
        Split {
            splitter: Splitter::default(),
            out: Connections {
                list: Vec::new(),
                stream_of: Vec::with_capacity(packets),
            },
        }
    }

    /// The next packet, the capture's packet number `stream_of.len()`
    /// (`hint` is `PairHint::of` its addresses and ports).
    #[inline]
    pub fn push(&mut self, p: &TcpPacket, addrs: &[IpAddr], hint: PairHint) {
        let assigned = self.splitter.push_hinted(p, addrs, hint);
        if assigned.new {
            self.out.list.push(Connection {
                stream: assigned.stream,
                a: (p.src, p.sport),
                b: (p.dst, p.dport),
                packets: Vec::new(),
            });
        }
        self.out.stream_of.push(assigned.stream);
    }

    /// Ask for the table entry of a pair whose packet comes soon
    /// ([`Splitter::prefetch`]).
    #[inline]
    pub fn prefetch(&self, hash: u32) {
        self.splitter.prefetch(hash);
    }

    /// The connections of the packets pushed. Each connection's packet
    /// list is made here, from `stream_of`, at its exact size: pushed
    /// packet by packet while reading, each push waited for its
    /// connection's entry and list end (a cache miss per packet on the
    /// reader's sequential path, 64 connections interleaving) and the
    /// lists grew by doubling.
    pub fn finish(self) -> Connections {
        let Connections {
            mut list,
            stream_of,
        } = self.out;
        let mut counts = vec![0u32; list.len()];
        for &stream in &stream_of {
            counts[stream as usize] += 1;
        }
        for (connection, &count) in list.iter_mut().zip(&counts) {
            connection.packets = Vec::with_capacity(count as usize);
        }
        for (index, &stream) in stream_of.iter().enumerate() {
            list[stream as usize].packets.push(index as u32);
        }
        Connections { list, stream_of }
    }
}

/// The stream [`Splitter::push`] gives a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// Wireshark's `tcp.stream`.
    pub stream: u32,
    /// The packet starts this stream (streams are numbered 0, 1, 2, ... in
    /// the order they start).
    pub new: bool,
    /// The new stream takes over the address/port pair of this older one,
    /// which gets no more packets (a SYN with a new ISN: reused ports).
    pub replaces: Option<u32>,
}

/// Wireshark's conversation rules applied to one packet at a time, in
/// frame order: what [`split`] does, for a reader that does not keep the
/// packets. Holds one small entry per address/port pair.
#[derive(Debug, Default)]
pub struct Splitter {
    current: Table,
    streams: u32,
}

impl Splitter {
    /// Connections started so far.
    pub fn streams(&self) -> u32 {
        self.streams
    }

    /// The stream of the next packet; `addrs` resolves its address ids.
    pub fn push(&mut self, p: &TcpPacket, addrs: &[IpAddr]) -> Assigned {
        let hint = PairHint::of(
            addrs[p.src as usize],
            addrs[p.dst as usize],
            p.sport,
            p.dport,
        );
        self.push_hinted(p, addrs, hint)
    }

    /// Ask for the table entry of a pair whose packet comes soon (a few
    /// packets ahead): the lookup of each packet's pair missed the cache.
    pub fn prefetch(&self, hash: u32) {
        self.current.prefetch(hash);
    }

    /// [`Self::push`] with the packet's [`PairHint`] worked out already
    /// (it must be `PairHint::of` the packet's addresses and ports).
    #[inline]
    pub fn push_hinted(&mut self, p: &TcpPacket, addrs: &[IpAddr], hint: PairHint) -> Assigned {
        let streams = &mut self.streams;
        let mut new_conversation = || {
            let stream = *streams;
            *streams += 1;
            Conversation {
                stream,
                flows: [Flow::default(); 2],
            }
        };
        let key = pair_key(p);
        let mut new = false;
        let mut replaces = None;
        // Rule 1: the newest conversation of this pair, or a new one.
        let conv = self.current.entry(key, hint.hash, addrs, || {
            new = true;
            new_conversation()
        });
        let fwd = hint.flow as usize;
        let rev = 1 - fwd;
        let syn_ack = p.flags & (tcp_flags::SYN | tcp_flags::ACK);
        if syn_ack == tcp_flags::SYN {
            // Rule 2: reused ports.
            if let Some(base) = conv.flows[fwd].base_seq {
                if p.seq != base {
                    replaces = Some(conv.stream);
                    new = true;
                    *conv = new_conversation();
                }
            }
        } else if syn_ack == tcp_flags::SYN | tcp_flags::ACK {
            // Rule 3.
            if let Some(base) = conv.flows[fwd].base_seq {
                if p.seq != base {
                    conv.flows[fwd].base_seq = Some(p.seq);
                }
            }
        }
        // Rule 4.
        if p.info & (info::IN_ICMP_ERROR | info::NO_SEGMENT_LEN) == 0 {
            if conv.flows[fwd].base_seq.is_none() {
                let base = if p.flags & tcp_flags::SYN != 0 {
                    p.seq
                } else {
                    p.seq.wrapping_sub(1)
                };
                conv.flows[fwd].base_seq = Some(base);
            }
            if conv.flows[rev].base_seq.is_none() && p.flags & tcp_flags::ACK != 0 {
                conv.flows[rev].base_seq = Some(p.ack.wrapping_sub(1));
            }
        }
        Assigned {
            stream: conv.stream,
            new,
            replaces,
        }
    }
}

/// The splitter's table: the newest conversation of each address/port
/// pair, open addressing with linear probing, looked up by
/// [`PairHint::hash`] (which the decoding threads work out, so that the
/// entry can be asked for a few packets ahead). Entries are never removed.
#[derive(Debug, Default)]
struct Table {
    /// A power of two long (or empty); a slot whose stream is [`EMPTY`] is free.
    slots: Vec<Slot>,
    len: usize,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: PairKey,
    conv: Conversation,
}

/// `Conversation::stream` of a free slot (never a stream: streams are
/// fewer than frames, which are fewer than 2^32).
const EMPTY: u32 = u32::MAX;

const FREE: Slot = Slot {
    key: ((0, 0), (0, 0)),
    conv: Conversation {
        stream: EMPTY,
        flows: [Flow { base_seq: None }; 2],
    },
};

impl Table {
    fn prefetch(&self, hash: u32) {
        if !self.slots.is_empty() {
            crate::source::prefetch_value(&self.slots[hash as usize & (self.slots.len() - 1)]);
        }
    }

    /// The conversation of `key` (whose hash is `hash`), inserted with
    /// `new` if the pair has none; `addrs` resolves the address ids of the
    /// keys when the table grows.
    fn entry(
        &mut self,
        key: PairKey,
        hash: u32,
        addrs: &[IpAddr],
        new: impl FnOnce() -> Conversation,
    ) -> &mut Conversation {
        // At most 3/4 full.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow(addrs);
        }
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = &self.slots[at];
            if slot.conv.stream == EMPTY {
                self.len += 1;
                self.slots[at] = Slot { key, conv: new() };
                break;
            }
            if slot.key == key {
                break;
            }
            at = (at + 1) & mask;
        }
        &mut self.slots[at].conv
    }

    fn grow(&mut self, addrs: &[IpAddr]) {
        let size = (self.slots.len() * 2).max(1024);
        let mut slots = Vec::with_capacity(size);
        crate::source::huge_pages(&slots);
        slots.resize(size, FREE);
        let old = std::mem::replace(&mut self.slots, slots);
        let mask = size - 1;
        for slot in old.into_iter().filter(|s| s.conv.stream != EMPTY) {
            let ((a, a_port), (b, b_port)) = slot.key;
            let hash = PairHint::of(addrs[a as usize], addrs[b as usize], a_port, b_port).hash;
            let mut at = hash as usize & mask;
            while self.slots[at].conv.stream != EMPTY {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wireshark orders a conversation's endpoints by their address bytes
    /// (then by port): `flow_index` compares them as numbers.
    #[test]
    fn flow_index_orders_addresses_as_their_bytes() {
        let by_octets = |s: IpAddr, d: IpAddr, sp: u16, dp: u16| {
            let o = match (s, d) {
                (IpAddr::V4(s), IpAddr::V4(d)) => s.octets().cmp(&d.octets()),
                (IpAddr::V6(s), IpAddr::V6(d)) => s.octets().cmp(&d.octets()),
                _ => unreachable!(),
            };
            let forward = match o {
                std::cmp::Ordering::Equal => sp > dp,
                o => o == std::cmp::Ordering::Greater,
            };
            usize::from(!forward)
        };
        let addrs: Vec<IpAddr> = [
            "10.0.0.1",
            "10.0.0.2",
            "200.1.2.3",
            "127.255.255.255",
            "128.0.0.0",
            "::1",
            "2001:db8::1",
            "fe80::1",
            "8000::",
            "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        for &s in &addrs {
            for &d in addrs.iter().filter(|d| d.is_ipv4() == s.is_ipv4()) {
                for (sp, dp) in [(80, 40000), (40000, 80), (443, 443)] {
                    assert_eq!(
                        flow_index(s, d, sp, dp),
                        by_octets(s, d, sp, dp),
                        "{s}:{sp} -> {d}:{dp}"
                    );
                }
            }
        }
    }
}
