//! Link layer, IP and TCP decoding of one frame.
//!
//! `decode_frame` runs once per record on millions of frames, in parallel, so
//! it never allocates and never panics: every read is bounds-checked, and a
//! frame that ends early or carries a nonsensical length comes back as
//! [`Decoded::Malformed`] (or, where Wireshark still shows the TCP ports and
//! flags, as a TCP packet marked [`info::HEADER_TRUNCATED`]).
//!
//! Which frames count as TCP follows Wireshark 4.0: a frame is a TCP packet
//! exactly when Wireshark gives it a `tcp.stream`, i.e. when its TCP header
//! reaches at least the window field (`dissect_tcp` reads ports, seq, ack,
//! offset/flags and window before it looks up the conversation, and a short
//! frame throws before that). The link layers live in [`link`]; the IP
//! and TCP headers are read with `etherparse` slices.

use crate::packet::{info, tcp_flags, SackBlock, TcpPacket};
use etherparse::{
    IpAuthHeaderSlice, IpNumber, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice,
    Ipv6RawExtHeaderSlice, TcpHeaderSlice, TcpOptionElement, TcpOptionsIterator,
};
use std::hash::Hasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[path = "defrag.rs"]
pub mod defrag;
#[path = "link.rs"]
pub mod link;

/// What one frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp(Box<DecodedTcp<'a>>),
    NonTcp,
    /// An IP fragment (IPv4 with MF set or a non-zero offset, or an IPv6
    /// fragment header that is not an atomic fragment): counted, not
    /// reassembled.
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
    decode(
        link_type,
        data,
        (orig_len as usize).saturating_sub(data.len()),
    )
}

/// `cut`: bytes of the frame the capture did not keep (`usize::MAX`: unknown).
fn decode(link_type: u32, data: &[u8], cut: usize) -> Decoded<'_> {
    let mut link = link::LinkInfo::default();
    match link::network_layer(link_type, data, &mut link) {
        link::Network::Ip(bytes) => {
            let frame = Frame {
                vlan: link.vlan,
                ..Frame::default()
            };
            let reported = bytes
                .len()
                .saturating_add(cut)
                .min(link.ip_len_limit.unwrap_or(usize::MAX));
            ip(bytes, reported, &frame, 0)
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
    /// IPv4 total length, or IPv6 payload length + 40 (after the TSO fix-up).
    pub(crate) ip_len: u16,
}

/// Dispatch on the IP version nibble. `bytes` runs to the end of what was
/// captured; `reported` is how long the layers below say the datagram may
/// be (Wireshark's reported length of the IP tvb).
fn ip<'a>(bytes: &'a [u8], reported: usize, frame: &Frame, depth: u8) -> Decoded<'a> {
    if depth >= MAX_IP_DEPTH {
        return Decoded::NonTcp;
    }
    match bytes.first().map(|b| b >> 4) {
        Some(4) => ipv4(bytes, reported, frame, depth),
        Some(6) => ipv6(bytes, reported, frame, depth),
        Some(_) => Decoded::Malformed("IP version is neither 4 nor 6"),
        None => Decoded::Malformed("frame ends before the IP header"),
    }
}

/// The reported length, or the captured one when the frame's original length
/// was not given.
fn known_or_captured(reported: usize, bytes: &[u8]) -> usize {
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
    // Wireshark defragments by default; a fragment never reaches TCP on its
    // own frame. (An atomic fragment, offset 0 and MF clear, is not one.)
    let offset = header.fragments_offset().value();
    if offset != 0 || (header.more_fragments() && !frame.in_icmp_error) {
        return Decoded::Ipv4Fragment;
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
    // A payload length of 0 without a jumbogram is what TSO captures show;
    // like IPv4, take the reported length then.
    let mut payload_len = header.payload_length() as usize;
    if payload_len == 0 {
        payload_len = known_or_captured(reported, bytes).saturating_sub(40);
    }
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
            IpNumber::AUTHENTICATION_HEADER => match IpAuthHeaderSlice::from_slice(rest) {
                Ok(ext) => {
                    next = ext.next_header();
                    ext.slice().len()
                }
                Err(_) => return Decoded::Malformed("IPv6 authentication header cut short"),
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
        // IP-in-IP and 6in4/4in6: Wireshark's addresses are the innermost IP's.
        IpNumber::IPV4 | IpNumber::IPV6 => {
            if frame.in_icmp_error {
                return Decoded::NonTcp;
            }
            ip(payload, reported, frame, depth + 1)
        }
        IpNumber::GRE => match link::gre_payload(payload) {
            Some(inner) if !frame.in_icmp_error => {
                let header_len = payload.len() - inner.len();
                ip(inner, reported.saturating_sub(header_len), frame, depth + 1)
            }
            _ => Decoded::NonTcp,
        },
        IpNumber::ICMP | IpNumber::IPV6_ICMP => {
            // ICMP errors quote the offending datagram after an 8-byte header.
            // Wireshark dissects it, TCP included, with in_error_pkt set
            // (packet-icmp.c, packet-icmpv6.c); it never looks inside a
            // quoted ICMP error again.
            let is_error = matches!(
                (protocol, payload.first()),
                (IpNumber::ICMP, Some(3 | 4 | 5 | 11 | 12)) | (IpNumber::IPV6_ICMP, Some(1..=4))
            );
            if !is_error || frame.in_icmp_error || payload.len() <= 8 {
                return Decoded::NonTcp;
            }
            let inner_frame = Frame {
                in_icmp_error: true,
                ..*frame
            };
            match ip(
                &payload[8..],
                reported.saturating_sub(8),
                &inner_frame,
                depth + 1,
            ) {
                tcp @ Decoded::Tcp(_) => tcp,
                _ => Decoded::NonTcp,
            }
        }
        IpNumber::UDP => match link::udp_tunnel_payload(payload) {
            Some(inner) if !frame.in_icmp_error => {
                let header_len = payload.len() - inner.len();
                ip(inner, reported.saturating_sub(header_len), frame, depth + 1)
            }
            _ => Decoded::NonTcp,
        },
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
    if captured.len() < TCP_STREAM_MIN_LEN {
        return Decoded::Malformed("TCP header cut before the window field");
    }
    let mut packet = TcpPacket {
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
        mss: 0,
        vlan: frame.vlan.unwrap_or(0),
        trailer_len: frame.trailer_len,
        ttl: fields.ttl,
        tos: fields.tos,
        wscale: 0,
        tcp_hdr_len: (captured[12] >> 4) * 4,
        sack_count: 0,
        ts_val: 0,
        ts_ecr: 0,
        sack_index: 0,
        payload_hash: 0,
    };
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
    let mut sacks = [SackBlock { left: 0, right: 0 }; 4];
    let mut rst_payload = None;
    if header_len < 20 {
        // Wireshark: "Bogus TCP header length"; the stream is already set.
        bits |= info::HEADER_TRUNCATED;
    } else if reported < header_len && !frame.in_icmp_error {
        // Wireshark: "Short segment": the IP length ends inside the header.
        bits |= info::HEADER_TRUNCATED | info::SHORT_SEGMENT;
        read_options(
            option_bytes(captured, header_len),
            &mut packet,
            &mut bits,
            &mut sacks,
        );
    } else if let Ok(header) = TcpHeaderSlice::from_slice(captured) {
        read_options(header.options(), &mut packet, &mut bits, &mut sacks);
        let payload_len = reported.saturating_sub(header_len);
        let payload = &captured[header_len..];
        let payload = &payload[..payload.len().min(payload_len)];
        packet.payload_len = payload_len.min(u16::MAX as usize) as u16;
        packet.captured_len = payload.len().min(u16::MAX as usize) as u16;
        if payload.len() < payload_len {
            bits |= info::TRUNCATED;
        }
        if !payload.is_empty() {
            packet.payload_hash = payload_hash(payload);
            if packet.flags & tcp_flags::RST != 0 {
                rst_payload = Some(payload);
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
            &mut packet,
            &mut bits,
            &mut sacks,
        );
    }
    packet.info = bits;
    Decoded::Tcp(Box::new(DecodedTcp {
        packet,
        src: fields.src,
        dst: fields.dst,
        sacks,
        rst_payload,
    }))
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
        let Some(Ok(element)) = TcpOptionsIterator::from_slice(option).next() else {
            continue;
        };
        match element {
            TcpOptionElement::MaximumSegmentSize(mss) => {
                packet.mss = mss;
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

/// A fast 64-bit hash of payload bytes (FxHash); never 0 for a non-empty
/// payload, so 0 can mean "no payload".
fn payload_hash(payload: &[u8]) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(payload);
    hasher.write_usize(payload.len());
    hasher.finish().max(1)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
