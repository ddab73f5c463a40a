//! Link layers, down to the first IP header: Ethernet (802.1Q/802.1ad tag
//! stacks, 802.1ah, MACsec without encryption, PPPoE sessions, MPLS,
//! LLC/SNAP), Linux cooked SLL and SLL2, raw IP, BSD null/loopback and
//! OpenBSD LOOP, enc and pflog, PPP, Cisco HDLC, 802.11 (plain and
//! radiotap); GRE, which is a link layer inside IP; and the UDP tunnels
//! Wireshark decodes by port (VXLAN, Geneve, GTP-U, Teredo). `etherparse`
//! has no SLL2, null or PPPoE, and its VLAN support stops at two tags, so
//! these few fixed layouts are read by hand.

/// pcap LINKTYPE_* values twincap decodes.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    /// DLT_RAW as some BSDs number it in pcap files.
    pub const RAW_DLT12: u32 = 12;
    /// DLT_RAW as OpenBSD numbers it.
    pub const RAW_DLT14: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
    pub const PPP: u32 = 9;
    pub const PPP_HDLC: u32 = 50;
    pub const C_HDLC: u32 = 104;
    pub const IEEE802_11: u32 = 105;
    /// OpenBSD IPsec enc(4).
    pub const ENC: u32 = 109;
    /// OpenBSD pf log.
    pub const PFLOG: u32 = 117;
    pub const IEEE802_11_RADIOTAP: u32 = 127;
}

/// Ethertypes the decoder follows.
mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ tag type, Wireshark's default `vlan.qinq_ethertype`
    /// (it does not take 0x9200 or 0x9300 for tags).
    pub const QINQ_OLD: u16 = 0x9100;
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// 802.1AE MACsec.
    pub const MACSEC: u16 = 0x88e5;
    /// 802.1ah provider backbone bridging (MAC-in-MAC).
    pub const PBB: u16 = 0x88e7;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    /// Largest value that is an 802.3 length rather than an ethertype.
    pub const MAX_8023_LEN: u16 = 1500;
}

/// Where the link layer led.
#[derive(Debug, PartialEq, Eq)]
pub enum Network<'a> {
    /// An IP header (v4 or v6, by its first nibble) starts here and runs to
    /// the end of the frame.
    Ip(&'a [u8]),
    /// Something other than IP (ARP, LLDP, STP, ...).
    Other,
    Malformed(&'static str),
    /// A link type twincap does not decode.
    Unsupported,
}

/// What the link layer says about the frame besides where IP starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// Id of the outermost VLAN tag, if the frame was tagged.
    pub vlan: Option<u16>,
    /// A length the link layer gives its payload, when shorter than the
    /// frame: PPPoE's payload length. Wireshark's packet-pppoe.c cuts the
    /// reported length there, so bytes after it are a trailer.
    pub ip_len_limit: Option<usize>,
    /// The IP version the link layer's type field names, when Wireshark's
    /// dissector for it accepts only that version (ethertypes 0x0800 and
    /// 0x86DD, PPP's IPv6, the IPv6 address families); `None` where the
    /// version nibble decides (raw IP, MPLS, PPP's and GRE's IPv4...).
    pub ip_version: Option<u8>,
    /// Id of the innermost VLAN tag (Wireshark's `pinfo->vlan_id`).
    pub inner_vlan: Option<u16>,
}

/// How many tags or labels we follow before giving up on a frame.
const MAX_STACK: usize = 8;

/// Strip the link layer of `link_type` from `data`; `link` receives the VLAN
/// id and PPPoE length.
pub fn network_layer<'a>(link_type: u32, data: &'a [u8], link: &mut LinkInfo) -> Network<'a> {
    match link_type {
        linktype::ETHERNET => {
            if data.len() < 14 {
                return Network::Malformed("frame shorter than an Ethernet header");
            }
            by_ethertype(be16(data, 12), &data[14..], link)
        }
        linktype::LINUX_SLL => {
            // packet type, ARPHRD type, address length, 8 address bytes, protocol.
            if data.len() < 16 {
                return Network::Malformed("frame shorter than a Linux SLL header");
            }
            by_ethertype(be16(data, 14), &data[16..], link)
        }
        linktype::LINUX_SLL2 => {
            // protocol, reserved, interface index, ARPHRD type, packet type,
            // address length, 8 address bytes.
            if data.len() < 20 {
                return Network::Malformed("frame shorter than a Linux SLL2 header");
            }
            by_ethertype(be16(data, 0), &data[20..], link)
        }
        linktype::RAW
        | linktype::RAW_DLT12
        | linktype::RAW_DLT14
        | linktype::IPV4
        | linktype::IPV6 => Network::Ip(data),
        linktype::NULL => {
            // packet-null.c, dissect_null: PPP in HDLC framing if it starts
            // FF 03; else a 32-bit value in the capturing host's byte order
            // (read little-endian, as Wireshark on x86), normalised by its
            // byte-order guesses; above 1500 it is an ethertype (old Linux
            // loopback captures), otherwise a BSD address family.
            if data.len() < 4 {
                return Network::Malformed("frame shorter than a null/loopback header");
            }
            if data[..2] == [0xff, 0x03] {
                return network_layer(linktype::PPP_HDLC, data, link);
            }
            let mut value = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            if value & 0xffff_0000 != 0 {
                if value & 0xff00_0000 == 0 && value & 0x00ff_0000 < 0x0006_0000 {
                    value >>= 16;
                } else {
                    value = value.swap_bytes();
                }
            } else if value & 0xff == 0 && value & 0xff00 < 0x0600 {
                value = ((value & 0xffff) as u16).swap_bytes() as u32;
            }
            if value > ethertype::MAX_8023_LEN as u32 {
                return by_ethertype(value as u16, &data[4..], link);
            }
            by_address_family(value, &data[4..], link)
        }
        linktype::LOOP => {
            if data.len() < 4 {
                return Network::Malformed("frame shorter than a loopback header");
            }
            // dissect_loop: the family in network byte order.
            let family = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            by_address_family(family, &data[4..], link)
        }
        linktype::PPP | linktype::PPP_HDLC => {
            // RFC 1661/1662: optional address and control bytes (FF 03),
            // then the protocol, 1 byte when compressed.
            let rest = match data {
                [0xff, 0x03, rest @ ..] => rest,
                rest => rest,
            };
            match rest {
                [0x00, 0x21, ip @ ..]
                | [0x21, ip @ ..]
                | [0x00, 0x57, ip @ ..]
                | [0x57, ip @ ..] => Network::Ip(ip),
                [] | [_] => Network::Malformed("frame shorter than a PPP header"),
                _ => Network::Other,
            }
        }
        linktype::C_HDLC => {
            // Cisco HDLC: address, control, then an ethertype.
            if data.len() < 4 {
                return Network::Malformed("frame shorter than a Cisco HDLC header");
            }
            by_ethertype(be16(data, 2), &data[4..], link)
        }
        linktype::IEEE802_11 => ieee80211_payload(data, link),
        linktype::IEEE802_11_RADIOTAP => {
            // The radiotap header says its own length (little-endian).
            if data.len() < 4 {
                return Network::Malformed("frame shorter than a radiotap header");
            }
            let header_len = u16::from_le_bytes([data[2], data[3]]) as usize;
            match data.get(header_len..) {
                Some(frame) => ieee80211_payload(frame, link),
                None => Network::Malformed("radiotap header longer than the frame"),
            }
        }
        linktype::ENC => {
            // Address family (host order), SPI, flags.
            if data.len() < 12 {
                return Network::Malformed("frame shorter than an enc header");
            }
            let mut family = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            if family & 0xffff == 0 {
                family = family.swap_bytes();
            }
            by_address_family(family, &data[12..], link)
        }
        linktype::PFLOG => {
            // Header length (word-aligned), then the address family.
            let (Some(&len), Some(&family)) = (data.first(), data.get(1)) else {
                return Network::Malformed("frame shorter than a pflog header");
            };
            let header_len = (len as usize + 3) & !3;
            match data.get(header_len..) {
                Some(rest) if header_len >= 4 => by_address_family(family as u32, rest, link),
                _ => Network::Malformed("pflog header longer than the frame"),
            }
        }
        _ => Network::Unsupported,
    }
}

/// BSD address families Wireshark's "null.type" table knows: AF_INET (2)
/// to the lenient IP dissector, AF_INET6 as NetBSD/OpenBSD (24), FreeBSD
/// (28) and macOS (30) number it, to the IPv6 one.
fn by_address_family<'a>(family: u32, rest: &'a [u8], link: &mut LinkInfo) -> Network<'a> {
    match family {
        2 => Network::Ip(rest),
        24 | 28 | 30 => {
            link.ip_version = Some(6);
            Network::Ip(rest)
        }
        _ => Network::Other,
    }
}

/// Follow an ethertype through VLAN tags, PPPoE, MPLS and LLC/SNAP to IP.
pub(crate) fn by_ethertype<'a>(
    mut kind: u16,
    mut rest: &'a [u8],
    link: &mut LinkInfo,
) -> Network<'a> {
    for _ in 0..MAX_STACK {
        match kind {
            ethertype::IPV4 => {
                link.ip_version = Some(4);
                return Network::Ip(rest);
            }
            ethertype::IPV6 => {
                link.ip_version = Some(6);
                return Network::Ip(rest);
            }
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD => {
                // 802.1Q / 802.1ad tag: TCI (PCP, DEI, 12-bit id), then the
                // next ethertype. Any number of tags; the outer id is kept.
                if rest.len() < 4 {
                    return Network::Malformed("frame ends inside a VLAN tag");
                }
                link.vlan.get_or_insert(be16(rest, 0) & 0x0fff);
                link.inner_vlan = Some(be16(rest, 0) & 0x0fff);
                kind = be16(rest, 2);
                rest = &rest[4..];
            }
            ethertype::MACSEC => {
                // 802.1AE SecTAG (6 bytes, 14 with the SCI), a 16-byte ICV
                // at the end; only integrity-protected frames (neither E nor C
                // set) have a readable ethertype (packet-macsec.c).
                let Some(&tci) = rest.first() else {
                    return Network::Malformed("frame ends inside a MACsec tag");
                };
                let sectag_len = if tci & 0x20 != 0 { 14 } else { 6 };
                if tci & 0x80 != 0 || rest.len() <= sectag_len + 16 {
                    return Network::Other;
                }
                if tci & 0x0c != 0 {
                    return Network::Other;
                }
                kind = be16(rest, sectag_len);
                rest = &rest[sectag_len + 2..];
            }
            ethertype::PBB => {
                // 802.1ah: I-TAG, then the customer's MAC addresses and type.
                if rest.len() < 18 {
                    return Network::Malformed("frame ends inside an 802.1ah header");
                }
                kind = be16(rest, 16);
                rest = &rest[18..];
            }
            ethertype::PPPOE_SESSION => {
                // RFC 2516: version/type, code, session id, length; then the
                // PPP protocol field (RFC 1661), 1 byte when compressed.
                if rest.len() < 7 {
                    return Network::Malformed("frame ends inside a PPPoE header");
                }
                let (protocol, header_len) = if rest[6] & 1 == 1 {
                    (rest[6] as u16, 7)
                } else if rest.len() >= 8 {
                    (be16(rest, 6), 8)
                } else {
                    return Network::Malformed("frame ends inside a PPPoE header");
                };
                let payload_len = be16(rest, 4) as usize;
                if payload_len < rest.len() - 6 {
                    link.ip_len_limit = Some(payload_len.saturating_sub(header_len - 6));
                }
                return match protocol {
                    0x0021 => Network::Ip(&rest[header_len..]),
                    0x0057 => {
                        link.ip_version = Some(6);
                        Network::Ip(&rest[header_len..])
                    }
                    _ => Network::Other,
                };
            }
            ethertype::MPLS | ethertype::MPLS_MULTICAST => {
                // Labels until the bottom-of-stack bit; then, as Wireshark
                // guesses, IP if the first nibble says 4 or 6.
                let mut at = 0;
                loop {
                    if rest.len() < at + 4 {
                        return Network::Malformed("frame ends inside an MPLS label stack");
                    }
                    let bottom = rest[at + 2] & 1 == 1;
                    at += 4;
                    if bottom {
                        break;
                    }
                    if at >= 4 * MAX_STACK {
                        return Network::Other;
                    }
                }
                return match rest.get(at).map(|b| b >> 4) {
                    Some(4 | 6) => Network::Ip(&rest[at..]),
                    _ => Network::Other,
                };
            }
            // 802.3 length: LLC, and SNAP (AA AA 03, OUI 0) carries an ethertype.
            k if k <= ethertype::MAX_8023_LEN
                && rest.len() >= 8
                && rest[..3] == [0xaa, 0xaa, 0x03]
                && rest[3..6] == [0, 0, 0] =>
            {
                kind = be16(rest, 6);
                rest = &rest[8..];
            }
            _ => return Network::Other,
        }
    }
    Network::Other
}

/// The IP datagram inside a GRE packet (RFC 2784/2890), if it carries one:
/// flags and version, protocol, then optional checksum, key and sequence
/// words. Besides IP and MPLS, Wireshark 4.0 follows (gre.proto table)
/// transparent Ethernet bridging and MikroTik EoIP, Cisco ERSPAN, and Aruba's
/// 802.11 tunnels (0x8200-0x8370), which all lead to IP here.
pub fn gre_payload(gre: &[u8]) -> Option<&[u8]> {
    if gre.len() < 4 {
        return None;
    }
    let flags = gre[0];
    if gre[1] & 0x07 != 0 {
        // Version 1 is PPTP's enhanced GRE; not followed.
        return None;
    }
    let mut at = 4;
    if flags & 0x80 != 0 {
        at += 4; // checksum + reserved
    }
    if flags & 0x20 != 0 {
        at += 4; // key
    }
    if flags & 0x10 != 0 {
        at += 4; // sequence number
    }
    let rest = gre.get(at..)?;
    let mut link = LinkInfo::default();
    let inner = match be16(gre, 2) {
        // Transparent Ethernet bridging, MikroTik EoIP.
        0x6558 | 0x6400 => ethernet_payload(rest, &mut link),
        // ERSPAN type II (version 1, 8-byte header) and III (version 2,
        // 12 bytes and an optional 8-byte platform subheader); type I has
        // no header.
        0x88be | 0x22eb => {
            let header_len = match rest.first().map(|b| b >> 4) {
                Some(1) => 8,
                Some(2) => 12 + 8 * (*rest.get(11)? & 1) as usize,
                _ => 0,
            };
            ethernet_payload(rest.get(header_len..)?, &mut link)
        }
        kind @ 0x8200..=0x8370 if kind & 0x000f == 0 => ieee80211_payload(rest, &mut link),
        kind => by_ethertype(kind, rest, &mut link),
    };
    match inner {
        Network::Ip(inner) => Some(inner),
        _ => None,
    }
}

/// An Ethernet II frame without FCS, inside a tunnel.
fn ethernet_payload<'a>(frame: &'a [u8], link: &mut LinkInfo) -> Network<'a> {
    if frame.len() < 14 {
        return Network::Malformed("tunnelled Ethernet frame cut short");
    }
    by_ethertype(be16(frame, 12), &frame[14..], link)
}

/// An IEEE 802.11 data frame without FCS: MAC header (24 bytes, a fourth
/// address between access points, QoS control, HT control), then LLC/SNAP.
/// Protected (encrypted) and null-data frames carry no IP we can read.
fn ieee80211_payload<'a>(frame: &'a [u8], link: &mut LinkInfo) -> Network<'a> {
    let (Some(&control), Some(&flags)) = (frame.first(), frame.get(1)) else {
        return Network::Malformed("802.11 frame cut short");
    };
    let (kind, subtype) = ((control >> 2) & 3, control >> 4);
    if kind != 2 || subtype & 0x4 != 0 || flags & 0x40 != 0 {
        return Network::Other;
    }
    let mut header_len = 24;
    if flags & 0x03 == 0x03 {
        header_len += 6;
    }
    if subtype & 0x8 != 0 {
        // QoS control; an A-MSDU (bit 7) holds subframes, not one packet.
        if frame.get(header_len).is_some_and(|qos| qos & 0x80 != 0) {
            return Network::Other;
        }
        header_len += 2;
        if flags & 0x80 != 0 {
            header_len += 4;
        }
    }
    match frame.get(header_len..header_len + 8) {
        Some([0xaa, 0xaa, 0x03, 0, 0, 0 | 0xf8, hi, lo]) => by_ethertype(
            u16::from_be_bytes([*hi, *lo]),
            &frame[header_len + 8..],
            link,
        ),
        _ => Network::Other,
    }
}

/// The IP datagram inside a UDP tunnel Wireshark 4.0 decodes by port:
/// VXLAN (4789) and Geneve (6081) carrying Ethernet, GTP-U (2152) and
/// Teredo (3544) carrying IP. `udp` starts at the UDP header. As Wireshark's
/// `decode_udp_ports`, the lower port is tried first.
pub fn udp_tunnel_payload(udp: &[u8]) -> Option<&[u8]> {
    if udp.len() < 8 {
        return None;
    }
    let (sport, dport) = (be16(udp, 0), be16(udp, 2));
    let (low, high) = (sport.min(dport), sport.max(dport));
    let port = [low, high]
        .into_iter()
        .find(|p| matches!(p, 4789 | 6081 | 2152 | 3544))?;
    let body = &udp[8..];
    let mut link = LinkInfo::default();
    let inner = match port {
        // VXLAN: flags, reserved, VNI; then Ethernet.
        4789 => ethernet_payload(body.get(8..)?, &mut link),
        // Geneve: version/option length (in 4-byte words), flags, protocol.
        6081 => {
            let header_len = 8 + 4 * (*body.first()? & 0x3f) as usize;
            let protocol = u16::from_be_bytes([*body.get(2)?, *body.get(3)?]);
            let inner = body.get(header_len..)?;
            if protocol == 0x6558 {
                ethernet_payload(inner, &mut link)
            } else {
                by_ethertype(protocol, inner, &mut link)
            }
        }
        2152 => return gtp_u_payload(body),
        3544 => return teredo_payload(body),
        _ => return None,
    };
    match inner {
        Network::Ip(inner) => Some(inner),
        _ => None,
    }
}

/// GTPv1-U (3GPP TS 29.281): a G-PDU (message type 255) carries the user's
/// IP packet after an 8-byte header, 4 more bytes when any of the E, S, PN
/// flags is set, and any extension headers.
fn gtp_u_payload(gtp: &[u8]) -> Option<&[u8]> {
    let flags = *gtp.first()?;
    if flags >> 5 != 1 || flags & 0x10 == 0 || *gtp.get(1)? != 0xff {
        return None;
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        at = 12;
        let mut next = *gtp.get(11)?;
        if flags & 0x04 != 0 {
            while next != 0 {
                let words = *gtp.get(at)? as usize;
                if words == 0 {
                    return None;
                }
                at += 4 * words;
                next = *gtp.get(at - 1)?;
            }
        }
    }
    let inner = gtp.get(at..)?;
    matches!(inner.first().map(|b| b >> 4), Some(4 | 6)).then_some(inner)
}

/// Teredo (RFC 4380): optional authentication (0x0001) and origin indication
/// (0x0000) headers, then IPv6.
fn teredo_payload(teredo: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    if teredo.get(..2)? == [0, 1] {
        let id_len = *teredo.get(2)? as usize;
        let auth_len = *teredo.get(3)? as usize;
        at += 4 + id_len + auth_len + 9;
    }
    if teredo.get(at..at + 2)? == [0, 0] {
        at += 8;
    }
    let inner = teredo.get(at..)?;
    (inner.first().map(|b| b >> 4) == Some(6)).then_some(inner)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_header_in_either_byte_order() {
        let mut link = LinkInfo::default();
        let le = [2, 0, 0, 0, 0x45];
        let be = [0, 0, 0, 2, 0x45];
        assert_eq!(
            network_layer(linktype::NULL, &le, &mut link),
            Network::Ip(&[0x45])
        );
        assert_eq!(
            network_layer(linktype::NULL, &be, &mut link),
            Network::Ip(&[0x45])
        );
        assert_eq!(
            network_layer(linktype::LOOP, &[0, 0, 0, 30, 0x60], &mut link),
            Network::Ip(&[0x60])
        );
        assert_eq!(
            network_layer(linktype::NULL, &[7, 0, 0, 0], &mut link),
            Network::Other
        );
    }

    #[test]
    fn qinq_keeps_the_outer_vlan() {
        let mut link = LinkInfo::default();
        let rest = [0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00, 0x45];
        assert_eq!(by_ethertype(0x88a8, &rest, &mut link), Network::Ip(&[0x45]));
        assert_eq!(link.vlan, Some(100));
    }

    #[test]
    fn short_headers_are_malformed_not_panics() {
        for lt in [0, 1, 108, 113, 276] {
            for n in 0..24 {
                let mut link = LinkInfo::default();
                let _ = network_layer(lt, &vec![0x81; n], &mut link);
            }
        }
        assert_eq!(gre_payload(&[0x80, 0, 0x08, 0]), None);
    }
}
