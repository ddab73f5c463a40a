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
use rustc_hash::FxHashMap;
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
fn flow_index(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> usize {
    let ordering = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => s.octets().cmp(&d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => s.octets().cmp(&d.octets()),
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

/// Split a capture's packets into connections, as Wireshark does.
pub fn split(cap: &Capture) -> Connections {
    let mut splitter = Splitter::default();
    let mut out = Connections {
        list: Vec::new(),
        stream_of: Vec::with_capacity(cap.packets.len()),
    };
    for (index, p) in cap.packets.iter().enumerate() {
        let assigned = splitter.push(p, &cap.addrs);
        if assigned.new {
            out.list.push(Connection {
                stream: assigned.stream,
                a: (p.src, p.sport),
                b: (p.dst, p.dport),
                packets: Vec::new(),
            });
        }
        out.list[assigned.stream as usize]
            .packets
            .push(index as u32);
        out.stream_of.push(assigned.stream);
    }
    out
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
    current: FxHashMap<PairKey, Conversation>,
    streams: u32,
}

impl Splitter {
    /// Connections started so far.
    pub fn streams(&self) -> u32 {
        self.streams
    }

    /// The stream of the next packet; `addrs` resolves its address ids.
    pub fn push(&mut self, p: &TcpPacket, addrs: &[IpAddr]) -> Assigned {
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
        let conv = self.current.entry(key).or_insert_with(|| {
            new = true;
            new_conversation()
        });
        let fwd = flow_index(
            addrs[p.src as usize],
            addrs[p.dst as usize],
            p.sport,
            p.dport,
        );
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
