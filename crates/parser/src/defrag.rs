//! IP reassembly, as Wireshark 4.0 does it by default (`ip.defragment` and
//! `ipv6.defragment` are on): the frame whose fragment completes a datagram
//! carries the reassembled TCP segment, and gets a `tcp.stream`; the other
//! fragments carry none.
//!
//! `decode_frame` is stateless and runs in parallel, so it answers
//! [`Decoded::Ipv4Fragment`] for every fragment. A reader that wants
//! Wireshark's frame set offers those frames, in frame order, to one
//! [`Defragmenter`]:
//!
//! ```ignore
//! let mut defrag = Defragmenter::default();
//! let mut datagram = Vec::new();
//! // for each frame (in order) that decode_frame called Ipv4Fragment:
//! if let Decoded::Tcp(t) = defrag.push(link_type, data, orig_len, &mut datagram) {
//!     // a TCP packet at this frame, as for any other decoded frame
//! }
//! ```
//!
//! Rules followed (packet-ip.c `dissect_ip_v4`, packet-ipv6.c, reassemble.c):
//! a fragment joins only when all its data was captured; fragments are keyed
//! by source, destination and Wireshark's XOR of protocol, IP ID and
//! addresses (and the VLAN id for private or link-local addresses) for IPv4,
//! by source, destination and identification for IPv6; the protocol is the
//! completing fragment's; the datagram is complete
//! when the last fragment is in and the data has no hole; the header fields
//! of the completing frame (TTL, ID, ...) are the packet's. A fragment
//! arriving after its datagram completed starts a new one. (A first IPv4
//! fragment that is cut, which Wireshark dissects on its own, never comes
//! here: `decode_frame` decodes it, marked `info::NO_SEGMENT_LEN`.) Only
//! the outermost IP header is reassembled: a fragment inside a tunnel stays
//! a fragment (Wireshark would reassemble it too).

use super::link::{self, LinkInfo};
use super::{transport, Decoded, Frame, IpFields};
use etherparse::{
    IpNumber, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice, Ipv6RawExtHeaderSlice,
};
use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How many datagrams may wait for fragments before the oldest are dropped,
/// to keep memory bounded on captures full of lone fragments.
const MAX_PENDING: usize = 4096;

/// Which datagram a fragment belongs to: Wireshark's reassembly key, the
/// addresses and an id. For IPv4 the id is packet-ip.c's `frag_id`,
/// protocol ^ IP ID ^ source ^ destination (^ VLAN id when an address is
/// private or link-local), so two datagrams whose protocol ^ ID agree are
/// reassembled together, as in Wireshark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
}

#[derive(Debug, Default)]
struct Pending {
    /// (offset, bytes), by offset, then arrival.
    pieces: Vec<(usize, Vec<u8>)>,
    /// Length of the whole datagram payload, set by the first last fragment.
    total: Option<usize>,
    /// Arrival order, to drop the oldest when too many wait.
    serial: u64,
}

/// Collects IP fragments and hands back reassembled datagrams.
#[derive(Debug, Default)]
pub struct Defragmenter {
    pending: FxHashMap<Key, Pending>,
    serial: u64,
}

/// One fragment, read from its frame.
struct Fragment<'a> {
    key: Key,
    /// The protocol after IP, from this (the completing) fragment.
    protocol: u8,
    offset: usize,
    more: bool,
    data: &'a [u8],
    fields: IpFields,
    frame: Frame,
}

impl Defragmenter {
    /// Offer a frame `decode_frame` called a fragment. When it completes a
    /// datagram, the datagram's payload is left in `datagram` and decoded
    /// from there (usually as TCP); otherwise the answer is
    /// `Decoded::Ipv4Fragment`.
    pub fn push<'b>(
        &mut self,
        link_type: u32,
        data: &[u8],
        orig_len: u32,
        datagram: &'b mut Vec<u8>,
    ) -> Decoded<'b> {
        let Some(fragment) = read_fragment(link_type, data, orig_len) else {
            return Decoded::Ipv4Fragment;
        };
        if !self.add(&fragment, datagram) {
            return Decoded::Ipv4Fragment;
        }
        let datagram: &'b [u8] = datagram;
        let protocol = IpNumber(fragment.protocol);
        transport(
            protocol,
            datagram,
            datagram.len(),
            &fragment.fields,
            &fragment.frame,
            0,
        )
    }

    /// Add a fragment; true when it completed its datagram, now in `out`.
    /// Mirrors reassemble.c (`fragment_add_work`, `LINK_FRAG`): pieces are
    /// kept in offset order (arrival order among equal offsets); the first
    /// last fragment sets the length; the datagram is complete when the
    /// pieces, walked in order, reach that length; where pieces overlap,
    /// the bytes placed first are kept.
    fn add(&mut self, fragment: &Fragment<'_>, out: &mut Vec<u8>) -> bool {
        if self.pending.len() >= MAX_PENDING && !self.pending.contains_key(&fragment.key) {
            self.drop_oldest_half();
        }
        self.serial += 1;
        let serial = self.serial;
        let pending = self.pending.entry(fragment.key).or_insert_with(|| Pending {
            serial,
            ..Pending::default()
        });
        let at = pending
            .pieces
            .partition_point(|(offset, _)| *offset <= fragment.offset);
        pending
            .pieces
            .insert(at, (fragment.offset, fragment.data.to_vec()));
        if !fragment.more && pending.total.is_none() {
            pending.total = Some(fragment.offset + fragment.data.len());
        }
        let Some(total) = pending.total else {
            return false;
        };
        let mut reached = 0;
        for (offset, piece) in &pending.pieces {
            if *offset <= reached && offset + piece.len() > reached {
                reached = offset + piece.len();
            }
        }
        if reached < total {
            return false;
        }
        out.clear();
        out.resize(total, 0);
        let mut filled = 0;
        for (offset, piece) in &pending.pieces {
            let end = (offset + piece.len()).min(total);
            if *offset > filled {
                break; // cannot happen: the walk above found no hole
            }
            if *offset < total && end > filled {
                out[filled..end].copy_from_slice(&piece[filled - offset..end - offset]);
                filled = end;
            }
        }
        self.pending.remove(&fragment.key);
        true
    }

    fn drop_oldest_half(&mut self) {
        let mut serials: Vec<u64> = self.pending.values().map(|p| p.serial).collect();
        serials.sort_unstable();
        let cut = serials[serials.len() / 2];
        self.pending.retain(|_, p| p.serial > cut);
    }
}

/// Wireshark XORs the VLAN id into the IPv4 fragment id when either address
/// is private or link-local (RFC 1918, RFC 3927).
fn vlan_matters(a: Ipv4Addr) -> bool {
    a.is_private() || a.is_link_local()
}

/// The outermost IP header's fragment, if the frame holds a whole one.
fn read_fragment(link_type: u32, data: &[u8], orig_len: u32) -> Option<Fragment<'_>> {
    let mut link = LinkInfo::default();
    let link::Network::Ip(bytes) = link::network_layer(link_type, data, &mut link) else {
        return None;
    };
    let cut = (orig_len as usize).saturating_sub(data.len());
    let reported = bytes
        .len()
        .saturating_add(cut)
        .min(link.ip_len_limit.unwrap_or(usize::MAX));
    let mut frame = Frame {
        vlan: link.vlan,
        ..Frame::default()
    };
    match bytes.first()? >> 4 {
        4 => {
            let header = Ipv4HeaderSlice::from_slice(bytes).ok()?;
            if header.fragments_offset().value() == 0 && !header.more_fragments() {
                // The fragment is deeper (in a tunnel): not reassembled here.
                return None;
            }
            let header_len = header.slice().len();
            // Only fragments whose data, by the IP header's length, is all
            // in the frame are reassembled (tvb_bytes_exist).
            let total_len = match header.total_len() {
                // TSO: Wireshark takes the reported length (as decode does).
                0 => super::known_or_captured(reported, bytes),
                len => len as usize,
            };
            if total_len <= header_len || bytes.len() < total_len || reported < total_len {
                return None;
            }
            if bytes.len() > total_len {
                frame.trailer_len = (bytes.len() - total_len).min(u16::MAX as usize) as u16;
            }
            let (src, dst) = (
                Ipv4Addr::from(header.source()),
                Ipv4Addr::from(header.destination()),
            );
            let dst = super::source_route_destination(header.options()).unwrap_or(dst);
            let mut frag_id = header.protocol().0 as u32
                ^ header.identification() as u32
                ^ u32::from(src)
                ^ u32::from(dst);
            if vlan_matters(src) || vlan_matters(dst) {
                frag_id ^= link.inner_vlan.unwrap_or(0) as u32;
            }
            Some(Fragment {
                key: Key {
                    src: IpAddr::V4(src),
                    dst: IpAddr::V4(dst),
                    id: frag_id,
                },
                protocol: header.protocol().0,
                offset: header.fragments_offset().value() as usize * 8,
                more: header.more_fragments(),
                data: &bytes[header_len..total_len],
                fields: IpFields {
                    src: IpAddr::V4(src),
                    dst: IpAddr::V4(dst),
                    ipv6: false,
                    df: header.dont_fragment(),
                    ip_id: header.identification(),
                    ttl: header.ttl(),
                    tos: bytes[1],
                    ip_len: header.total_len(),
                },
                frame,
            })
        }
        6 => {
            let header = Ipv6HeaderSlice::from_slice(bytes).ok()?;
            let total_len = 40 + header.payload_length() as usize;
            if bytes.len() < total_len || reported < total_len {
                return None;
            }
            if bytes.len() > total_len {
                frame.trailer_len = (bytes.len() - total_len).min(u16::MAX as usize) as u16;
            }
            let mut rest = &bytes[40..total_len];
            let mut next = header.next_header();
            // Extension headers before the fragment header.
            while matches!(
                next,
                IpNumber::IPV6_HEADER_HOP_BY_HOP
                    | IpNumber::IPV6_ROUTE_HEADER
                    | IpNumber::IPV6_DESTINATION_OPTIONS
            ) {
                let ext = Ipv6RawExtHeaderSlice::from_slice(rest).ok()?;
                next = ext.next_header();
                rest = &rest[ext.slice().len()..];
            }
            if next != IpNumber::IPV6_FRAGMENTATION_HEADER {
                return None;
            }
            let fragment = Ipv6FragmentHeaderSlice::from_slice(rest).ok()?;
            if fragment.fragment_offset().value() == 0 && !fragment.more_fragments() {
                return None; // atomic: the fragment is deeper, in a tunnel
            }
            let (src, dst) = (
                Ipv6Addr::from(header.source()),
                Ipv6Addr::from(header.destination()),
            );
            Some(Fragment {
                key: Key {
                    src: IpAddr::V6(src),
                    dst: IpAddr::V6(dst),
                    id: fragment.identification(),
                },
                protocol: fragment.next_header().0,
                offset: fragment.fragment_offset().value() as usize * 8,
                more: fragment.more_fragments(),
                data: &rest[8..],
                fields: IpFields {
                    src: IpAddr::V6(src),
                    dst: IpAddr::V6(dst),
                    ipv6: true,
                    df: false,
                    ip_id: 0,
                    ttl: header.hop_limit(),
                    tos: header.traffic_class(),
                    ip_len: (40 + header.payload_length() as usize).min(u16::MAX as usize) as u16,
                },
                frame,
            })
        }
        _ => None,
    }
}
