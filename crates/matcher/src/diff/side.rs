//! One capture as the diff sees it: packets, connections, and for each
//! connection which end is the client (the initiator), so that `c2s` means
//! the same thing on both sides whatever the NAT did to addresses and ports.

use super::align::dir_of;
use super::types::{ConnRef, Window};
use rayon::prelude::*;
use twincap_parser::{endpoint, tcp_flags, AddrId, Capture, Connection, Connections, TcpPacket};

/// Which capture a packet or connection comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideKind {
    ClientSide,
    LbSide,
}

/// A capture and its connections, borrowed from the parser.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub cap: &'a Capture,
    pub conns: &'a Connections,
    /// Each connection's client end, once worked out ([`Side::with_initiators`]).
    initiators: &'a [(AddrId, u16)],
}

impl<'a> Side<'a> {
    pub fn new(cap: &'a Capture, conns: &'a Connections) -> Side<'a> {
        Side {
            cap,
            conns,
            initiators: &[],
        }
    }

    /// Every connection's client end, for [`Side::with_initiators`].
    pub fn initiators(&self) -> Vec<(AddrId, u16)> {
        self.conns
            .list
            .iter()
            .map(|c| self.find_initiator(c))
            .collect()
    }

    /// The same side, answering [`Side::initiator`] from a table.
    pub fn with_initiators(self, table: &'a [(AddrId, u16)]) -> Side<'a> {
        Side {
            initiators: table,
            ..self
        }
    }

    pub fn packet(&self, index: u32) -> &'a TcpPacket {
        &self.cap.packets[index as usize]
    }

    /// Ask the CPU to load packet `index`'s cache lines (a hint: no effect
    /// on what is read, only on when it arrives). For walks over a
    /// connection's packets, which lie scattered over the capture.
    pub fn prefetch(&self, index: u32) {
        if let Some(p) = self.cap.packets.get(index as usize) {
            twincap_parser::prefetch_value(p);
        }
    }

    pub fn conn(&self, stream: u32) -> &'a Connection {
        &self.conns.list[stream as usize]
    }

    /// First and last packet time of the capture: one pass, in parallel
    /// chunks (it reads every packet; two serial passes per call cost the
    /// diff ~0.1 s on 2M packets per side).
    pub fn window(&self) -> Window {
        let (first, last) = self
            .cap
            .packets
            .par_chunks(1 << 16)
            .map(|c| {
                c.iter().fold((i64::MAX, i64::MIN), |(a, b), p| {
                    (a.min(p.ts_ns), b.max(p.ts_ns))
                })
            })
            .reduce(
                || (i64::MAX, i64::MIN),
                |(a, b), (c, d)| (a.min(c), b.max(d)),
            );
        let (first, last) = if first > last { (0, 0) } else { (first, last) };
        Window {
            first_ns: first,
            last_ns: last,
            first_s: first as f64 / 1e9,
            last_s: last as f64 / 1e9,
        }
    }

    /// The connection's client end: the sender of a SYN, else the receiver of
    /// a SYN-ACK, else the end with the higher port (ephemeral ports are
    /// high), else the sender of the first frame.
    pub fn initiator(&self, c: &Connection) -> (AddrId, u16) {
        match self.initiators.get(c.stream as usize) {
            Some(&init) => init,
            None => self.find_initiator(c),
        }
    }

    /// [`Side::initiator`] by stream number (no trip through the connection list).
    pub fn initiator_of(&self, stream: u32) -> (AddrId, u16) {
        match self.initiators.get(stream as usize) {
            Some(&init) => init,
            None => self.find_initiator(self.conn(stream)),
        }
    }

    fn find_initiator(&self, c: &Connection) -> (AddrId, u16) {
        for &i in &c.packets {
            let p = self.packet(i);
            let sa = p.flags & (tcp_flags::SYN | tcp_flags::ACK);
            if sa == tcp_flags::SYN {
                return (p.src, p.sport);
            }
            if sa == tcp_flags::SYN | tcp_flags::ACK {
                return (p.dst, p.dport);
            }
        }
        if c.b.1 > c.a.1 {
            c.b
        } else {
            c.a
        }
    }

    /// The connection's packets split by direction, in frame order.
    pub fn by_dir(&self, c: &Connection) -> [Vec<u32>; 2] {
        let init = self.initiator(c);
        let mut out = [Vec::new(), Vec::new()];
        for &i in &c.packets {
            out[dir_of(self.packet(i), init).index()].push(i);
        }
        out
    }

    /// The connection as the report names it: initiator first.
    pub fn conn_ref(&self, c: &Connection) -> ConnRef {
        let init = self.initiator(c);
        let other = if init == c.a { c.b } else { c.a };
        ConnRef {
            stream: c.stream,
            src: endpoint(self.cap.addr(init.0), init.1),
            dst: endpoint(self.cap.addr(other.0), other.1),
            packets: c.packets.len() as u32,
        }
    }

    /// First and last packet time of a connection.
    pub fn span(&self, c: &Connection) -> (i64, i64) {
        let first = c
            .packets
            .first()
            .map(|&i| self.packet(i).ts_ns)
            .unwrap_or(0);
        let last = c.packets.last().map(|&i| self.packet(i).ts_ns).unwrap_or(0);
        (first.min(last), first.max(last))
    }
}

/// A payload hash that may be compared with the other side's: only when the
/// whole payload was captured.
pub fn full_payload_hash(p: &TcpPacket) -> Option<u32> {
    (p.payload_len > 0 && p.captured_len == p.payload_len).then_some(p.payload_hash)
}

/// Flags that a middlebox does not change and that give a packet its shape.
pub const SHAPE_FLAGS: u16 = tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST | tcp_flags::ACK;

/// Flags and payload length in one number: packets of another shape are never twins.
pub fn shape(p: &TcpPacket) -> u32 {
    (p.flags & SHAPE_FLAGS) as u32 | (p.payload_len as u32) << 16
}
