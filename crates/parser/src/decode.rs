//! Link layer, IP and TCP decoding of one frame.
//!
//! `decode_frame` runs once per record on millions of frames, in parallel, so
//! it allocates nothing and never panics: every
//! read is bounds-checked, and a frame that ends early or carries a
//! nonsensical length comes back as [`Decoded::Malformed`] (or, where
//! Wireshark still shows the TCP ports and flags, as a TCP packet marked
//! [`info::HEADER_TRUNCATED`]).
//!
//! Which frames count as TCP follows Wireshark 4.0 with default preferences:
//! a frame is a TCP packet exactly when Wireshark gives it a `tcp.stream`,
//! i.e. when the TCP header it reaches holds at least the window field
//! (`dissect_tcp` reads ports, seq, ack, offset/flags and window before it
//! looks up the conversation; a shorter one throws before that). The lengths
//! follow Wireshark's reported lengths (IP total length bounded by the
//! frame's original length and by PPPoE's payload length; IPv4 TSO fix-up).
//! Whole IP fragments go to [`defrag::Defragmenter`]; the link layers live
//! in [`link`]; IP and TCP headers are read with `etherparse` slices.
//! Checked frame by frame against tshark on the corpus, the lab captures and
//! thousands of damaged frames (tests `decode_tshark`, `streams_mutations`).

use crate::packet::{info, tcp_flags, PacketAttrs, SackBlock, TcpPacket};
use etherparse::{
    IpNumber, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice, Ipv6RawExtHeaderSlice,
    TcpOptionElement, TcpOptionsIterator,
};
use std::hash::Hasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[path = "defrag.rs"]
pub mod defrag;
#[path = "link.rs"]
pub mod link;

/// What one frame turned out to be.
///
/// The TCP answer is not boxed although it is much the largest: the reader
/// decodes millions of frames, most of them TCP, and a box per frame cost
/// more (malloc and free, ~8% of the instructions of `twincap analyze`)
/// than moving the larger value.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp(DecodedTcp<'a>),
    NonTcp,
    /// An IP fragment Wireshark does not dissect on its own frame (IPv4 or
    /// IPv6; an atomic fragment is not one): offer it, in frame order, to a
    /// [`defrag::Defragmenter`], which answers with the TCP packet when it
    /// completes a datagram.
    Ipv4Fragment,
    Malformed(&'static str),
    UnsupportedLink,
}

/// A TCP frame before its addresses and attributes are interned:
/// `packet.src`, `packet.dst`, `packet.frame`, `packet.ts_ns`,
/// `packet.rec_offset` and `packet.attrs` are filled in by the caller.
#[derive(Debug)]
pub struct DecodedTcp<'a> {
    pub packet: TcpPacket,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// MSS, VLAN, trailer length and TOS, for `packet.attrs`.
    pub attrs: PacketAttrs,
    /// The first `packet.sack_count` entries are valid.
    pub sacks: [SackBlock; 4],
    /// Payload of a RST segment that carries data (a reset cause), if any.
    pub rst_payload: Option<&'a [u8]>,
    /// What the connection splitter needs of the addresses and ports,
    /// worked out here, on the decoding threads ([`Self::pair`]; two
    /// fields, not a `PairHint`, which would take 3 bytes of padding:
    /// these fit in the struct's own, and the reader holds thousands).
    pub pair_hash: u32,
    pub pair_flow: u8,
}

impl DecodedTcp<'_> {
    /// What [`crate::conn::Splitter::push_hinted`] needs of the packet.
    pub fn pair(&self) -> crate::conn::PairHint {
        crate::conn::PairHint {
            hash: self.pair_hash,
            flow: self.pair_flow,
        }
    }
}

/// Decode one frame of the given pcap LINKTYPE_* value.
///
/// Without the record's original length the IP header's length is trusted
/// for the segment length (what was sent). Use [`decode_frame_with_orig_len`]
/// when the record header gives it: that matches Wireshark also for frames
/// whose IP length runs past the end of the frame.
pub fn decode_frame(link_type: u32, data: &[u8]) -> Decoded<'_> {
    decode(link_type, data, usize::MAX)
}

/// Decode one frame whose record says it was `orig_len` bytes long on the
/// wire (`data` holds the captured part). Wireshark takes the reported
/// lengths from `orig_len`: when an IP header claims more than the frame
/// reports, the segment is what the frame holds, not what IP says.
pub fn decode_frame_with_orig_len(link_type: u32, data: &[u8], orig_len: u32) -> Decoded<'_> {
    decode_frame_hashing(link_type, data, orig_len, true)
}

/// [`decode_frame_with_orig_len`], leaving `payload_hash` 0 unless
/// `hash_payload`: hashing reads every payload byte, which a caller that
/// never compares payloads (`twincap analyze`) need not pay for.
pub fn decode_frame_hashing(
    link_type: u32,
    data: &[u8],
    orig_len: u32,
    hash_payload: bool,
) -> Decoded<'_> {
    let cut = (orig_len as usize).saturating_sub(data.len());
    decode_with(link_type, data, cut, !hash_payload)
}

/// `cut`: bytes of the frame the capture did not keep (`usize::MAX`: unknown).
fn decode(link_type: u32, data: &[u8], cut: usize) -> Decoded<'_> {
    decode_with(link_type, data, cut, false)
}

fn decode_with(link_type: u32, data: &[u8], cut: usize, skip_payload_hash: bool) -> Decoded<'_> {
    let mut out = Decoded::NonTcp;
    decode_into(link_type, data, cut, skip_payload_hash, &mut out);
    out
}

/// [`decode_frame_hashing`] written into `out`, where the reader keeps
/// its answer (a `Decoded` is 168 bytes: returned through the layers and
/// moved into place, it was copied twice per frame).
pub(crate) fn decode_frame_into<'a>(
    link_type: u32,
    data: &'a [u8],
    orig_len: u32,
    hash_payload: bool,
    out: &mut Decoded<'a>,
) {
    let cut = (orig_len as usize).saturating_sub(data.len());
    decode_into(link_type, data, cut, !hash_payload, out);
}

fn decode_into<'a>(
    link_type: u32,
    data: &'a [u8],
    cut: usize,
    skip_payload_hash: bool,
    out: &mut Decoded<'a>,
) {
    if fast(link_type, data, cut, skip_payload_hash, out).is_none() {
        *out = general(link_type, data, cut, skip_payload_hash);
    }
}

/// The common frame decoded without the general path's layers: Ethernet II
/// (at most one 802.1Q tag), Linux SLL or SLL2, or raw IP; then IPv4
/// without options, not a fragment, with a total length that covers its
/// header, or IPv6 without extension headers; then TCP. `None` for anything
/// else, which [`general`] decodes (`out` is then left as it was). For
/// these frames the general path does exactly this (the same values reach
/// the same [`tcp_into`]); the test `fast_path_matches_general` holds the
/// two equal on every fixture frame.
#[inline]
fn fast<'a>(
    link_type: u32,
    data: &'a [u8],
    cut: usize,
    skip_payload_hash: bool,
    out: &mut Decoded<'a>,
) -> Option<()> {
    use link::linktype;
    // Where IP starts and the ethertype before it (`None`: raw IP, where
    // the version nibble decides).
    let (mut at, mut kind) = match link_type {
        linktype::ETHERNET if data.len() >= 14 => (14, Some(be16(data, 12))),
        linktype::LINUX_SLL if data.len() >= 16 => (16, Some(be16(data, 14))),
        linktype::LINUX_SLL2 if data.len() >= 20 => (20, Some(be16(data, 0))),
        linktype::RAW
        | linktype::RAW_DLT12
        | linktype::RAW_DLT14
        | linktype::IPV4
        | linktype::IPV6 => (0, None),
        _ => return None,
    };
    let mut vlan = None;
    if kind == Some(0x8100) {
        let tag = data.get(at..at + 4)?;
        vlan = Some(be16(tag, 0) & 0x0fff);
        kind = Some(be16(tag, 2));
        at += 4;
    }
    let bytes = &data[at..];
    let version = bytes.first()? >> 4;
    match kind {
        Some(0x0800) if version == 4 => {}
        Some(0x86dd) if version == 6 => {}
        None if version == 4 || version == 6 => {}
        _ => return None,
    }
    let mut frame = Frame {
        vlan,
        skip_payload_hash,
        ..Frame::default()
    };
    let reported = bytes.len().saturating_add(cut);
    let (fields, header_len, datagram_len) = if version == 4 {
        // IHL 5, TCP, offset 0 and MF clear, total length >= 20.
        if bytes.len() < 20 || bytes[0] != 0x45 || bytes[9] != 6 || be16(bytes, 6) & 0x3fff != 0 {
            return None;
        }
        let ip_len = be16(bytes, 2);
        if ip_len < 20 {
            return None;
        }
        let fields = IpFields {
            src: IpAddr::V4(Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15])),
            dst: IpAddr::V4(Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19])),
            ipv6: false,
            df: bytes[6] & 0x40 != 0,
            ip_id: be16(bytes, 4),
            ttl: bytes[8],
            tos: bytes[1],
            ip_len,
        };
        (fields, 20, (ip_len as usize).min(reported))
    } else {
        if bytes.len() < 40 || bytes[6] != 6 {
            return None;
        }
        let ip_len = 40 + be16(bytes, 4) as usize;
        let address = |from: usize| {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[from..from + 16]);
            IpAddr::V6(Ipv6Addr::from(octets))
        };
        let fields = IpFields {
            src: address(8),
            dst: address(24),
            ipv6: true,
            df: false,
            ip_id: 0,
            ttl: bytes[7],
            tos: (bytes[0] << 4) | (bytes[1] >> 4),
            ip_len: ip_len.min(u16::MAX as usize) as u16,
        };
        (fields, 40, ip_len.min(reported))
    };
    // `reported` is at least `bytes.len()`, so the datagram covers the header.
    trailer_after(&mut frame, bytes, datagram_len, 0);
    let payload = &bytes[header_len..datagram_len.min(bytes.len())];
    tcp_into(payload, datagram_len - header_len, &fields, &frame, out);
    Some(())
}

/// [`decode_with`] as the reader calls it, for tests.
#[cfg(test)]
pub(crate) fn decode_with_fast_path(
    link_type: u32,
    data: &[u8],
    cut: usize,
    skip_payload_hash: bool,
) -> Option<Decoded<'_>> {
    let mut out = Decoded::NonTcp;
    fast(link_type, data, cut, skip_payload_hash, &mut out).map(|()| out)
}

/// The general path alone, for tests.
#[cfg(test)]
pub(crate) fn decode_general(
    link_type: u32,
    data: &[u8],
    cut: usize,
    skip_payload_hash: bool,
) -> Decoded<'_> {
    general(link_type, data, cut, skip_payload_hash)
}

/// Any frame, layer by layer.
fn general(link_type: u32, data: &[u8], cut: usize, skip_payload_hash: bool) -> Decoded<'_> {
    let mut link = link::LinkInfo::default();
    match link::network_layer(link_type, data, &mut link) {
        link::Network::Ip(bytes) => {
            let frame = Frame {
                vlan: link.vlan,
                skip_payload_hash,
                ..Frame::default()
            };
            let reported = bytes
                .len()
                .saturating_add(cut)
                .min(link.ip_len_limit.unwrap_or(usize::MAX));
            ip(bytes, reported, &frame, 0, link.ip_version)
        }
        link::Network::Other => Decoded::NonTcp,
        link::Network::Malformed(why) => Decoded::Malformed(why),
        link::Network::Unsupported => Decoded::UnsupportedLink,
    }
}

/// How deep IP may nest (tunnels, ICMP errors) before we stop looking: real
/// traffic needs two or three levels; the limit keeps crafted frames cheap.
const MAX_IP_DEPTH: u8 = 4;

/// What the layers below IP said about the frame.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Frame {
    /// Outer VLAN id, if the frame was tagged.
    pub(crate) vlan: Option<u16>,
    /// Bytes after the outermost IP datagram.
    pub(crate) trailer_len: u16,
    /// We are inside the quoted datagram of an ICMP error.
    pub(crate) in_icmp_error: bool,
    /// The segment is in a first IP fragment dissected on its own
    /// (Wireshark's `pinfo->fragmented`).
    pub(crate) fragmented: bool,
    /// Leave `payload_hash` 0 (see [`decode_frame_hashing`]).
    pub(crate) skip_payload_hash: bool,
}

/// The fields of the IP header just before TCP (the innermost one, as
/// Wireshark shows it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IpFields {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) ipv6: bool,
    pub(crate) df: bool,
    pub(crate) ip_id: u16,
    pub(crate) ttl: u8,
    pub(crate) tos: u8,
    /// IPv4 total length (after the TSO fix-up), or IPv6 payload length + 40.
    pub(crate) ip_len: u16,
}

/// Dispatch on the IP version nibble. `bytes` runs to the end of what was
/// captured; `reported` is how long the layers below say the datagram may
/// be (Wireshark's reported length of the IP tvb).
/// `version`: the only version the layer below allows (Wireshark's IPv4 and
/// IPv6 dissectors reject another; its generic "ip" one hands 6 to IPv6).
fn ip<'a>(
    bytes: &'a [u8],
    reported: usize,
    frame: &Frame,
    depth: u8,
    version: Option<u8>,
) -> Decoded<'a> {
    if depth >= MAX_IP_DEPTH {
        return Decoded::NonTcp;
    }
    let nibble = bytes.first().map(|b| b >> 4);
    if version.is_some() && nibble.is_some() && nibble != version {
        return Decoded::Malformed("IP version differs from what the layer below says");
    }
    match nibble {
        Some(4) => ipv4(bytes, reported, frame, depth),
        Some(6) => ipv6(bytes, reported, frame, depth),
        Some(_) => Decoded::Malformed("IP version is neither 4 nor 6"),
        None => Decoded::Malformed("frame ends before the IP header"),
    }
}

/// The reported length, or the captured one when the frame's original length
/// was not given.
pub(crate) fn known_or_captured(reported: usize, bytes: &[u8]) -> usize {
    if reported == usize::MAX {
        bytes.len()
    } else {
        reported
    }
}

/// Bytes after the IP datagram that ends at `datagram_end` in `bytes`
/// (padding, or a device trailer such as F5's). Only the outermost datagram
/// of a frame has a trailer.
fn trailer_after(frame: &mut Frame, bytes: &[u8], datagram_end: usize, depth: u8) {
    if depth == 0 && !frame.in_icmp_error && bytes.len() > datagram_end {
        frame.trailer_len = (bytes.len() - datagram_end).min(u16::MAX as usize) as u16;
    }
}

fn ipv4<'a>(bytes: &'a [u8], reported: usize, frame: &Frame, depth: u8) -> Decoded<'a> {
    let header = match Ipv4HeaderSlice::from_slice(bytes) {
        Ok(h) => h,
        Err(_) => return Decoded::Malformed("IPv4 header cut short or bad header length"),
    };
    let header_len = header.slice().len();
    // Wireshark (packet-ip.c, dissect_ip_v4): a total length below the header
    // length is bogus, except 0, which it takes for TCP segmentation offload
    // and replaces by the reported length.
    let mut ip_len = header.total_len() as usize;
    if ip_len < header_len {
        if ip_len != 0 {
            return Decoded::Malformed("IPv4 total length smaller than its header");
        }
        ip_len = known_or_captured(reported, bytes);
    }
    // A total length past the reported end is kept as a value, but the
    // datagram's payload is what the frame reports.
    let datagram_len = ip_len.min(reported);
    if datagram_len < header_len {
        return Decoded::Malformed("IPv4 header longer than the frame reports");
    }
    let mut frame = *frame;
    trailer_after(&mut frame, bytes, datagram_len, depth);
    // Wireshark defragments by default (packet-ip.c): a fragment whose data
    // is all in the frame goes to reassembly (see `defrag`), a later one
    // that is cut is only shown as a fragment, and a first one that is cut
    // is dissected on its own, marked fragmented. (An atomic fragment,
    // offset 0 and MF clear, is not a fragment.)
    let offset = header.fragments_offset().value();
    if offset != 0 || header.more_fragments() {
        let all_captured = ip_len > header_len && bytes.len() >= ip_len;
        if offset != 0 || all_captured {
            return Decoded::Ipv4Fragment;
        }
        frame.fragmented = true;
    }
    let fields = IpFields {
        src: IpAddr::V4(Ipv4Addr::from(header.source())),
        dst: IpAddr::V4(
            source_route_destination(header.options())
                .unwrap_or(Ipv4Addr::from(header.destination())),
        ),
        ipv6: false,
        df: header.dont_fragment(),
        ip_id: header.identification(),
        ttl: header.ttl(),
        tos: bytes[1],
        ip_len: ip_len.min(u16::MAX as usize) as u16,
    };
    let end = datagram_len.min(bytes.len());
    let payload = &bytes[header_len..end];
    let reported = datagram_len - header_len;
    transport(header.protocol(), payload, reported, &fields, &frame, depth)
}

/// The final destination of a loose or strict source route option (RFC 791),
/// which Wireshark takes as the packet's destination address
/// (packet-ip.c, `get_dst_offset`), with its checks.
pub(crate) fn source_route_destination(options: &[u8]) -> Option<Ipv4Addr> {
    let mut at = 0;
    while at < options.len() {
        let kind = options[at];
        match kind {
            0 => return None,
            1 => at += 1,
            _ => {
                let len = *options.get(at + 1)? as usize;
                if len < 2 || at + len > options.len() {
                    return None;
                }
                if kind == 131 || kind == 137 {
                    let pointer = *options.get(at + 2)? as usize;
                    if pointer < 4 || pointer & 3 != 0 || pointer > len || len < 7 {
                        return None;
                    }
                    let last = options.get(at + len - 4..at + len)?;
                    return Some(Ipv4Addr::new(last[0], last[1], last[2], last[3]));
                }
                at += len;
            }
        }
    }
    None
}

fn ipv6<'a>(bytes: &'a [u8], reported: usize, frame: &Frame, depth: u8) -> Decoded<'a> {
    let header = match Ipv6HeaderSlice::from_slice(bytes) {
        Ok(h) => h,
        Err(_) => return Decoded::Malformed("IPv6 header cut short"),
    };
    // Unlike IPv4, Wireshark 4.0 has no TSO fix-up for IPv6 by default
    // (ipv6.tso_support is off): a payload length of 0 is an empty payload.
    // (A jumbogram, longer than 65535 bytes, cannot be in a pcap.)
    let payload_len = header.payload_length() as usize;
    let ip_len = 40 + payload_len;
    let datagram_len = ip_len.min(reported);
    if datagram_len < 40 {
        return Decoded::Malformed("IPv6 header longer than the frame reports");
    }
    let mut frame = *frame;
    trailer_after(&mut frame, bytes, datagram_len, depth);
    let fields = IpFields {
        src: IpAddr::V6(Ipv6Addr::from(header.source())),
        dst: IpAddr::V6(Ipv6Addr::from(header.destination())),
        ipv6: true,
        df: false,
        ip_id: 0,
        ttl: header.hop_limit(),
        tos: header.traffic_class(),
        ip_len: ip_len.min(u16::MAX as usize) as u16,
    };
    let end = datagram_len.min(bytes.len());
    let mut rest = &bytes[40..end];
    let mut reported = datagram_len - 40;
    let mut next = header.next_header();
    // Extension headers (RFC 8200 4.1), each naming the next one.
    loop {
        let ext_len = match next {
            IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_ROUTE_HEADER
            | IpNumber::IPV6_DESTINATION_OPTIONS => match Ipv6RawExtHeaderSlice::from_slice(rest) {
                Ok(ext) => {
                    if next != IpNumber::IPV6_ROUTE_HEADER
                        && !ipv6_options_fit(rest, ext.slice().len())
                    {
                        return Decoded::Malformed("IPv6 option runs past the packet");
                    }
                    next = ext.next_header();
                    ext.slice().len()
                }
                Err(_) => return Decoded::Malformed("IPv6 extension header cut short"),
            },
            IpNumber::IPV6_FRAGMENTATION_HEADER => {
                match Ipv6FragmentHeaderSlice::from_slice(rest) {
                    Ok(ext) => {
                        // An atomic fragment (offset 0, M clear; RFC 6946) is
                        // processed as an unfragmented packet.
                        if ext.fragment_offset().value() != 0 || ext.more_fragments() {
                            return Decoded::Ipv4Fragment;
                        }
                        next = ext.next_header();
                        ext.slice().len()
                    }
                    Err(_) => return Decoded::Malformed("IPv6 fragment header cut short"),
                }
            }
            IpNumber::AUTHENTICATION_HEADER => match auth_header(rest) {
                Some((following, len)) => {
                    next = following;
                    len
                }
                None => return Decoded::Malformed("IPv6 authentication header cut short"),
            },
            _ => break,
        };
        rest = &rest[ext_len..];
        reported = match reported.checked_sub(ext_len) {
            Some(r) => r,
            None => return Decoded::Malformed("IPv6 extension headers longer than the payload"),
        };
    }
    transport(next, rest, reported, &fields, &frame, depth)
}

/// The next protocol and length of an IPsec authentication header
/// (RFC 4302): length field in 4-byte words minus 2. As packet-ipsec.c's
/// `dissect_ah`, the SPI and sequence number (12 bytes in all) are read
/// even when the stated length is shorter. (etherparse's `IpAuthHeaderSlice`
/// rejects a length field of 0, which Wireshark accepts.)
fn auth_header(ah: &[u8]) -> Option<(IpNumber, usize)> {
    let len = (*ah.get(1)? as usize + 2) * 4;
    (ah.len() >= len.max(12)).then_some((IpNumber(ah[0]), len))
}

/// How many bytes of an ICMP error's payload (after its 8-byte header)
/// Wireshark hands to IP as the quoted datagram, or `None` when the message
/// quotes none. packet-icmp.c: destination unreachable, source quench,
/// redirect, time exceeded and parameter problem quote one; a redirect only
/// the IP header and 8 bytes; with an RFC 4884 length (byte 5, in words)
/// the datagram is cut at `(IHL + length) * 4` when the payload is longer and
/// the quoted total length is larger. packet-icmpv6.c: types 1 to 4 quote
/// an IPv6 datagram, if the version nibble says 6, with no limit.
fn icmp_quoted_len(protocol: IpNumber, icmp: &[u8], reported: usize) -> Option<usize> {
    let quoted = icmp.get(8..)?;
    if protocol == IpNumber::IPV6_ICMP {
        let is_error = matches!(icmp[0], 1..=4) && quoted[0] >> 4 == 6;
        return is_error.then_some(usize::MAX);
    }
    let ihl = (quoted[0] & 0x0f) as usize;
    match icmp[0] {
        5 => Some(ihl * 4 + 8),
        3 | 4 | 11 | 12 => {
            let length = *icmp.get(5)? as usize * 4;
            let quoted_total = quoted
                .get(2..4)
                .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize);
            if length > 0 && reported > 8 + length && quoted_total? > length {
                Some((ihl * 4) + length)
            } else {
                Some(usize::MAX)
            }
        }
        _ => None,
    }
}

/// Whether every option of a hop-by-hop or destination options header
/// (`ext`, whose first `header_len` bytes are the header) lies within the
/// captured packet: Wireshark's `dissect_opts` walks them, and one that runs
/// past the data throws, ending the dissection before TCP.
fn ipv6_options_fit(ext: &[u8], header_len: usize) -> bool {
    let mut at = 2;
    while at < header_len {
        match ext.get(at) {
            Some(0) => at += 1, // Pad1
            Some(_) => match ext.get(at + 1) {
                Some(&len) if at + 2 + len as usize <= ext.len() => at += 2 + len as usize,
                _ => return false,
            },
            None => return false,
        }
    }
    true
}

/// The protocol after an IP header: TCP, a tunnel, an ICMP error quoting a
/// datagram, or something that is not TCP.
pub(crate) fn transport<'a>(
    protocol: IpNumber,
    payload: &'a [u8],
    reported: usize,
    fields: &IpFields,
    frame: &Frame,
    depth: u8,
) -> Decoded<'a> {
    match protocol {
        IpNumber::TCP => tcp(payload, reported, fields, frame),
        // Dynamic Source Routing (RFC 4728): next header, flags, length of
        // the options that follow its 4 bytes; Wireshark follows it.
        IpNumber(48) if depth < MAX_IP_DEPTH => match payload.get(..4) {
            Some(dsr) => {
                let len = 4 + u16::from_be_bytes([dsr[2], dsr[3]]) as usize;
                match payload.get(len..) {
                    Some(rest) => transport(
                        IpNumber(dsr[0]),
                        rest,
                        reported.saturating_sub(len),
                        fields,
                        frame,
                        depth + 1,
                    ),
                    None => Decoded::Malformed("DSR options run past the packet"),
                }
            }
            None => Decoded::Malformed("DSR header cut short"),
        },
        // IPv4 with AH (IPv6 walks it with its extension headers).
        IpNumber::AUTHENTICATION_HEADER if !fields.ipv6 => match auth_header(payload) {
            Some((next, len)) if depth < MAX_IP_DEPTH => transport(
                next,
                &payload[len..],
                reported.saturating_sub(len),
                fields,
                frame,
                depth + 1,
            ),
            Some(_) => Decoded::NonTcp,
            None => Decoded::Malformed("authentication header cut short"),
        },
        // IP-in-IP and 6in4/4in6: Wireshark's addresses are the innermost IP's.
        IpNumber::IPV4 | IpNumber::IPV6 => {
            if frame.in_icmp_error {
                return Decoded::NonTcp;
            }
            let version = (protocol == IpNumber::IPV6).then_some(6);
            ip(payload, reported, frame, depth + 1, version)
        }
        IpNumber::GRE => tunnel(link::gre_payload(payload), payload, reported, frame, depth),
        IpNumber::ICMP | IpNumber::IPV6_ICMP => {
            if frame.in_icmp_error || payload.len() <= 8 {
                return Decoded::NonTcp;
            }
            let Some(quoted_len) = icmp_quoted_len(protocol, payload, reported) else {
                return Decoded::NonTcp;
            };
            let quoted = &payload[8..payload.len().min(quoted_len.saturating_add(8))];
            let inner_frame = Frame {
                in_icmp_error: true,
                ..*frame
            };
            let inner_reported = reported.saturating_sub(8).min(quoted_len);
            match ip(quoted, inner_reported, &inner_frame, depth + 1, None) {
                tcp @ Decoded::Tcp(_) => tcp,
                _ => Decoded::NonTcp,
            }
        }
        IpNumber::UDP => tunnel(
            link::udp_tunnel_payload(payload),
            payload,
            reported,
            frame,
            depth,
        ),
        _ => Decoded::NonTcp,
    }
}

/// The IP packet a tunnel (GRE, or a UDP tunnel such as VXLAN or Teredo)
/// carries inside `payload`, decoded as the innermost IP Wireshark shows.
/// Tunnels quoted inside an ICMP error are not followed.
fn tunnel<'a>(
    inner: Option<&'a [u8]>,
    payload: &'a [u8],
    reported: usize,
    frame: &Frame,
    depth: u8,
) -> Decoded<'a> {
    match inner {
        Some(inner) if !frame.in_icmp_error => {
            let header_len = payload.len() - inner.len();
            ip(
                inner,
                reported.saturating_sub(header_len),
                frame,
                depth + 1,
                None,
            )
        }
        _ => Decoded::NonTcp,
    }
}

/// Bytes of the TCP header Wireshark needs before it assigns a `tcp.stream`:
/// ports, seq, ack, offset and flags, window.
const TCP_STREAM_MIN_LEN: usize = 16;

/// Decode a TCP header and payload. `captured` is what the frame holds of the
/// segment (cut at the end of the IP datagram); `reported` is the segment's
/// length according to the IP header.
fn tcp<'a>(captured: &'a [u8], reported: usize, fields: &IpFields, frame: &Frame) -> Decoded<'a> {
    let mut out = Decoded::NonTcp;
    tcp_into(captured, reported, fields, frame, &mut out);
    out
}

/// [`tcp`], written into `out`: the answer is built where it is kept.
#[inline]
fn tcp_into<'a>(
    captured: &'a [u8],
    reported: usize,
    fields: &IpFields,
    frame: &Frame,
    out: &mut Decoded<'a>,
) {
    if captured.len() < TCP_STREAM_MIN_LEN {
        *out = Decoded::Malformed("TCP header cut before the window field");
        return;
    }
    *out = Decoded::Tcp(DecodedTcp {
        packet: TcpPacket {
            frame: 0,
            ts_ns: 0,
            rec_offset: 0,
            src: 0,
            dst: 0,
            sport: be16(captured, 0),
            dport: be16(captured, 2),
            seq: be32(captured, 4),
            ack: be32(captured, 8),
            win: be16(captured, 14),
            flags: be16(captured, 12) & 0x01ff,
            info: 0,
            ip_id: fields.ip_id,
            ip_len: fields.ip_len,
            payload_len: 0,
            captured_len: 0,
            attrs: 0,
            ttl: fields.ttl,
            wscale: 0,
            tcp_hdr_len: (captured[12] >> 4) * 4,
            sack_count: 0,
            ts_val: 0,
            ts_ecr: 0,
            payload_hash: 0,
        },
        src: fields.src,
        dst: fields.dst,
        attrs: PacketAttrs {
            mss: 0,
            vlan: frame.vlan.unwrap_or(0),
            trailer_len: frame.trailer_len,
            tos: fields.tos,
        },
        sacks: [SackBlock { left: 0, right: 0 }; 4],
        rst_payload: None,
        pair_hash: 0,
        pair_flow: 0,
    });
    if let Decoded::Tcp(tcp) = out {
        tcp_fields(captured, reported, fields, frame, tcp);
    }
}

/// The rest of [`tcp_into`]'s work on `tcp`, which holds the fixed header.
#[inline]
fn tcp_fields<'a>(
    captured: &'a [u8],
    reported: usize,
    fields: &IpFields,
    frame: &Frame,
    tcp: &mut DecodedTcp<'a>,
) {
    let DecodedTcp {
        packet,
        attrs,
        sacks,
        rst_payload,
        ..
    } = tcp;
    let mut bits = 0;
    if fields.ipv6 {
        bits |= info::IPV6;
    }
    if fields.df {
        bits |= info::DF;
    }
    if frame.vlan.is_some() {
        bits |= info::VLAN;
    }
    if frame.trailer_len > 0 {
        bits |= info::TRAILER;
    }
    if frame.in_icmp_error {
        bits |= info::IN_ICMP_ERROR;
    }
    let header_len = packet.tcp_hdr_len as usize;
    // dissect_tcp computes the segment length only outside fragments and
    // ICMP errors, and when the IP length covers the header.
    if frame.fragmented || frame.in_icmp_error || reported < header_len {
        bits |= info::NO_SEGMENT_LEN;
    }
    if header_len < 20 {
        // Wireshark: "Bogus TCP header length"; the stream is already set.
        bits |= info::HEADER_TRUNCATED;
    } else if reported < header_len && !frame.in_icmp_error {
        // Wireshark: "Short segment": the IP length ends inside the header.
        bits |= info::HEADER_TRUNCATED;
        read_options(
            option_bytes(captured, header_len),
            packet,
            attrs,
            &mut bits,
            sacks,
        );
    } else if captured.len() >= header_len {
        // The whole header is in the frame (`header_len` >= 20 here).
        read_options(&captured[20..header_len], packet, attrs, &mut bits, sacks);
        let payload_len = reported.saturating_sub(header_len);
        let payload = &captured[header_len..];
        let payload = &payload[..payload.len().min(payload_len)];
        packet.payload_len = payload_len.min(u16::MAX as usize) as u16;
        packet.captured_len = payload.len().min(u16::MAX as usize) as u16;
        if payload.len() < payload_len {
            bits |= info::TRUNCATED;
        }
        if !payload.is_empty() {
            if !frame.skip_payload_hash {
                packet.payload_hash = payload_hash(payload);
            }
            if packet.flags & tcp_flags::RST != 0 {
                *rst_payload = Some(payload);
            }
        }
    } else {
        // The frame ends inside the header (snaplen, or a quoted datagram in
        // an ICMP error): seq and flags are known, options may be cut.
        bits |= info::HEADER_TRUNCATED;
        packet.payload_len = reported.saturating_sub(header_len).min(u16::MAX as usize) as u16;
        if packet.payload_len > 0 {
            bits |= info::TRUNCATED;
        }
        read_options(
            option_bytes(captured, header_len),
            packet,
            attrs,
            &mut bits,
            sacks,
        );
    }
    packet.info = bits;
    let pair = crate::conn::PairHint::of(fields.src, fields.dst, packet.sport, packet.dport);
    tcp.pair_hash = pair.hash;
    tcp.pair_flow = pair.flow;
}

/// The option bytes present in a frame that may end inside the header.
fn option_bytes(captured: &[u8], header_len: usize) -> &[u8] {
    let end = header_len.min(captured.len());
    captured.get(20..end).unwrap_or(&[])
}

/// Read the options twincap keeps. We walk the option list ourselves (an
/// option etherparse does not know, such as TFO, MPTCP or MD5, would end its
/// iterator) and let `TcpOptionsIterator` decode each option we keep. Like
/// Wireshark, we stop at an option whose length is impossible.
fn read_options(
    options: &[u8],
    packet: &mut TcpPacket,
    attrs: &mut PacketAttrs,
    bits: &mut u16,
    sacks: &mut [SackBlock; 4],
) {
    let mut at = 0;
    while at < options.len() {
        let kind = options[at];
        match kind {
            0 => return,
            1 => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let Some(&len) = options.get(at + 1) else {
            return;
        };
        let len = len as usize;
        if len < 2 || at + len > options.len() {
            return;
        }
        let option = &options[at..at + len];
        at += len;
        if (kind == 34 && len > 2) || (kind == 254 && len > 4 && option[2..4] == [0xf9, 0x89]) {
            *bits |= info::TFO_COOKIE;
        }
        // The options of nearly every segment, read by hand with the
        // checks etherparse makes (a kind of fixed size and that size):
        // its iterator cost more than the rest of the option walk.
        match (kind, len) {
            (8, 10) => {
                packet.ts_val = be32(option, 2);
                packet.ts_ecr = be32(option, 6);
                *bits |= info::TIMESTAMPS;
                continue;
            }
            (2, 4) => {
                attrs.mss = be16(option, 2);
                *bits |= info::MSS;
                continue;
            }
            (3, 3) => {
                packet.wscale = option[2];
                *bits |= info::WSCALE;
                continue;
            }
            (4, 2) => {
                *bits |= info::SACK_PERM;
                continue;
            }
            _ => {}
        }
        let Some(Ok(element)) = TcpOptionsIterator::from_slice(option).next() else {
            continue;
        };
        match element {
            TcpOptionElement::MaximumSegmentSize(mss) => {
                attrs.mss = mss;
                *bits |= info::MSS;
            }
            TcpOptionElement::WindowScale(shift) => {
                packet.wscale = shift;
                *bits |= info::WSCALE;
            }
            TcpOptionElement::SelectiveAcknowledgementPermitted => *bits |= info::SACK_PERM,
            TcpOptionElement::Timestamp(val, ecr) => {
                packet.ts_val = val;
                packet.ts_ecr = ecr;
                *bits |= info::TIMESTAMPS;
            }
            TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                let blocks = std::iter::once(Some(first)).chain(rest).flatten();
                let mut count = 0;
                for (slot, (left, right)) in sacks.iter_mut().zip(blocks) {
                    *slot = SackBlock { left, right };
                    count += 1;
                }
                packet.sack_count = count;
            }
            TcpOptionElement::Noop => {}
        }
    }
}

/// A fast 32-bit hash of payload bytes (FxHash, both halves folded); never
/// 0 for a non-empty payload, so 0 can mean "no payload".
fn payload_hash(payload: &[u8]) -> u32 {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(payload);
    hasher.write_usize(payload.len());
    let h = hasher.finish();
    ((h ^ (h >> 32)) as u32).max(1)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options `read_options` reads by hand (MSS, window scale,
    /// SACK-permitted, timestamps), of every length from 0 to 12, give
    /// what etherparse's iterator gives them.
    #[test]
    fn options_read_by_hand_as_etherparse_reads_them() {
        // A packet with every option field 0: a raw IPv4 frame of 40 bytes.
        let mut frame = vec![
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        frame.extend([
            0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 1, 0, 0, 0, 0, 0,
        ]);
        let Decoded::Tcp(zero) = decode_frame(link::linktype::IPV4, &frame) else {
            panic!("not decoded");
        };
        for kind in [2u8, 3, 4, 8] {
            for len in 0u8..=12 {
                let mut option = vec![kind, len];
                option.extend((0..10).map(|i| 0x81 + i as u8 * 7));
                let mut packet = zero.packet.clone();
                let mut attrs = PacketAttrs::default();
                let (mut bits, mut sacks) = (0, [SackBlock { left: 0, right: 0 }; 4]);
                read_options(&option, &mut packet, &mut attrs, &mut bits, &mut sacks);
                let (mut want, mut want_attrs, mut want_bits) =
                    (zero.packet.clone(), PacketAttrs::default(), 0);
                let whole = (2..=option.len()).contains(&(len as usize));
                let element = whole
                    .then(|| TcpOptionsIterator::from_slice(&option[..len as usize]).next())
                    .flatten();
                match element {
                    Some(Ok(TcpOptionElement::MaximumSegmentSize(mss))) => {
                        want_attrs.mss = mss;
                        want_bits = info::MSS;
                    }
                    Some(Ok(TcpOptionElement::WindowScale(shift))) => {
                        want.wscale = shift;
                        want_bits = info::WSCALE;
                    }
                    Some(Ok(TcpOptionElement::SelectiveAcknowledgementPermitted)) => {
                        want_bits = info::SACK_PERM
                    }
                    Some(Ok(TcpOptionElement::Timestamp(val, ecr))) => {
                        (want.ts_val, want.ts_ecr) = (val, ecr);
                        want_bits = info::TIMESTAMPS;
                    }
                    _ => {}
                }
                let what = format!("kind {kind}, length {len}");
                assert_eq!(packet, want, "{what}");
                assert_eq!(attrs, want_attrs, "{what}");
                assert_eq!(bits, want_bits, "{what}");
            }
        }
    }

    /// The reader holds three chunks of 8 192 decoded frames: a field
    /// added to `DecodedTcp` grows them all (and `twincap diff`'s peak).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn decoded_size() {
        assert_eq!(std::mem::size_of::<Decoded<'_>>(), 168);
    }
}
