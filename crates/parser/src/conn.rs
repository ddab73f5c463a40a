//! TCP connections numbered as Wireshark's `tcp.stream`. (Placeholder.)

use crate::packet::{AddrId, Capture, TcpPacket};

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

/// Split a capture's packets into connections, as Wireshark does.
pub fn split(_cap: &Capture) -> Connections {
    Connections::default()
}
