//! Classic pcap (libpcap) files, as Wireshark's `wiretap/libpcap.c` reads
//! them: microsecond (a1b2c3d4) and nanosecond (a1b23c4d) magic in either
//! byte order, a 24-byte file header, then records of a 16-byte header
//! (seconds, fraction, captured length, original length) and the frame.
//!
//! A record may be longer than the file header's snaplen (some writers get
//! the snaplen wrong): Wireshark reads it, and so do we. Only a captured
//! length above [`MAX_RECORD_LEN`] is taken for corruption.

use crate::error::{ReadError, ReadErrorKind};
use crate::packet::Interface;
use crate::read::{Record, Side, Walk, MAX_RECORD_LEN};
use crate::source::{slice, u16_at, u32_at};

const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

/// Where the captured and original lengths stand in the record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lengths {
    InOrder,
    /// Files before format 2.3 have them the other way round.
    Swapped,
    /// Format 2.3: some writers still swapped them; swapped when the
    /// captured length is larger than the original one.
    MaybeSwapped,
}

/// A pcap record walker.
pub(crate) struct Pcap<'a> {
    bytes: &'a [u8],
    at: usize,
    swapped: bool,
    nanosecond: bool,
    lengths: Lengths,
    link_type: u32,
}

impl<'a> Pcap<'a> {
    /// Read the file header; `bytes` starts with one of the pcap magics.
    pub(crate) fn open(bytes: &'a [u8], side: &mut Side) -> Result<Self, ReadError> {
        let (swapped, nanosecond) = match bytes.get(..4) {
            Some([0xd4, 0xc3, 0xb2, 0xa1]) => (false, false),
            Some([0xa1, 0xb2, 0xc3, 0xd4]) => (true, false),
            Some([0x4d, 0x3c, 0xb2, 0xa1]) => (false, true),
            _ => (true, true),
        };
        let (Some(major), Some(minor), Some(snaplen), Some(network)) = (
            u16_at(bytes, 4, swapped),
            u16_at(bytes, 6, swapped),
            u32_at(bytes, 16, swapped),
            u32_at(bytes, 20, swapped),
        ) else {
            return Err(ReadError::new(
                &side.path,
                ReadErrorKind::Corrupt,
                format!(
                    "the file is {} bytes long, shorter than the {FILE_HEADER_LEN}-byte pcap file header",
                    bytes.len()
                ),
            )
            .at_offset(0)
            .hint("the capture was cut off before its first packet; capture again"));
        };
        if major < 2 {
            return Err(ReadError::new(
                &side.path,
                ReadErrorKind::Corrupt,
                format!("pcap format version {major}.{minor} is not supported (only 2.x is)"),
            )
            .at_offset(4)
            .hint("if Wireshark opens it, convert it with `editcap -F pcap FILE out.pcap`"));
        }
        let lengths = match (major, minor) {
            (2, 0..=2) | (543, _) => Lengths::Swapped,
            (2, 3) => Lengths::MaybeSwapped,
            _ => Lengths::InOrder,
        };
        // The upper bits carry an FCS length and reserved flags.
        let link_type = network & 0xffff;
        side.interfaces.push(Interface {
            link_type,
            snaplen,
            ..Interface::default()
        });
        Ok(Pcap {
            bytes,
            at: FILE_HEADER_LEN,
            swapped,
            nanosecond,
            lengths,
            link_type,
        })
    }
}

/// How far ahead of the record being read its successors' bytes are asked
/// for (`source::prefetch_lines`): each record's length gives the next one's
/// place, so without it the walk waits for memory once per record.
const PREFETCH_AHEAD: usize = 4096;

impl<'a> Walk<'a> for Pcap<'a> {
    #[inline(always)]
    fn next_record(&mut self, side: &mut Side) -> Result<Option<Record<'a>>, ReadError> {
        let at = self.at;
        if at >= self.bytes.len() {
            return Ok(None);
        }
        let left = self.bytes.len() - at;
        let Some(header) = slice(self.bytes, at, RECORD_HEADER_LEN) else {
            side.truncated(at, RECORD_HEADER_LEN, left);
            return Ok(None);
        };
        let word = |i: usize| u32_at(header, i, self.swapped).unwrap_or(0);
        let (secs, fraction) = (word(0), word(4));
        let (mut captured, mut original) = (word(8), word(12));
        if self.lengths == Lengths::Swapped
            || (self.lengths == Lengths::MaybeSwapped && captured > original)
        {
            std::mem::swap(&mut captured, &mut original);
        }
        if captured > MAX_RECORD_LEN {
            return Err(side.corrupt(
                at,
                format!(
                    "the record header says {captured} bytes were captured, more than the \
                     {MAX_RECORD_LEN} bytes a capture tool writes for one frame"
                ),
            ));
        }
        let Some(data) = slice(self.bytes, at + RECORD_HEADER_LEN, captured as usize) else {
            side.truncated(at, RECORD_HEADER_LEN + captured as usize, left);
            return Ok(None);
        };
        self.at = at + RECORD_HEADER_LEN + captured as usize;
        crate::source::prefetch_lines(self.bytes, at + PREFETCH_AHEAD, self.at + PREFETCH_AHEAD);
        let nanos = if self.nanosecond {
            fraction as i64
        } else {
            fraction as i64 * 1000
        };
        Ok(Some(Record {
            data,
            offset: at as u64,
            ts_ns: crate::source::ns(secs as i64, nanos),
            link_type: self.link_type,
            orig_len: original,
        }))
    }
}
