//! Microsoft Network Monitor files (magic "GMBU" for 2.x, "RTSS" for 1.x),
//! as Wireshark's `wiretap/netmon.c` (4.0) reads them.
//!
//! A 128-byte file header gives the capture start time (a SYSTEMTIME) and
//! the place of the frame table, a list of 32-bit offsets of the records in
//! frame order (records need not be in file order). A 2.x record is an
//! 8-byte time since the start, original and captured lengths, the frame,
//! and from format 2.1 on a trailer with the frame's media type (2.3 and
//! later: also a UTC FILETIME, which is the frame's time).
//!
//! Media types are mapped to pcap LINKTYPE_* values (Ethernet -> 1, ...).
//! Metadata frames Wireshark shows (event tracing, adapter list, filter)
//! count as frames without a packet; the ones it skips (payload header,
//! network info, DNS cache) are not frames. Types without a LINKTYPE_
//! equivalent become `UNMAPPED_MEDIA | type`, which no decoder knows.
//!
//! One difference from Wireshark: it reads the start time (before 2.3) in
//! the local time zone of the machine reading the file, since the file does
//! not say which zone it was; we take it as UTC, which is what tshark shows
//! on a machine set to UTC.

use crate::error::{ReadError, ReadErrorKind};
use crate::packet::Interface;
use crate::read::{Record, Side, Walk, MAX_RECORD_LEN, NOT_A_PACKET};
use crate::source::{slice, u16_at, u32_at, u64_at};

/// Link type given to a media type that has no pcap LINKTYPE_ value
/// (the media type is in the low 16 bits).
pub(crate) const UNMAPPED_MEDIA: u32 = 0x4e4d_0000;

const HEADER_LEN: usize = 128;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_TOKEN_RING: u32 = 6;
const LINKTYPE_FDDI: u32 = 10;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_IEEE802_11: u32 = 105;

/// Seconds from 1601-01-01 (FILETIME epoch) to 1970-01-01.
const FILETIME_EPOCH_SECS: i64 = 11_644_473_600;

/// What one frame-table entry turns out to be.
enum Media {
    Link(u32),
    /// Wireshark skips it: not a frame.
    Skipped,
}

/// A Network Monitor record walker.
pub(crate) struct Netmon<'a> {
    bytes: &'a [u8],
    major: u8,
    minor: u8,
    /// Media type of the file header (files before 2.1 have no per-frame one).
    file_media: u16,
    start_ns: i64,
    table: &'a [u8],
    /// Next frame-table entry.
    next: usize,
}

impl<'a> Netmon<'a> {
    pub(crate) fn open(bytes: &'a [u8], side: &mut Side) -> Result<Self, ReadError> {
        let corrupt = |message: String| {
            ReadError::new(&side.path, ReadErrorKind::Corrupt, message)
                .hint("Network Monitor writes the frame table last: a file cut off cannot be read; check that the capture was saved completely")
        };
        if bytes.len() < HEADER_LEN {
            return Err(corrupt(format!(
                "the file is {} bytes long, shorter than the {HEADER_LEN}-byte Network Monitor header",
                bytes.len()
            ))
            .at_offset(0));
        }
        let field = |at: usize| u16_at(bytes, at, false).unwrap_or(0);
        let (minor, major) = (bytes[4], bytes[5]);
        if major != 1 && major != 2 {
            return Err(corrupt(format!(
                "Network Monitor format version {major}.{minor} is not supported (1.x and 2.x are)"
            ))
            .at_offset(4));
        }
        let file_media = field(6);
        let start_ns = systemtime_ns(
            field(8),
            field(10),
            field(14),
            field(16),
            field(18),
            field(20),
            field(22),
        );
        let table_offset = u32_at(bytes, 24, false).unwrap_or(0) as usize;
        let table_len = u32_at(bytes, 28, false).unwrap_or(0) as usize;
        if table_len % 4 != 0 {
            return Err(corrupt(format!(
                "frame table length {table_len} is not a multiple of 4"
            ))
            .at_offset(28));
        }
        let Some(table) = slice(bytes, table_offset, table_len) else {
            return Err(corrupt(format!(
                "frame table ({table_len} bytes at byte {table_offset}) runs past the end of the \
                 {}-byte file",
                bytes.len()
            ))
            .at_offset(24));
        };
        Ok(Netmon {
            bytes,
            major,
            minor,
            file_media,
            start_ns,
            table,
            next: 0,
        })
    }

    /// Header length of a record.
    fn record_header_len(&self) -> usize {
        if self.major == 1 {
            8
        } else {
            16
        }
    }

    /// Length of the trailer after the frame (2.1 and later).
    fn trailer_len(&self) -> usize {
        match (self.major, self.minor) {
            (1, _) | (2, 0) => 0,
            (2, 1) => 2,
            (2, 2) => 6,
            _ => 15,
        }
    }

    fn note_interface(side: &mut Side, link_type: u32) {
        if link_type != NOT_A_PACKET && !side.interfaces.iter().any(|i| i.link_type == link_type) {
            side.interfaces.push(Interface {
                link_type,
                ..Interface::default()
            });
        }
    }
}

impl<'a> Walk<'a> for Netmon<'a> {
    fn next_record(&mut self, side: &mut Side) -> Result<Option<Record<'a>>, ReadError> {
        loop {
            let Some(at) = u32_at(self.table, self.next * 4, false) else {
                return Ok(None);
            };
            self.next += 1;
            let at = at as usize;
            let header_len = self.record_header_len();
            let Some(header) = slice(self.bytes, at, header_len) else {
                return Err(side.corrupt(
                    at,
                    format!(
                        "the frame table points past the end of the {}-byte file",
                        self.bytes.len()
                    ),
                ));
            };
            let (delta_ns, original, captured) = if self.major == 1 {
                (
                    i64::from(u32_at(header, 0, false).unwrap_or(0)) * 1_000_000,
                    u32::from(u16_at(header, 4, false).unwrap_or(0)),
                    u32::from(u16_at(header, 6, false).unwrap_or(0)),
                )
            } else {
                // Microseconds as an unsigned number that, times 10, is a
                // signed count of 100 ns (Wireshark's reading of the docs).
                let delta = u64_at(header, 0, false).unwrap_or(0).wrapping_mul(10) as i64;
                (
                    delta.saturating_mul(100),
                    u32_at(header, 8, false).unwrap_or(0),
                    u32_at(header, 12, false).unwrap_or(0),
                )
            };
            if captured > MAX_RECORD_LEN {
                return Err(side.corrupt(
                    at,
                    format!(
                        "the record header says {captured} bytes were captured, more than the \
                         {MAX_RECORD_LEN} bytes a capture tool writes for one frame"
                    ),
                ));
            }
            let data_at = at + header_len;
            let trailer_at = data_at + captured as usize;
            let (Some(data), Some(trailer)) = (
                slice(self.bytes, data_at, captured as usize),
                slice(self.bytes, trailer_at, self.trailer_len()),
            ) else {
                return Err(side.corrupt(
                    at,
                    format!(
                        "the record runs past the end of the {}-byte file",
                        self.bytes.len()
                    ),
                ));
            };
            let media = if trailer.is_empty() {
                Media::Link(media_link_type(self.file_media))
            } else {
                media_of(u16_at(trailer, 0, false).unwrap_or(0))
            };
            let Media::Link(link_type) = media else {
                continue;
            };
            let mut ts_ns = self.start_ns.saturating_add(delta_ns);
            if let Some(filetime) = u64_at(trailer, 6, false) {
                let secs = (filetime / 10_000_000) as i64 - FILETIME_EPOCH_SECS;
                ts_ns = crate::source::ns(secs, (filetime % 10_000_000) as i64 * 100);
            }
            Self::note_interface(side, link_type);
            return Ok(Some(Record {
                data,
                offset: at as u64,
                ts_ns,
                link_type,
                orig_len: original,
            }));
        }
    }
}

/// LINKTYPE_* of a NetMon media type (the file header's, or a 2.x frame's
/// below the special ranges): netmon.c's `netmon_encap` table.
fn media_link_type(media: u16) -> u32 {
    match media {
        0 | 1 => LINKTYPE_ETHERNET,
        2 => LINKTYPE_TOKEN_RING,
        3 => LINKTYPE_FDDI,
        7..=9 => LINKTYPE_RAW,
        other => UNMAPPED_MEDIA | u32::from(other),
    }
}

/// The media type of a 2.1+ frame trailer.
fn media_of(media: u16) -> Media {
    match media {
        0xe080 => Media::Link(LINKTYPE_IEEE802_11),
        0xe081..=0xe08a => Media::Link(UNMAPPED_MEDIA | u32::from(media)),
        // A converted pcap: the LINKTYPE_ value under 0xE000.
        m if m & 0xf000 == 0xe000 => Media::Link(u32::from(m & 0x0fff)),
        // Event tracing, adapter list, NetMon filter: frames Wireshark
        // shows, with no packet.
        0xffe0 | 0xfffb | 0xffff => Media::Link(NOT_A_PACKET),
        // Payload header, network info, DNS cache: Wireshark skips them.
        0xfffc..=0xfffe => Media::Skipped,
        m => Media::Link(media_link_type(m)),
    }
}

/// A SYSTEMTIME as nanoseconds since the epoch, taken as UTC.
fn systemtime_ns(year: u16, month: u16, day: u16, hour: u16, min: u16, sec: u16, msec: u16) -> i64 {
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec);
    crate::source::ns(secs, i64::from(msec) * 1_000_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm); out-of-range months and days just shift the date, as
/// mktime does.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9).rem_euclid(12);
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2005, 7, 16), 12_980);
        assert_eq!(
            systemtime_ns(2005, 7, 16, 10, 31, 8, 393),
            1_121_509_868_393_000_000
        );
    }
}
