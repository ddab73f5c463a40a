//! The parsed form of one TCP frame, and of the capture that holds it.
//!
//! A `TcpPacket` is deliberately small (under 100 bytes): a `twincap diff` of
//! two captures of millions of packets keeps every packet of both in memory,
//! so addresses are interned in the capture's address table, the fields that
//! take few distinct values in a capture (MSS, VLAN, trailer length, TOS) in
//! its [`PacketAttrs`] table, and rare, variable-length data (SACK blocks,
//! RST payload text) lives in side tables.

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
    /// The frame had an 802.1Q/802.1ad tag ([`PacketAttrs::vlan`] holds the
    /// outer VLAN id).
    pub const VLAN: u16 = 0x0400;
    /// Bytes follow the IP datagram inside the frame (Ethernet padding or a
    /// device trailer such as F5's); [`PacketAttrs::trailer_len`] says how many.
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
/// 72 bytes: `twincap diff` keeps every packet of two captures.
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
    /// MSS, VLAN, trailer length and TOS: [`Capture::attrs`] of this
    /// packet (0: all zero).
    pub attrs: u16,
    pub ttl: u8,
    /// Window scale shift (valid with `info::WSCALE`).
    pub wscale: u8,
    /// TCP header length in bytes.
    pub tcp_hdr_len: u8,
    /// Number of SACK blocks ([`Capture::sacks_of`]).
    pub sack_count: u8,
    pub ts_val: u32,
    pub ts_ecr: u32,
    /// 32-bit hash of the captured payload bytes (0 when there are none).
    /// Comparable across captures only where both caught the whole payload
    /// (`captured_len == payload_len`); equal hashes are evidence, never
    /// proof on their own (the diff also compares seq, lengths and headers).
    pub payload_hash: u32,
}

/// The fields of a packet that take few distinct values in a capture,
/// interned in [`Capture`] (a packet holds a `u16` index, [`TcpPacket::attrs`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PacketAttrs {
    /// MSS option value (valid with `info::MSS`).
    pub mss: u16,
    /// VLAN id of the outer tag (valid with `info::VLAN`).
    pub vlan: u16,
    /// Bytes after the IP datagram in the frame (valid with `info::TRAILER`).
    pub trailer_len: u16,
    /// The 8-bit TOS / traffic class byte (DSCP is the high 6 bits).
    pub tos: u8,
}

impl PacketAttrs {
    /// The DSCP code point (upper six bits of TOS / traffic class).
    pub fn dscp(&self) -> u8 {
        self.tos >> 2
    }
}

/// The interned [`PacketAttrs`] of a capture. Index 0 is all zero; past
/// `u16::MAX - 1` distinct values (a crafted capture), packets hold
/// [`AttrTable::BY_FRAME`] and their values are kept by frame.
#[derive(Clone, Debug, Default)]
pub struct AttrTable {
    /// Entry `i` is index `i + 1`.
    values: Vec<PacketAttrs>,
    index: rustc_hash::FxHashMap<PacketAttrs, u16>,
    /// (frame, values) of packets past the table's capacity, in frame order.
    by_frame: Vec<(u32, PacketAttrs)>,
}

impl AttrTable {
    /// The index a packet holds when its values are kept by frame.
    pub const BY_FRAME: u16 = u16::MAX;

    /// The index of `a` for the packet of `frame` (frames in increasing order).
    pub fn intern(&mut self, frame: u32, a: PacketAttrs) -> u16 {
        if a == PacketAttrs::default() {
            return 0;
        }
        if let Some(&i) = self.index.get(&a) {
            return i;
        }
        if self.values.len() + 1 < Self::BY_FRAME as usize {
            self.values.push(a);
            let i = self.values.len() as u16;
            self.index.insert(a, i);
            return i;
        }
        self.by_frame.push((frame, a));
        Self::BY_FRAME
    }

    /// The values of packet `p`.
    pub fn get(&self, p: &TcpPacket) -> PacketAttrs {
        match p.attrs {
            0 => PacketAttrs::default(),
            Self::BY_FRAME => self
                .by_frame
                .binary_search_by_key(&p.frame, |e| e.0)
                .map(|i| self.by_frame[i].1)
                .unwrap_or_default(),
            i => self.values.get(i as usize - 1).copied().unwrap_or_default(),
        }
    }
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
    /// SACK blocks of all packets, in frame order ([`Capture::sacks_of`]).
    pub sacks: Vec<SackBlock>,
    /// (frame, index of its first block in `sacks`) of each packet with
    /// SACK blocks, in frame order.
    pub sack_starts: Vec<(u32, u32)>,
    /// MSS, VLAN, trailer length and TOS of the packets ([`Capture::attrs`]).
    pub attr_table: AttrTable,
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
    /// The SACK blocks of a packet of this capture.
    pub fn sacks_of(&self, p: &TcpPacket) -> &[SackBlock] {
        if p.sack_count == 0 {
            return &[];
        }
        let Ok(k) = self.sack_starts.binary_search_by_key(&p.frame, |e| e.0) else {
            return &[];
        };
        let i = self.sack_starts[k].1 as usize;
        self.sacks
            .get(i..i + p.sack_count as usize)
            .unwrap_or_default()
    }
    /// MSS, VLAN, trailer length and TOS of a packet of this capture.
    pub fn attrs(&self, p: &TcpPacket) -> PacketAttrs {
        self.attr_table.get(p)
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
            std::mem::size_of::<TcpPacket>() <= 72,
            "{}",
            std::mem::size_of::<TcpPacket>()
        );
    }

    #[test]
    fn attrs_past_the_table_are_kept_by_frame() {
        // A crafted capture with more distinct (MSS, VLAN, trailer, TOS)
        // values than a u16 index can name: the rest is kept by frame, and
        // every packet still reads its own values back.
        let packet = |frame: u32, attrs: u16| TcpPacket {
            frame,
            ts_ns: 0,
            rec_offset: 0,
            src: AddrId::default(),
            dst: AddrId::default(),
            sport: 1,
            dport: 2,
            seq: 0,
            ack: 0,
            win: 0,
            flags: 0,
            info: 0,
            ip_id: 0,
            ip_len: 40,
            payload_len: 0,
            captured_len: 0,
            attrs,
            ttl: 64,
            wscale: 0,
            tcp_hdr_len: 20,
            sack_count: 0,
            ts_val: 0,
            ts_ecr: 0,
            payload_hash: 0,
        };
        let value = |i: u32| PacketAttrs {
            mss: i as u16,
            vlan: (i >> 16) as u16 + 1,
            trailer_len: 0,
            tos: 0,
        };
        let mut table = AttrTable::default();
        let n = 70_000u32;
        let packets: Vec<TcpPacket> = (1..=n)
            .map(|frame| packet(frame, table.intern(frame, value(frame))))
            .collect();
        assert_eq!(packets[0].attrs, 1);
        assert_eq!(packets[n as usize - 1].attrs, AttrTable::BY_FRAME);
        assert!(packets.iter().all(|p| table.get(p) == value(p.frame)));
        // A value seen before overflow keeps its index; the zero value is 0.
        assert_eq!(table.intern(n + 1, value(5)), 5);
        assert_eq!(table.intern(n + 2, PacketAttrs::default()), 0);
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
