//! DPT trailers (BIG-IP 14.0 and later). Follows `dissect_dpt_trailer()` and
//! the noise provider's `dissect_dpt_trailer_noise_{low,med,high}()` of
//! Wireshark 4.0.17's `packet-f5ethtrailer.c`.
//!
//! Header: magic `0xF5DEB0F5` 4, length 2 (counting the header), version 2.
//! Then TLVs, in no guaranteed order: provider 2, type 2, length 2
//! (counting this 8-byte header), version 2, data. The noise provider (1)
//! has, after the TLV header:
//!
//! | type, version | data |
//! |---|---|
//! | low (1), 2 or 3 | flags 1 (v2: the whole byte is "ingress"; v3: bit 0 ingress, bits 1-2 hardware action), slot 1, tmm 1, name length n 1, VIP name n |
//! | low (1), 4 | flags 1, slot 1, tmm 1, object data length n 1, then n bytes of objects: type 1 (0 virtual server, 1 port, 2 trunk), length m 1, name m |
//! | medium (2), 4 | flow ID 8, peer ID 8, cf flags2 4, cf flags 4, flow type 1, HA unit 1, reserved 4, priority 1, RST cause length n 1, RST cause n |
//! | high (3), 1 | IP protocol 1, VLAN 2, peer remote address 16, peer local address 16, peer remote port 2, peer local port 2 |

use super::{
    ascii_name, rst_cause_block, Buf, DptTlv, F5Error, F5ErrorKind, F5Trailer, FlowInfo, HighNoise,
    LowNoise, MediumNoise, TrailerFormat, DPT_PROVIDER_NOISE, NOISE_HIGH, NOISE_LOW, NOISE_MED,
};

/// DPT header length (`F5_DPT_V1_HDR_LEN`).
pub(super) const HDR_LEN: usize = 8;
/// DPT TLV header length (`F5_DPT_V1_TLV_HDR_LEN`).
const TLV_HDR_LEN: usize = 8;
/// Medium noise data before the RST cause, length byte included
/// (`F5_MEDV4_LENMIN`).
const MEDV4_LENMIN: usize = 32;

/// Decodes a DPT trailer whose magic is at `start` of `bytes`; `orig_fcs` is
/// the FCS found in front of it, if any.
///
/// As in Wireshark, the TLVs are walked to the end of `bytes` (not of the
/// header's length), and the walk stops at the first TLV whose length is
/// shorter than its header or runs past the end.
pub(super) fn decode(
    bytes: &[u8],
    start: usize,
    orig_fcs: Option<u32>,
) -> Result<F5Trailer, F5Error> {
    let buf = Buf::new(bytes);
    let length = buf.u16(start + 4, "DPT length")?;
    let version = buf.u16(start + 6, "DPT version")?;
    if version != 1 {
        return Err(F5Error {
            offset: start + 6,
            kind: F5ErrorKind::UnsupportedDptVersion { version },
        });
    }
    let mut t = F5Trailer {
        format: TrailerFormat::Dpt { version },
        offset: start,
        len: usize::from(length),
        orig_fcs,
        ..F5Trailer::default()
    };

    let mut o = start + HDR_LEN;
    while bytes.len() - o >= TLV_HDR_LEN {
        let remaining = bytes.len() - o;
        let tlv_len = usize::from(buf.u16(o + 4, "TLV length")?);
        if tlv_len < TLV_HDR_LEN || tlv_len > remaining {
            t.issues.push(F5Error {
                offset: o + 4,
                kind: F5ErrorKind::BadTlvLength {
                    length: tlv_len,
                    min: TLV_HDR_LEN,
                    max: remaining,
                },
            });
            break;
        }
        let tlv = buf.sub(o, tlv_len, "DPT TLV")?;
        let provider = tlv.u16(0, "TLV provider")?;
        let tlv_type = tlv.u16(2, "TLV type")?;
        let tlv_ver = tlv.u16(6, "TLV version")?;
        // The noise provider's table (`proto_reg_handoff_f5ethtrailer()`):
        // low 2, 3, 4; medium 4; high 1. Anything else is shown raw.
        let handled = match (provider, tlv_type, tlv_ver) {
            (DPT_PROVIDER_NOISE, NOISE_LOW, 2..=4) => {
                if let Some(low) = low(tlv, tlv_ver, &mut t.issues) {
                    t.low = Some(low);
                }
                true
            }
            (DPT_PROVIDER_NOISE, NOISE_MED, 4) => {
                if let Some(m) = medium(tlv, &mut t.issues) {
                    t.medium = Some(m);
                }
                true
            }
            (DPT_PROVIDER_NOISE, NOISE_HIGH, 1) => {
                let peer_id = t.flow().map_or(0, |f| f.peer_id);
                if let Some(h) = high(tlv, peer_id, &mut t.issues) {
                    t.high = Some(h);
                }
                true
            }
            _ => false,
        };
        if !handled {
            t.other.push(DptTlv {
                offset: o,
                provider,
                tlv_type,
                version: tlv_ver,
                data: tlv
                    .slice(TLV_HDR_LEN, tlv_len - TLV_HDR_LEN, "TLV data")?
                    .to_vec(),
            });
        }
        o += tlv_len;
    }

    if t.low.is_none() && t.medium.is_none() && t.high.is_none() && t.other.is_empty() {
        if let Some(why) = t.issues.drain(..).next() {
            return Err(why);
        }
    }
    Ok(t)
}

/// Keeps the value of a read, or records its error and gives `None`.
fn keep<T>(r: Result<T, F5Error>, issues: &mut Vec<F5Error>) -> Option<T> {
    r.map_err(|e| issues.push(e)).ok()
}

/// `dissect_dpt_trailer_noise_low()`. A bad name length keeps direction,
/// slot and TMM, as Wireshark does.
fn low(tlv: Buf<'_>, ver: u16, issues: &mut Vec<F5Error>) -> Option<LowNoise> {
    let o = TLV_HDR_LEN;
    let flags = keep(tlv.u8(o, "low noise flags"), issues)?;
    let slot = keep(tlv.u8(o + 1, "slot"), issues)?;
    let tmm = keep(tlv.u8(o + 2, "tmm"), issues)?;
    let mut low = LowNoise {
        version: ver,
        // Version 2 used the whole byte for ingress; version 3 made it a
        // flag field.
        ingress: if ver == 2 {
            flags != 0
        } else {
            flags & 0x01 != 0
        },
        hw_action: if ver > 2 {
            Some((flags & 0x06) >> 1)
        } else {
            None
        },
        slot,
        tmm,
        ..LowNoise::default()
    };
    let Some(n) = keep(tlv.u8(o + 3, "name length"), issues) else {
        return Some(low);
    };
    let n = usize::from(n);
    let available = tlv.len() - (o + 4);
    let Ok(data) = tlv.slice(o + 4, n, "names") else {
        issues.push(F5Error {
            offset: tlv.abs(o + 3),
            kind: F5ErrorKind::BadNameLength {
                length: n,
                available,
            },
        });
        return Some(low);
    };
    if ver < 4 {
        low.virtual_server = ascii_name(data);
        return Some(low);
    }
    // Version 4: config object names. Wireshark reads this length as a
    // signed byte and so skips blocks of 128 bytes or more; twincap reads
    // it unsigned.
    let names = Buf {
        bytes: data,
        base: tlv.abs(o + 4),
    };
    let mut d = 0;
    while d < names.len() {
        let Some(kind) = keep(names.u8(d, "object name type"), issues) else {
            break;
        };
        let Some(m) = keep(names.u8(d + 1, "object name length"), issues) else {
            break;
        };
        let m = usize::from(m);
        let Ok(name) = names.slice(d + 2, m, "object name") else {
            issues.push(F5Error {
                offset: names.abs(d + 1),
                kind: F5ErrorKind::BadNameLength {
                    length: m,
                    available: names.len().saturating_sub(d + 2),
                },
            });
            break;
        };
        // Like Wireshark's tap (`tdata->virtual_name`), a later name of the
        // same kind wins; unknown kinds are skipped.
        let slot = match kind {
            0 => Some(&mut low.virtual_server),
            1 => Some(&mut low.port),
            2 => Some(&mut low.trunk),
            _ => None,
        };
        if let (Some(slot), Some(name)) = (slot, ascii_name(name)) {
            *slot = Some(name);
        }
        d += 2 + m;
    }
    Some(low)
}

/// `dissect_dpt_trailer_noise_med()`. An RST cause length that runs past
/// the TLV keeps the flow fields and drops the cause ("badlen").
fn medium(tlv: Buf<'_>, issues: &mut Vec<F5Error>) -> Option<MediumNoise> {
    let o = TLV_HDR_LEN;
    let fixed = (|| -> Result<MediumNoise, F5Error> {
        tlv.slice(o, MEDV4_LENMIN, "medium noise")?;
        Ok(MediumNoise {
            version: 4,
            flow: Some(FlowInfo {
                flow_id: tlv.u64(o, "flow ID")?,
                peer_id: tlv.u64(o + 8, "peer ID")?,
                cf_flags2: Some(tlv.u32(o + 16, "connflow flags high bits")?),
                cf_flags: tlv.u32(o + 20, "connflow flags")?,
                flow_type: tlv.u8(o + 24, "flow type")?,
            }),
            ha_unit: tlv.u8(o + 25, "HA unit")?,
            reserved: tlv.u32(o + 26, "reserved")?,
            priority: Some(tlv.u8(o + 30, "priority")?),
            rst_cause: None,
        })
    })();
    let mut m = keep(fixed, issues)?;
    let at = o + MEDV4_LENMIN - 1;
    let n = usize::from(tlv.u8(at, "RST cause length").ok()?);
    match tlv.slice(at + 1, n, "RST cause") {
        Ok(cause) => m.rst_cause = rst_cause_block(cause, tlv.abs(at), issues),
        Err(_) => issues.push(F5Error {
            offset: tlv.abs(at),
            kind: F5ErrorKind::BadRstCauseLength {
                length: n,
                available: tlv.len() - (at + 1),
            },
        }),
    }
    Some(m)
}

/// `dissect_dpt_trailer_noise_high()`. `peer_id` is the peer flow ID decoded
/// so far in this trailer; Wireshark shows the peer only when it is not 0,
/// so a high TLV that comes before the medium one shows no peer either.
fn high(tlv: Buf<'_>, peer_id: u64, issues: &mut Vec<F5Error>) -> Option<HighNoise> {
    let peer = if peer_id == 0 {
        None
    } else {
        Some(keep(super::legacy::peer_flow(tlv, TLV_HDR_LEN), issues)?)
    };
    Some(HighNoise { version: 1, peer })
}
