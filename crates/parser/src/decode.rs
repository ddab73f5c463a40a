//! Link layer, IP and TCP decoding of one frame. (Placeholder until the
//! decoder lands: every frame reads as non-TCP.)

use crate::packet::{SackBlock, TcpPacket};
use std::net::IpAddr;

/// What one frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp(Box<DecodedTcp<'a>>),
    NonTcp,
    Ipv4Fragment,
    Malformed(&'static str),
    UnsupportedLink,
}

/// A TCP frame before its addresses are interned: `packet.src`, `packet.dst`,
/// `packet.frame`, `packet.ts_ns`, `packet.rec_offset` and `packet.sack_index`
/// are filled in by the caller.
#[derive(Debug)]
pub struct DecodedTcp<'a> {
    pub packet: TcpPacket,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The first `packet.sack_count` entries are valid.
    pub sacks: [SackBlock; 4],
    /// Payload of a RST segment that carries data (a reset cause), if any.
    pub rst_payload: Option<&'a [u8]>,
}

/// Decode one frame of the given pcap LINKTYPE_* value.
pub fn decode_frame(_link_type: u32, _data: &[u8]) -> Decoded<'_> {
    Decoded::NonTcp
}
