//! twincap's reader: bytes on disk -> TCP packets -> TCP connections.
//!
//! `read_capture` detects the format from the file's magic (pcap, pcapng,
//! Network Monitor 2.x, any of them gzip-compressed), decodes every frame's
//! link, IP and TCP headers into a compact [`TcpPacket`], and `conn::split`
//! groups the packets into connections numbered exactly as Wireshark's
//! `tcp.stream`.

pub mod conn;
pub mod decode;
pub mod error;
pub mod f5;
mod netmon;
pub mod packet;
mod pcap;
mod pcapng;
pub mod read;
mod source;

pub use conn::{Connection, Connections, Direction};
pub use error::ReadError;
pub use packet::*;
pub use read::{
    read_capture, read_capture_bytes, read_capture_split, read_packets, read_records, PacketExtras,
    PacketSink, RawRecord, ReadOptions,
};
pub use source::prefetch_value;
