//! pcapng files, as Wireshark's `wiretap/pcapng.c` (4.0) reads them.
//!
//! A file is a run of sections; each starts with a Section Header Block
//! whose byte-order magic sets the byte order of the blocks that follow,
//! and has its own Interface Description Blocks (link type, snaplen,
//! `if_tsresol`, `if_tsoffset`). Frames are Enhanced Packet Blocks, Simple
//! Packet Blocks (no interface id or time: interface 0, captured length cut
//! to its snaplen), obsolete Packet Blocks, and the blocks Wireshark shows
//! as frames without a packet in them (custom, systemd journal and sysdig
//! event blocks). Other blocks (name resolution, statistics, decryption
//! secrets, unknown) are skipped. `opt_comment` options of packets go to
//! `Capture::comments`, those of section headers to `section_comments`.

use crate::error::{ReadError, ReadErrorKind};
use crate::packet::Interface;
use crate::read::{Record, Side, Walk, MAX_RECORD_LEN, NOT_A_PACKET};
use crate::source::{slice, u16_at, u32_at, u64_at};

mod block {
    pub const SHB: u32 = 0x0a0d_0d0a;
    pub const IDB: u32 = 1;
    /// Obsolete Packet Block.
    pub const PB: u32 = 2;
    pub const SPB: u32 = 3;
    pub const EPB: u32 = 6;
    pub const SYSTEMD_JOURNAL: u32 = 9;
    pub const SYSDIG_EVENT: u32 = 0x204;
    pub const SYSDIG_EVENT_V2: u32 = 0x216;
    pub const SYSDIG_EVENT_V2_LARGE: u32 = 0x221;
    pub const CUSTOM_COPY: u32 = 0x0000_0bad;
    pub const CUSTOM_NO_COPY: u32 = 0x4000_0bad;
}

const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_DESCRIPTION: u16 = 3;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Block header (type, length) plus trailing length.
const MIN_BLOCK_LEN: usize = 12;
const MIN_SHB_LEN: usize = 28;
/// Wireshark's MAX_BLOCK_SIZE: an EPB of the largest D-Bus message plus
/// 128 KiB of options. Longer is corruption, not data.
const MAX_BLOCK_LEN: usize = 32 + 128 * 1024 * 1024 + 131_072;

/// What a packet block needs from its interface.
#[derive(Clone, Copy, Debug)]
struct Iface {
    link_type: u32,
    snaplen: u32,
    /// Timestamp units per second (10^6 unless `if_tsresol` says otherwise).
    units: u64,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_secs: i64,
}

/// A pcapng block walker.
pub(crate) struct Pcapng<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The current section is in the other byte order than little-endian.
    swapped: bool,
    interfaces: Vec<Iface>,
}

impl<'a> Pcapng<'a> {
    /// `bytes` starts with the SHB block type; the SHB itself is read as the
    /// first block.
    pub(crate) fn open(bytes: &'a [u8], side: &mut Side) -> Result<Self, ReadError> {
        if u32_at(bytes, 8, false)
            .is_some_and(|m| m != BYTE_ORDER_MAGIC && m.swap_bytes() != BYTE_ORDER_MAGIC)
        {
            return Err(ReadError::new(
                &side.path,
                ReadErrorKind::NotACapture,
                "not a capture file twincap reads: it starts like pcapng (0a 0d 0d 0a) but has no \
                 pcapng byte-order magic (1a 2b 3c 4d) at byte 8",
            )
            .at_offset(8)
            .hint("if Wireshark opens it, convert it with `editcap -F pcapng FILE out.pcapng`"));
        }
        Ok(Pcapng {
            bytes,
            at: 0,
            swapped: false,
            interfaces: Vec::new(),
        })
    }

    fn word(&self, block: &[u8], at: usize) -> u32 {
        u32_at(block, at, self.swapped).unwrap_or(0)
    }

    /// Read a Section Header Block at `self.at`; false at a cut-off end.
    fn section_header(&mut self, side: &mut Side) -> Result<bool, ReadError> {
        let at = self.at;
        let Some(magic) = u32_at(self.bytes, at + 8, false) else {
            side.truncated_block(at, "a section header block");
            return Ok(false);
        };
        let swapped = match magic {
            BYTE_ORDER_MAGIC => false,
            m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
            m => {
                return Err(side.corrupt(
                    at,
                    format!("section header block has byte-order magic {m:08x}, not 1a2b3c4d"),
                ))
            }
        };
        let len = round4(u32_at(self.bytes, at + 4, swapped).unwrap_or(0));
        if !(MIN_SHB_LEN..=MAX_BLOCK_LEN).contains(&len) {
            return Err(side.corrupt(
                at,
                format!("section header block length {len} is not between {MIN_SHB_LEN} and {MAX_BLOCK_LEN}"),
            ));
        }
        let Some(shb) = slice(self.bytes, at, len) else {
            side.truncated_block(at, "a section header block");
            return Ok(false);
        };
        self.swapped = swapped;
        self.check_trailer(shb, at, side)?;
        let (major, minor) = (
            u16_at(shb, 12, swapped).unwrap_or(0),
            u16_at(shb, 14, swapped).unwrap_or(0),
        );
        if !(major == 1 && (minor == 0 || minor == 2)) {
            return Err(side.corrupt(
                at,
                format!(
                    "pcapng section version {major}.{minor} is not supported (1.0 and 1.2 are)"
                ),
            ));
        }
        for (code, value) in options(&shb[24..len - 4], swapped) {
            if code == OPT_COMMENT {
                side.section_comments.push(text(value));
            }
        }
        self.interfaces.clear();
        self.at = at + len;
        Ok(true)
    }

    fn check_trailer(&self, block: &[u8], at: usize, side: &Side) -> Result<(), ReadError> {
        let first = block.len();
        let second = round4(self.word(block, first - 4));
        if second != first {
            return Err(side.corrupt(
                at,
                format!("block lengths at its start ({first}) and end ({second}) differ"),
            ));
        }
        Ok(())
    }

    fn interface(&mut self, body: &[u8], at: usize, side: &mut Side) -> Result<(), ReadError> {
        if body.len() < 8 {
            return Err(side.corrupt(at, "interface description block too short"));
        }
        let link_type = u16_at(body, 0, self.swapped).unwrap_or(0) as u32;
        let snaplen = self.word(body, 4);
        let mut iface = Iface {
            link_type,
            snaplen,
            units: 1_000_000,
            offset_secs: 0,
        };
        let mut described = Interface {
            link_type,
            snaplen,
            ..Interface::default()
        };
        for (code, value) in options(&body[8..], self.swapped) {
            match code {
                OPT_IF_NAME => described.name = Some(text(value)),
                OPT_IF_DESCRIPTION => described.description = Some(text(value)),
                OPT_IF_TSRESOL => {
                    if let Some(&resolution) = value.first() {
                        iface.units = units_per_second(resolution);
                    }
                }
                OPT_IF_TSOFFSET => {
                    if let Some(offset) = u64_at(value, 0, self.swapped) {
                        iface.offset_secs = offset as i64;
                    }
                }
                _ => {}
            }
        }
        self.interfaces.push(iface);
        side.interfaces.push(described);
        Ok(())
    }

    /// Time of a packet on `iface`, as Wireshark computes it: whole seconds
    /// and the fraction from the 64-bit count of units, then the offset.
    fn ts_ns(iface: &Iface, high: u32, low: u32) -> i64 {
        let ts = (u64::from(high) << 32) | u64::from(low);
        let secs = (ts / iface.units) as i64;
        let nanos = (u128::from(ts % iface.units) * 1_000_000_000 / u128::from(iface.units)) as i64;
        crate::source::ns(secs.saturating_add(iface.offset_secs), nanos)
    }

    /// An EPB or obsolete PB `body` (after the block header).
    fn packet(
        &self,
        kind: u32,
        body: &'a [u8],
        at: usize,
        side: &mut Side,
    ) -> Result<Record<'a>, ReadError> {
        let what = if kind == block::EPB {
            "enhanced packet block"
        } else {
            "packet block"
        };
        if body.len() < 20 {
            return Err(side.corrupt(at, format!("{what} too short ({} bytes)", body.len() + 12)));
        }
        let interface_id = if kind == block::EPB {
            self.word(body, 0)
        } else {
            u16_at(body, 0, self.swapped).unwrap_or(0) as u32
        };
        let captured = self.word(body, 12);
        let original = self.word(body, 16);
        let iface = self.interface_of(interface_id, at, side)?;
        if captured > MAX_RECORD_LEN {
            return Err(side.corrupt(
                at,
                format!(
                    "the {what} says {captured} bytes were captured, more than the \
                     {MAX_RECORD_LEN} bytes a capture tool writes for one frame"
                ),
            ));
        }
        let padded = round4(captured);
        let Some(data) = slice(body, 20, captured as usize).filter(|_| body.len() >= 20 + padded)
        else {
            return Err(side.corrupt(
                at,
                format!(
                    "{what} of {} bytes cannot hold the {captured} captured bytes it declares",
                    body.len() + 12
                ),
            ));
        };
        for (code, value) in options(&body[20 + padded..], self.swapped) {
            if code == OPT_COMMENT {
                side.comments.push((side.next_frame(), text(value)));
            }
        }
        Ok(Record {
            data,
            offset: at as u64,
            ts_ns: Self::ts_ns(&iface, self.word(body, 4), self.word(body, 8)),
            link_type: iface.link_type,
            orig_len: original,
        })
    }

    fn interface_of(&self, id: u32, at: usize, side: &Side) -> Result<Iface, ReadError> {
        self.interfaces.get(id as usize).copied().ok_or_else(|| {
            side.corrupt(
                at,
                format!(
                    "packet names interface {id}, but its section describes {} interface(s)",
                    self.interfaces.len()
                ),
            )
        })
    }

    /// A Simple Packet Block `body`: interface 0, no time; the captured part
    /// is the original length cut to interface 0's snaplen.
    fn simple_packet(
        &self,
        body: &'a [u8],
        at: usize,
        side: &mut Side,
    ) -> Result<Record<'a>, ReadError> {
        if body.len() < 4 {
            return Err(side.corrupt(at, "simple packet block too short"));
        }
        let iface = self.interface_of(0, at, side)?;
        let original = self.word(body, 0);
        let captured = if iface.snaplen != 0 {
            original.min(iface.snaplen)
        } else {
            original
        };
        if captured > MAX_RECORD_LEN {
            return Err(side.corrupt(
                at,
                format!(
                    "the simple packet block holds a {captured}-byte frame, more than the \
                     {MAX_RECORD_LEN} bytes a capture tool writes for one frame"
                ),
            ));
        }
        let Some(data) = slice(body, 4, captured as usize) else {
            return Err(side.corrupt(
                at,
                format!(
                    "simple packet block of {} bytes cannot hold its {captured}-byte frame",
                    body.len() + 12
                ),
            ));
        };
        Ok(Record {
            data,
            offset: at as u64,
            ts_ns: 0,
            link_type: iface.link_type,
            orig_len: original,
        })
    }
}

impl<'a> Walk<'a> for Pcapng<'a> {
    fn next_record(&mut self, side: &mut Side) -> Result<Option<Record<'a>>, ReadError> {
        loop {
            let at = self.at;
            if at >= self.bytes.len() {
                return Ok(None);
            }
            let Some(kind) = u32_at(self.bytes, at, self.swapped) else {
                side.truncated_block(at, "a block header");
                return Ok(None);
            };
            if kind == block::SHB {
                if !self.section_header(side)? {
                    return Ok(None);
                }
                continue;
            }
            let is_frame = matches!(
                kind,
                block::EPB
                    | block::PB
                    | block::SPB
                    | block::SYSTEMD_JOURNAL
                    | block::SYSDIG_EVENT
                    | block::SYSDIG_EVENT_V2
                    | block::SYSDIG_EVENT_V2_LARGE
                    | block::CUSTOM_COPY
                    | block::CUSTOM_NO_COPY
            );
            let cut = |side: &mut Side, needed: usize| {
                if is_frame {
                    side.truncated(at, needed, self.bytes.len() - at)
                } else {
                    side.truncated_block(at, &format!("a block of type 0x{kind:x}"))
                }
            };
            let Some(declared) = u32_at(self.bytes, at + 4, self.swapped) else {
                cut(side, 8);
                return Ok(None);
            };
            // Some writers leave the padding out of the length; Wireshark
            // rounds up, and so do we.
            let len = round4(declared);
            if !(MIN_BLOCK_LEN..=MAX_BLOCK_LEN).contains(&len) {
                return Err(side.corrupt(
                    at,
                    format!(
                        "block of type 0x{kind:x} has length {declared}, not between \
                         {MIN_BLOCK_LEN} and {MAX_BLOCK_LEN}"
                    ),
                ));
            }
            let Some(whole) = slice(self.bytes, at, len) else {
                cut(side, len);
                return Ok(None);
            };
            self.check_trailer(whole, at, side)?;
            self.at = at + len;
            let body = &whole[8..len - 4];
            match kind {
                block::IDB => self.interface(body, at, side)?,
                block::EPB | block::PB => return self.packet(kind, body, at, side).map(Some),
                block::SPB => return self.simple_packet(body, at, side).map(Some),
                _ if is_frame => {
                    return Ok(Some(Record {
                        data: &[],
                        offset: at as u64,
                        ts_ns: 0,
                        link_type: NOT_A_PACKET,
                        orig_len: 0,
                    }))
                }
                _ => {}
            }
        }
    }
}

/// `len` rounded up to a multiple of 4, as a usize (saturating).
fn round4(len: u32) -> usize {
    (len as usize).saturating_add(3) & !3
}

/// `if_tsresol`: the high bit says base 2 (else 10), the rest the negative
/// exponent. Wireshark's fallback for exponents too large: u64::MAX.
fn units_per_second(resolution: u8) -> u64 {
    let exponent = u32::from(resolution & 0x7f);
    let units = if resolution & 0x80 != 0 {
        1u64.checked_shl(exponent).filter(|_| exponent < 64)
    } else {
        10u64.checked_pow(exponent)
    };
    units.unwrap_or(u64::MAX)
}

/// Options of a block: (code, value) until `opt_endofopt` or the end.
fn options(mut bytes: &[u8], swapped: bool) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let code = u16_at(bytes, 0, swapped)?;
        let len = u16_at(bytes, 2, swapped)? as usize;
        if code == OPT_END {
            return None;
        }
        let value = slice(bytes, 4, len)?;
        bytes = bytes.get(4 + round4(len as u32)..).unwrap_or(&[]);
        Some((code, value))
    })
}

/// A string option: UTF-8, without the NUL padding some writers add.
fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .trim_end_matches('\0')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_resolutions() {
        assert_eq!(units_per_second(6), 1_000_000);
        assert_eq!(units_per_second(9), 1_000_000_000);
        assert_eq!(units_per_second(0x80 | 10), 1024);
        assert_eq!(units_per_second(0x80 | 64), u64::MAX);
        assert_eq!(units_per_second(30), u64::MAX);
    }
}
