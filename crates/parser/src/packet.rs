//! The parsed form of one TCP frame, and of the capture that holds it.
//!
//! A `TcpPacket` is deliberately small (under 100 bytes): a `twincap diff` of
//! two captures of millions of packets keeps every packet of both in memory,
//! so addresses are interned in the capture's address table and rare,
//! variable-length data (SACK blocks, RST payload text) lives in side tables.

use std::net::IpAddr;
use std::path::PathBuf;

/// Index into [`Capture::addrs`].
pub type AddrId = u32;

/// TCP header flag bits, as they stand in the header (low 9 bits).
pub mod tcp_flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;
}

/// Bits of [`TcpPacket::info`]: facts about the frame that are yes/no.
pub mod info {
    /// The IP layer is IPv6 (else IPv4).
    pub const IPV6: u16 = 0x0001;
    /// IPv4 Don't Fragment bit.
    pub const DF: u16 = 0x0002;
    /// The TCP options carried SACK-permitted.
    pub const SACK_PERM: u16 = 0x0004;
    /// The TCP options carried a timestamp (ts_val/ts_ecr are valid).
    pub const TIMESTAMPS: u16 = 0x0008;
    /// The TCP options carried an MSS (mss is valid).
    pub const MSS: u16 = 0x0010;
    /// The TCP options carried a window scale (wscale is valid).
    pub const WSCALE: u16 = 0x0020;
    /// The frame was cut by the snaplen inside the TCP payload
    /// (`captured_len < payload_len`).
    pub const TRUNCATED: u16 = 0x0040;
    /// The TCP checksum was verified and is wrong (only set when the whole
    /// segment was captured and the check is cheap).
    pub const BAD_CHECKSUM: u16 = 0x0080;
    /// The TCP header was cut by the snaplen: flags/seq are known, options may not be.
    pub const HEADER_TRUNCATED: u16 = 0x0100;
    /// The packet was found inside an ICMP error message (Wireshark dissects
    /// it, but does no sequence analysis on it).
    pub const IN_ICMP_ERROR: u16 = 0x0200;
    /// The frame had an 802.1Q/802.1ad tag (vlan holds the outer VLAN id).
    pub const VLAN: u16 = 0x0400;
    /// Bytes follow the IP datagram inside the frame (Ethernet padding or a
    /// device trailer such as F5's); `trailer_len` says how many.
    pub const TRAILER: u16 = 0x0800;
    /// Wireshark computes no segment length for this frame, so it does no
    /// sequence analysis on it and takes no base sequence number from it:
    /// the IP length ends inside the TCP header ("Short segment"), the
    /// segment sits in a first IP fragment that was not all captured, or in
    /// an ICMP error. `payload_len` is then only what the IP header implies.
    pub const NO_SEGMENT_LEN: u16 = 0x1000;
    /// The options carried a TCP Fast Open cookie (kind 34, or 254 with
    /// ExID 0xF989, longer than a cookie request), as Wireshark's
    /// `dissect_tcpopt_tfo_payload` sees one.
    pub const TFO_COOKIE: u16 = 0x2000;
}

/// One TCP segment as captured, with every header field the analysis needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpPacket {
    /// 1-based frame number, counting every record of the file (as Wireshark does).
    pub frame: u32,
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Byte offset of the record's header in the (decompressed) file, so the
    /// raw frame can be read again for export or trailer decoding.
    pub rec_offset: u64,
    pub src: AddrId,
    pub dst: AddrId,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// Window field as sent (not scaled).
    pub win: u16,
    /// TCP flag bits, see [`tcp_flags`].
    pub flags: u16,
    /// Bits from [`info`].
    pub info: u16,
    /// IPv4 Identification (0 for IPv6).
    pub ip_id: u16,
    /// IPv4 total length, or IPv6 payload length + 40.
    pub ip_len: u16,
    /// TCP payload length from the IP header (what was sent).
    pub payload_len: u16,
    /// TCP payload bytes present in the file (snaplen can cut it).
    pub captured_len: u16,
    /// MSS option value (valid with `info::MSS`).
    pub mss: u16,
    /// VLAN id of the outer tag (valid with `info::VLAN`).
    pub vlan: u16,
    /// Bytes after the IP datagram in the frame (valid with `info::TRAILER`).
    pub trailer_len: u16,
    pub ttl: u8,
    /// The 8-bit TOS / traffic class byte (DSCP is the high 6 bits).
    pub tos: u8,
    /// Window scale shift (valid with `info::WSCALE`).
    pub wscale: u8,
    /// TCP header length in bytes.
    pub tcp_hdr_len: u8,
    /// Number of SACK blocks; they start at `sack_index` in [`Capture::sacks`].
    pub sack_count: u8,
    pub ts_val: u32,
    pub ts_ecr: u32,
    pub sack_index: u32,
    /// 64-bit hash of the captured payload bytes (0 when there are none).
    /// Comparable across captures only where both caught the whole payload
    /// (`captured_len == payload_len`).
    pub payload_hash: u64,
}

impl TcpPacket {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
    pub fn is(&self, info_bit: u16) -> bool {
        self.info & info_bit != 0
    }
    /// Sequence space the segment occupies: payload plus one for SYN and for FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload_len as u32 + self.has(tcp_flags::SYN) as u32 + self.has(tcp_flags::FIN) as u32
    }
    /// The DSCP code point (upper six bits of TOS / traffic class).
    pub fn dscp(&self) -> u8 {
        self.tos >> 2
    }
}

/// A SACK block as carried in the option: left and right edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SackBlock {
    pub left: u32,
    pub right: u32,
}

/// File formats twincap reads, detected from the magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Pcap,
    PcapNano,
    Pcapng,
    Netmon,
}

/// One pcapng interface (pcap and netmon files have one per link type).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Interface {
    pub link_type: u32,
    pub name: Option<String>,
    pub description: Option<String>,
    pub snaplen: u32,
}

/// Something worth telling the user that did not stop the read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// Frame the warning is about (0 for the file as a whole).
    pub frame: u32,
    /// Byte offset in the (decompressed) file, if it is about a place.
    pub offset: Option<u64>,
    pub message: String,
}

/// Counts of what the reader saw and did not turn into TCP packets.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReadStats {
    /// Records in the file (every frame, TCP or not).
    pub frames: u32,
    pub tcp: u32,
    /// Frames with no TCP in them (ARP, UDP, ICMP, ...).
    pub non_tcp: u32,
    /// IP fragments that did not complete a datagram (IPv4 or IPv6). They
    /// are reassembled as Wireshark does by default; the frame that
    /// completes a TCP datagram counts under `tcp`.
    pub ipv4_fragments: u32,
    /// Frames whose link type twincap does not decode.
    pub unsupported_link: u32,
    /// Frames whose headers are broken (bad lengths, cut before the TCP header).
    pub malformed: u32,
}

/// Everything read from one capture file.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    pub path: PathBuf,
    pub format: Option<FileFormat>,
    /// The file was gzip-compressed.
    pub gzip: bool,
    /// TCP packets in frame order.
    pub packets: Vec<TcpPacket>,
    /// Interned IP addresses, indexed by [`AddrId`].
    pub addrs: Vec<IpAddr>,
    /// SACK blocks of all packets, see [`TcpPacket::sack_index`].
    pub sacks: Vec<SackBlock>,
    /// Payloads of RST segments that carry data (reset causes), by frame.
    pub rst_payloads: Vec<(u32, Vec<u8>)>,
    /// pcapng packet comments, by frame.
    pub comments: Vec<(u32, String)>,
    /// pcapng section comments.
    pub section_comments: Vec<String>,
    pub interfaces: Vec<Interface>,
    pub stats: ReadStats,
    pub warnings: Vec<Warning>,
    /// F5 BIG-IP trailers and capture information (empty without them);
    /// see also [`Capture::rst_cause`].
    pub f5: crate::f5::F5Table,
}

impl Capture {
    pub fn addr(&self, id: AddrId) -> IpAddr {
        self.addrs[id as usize]
    }
    pub fn sacks_of(&self, p: &TcpPacket) -> &[SackBlock] {
        let i = p.sack_index as usize;
        &self.sacks[i..i + p.sack_count as usize]
    }
    /// Total records in the file (what Wireshark's last frame number is).
    pub fn frames(&self) -> u32 {
        self.stats.frames
    }
}

/// `ip:port`, or `[ip]:port` for IPv6, as the JSON contracts write endpoints.
pub fn endpoint(addr: IpAddr, port: u16) -> String {
    endpoint_with(&address_text(addr), port)
}

/// The address part of [`endpoint`]: `ip`, or `[ip]` for IPv6.
pub fn address_text(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// [`endpoint`] from the address already written by [`address_text`]: a
/// report of many connections formats each address once.
pub fn endpoint_with(address_text: &str, port: u16) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(address_text.len() + 6);
    out.push_str(address_text);
    let _ = write!(out, ":{port}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_stays_small() {
        // Memory target of `twincap diff`: under 100 bytes per input packet.
        assert!(
            std::mem::size_of::<TcpPacket>() <= 88,
            "{}",
            std::mem::size_of::<TcpPacket>()
        );
    }

    #[test]
    fn endpoints_are_written_as_wireshark_users_read_them() {
        assert_eq!(endpoint("10.0.0.1".parse().unwrap(), 80), "10.0.0.1:80");
        assert_eq!(
            endpoint("2001:db8::1".parse().unwrap(), 443),
            "[2001:db8::1]:443"
        );
    }
}
