//! Legacy trailers (BIG-IP 9.4.2 to 13.x): a run of TLVs, each a 1-byte type,
//! a 1-byte length that does not count the type and length bytes, a 1-byte
//! version, then the data. Follows `dissect_old_trailer()`,
//! `dissect_low_trailer()`, `dissect_med_trailer()` and
//! `dissect_high_trailer()` of Wireshark 4.0.17's `packet-f5ethtrailer.c`.
//!
//! The layouts, by (type, version, total length), offsets from the TLV's
//! first byte:
//!
//! | TLV | bytes 3.. |
//! |---|---|
//! | low v0, 22 (BIG-IP 10) | ingress 1, slot 1, tmm 1, VIP name 16 (NUL-padded) |
//! | low v0, 35 (BIG-IP 9.4) | ingress 1, slot 1, tmm 1, flow ID 4, peer ID 4, cf flags 4, flow type 1, VIP name 16 |
//! | low v1, 7+n | ingress 1, slot 1, tmm 1, name length n 1, name n |
//! | med v0, 8 (9.4) | HA unit 1, reserved 4 |
//! | med v0, 21 (10) | flow ID 4, peer ID 4, cf flags 4, flow type 1, HA unit 1, reserved 4 |
//! | med v0, 29 (11) | flow ID 8, peer ID 8, cf flags 4, flow type 1, HA unit 1, reserved 4 |
//! | med v1, 30+n | as v0/29, RST cause length n 1, RST cause n |
//! | med v2, 31+n | as v0/29, priority 1, RST cause length n 1, RST cause n |
//! | med v3, 35+n | flow ID 8, peer ID 8, cf flags2 4, cf flags 4, flow type 1, HA unit 1, reserved 4, priority 1, RST cause length n 1, RST cause n |
//! | high v0, 42 | IP protocol 1, VLAN 2, peer remote address 16, peer local address 16, peer remote port 2, peer local port 2 |

use super::{
    ascii_name, rst_cause_block, Buf, F5Error, F5ErrorKind, F5Trailer, FlowInfo, HighNoise,
    LowNoise, MediumNoise, PeerFlow, TrailerFormat,
};

/// Smallest plausible legacy TLV (`F5_MIN_SANE`).
pub(super) const MIN_SANE: usize = 7;
/// Largest plausible legacy TLV (`F5_MAX_SANE`).
pub(super) const MAX_SANE: usize = 140;
/// Highest legacy TLV version (`F5TRAILER_VER_MAX`).
pub(super) const VER_MAX: u8 = 3;

const LOWV94_LEN: usize = 35;
const LOWV10_LEN: usize = 22;
const LOWV1_LENMIN: usize = 7;
const MEDV94_LEN: usize = 8;
const MEDV10_LEN: usize = 21;
const MEDV11_LEN: usize = 29;
const MEDV1_LENMIN: usize = 30;
const MEDV2_LENMIN: usize = 31;
const MEDV3_LENMIN: usize = 35;
const HIV0_LEN: usize = 42;
const VIP_NAME_LEN: usize = 16;

/// Decodes legacy TLVs from `start` on, as `dissect_old_trailer()` does:
/// while at least 7 bytes remain, read a TLV; stop at an implausible
/// length, an unknown type, or a layout that does not match. Bytes left
/// over that are too few for a TLV (an FCS, say) are not an error.
pub(super) fn decode(bytes: &[u8], start: usize) -> Result<F5Trailer, F5Error> {
    let buf = Buf::new(bytes);
    let mut t = F5Trailer {
        format: TrailerFormat::Legacy,
        offset: start,
        ..F5Trailer::default()
    };
    let mut off = start;
    while bytes.len() - off >= MIN_SANE {
        let remaining = bytes.len() - off;
        // `guint8 len = length + 2` in Wireshark: a length byte of 254 or
        // 255 wraps to 0 or 1 and fails the check below.
        let len = usize::from(bytes[off + 1].wrapping_add(2));
        if len > remaining || !(MIN_SANE..=MAX_SANE).contains(&len) {
            t.issues.push(F5Error {
                offset: off + 1,
                kind: F5ErrorKind::BadTlvLength {
                    length: len,
                    min: MIN_SANE,
                    max: remaining.min(MAX_SANE),
                },
            });
            break;
        }
        let tlv_type = bytes[off];
        let ver = bytes[off + 2];
        let tlv = match buf.sub(off, len, "legacy TLV") {
            Ok(tlv) => tlv,
            Err(e) => {
                t.issues.push(e);
                break;
            }
        };
        let peer_id = t.flow().map_or(0, |f| f.peer_id);
        let done = match u16::from(tlv_type) {
            super::NOISE_LOW => low(tlv, ver).map(|l| t.low = Some(l)),
            super::NOISE_MED => medium(tlv, ver, &mut t.issues).map(|m| t.medium = Some(m)),
            super::NOISE_HIGH => high(tlv, ver, peer_id).map(|h| t.high = Some(h)),
            _ => Err(F5Error {
                offset: off,
                kind: F5ErrorKind::UnknownLegacyType { tlv_type },
            }),
        };
        if let Err(e) = done {
            t.issues.push(e);
            break;
        }
        off += len;
    }
    t.len = off - start;
    if t.len == 0 {
        // Nothing decoded: the first issue says why.
        let why = t.issues.drain(..).next();
        return Err(why.unwrap_or(F5Error {
            offset: start,
            kind: F5ErrorKind::TooShort {
                len: bytes.len() - start,
            },
        }));
    }
    Ok(t)
}

fn layout_error(tlv: Buf<'_>, tlv_type: u8, version: u8) -> F5Error {
    F5Error {
        offset: tlv.abs(0),
        kind: F5ErrorKind::UnknownLegacyLayout {
            tlv_type,
            version,
            length: tlv.len(),
        },
    }
}

/// `dissect_low_trailer()`.
fn low(tlv: Buf<'_>, ver: u8) -> Result<LowNoise, F5Error> {
    let len = tlv.len();
    let mut low = LowNoise {
        version: u16::from(ver),
        ingress: tlv.u8(3, "ingress")? != 0,
        slot: tlv.u8(4, "slot")?,
        tmm: tlv.u8(5, "tmm")?,
        ..LowNoise::default()
    };
    match ver {
        0 if len == LOWV10_LEN => {
            low.virtual_server = ascii_name(tlv.slice(6, VIP_NAME_LEN, "virtual server name")?);
        }
        0 if len == LOWV94_LEN => {
            low.flow = Some(FlowInfo {
                flow_id: u64::from(tlv.u32(6, "flow ID")?),
                peer_id: u64::from(tlv.u32(10, "peer ID")?),
                cf_flags: tlv.u32(14, "connflow flags")?,
                cf_flags2: None,
                flow_type: tlv.u8(18, "flow type")?,
            });
            low.virtual_server = ascii_name(tlv.slice(19, VIP_NAME_LEN, "virtual server name")?);
        }
        1 => {
            let n = usize::from(tlv.u8(LOWV1_LENMIN - 1, "virtual server name length")?);
            if n + LOWV1_LENMIN != len {
                return Err(layout_error(tlv, 1, ver));
            }
            low.virtual_server = ascii_name(tlv.slice(LOWV1_LENMIN, n, "virtual server name")?);
        }
        _ => return Err(layout_error(tlv, 1, ver)),
    }
    Ok(low)
}

/// `dissect_med_trailer()`.
fn medium(tlv: Buf<'_>, ver: u8, issues: &mut Vec<F5Error>) -> Result<MediumNoise, F5Error> {
    let len = tlv.len();
    // Where the RST cause length byte sits, for versions that have one.
    let rst_at = match ver {
        0 if len == MEDV94_LEN || len == MEDV10_LEN || len == MEDV11_LEN => None,
        1 if len >= MEDV1_LENMIN => Some(MEDV1_LENMIN - 1),
        2 if len >= MEDV2_LENMIN => Some(MEDV2_LENMIN - 1),
        3 if len >= MEDV3_LENMIN => Some(MEDV3_LENMIN - 1),
        _ => return Err(layout_error(tlv, 2, ver)),
    };
    if let Some(at) = rst_at {
        // The RST cause must fill the TLV exactly.
        let n = usize::from(tlv.u8(at, "RST cause length")?);
        if n + at + 1 != len {
            return Err(layout_error(tlv, 2, ver));
        }
    }

    let mut m = MediumNoise {
        version: u16::from(ver),
        ..MediumNoise::default()
    };
    let mut o = 3;
    // After 9.4, flow IDs, flags and type are here.
    if len != MEDV94_LEN || ver > 0 {
        let (flow_id, peer_id) = if len == MEDV10_LEN && ver == 0 {
            // In v10, flow IDs are 32 bits.
            o += 8;
            (
                u64::from(tlv.u32(3, "flow ID")?),
                u64::from(tlv.u32(7, "peer ID")?),
            )
        } else {
            o += 16;
            (tlv.u64(3, "flow ID")?, tlv.u64(11, "peer ID")?)
        };
        let cf_flags2 = if ver >= 3 {
            o += 4;
            Some(tlv.u32(o - 4, "connflow flags high bits")?)
        } else {
            None
        };
        let cf_flags = tlv.u32(o, "connflow flags")?;
        let flow_type = tlv.u8(o + 4, "flow type")?;
        o += 5;
        m.flow = Some(FlowInfo {
            flow_id,
            peer_id,
            cf_flags,
            cf_flags2,
            flow_type,
        });
    }
    m.ha_unit = tlv.u8(o, "HA unit")?;
    m.reserved = tlv.u32(o + 1, "reserved")?;
    o += 5;
    if ver >= 2 {
        m.priority = Some(tlv.u8(o, "priority")?);
    }
    if let Some(at) = rst_at {
        let n = usize::from(tlv.u8(at, "RST cause length")?);
        let cause = tlv.slice(at + 1, n, "RST cause")?;
        m.rst_cause = rst_cause_block(cause, tlv.abs(at), issues);
    }
    Ok(m)
}

/// `dissect_high_trailer()`. `peer_id` is the peer flow ID decoded so far in
/// this trailer: Wireshark shows the peer only when it is not 0.
fn high(tlv: Buf<'_>, ver: u8, peer_id: u64) -> Result<HighNoise, F5Error> {
    if ver != 0 || tlv.len() != HIV0_LEN {
        return Err(layout_error(tlv, 3, ver));
    }
    let peer = if peer_id == 0 {
        None
    } else {
        Some(peer_flow(tlv, 3)?)
    };
    Ok(HighNoise {
        version: u16::from(ver),
        peer,
    })
}

/// The peer flow fields, legacy and DPT alike, from offset `o` of the TLV.
pub(super) fn peer_flow(tlv: Buf<'_>, o: usize) -> Result<PeerFlow, F5Error> {
    Ok(PeerFlow {
        ip_proto: tlv.u8(o, "peer IP protocol")?,
        vlan: tlv.u16(o + 1, "peer VLAN")?,
        remote: tlv.addr(o + 3, "peer remote address")?,
        local: tlv.addr(o + 19, "peer local address")?,
        remote_port: tlv.u16(o + 35, "peer remote port")?,
        local_port: tlv.u16(o + 37, "peer local port")?,
    })
}
