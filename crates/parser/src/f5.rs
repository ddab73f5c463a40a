//! What an F5 BIG-IP writes into its own captures, decoded as plain data.
//!
//! A capture taken on a BIG-IP with `tcpdump -i <interface>:n[n[n]][p]` carries
//! an *F5 Ethernet trailer* after the IP datagram of every frame that TMM
//! handled: which way the frame went through the BIG-IP, on which slot and
//! TMM, for which virtual server (low noise, `:n`); the flow and peer flow
//! IDs and why TMM reset the connection (medium noise, `:nn`); the addresses
//! and ports of the peer connection on the other side of the full proxy (high
//! noise, `:nnn`). The first frame of such a file is often a pseudo-packet
//! with the tcpdump command line, BIG-IP version, hostname and platform. And
//! when `tm.rstcause.pkt` is enabled, the RSTs the BIG-IP sends carry its
//! reason as text in the TCP payload.
//!
//! - [`decode_trailer`]: the trailer bytes (everything after the IP datagram
//!   in the frame) into an [`F5Trailer`].
//! - [`decode_fileinfo`]: the pseudo-packet at the start of a capture into an
//!   [`F5FileInfo`].
//! - [`parse_rst_cause`]: a RST's payload into a [`RstCause`].
//!
//! The reference is Wireshark 4.0.17's dissector,
//! `epan/dissectors/packet-f5ethtrailer.c`; the doc comments name the
//! functions and constants followed, and say where twincap deliberately
//! differs (only where Wireshark would read out of bounds or misread a
//! length as signed). Nothing here panics on any input: every read is
//! bounds-checked and a malformed trailer gives an [`F5Error`] that names
//! what is wrong and at which byte of the trailer.
//!
//! `docs/f5.md` explains the tcpdump options and how twincap uses this.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod dpt;
mod fileinfo;
mod legacy;
mod rstcause;
mod table;

pub use fileinfo::{decode_fileinfo, platform_name, CaptureNoise, F5FileInfo};
pub use rstcause::{parse_rst_cause, RstCause};
pub(crate) use table::{decode as decode_packet_trailer, TableBuilder, Trailer};
pub use table::{f5_bits, F5Frame, F5Table, FrameRstCause, RstCauseSource, NONE};

/// First four bytes of a BIG-IP 14+ ("DPT") trailer (`F5_DPT_V1_HDR_MAGIC`).
pub const DPT_MAGIC: u32 = 0xf5de_b0f5;

/// DPT provider ID of the noise TLVs (`F5_DPT_PROVIDER_NOISE`).
pub const DPT_PROVIDER_NOISE: u16 = 1;
/// DPT provider ID of the TLS diagnostic TLVs (`F5_DPT_PROVIDER_TLS`); kept
/// raw in [`F5Trailer::other`].
pub const DPT_PROVIDER_TLS: u16 = 4;

/// Noise TLV type of low noise (`F5TYPE_LOW`), in both formats.
pub const NOISE_LOW: u16 = 1;
/// Noise TLV type of medium noise (`F5TYPE_MED`).
pub const NOISE_MED: u16 = 2;
/// Noise TLV type of high noise (`F5TYPE_HIGH`).
pub const NOISE_HIGH: u16 = 3;

/// The smallest trailer there is: a legacy low TLV (version 1) with an empty
/// virtual server name (`F5_LOWV1_LENMIN`).
pub const MIN_TRAILER_LEN: usize = 7;

/// Everything decoded from one frame's F5 Ethernet trailer.
///
/// A section is `None` when the trailer did not carry it: low noise needs
/// `:n`, medium `:nn`, high `:nnn`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct F5Trailer {
    /// Which of the two encodings the BIG-IP used.
    pub format: TrailerFormat,
    /// Where the trailer starts in the bytes given to [`decode_trailer`]:
    /// after any zero padding, and after an FCS that sits in front of a DPT
    /// trailer.
    pub offset: usize,
    /// The trailer's length as Wireshark counts it (`tdata->trailer_len`):
    /// the bytes of the TLVs decoded (legacy) or the DPT header's length.
    pub len: usize,
    /// The original Ethernet FCS when a DPT trailer was appended after it
    /// (Wireshark's `f5ethtrailer.orig_fcs`).
    pub orig_fcs: Option<u32>,
    /// Low noise (`:n`): direction, slot, TMM, virtual server.
    pub low: Option<LowNoise>,
    /// Medium noise (`:nn`): flow IDs, flow type, RST cause.
    pub medium: Option<MediumNoise>,
    /// High noise (`:nnn`): the peer connection.
    pub high: Option<HighNoise>,
    /// DPT TLVs twincap does not decode (the TLS provider, noise TLVs of a
    /// version Wireshark 4.0 does not know), kept raw.
    pub other: Vec<DptTlv>,
    /// Problems found after something was decoded; like Wireshark's expert
    /// info "Length extends past remaining available bytes", decoding stops
    /// at the bad part and keeps what came before.
    pub issues: Vec<F5Error>,
}

impl F5Trailer {
    /// The flow IDs from medium noise, or from a BIG-IP 9.4 low trailer,
    /// which carried them there.
    pub fn flow(&self) -> Option<&FlowInfo> {
        self.medium
            .as_ref()
            .and_then(|m| m.flow.as_ref())
            .or_else(|| self.low.as_ref().and_then(|l| l.flow.as_ref()))
    }

    /// The virtual server that handled the frame, if low noise named one.
    pub fn virtual_server(&self) -> Option<&str> {
        self.low.as_ref()?.virtual_server.as_deref()
    }

    /// The BIG-IP's reason for a reset, if medium noise carried one that
    /// Wireshark's version 0 layout decodes.
    pub fn rst_cause(&self) -> Option<&F5RstCause> {
        match self.medium.as_ref()?.rst_cause.as_ref()? {
            TrailerRstCause::V0(c) => Some(c),
            TrailerRstCause::Unknown { .. } => None,
        }
    }

    /// The peer connection, if high noise carried one.
    pub fn peer(&self) -> Option<&PeerFlow> {
        self.high.as_ref()?.peer.as_ref()
    }
}

/// The two trailer encodings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum TrailerFormat {
    /// BIG-IP 9.4.2 to 13.x: a run of TLVs with a 1-byte type, 1-byte length
    /// (not counting type and length) and 1-byte version.
    #[default]
    Legacy,
    /// BIG-IP 14.0 and later: magic `0xF5DEB0F5`, 2-byte length, 2-byte
    /// version, then TLVs with 2-byte provider, type, length (counting the
    /// 8-byte header) and version.
    Dpt {
        /// DPT header version (Wireshark 4.0 decodes 1).
        version: u16,
    },
}

/// Low noise: how the frame passed through the BIG-IP.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LowNoise {
    /// TLV version: 0 or 1 in legacy trailers, 2 to 4 in DPT trailers.
    pub version: u16,
    /// True when the frame entered the BIG-IP (Wireshark "IN"), false when
    /// the BIG-IP sent it ("OUT").
    pub ingress: bool,
    /// Hardware action bits of DPT low noise version 3+ (0 not set,
    /// 1 challenge, 2 drop, 3 forward).
    pub hw_action: Option<u8>,
    /// Slot as the trailer stores it, counting from 0. Wireshark shows it
    /// plus one as "Slot (1-based)", except for BIG-IP 9.4 trailers.
    pub slot: u8,
    /// TMM instance (0-based).
    pub tmm: u8,
    /// Virtual server name (with partition, e.g. `/Common/app_vs`); `None`
    /// when the frame matched no virtual server.
    pub virtual_server: Option<String>,
    /// Physical port name (DPT low noise version 4).
    pub port: Option<String>,
    /// Trunk name (DPT low noise version 4).
    pub trunk: Option<String>,
    /// Flow IDs, which only BIG-IP 9.4 low trailers (35 bytes) carried.
    pub flow: Option<FlowInfo>,
}

/// The BIG-IP's flow (connection table entry) of the frame and of its peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlowInfo {
    /// This flow's ID (32 bits before BIG-IP 11, 64 after); 0 when TMM had
    /// no flow for the frame.
    pub flow_id: u64,
    /// The peer flow's ID: the other side of a full-proxy connection; 0 when
    /// there is none (yet).
    pub peer_id: u64,
    /// Connflow flags.
    pub cf_flags: u32,
    /// Connflow flags, high bits (legacy medium version 3 and DPT).
    pub cf_flags2: Option<u32>,
    /// Flow type.
    pub flow_type: u8,
}

/// Medium noise.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MediumNoise {
    /// TLV version: 0 to 3 legacy, 4 DPT.
    pub version: u16,
    /// Flow IDs; `None` only for the 8-byte BIG-IP 9.4 medium trailer.
    pub flow: Option<FlowInfo>,
    /// HA unit.
    pub ha_unit: u8,
    /// Reserved (4 bytes).
    pub reserved: u32,
    /// Priority (legacy version 2+ and DPT).
    pub priority: Option<u8>,
    /// Why TMM reset the connection, on the RSTs it sends (legacy version 1+
    /// and DPT).
    pub rst_cause: Option<TrailerRstCause>,
}

/// The RST cause block of medium noise.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum TrailerRstCause {
    /// Version 0, the only one Wireshark 4.0 decodes.
    V0(F5RstCause),
    /// Another version: the block's bytes, undecoded.
    Unknown { version: u8, bytes: Vec<u8> },
}

/// A BIG-IP reset cause, from the trailer or from a RST's payload
/// (`BIG-IP: [0x2664c65:2574] No flow found for ACK`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct F5RstCause {
    /// The reset was caused by the peer side (`{peer}`).
    pub peer: bool,
    /// The cause's code value (48 bits in the trailer).
    pub value: u64,
    /// The TMM source line that sent the reset.
    pub line: u32,
    /// The reason in words; F5 publishes no fixed list, so any text.
    pub text: String,
}

impl fmt::Display for F5RstCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}:{}]", self.value, self.line)?;
        if self.peer {
            f.write_str(" {peer}")?;
        }
        write!(f, " {}", self.text)
    }
}

/// High noise.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HighNoise {
    /// TLV version: 0 legacy, 1 DPT.
    pub version: u16,
    /// The peer connection; `None` when the flow has no peer (Wireshark
    /// "No peer connection information": the peer ID known so far in this
    /// trailer is 0).
    pub peer: Option<PeerFlow>,
}

/// The other side of a full-proxy connection, as TMM sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct PeerFlow {
    /// IP protocol (6 TCP, 17 UDP; 0 unknown).
    pub ip_proto: u8,
    /// VLAN of the peer flow.
    pub vlan: u16,
    /// The peer flow's remote address (the far end of the other leg).
    pub remote: PeerAddr,
    /// The peer flow's local address (the BIG-IP's address on that leg).
    pub local: PeerAddr,
    pub remote_port: u16,
    pub local_port: u16,
}

/// An address as high noise stores it: always 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct PeerAddr {
    /// The 16 bytes as stored (Wireshark's `peerremoteaddr6` and friends).
    pub raw: Ipv6Addr,
    /// The address: IPv4 when `raw` is IPv4-mapped (`::ffff:a.b.c.d`) or in
    /// F5's route domain prefix, else `raw` itself.
    pub ip: IpAddr,
    /// The route domain, when `raw` uses F5's prefix
    /// `2620:0:c10:f501:0:<rd>:<a.b.c.d>` (traffic between TMM and the host).
    pub route_domain: Option<u16>,
}

impl PeerAddr {
    /// Splits a stored address as Wireshark's `displayIPv6as4()` does.
    pub fn from_raw(raw: [u8; 16]) -> PeerAddr {
        const V4_MAPPED: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        const F5_RTDOM: [u8; 10] = [0x26, 0x20, 0, 0, 0x0c, 0x10, 0xf5, 0x01, 0, 0];
        let v6 = Ipv6Addr::from(raw);
        if raw[..12] == V4_MAPPED {
            let ip = Ipv4Addr::new(raw[12], raw[13], raw[14], raw[15]);
            PeerAddr {
                raw: v6,
                ip: IpAddr::V4(ip),
                route_domain: None,
            }
        } else if raw[..10] == F5_RTDOM {
            let ip = Ipv4Addr::new(raw[12], raw[13], raw[14], raw[15]);
            let rd = u16::from_be_bytes([raw[10], raw[11]]);
            PeerAddr {
                raw: v6,
                ip: IpAddr::V4(ip),
                route_domain: Some(rd),
            }
        } else {
            PeerAddr {
                raw: v6,
                ip: IpAddr::V6(v6),
                route_domain: None,
            }
        }
    }
}

/// One DPT TLV that is kept raw.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DptTlv {
    /// Offset of the TLV header in the bytes given to [`decode_trailer`].
    pub offset: usize,
    pub provider: u16,
    pub tlv_type: u16,
    pub version: u16,
    /// The TLV's data, after its 8-byte header.
    pub data: Vec<u8>,
}

/// Why trailer bytes could not be (fully) decoded, and where.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct F5Error {
    /// Byte offset in the bytes given to [`decode_trailer`] of the field
    /// that is wrong.
    pub offset: usize,
    pub kind: F5ErrorKind,
}

/// What is wrong with trailer bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum F5ErrorKind {
    /// After leading zero padding, fewer bytes remain than the smallest F5
    /// trailer (7).
    TooShort { len: usize },
    /// The bytes start with neither the DPT magic nor a plausible legacy TLV
    /// header (type 1 to 3, length 7 to 140, version 0 to 3): not an F5
    /// trailer, or a corrupt one.
    NotF5 { first_bytes: u32 },
    /// The DPT header's length is more than the bytes there are.
    DptLengthPastEnd { length: usize, available: usize },
    /// A DPT header version Wireshark 4.0 does not decode (it knows 1).
    UnsupportedDptVersion { version: u16 },
    /// A TLV's length is shorter than its header or runs past the end.
    /// `max` is the most it could be here: the bytes left (and, for
    /// legacy TLVs, 140).
    BadTlvLength {
        length: usize,
        min: usize,
        max: usize,
    },
    /// A legacy TLV type other than low (1), medium (2) or high (3).
    UnknownLegacyType { tlv_type: u8 },
    /// A legacy TLV whose version and length match no layout BIG-IP wrote.
    UnknownLegacyLayout {
        tlv_type: u8,
        version: u8,
        length: usize,
    },
    /// A field runs past the end of its TLV or of the trailer.
    Truncated {
        field: &'static str,
        need: usize,
        available: usize,
    },
    /// A name's length runs past the end of its TLV.
    BadNameLength { length: usize, available: usize },
    /// The RST cause length is too short for its version-0 header (9
    /// bytes) or runs past the end of its TLV.
    BadRstCauseLength { length: usize, available: usize },
}

impl fmt::Display for F5Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "F5 trailer, byte {}: ", self.offset)?;
        match &self.kind {
            F5ErrorKind::TooShort { len } => write!(
                f,
                "only {len} bytes after the padding, fewer than the {MIN_TRAILER_LEN} of the smallest F5 trailer"
            ),
            F5ErrorKind::NotF5 { first_bytes } => write!(
                f,
                "not an F5 trailer: starts {first_bytes:#010x}, neither the DPT magic 0xf5deb0f5 nor a legacy TLV header"
            ),
            F5ErrorKind::DptLengthPastEnd { length, available } => write!(
                f,
                "DPT header says {length} bytes, only {available} are there"
            ),
            F5ErrorKind::UnsupportedDptVersion { version } => {
                write!(f, "DPT version {version} is not known (Wireshark 4.0 decodes version 1)")
            }
            F5ErrorKind::BadTlvLength { length, min, max } => write!(
                f,
                "TLV length {length} is impossible here (must be {min} to {max})"
            ),
            F5ErrorKind::UnknownLegacyType { tlv_type } => {
                write!(f, "legacy TLV type {tlv_type} is not low (1), medium (2) or high (3)")
            }
            F5ErrorKind::UnknownLegacyLayout { tlv_type, version, length } => write!(
                f,
                "legacy {} TLV version {version} of {length} bytes matches no known layout",
                noise_name(*tlv_type)
            ),
            F5ErrorKind::Truncated { field, need, available } => write!(
                f,
                "{field} needs {need} bytes, only {available} are there"
            ),
            F5ErrorKind::BadNameLength { length, available } => write!(
                f,
                "name length {length} runs past the end ({available} bytes left)"
            ),
            F5ErrorKind::BadRstCauseLength { length, available } => write!(
                f,
                "RST cause length {length} is impossible (version 0 needs at least 9, {available} bytes left)"
            ),
        }
    }
}

impl std::error::Error for F5Error {}

fn noise_name(tlv_type: u8) -> &'static str {
    match u16::from(tlv_type) {
        NOISE_LOW => "low",
        NOISE_MED => "medium",
        NOISE_HIGH => "high",
        _ => "unknown",
    }
}

/// Decodes the F5 Ethernet trailer in `bytes`, the bytes that follow the IP
/// datagram in the frame (with `TcpPacket`: the last `trailer_len` bytes of
/// the frame, when `info::TRAILER` is set).
///
/// Finds the trailer as Wireshark's heuristic `dissect_f5ethtrailer()` does:
/// skip leading zero bytes (Ethernet padding added before TMM appended the
/// trailer); a DPT trailer if the magic is there, or 4 bytes further on
/// (behind the frame's original FCS; backing up over FCS bytes that were
/// zero and got skipped), and its length fits; otherwise a legacy trailer if
/// the first TLV header is plausible. Like Wireshark's default (the "walk
/// trailer" preference off), it does not search further into the bytes.
///
/// `Err` when there is no F5 trailer, or nothing of it could be decoded;
/// `Ok` with [`F5Trailer::issues`] when a later part was malformed.
pub fn decode_trailer(bytes: &[u8]) -> Result<F5Trailer, F5Error> {
    let offset = bytes.iter().take_while(|&&b| b == 0).count();
    let trailer_length = bytes.len() - offset;
    if trailer_length < MIN_TRAILER_LEN {
        return Err(F5Error {
            offset,
            kind: F5ErrorKind::TooShort {
                len: trailer_length,
            },
        });
    }
    let buf = Buf::new(bytes);

    // Wireshark tests `trailer_length - offset` (unsigned), subtracting the
    // padding twice; kept, wrap-around included, so that the same frames
    // qualify. Where Wireshark would then read past the end and throw,
    // twincap treats the bytes as "no magic here" and goes on to the
    // legacy check.
    if trailer_length.wrapping_sub(offset) >= 4 + dpt::HDR_LEN {
        let dpt_at = |at: usize| -> Option<Result<(), F5Error>> {
            if buf.u32(at, "DPT magic").ok()? != DPT_MAGIC {
                return None;
            }
            let length = usize::from(buf.u16(at + 4, "DPT length").ok()?);
            if length > trailer_length {
                return Some(Err(F5Error {
                    offset: at + 4,
                    kind: F5ErrorKind::DptLengthPastEnd {
                        length,
                        available: trailer_length,
                    },
                }));
            }
            Some(Ok(()))
        };
        if let Some(found) = dpt_at(offset) {
            found?;
            return dpt::decode(bytes, offset, None);
        }
        for i in 0..=offset.min(4) {
            let at = offset + 4 - i;
            if let Some(found) = dpt_at(at) {
                found?;
                let fcs = buf.u32(at - 4, "original FCS").ok();
                return dpt::decode(bytes, at, fcs);
            }
        }
    }

    let tlv_type = buf.u8(offset, "TLV type")?;
    let tlv_length = usize::from(buf.u8(offset + 1, "TLV length")?) + 2;
    let tlv_ver = buf.u8(offset + 2, "TLV version")?;
    if tlv_length <= trailer_length
        && (u16::from(tlv_type) >= NOISE_LOW && u16::from(tlv_type) <= NOISE_HIGH)
        && (legacy::MIN_SANE..=legacy::MAX_SANE).contains(&tlv_length)
        && tlv_ver <= legacy::VER_MAX
    {
        return legacy::decode(bytes, offset);
    }
    if (NOISE_LOW..=NOISE_HIGH).contains(&u16::from(tlv_type)) && tlv_ver <= legacy::VER_MAX {
        // A legacy TLV header but for its length: say so, rather than "not
        // an F5 trailer" (Wireshark, too, leaves such bytes undecoded).
        return Err(F5Error {
            offset: offset + 1,
            kind: F5ErrorKind::BadTlvLength {
                length: tlv_length,
                min: legacy::MIN_SANE,
                max: trailer_length.min(legacy::MAX_SANE),
            },
        });
    }
    let first_bytes = buf.u32(offset, "first bytes").unwrap_or(0);
    Err(F5Error {
        offset,
        kind: F5ErrorKind::NotF5 { first_bytes },
    })
}

/// The trailer bytes of `packet` in `frame`, the frame's bytes as captured
/// (read again from the file at `packet.rec_offset`): its last
/// `trailer_len` bytes (`Capture::attrs(packet).trailer_len`), when the
/// reader found bytes after the IP datagram (`info::TRAILER`). Hand them to
/// [`decode_trailer`].
pub fn packet_trailer<'a>(
    packet: &crate::TcpPacket,
    trailer_len: u16,
    frame: &'a [u8],
) -> Option<&'a [u8]> {
    if !packet.is(crate::info::TRAILER) || trailer_len == 0 {
        return None;
    }
    let start = frame.len().checked_sub(usize::from(trailer_len))?;
    Some(&frame[start..])
}

/// Bounds-checked big-endian reads; a failed read names the field and the
/// offset in the bytes given to [`decode_trailer`].
#[derive(Clone, Copy)]
pub(crate) struct Buf<'a> {
    bytes: &'a [u8],
    /// Offset of `bytes[0]` in the whole trailer input.
    base: usize,
}

impl<'a> Buf<'a> {
    fn new(bytes: &'a [u8]) -> Buf<'a> {
        Buf { bytes, base: 0 }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The absolute offset of `at`.
    fn abs(&self, at: usize) -> usize {
        self.base + at
    }

    fn slice(&self, at: usize, len: usize, field: &'static str) -> Result<&'a [u8], F5Error> {
        match at.checked_add(len) {
            Some(end) if end <= self.bytes.len() => Ok(&self.bytes[at..end]),
            _ => Err(F5Error {
                offset: self.base + at.min(self.bytes.len()),
                kind: F5ErrorKind::Truncated {
                    field,
                    need: len,
                    available: self.bytes.len().saturating_sub(at),
                },
            }),
        }
    }

    /// The `len` bytes at `at` as a new `Buf` keeping absolute offsets.
    fn sub(&self, at: usize, len: usize, field: &'static str) -> Result<Buf<'a>, F5Error> {
        Ok(Buf {
            bytes: self.slice(at, len, field)?,
            base: self.base + at,
        })
    }

    fn u8(&self, at: usize, field: &'static str) -> Result<u8, F5Error> {
        Ok(self.slice(at, 1, field)?[0])
    }

    fn u16(&self, at: usize, field: &'static str) -> Result<u16, F5Error> {
        let b = self.slice(at, 2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&self, at: usize, field: &'static str) -> Result<u32, F5Error> {
        let b = self.slice(at, 4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&self, at: usize, field: &'static str) -> Result<u64, F5Error> {
        let b = self.slice(at, 8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn addr(&self, at: usize, field: &'static str) -> Result<PeerAddr, F5Error> {
        let b = self.slice(at, 16, field)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(PeerAddr::from_raw(a))
    }
}

/// A name as Wireshark's `ENC_ASCII` string fields show it: up to the first
/// NUL, bytes above 0x7f replaced by U+FFFD. `None` when empty.
fn ascii_name(bytes: &[u8]) -> Option<String> {
    let s = ascii_text(bytes);
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

/// Text as Wireshark's `ENC_ASCII` string fields show it (see [`ascii_name`]).
fn ascii_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    // Names are ASCII: copied whole, not a char at a time.
    if bytes[..end].is_ascii() {
        return String::from_utf8_lossy(&bytes[..end]).into_owned();
    }
    bytes[..end]
        .iter()
        .map(|&b| {
            if b.is_ascii() {
                char::from(b)
            } else {
                char::REPLACEMENT_CHARACTER
            }
        })
        .collect()
}

/// The RST cause block of medium noise: `cause` is the `length` bytes after
/// the length byte, which sits at absolute offset `at`. Follows the
/// `case 0x00` branch of `dissect_med_trailer()` and
/// `dissect_dpt_trailer_noise_med()`: one byte of version (high 7 bits) and
/// peer flag (low bit), 6 bytes of value, 2 of source line, then text.
fn rst_cause_block(cause: &[u8], at: usize, issues: &mut Vec<F5Error>) -> Option<TrailerRstCause> {
    let first = *cause.first()?;
    let version = (first & 0xfe) >> 1;
    if version != 0 {
        return Some(TrailerRstCause::Unknown {
            version,
            bytes: cause.to_vec(),
        });
    }
    if cause.len() < 9 {
        issues.push(F5Error {
            offset: at,
            kind: F5ErrorKind::BadRstCauseLength {
                length: cause.len(),
                available: cause.len(),
            },
        });
        return None;
    }
    let mut v = [0u8; 8];
    v.copy_from_slice(&cause[1..9]);
    let v = u64::from_be_bytes(v);
    Some(TrailerRstCause::V0(F5RstCause {
        peer: first & 1 == 1,
        value: v >> 16,
        line: (v & 0xffff) as u32,
        text: ascii_text(&cause[9..]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wireshark's `ENC_ASCII`: up to the first NUL, bytes above 0x7f
    /// shown as U+FFFD.
    #[test]
    fn ascii_text_stops_at_nul_and_replaces_bytes_above_0x7f() {
        assert_eq!(ascii_text(b"/Common/app_vs\0\0junk"), "/Common/app_vs");
        assert_eq!(ascii_text(b"/Common/app_vs"), "/Common/app_vs");
        assert_eq!(ascii_text(b"\0/Common"), "");
        assert_eq!(ascii_text(b"caf\xc3\xa9_vs\0"), "caf\u{fffd}\u{fffd}_vs");
        assert_eq!(ascii_text(b"\xff"), "\u{fffd}");
        assert_eq!(ascii_name(b"\0\0"), None);
    }
}
