//! Getting a capture file's bytes into memory: a plain file is memory-mapped
//! (the formats are then parsed in place, without copying a frame), a gzip
//! file (magic 1f 8b) is decompressed into a buffer first. Also the
//! bounds-checked little helpers every format parser reads fields with.

use crate::error::{ReadError, ReadErrorKind};
use crate::packet::Warning;
use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::Path;

/// The bytes of a capture file, as the format parsers see them.
pub(crate) enum Source {
    Mapped(memmap2::Mmap),
    /// Decompressed gzip data, or a capture handed over in memory.
    Inflated(Vec<u8>),
}

impl Deref for Source {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Source::Mapped(map) => map,
            Source::Inflated(bytes) => bytes,
        }
    }
}

impl Source {
    /// Tell the kernel the mapped bytes in `from..upto` will not be read
    /// again, so their pages leave this process's resident set: a capture is
    /// read once, front to back, and the packets keep only what they need.
    /// Without this, a mapped multi-gigabyte file counts whole against peak
    /// memory. Only whole pages are dropped: `from` is rounded up and `upto`
    /// down to a page boundary; returns where the released range ends, the
    /// `from` of the next call (each call walks the page tables of its range
    /// only, so the ranges should not overlap). Pages are read back from the
    /// file if they are touched again, so this changes nothing but memory
    /// use. A no-op for inflated gzip data (returns `from`).
    pub(crate) fn release(&self, from: usize, upto: usize) -> usize {
        let Source::Mapped(map) = self else {
            return from;
        };
        let from = from.next_multiple_of(PAGE);
        let upto = upto.min(map.len()) / PAGE * PAGE;
        if upto <= from {
            return from;
        }
        // SAFETY: the map is read-only and file-backed; MADV_DONTNEED on
        // such a mapping drops clean pages that are re-read from the file
        // on the next access, so no byte any slice sees can change.
        #[cfg(unix)]
        unsafe {
            let _ =
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, upto - from);
        }
        upto
    }
}

/// The page size the released ranges are rounded to: x86-64's, and the
/// smallest any supported system has. On a system with larger pages the
/// kernel rounds the range end up to a whole page, which can drop a page
/// still to be read: it is then read back from the file, at a small cost.
pub(crate) const PAGE: usize = 4096;

impl Source {
    /// Map the file's pages in `from..from + len` into this process now,
    /// in one call (`MADV_POPULATE_READ`, Linux 5.14), on the walking
    /// thread, before the walker and decoders touch them: one page fault
    /// per 16 pages otherwise, each a trip into the kernel on the thread
    /// that needed the page. Only a hint: an older kernel refuses it, and
    /// the pages fault in as before. A no-op for inflated gzip data.
    pub(crate) fn prefetch(&self, from: usize, len: usize) {
        if let Source::Mapped(map) = self {
            let from = from.min(map.len());
            let len = len.min(map.len() - from);
            if len == 0 {
                return;
            }
            #[cfg(target_os = "linux")]
            let _ = map.advise_range(memmap2::Advice::PopulateRead, from, len);
        }
    }
}

/// A file opened for reading.
pub(crate) struct Opened {
    pub(crate) bytes: Source,
    pub(crate) gzip: bool,
    /// Something went wrong while decompressing, after some data came out.
    pub(crate) warning: Option<Warning>,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Open `path`: map it, or inflate it when it is gzip-compressed.
pub(crate) fn open(path: &Path) -> Result<Opened, ReadError> {
    let io_error = |e: std::io::Error| {
        ReadError::new(
            path,
            ReadErrorKind::Io,
            format!("cannot read the file: {e}"),
        )
        .hint("check the path and that you may read the file")
    };
    let file = File::open(path).map_err(io_error)?;
    let meta = file.metadata().map_err(io_error)?;
    if meta.is_dir() {
        return Err(ReadError::new(
            path,
            ReadErrorKind::Io,
            "is a directory, not a capture file",
        )
        .hint("give the path of a pcap, pcapng or Network Monitor file"));
    }
    if meta.len() == 0 {
        return Err(empty(path, "the file is empty (0 bytes)"));
    }
    // SAFETY: the map is read-only and lives as long as the `Capture` read
    // from it is being built. Another process truncating or rewriting the
    // file while we read is outside what a capture reader can defend
    // against (tools that append, like a running tcpdump, only add bytes
    // past what we mapped).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_error)?;
    // Records are read front to back: ask for aggressive read-ahead. Only a
    // hint; reading works the same without it.
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    inflate_if_gzip(path, Source::Mapped(map))
}

/// Take a capture already in memory, inflating it when it is
/// gzip-compressed. `path` only names it in errors.
pub(crate) fn from_vec(path: &Path, bytes: Vec<u8>) -> Result<Opened, ReadError> {
    if bytes.is_empty() {
        return Err(empty(path, "the file is empty (0 bytes)"));
    }
    inflate_if_gzip(path, Source::Inflated(bytes))
}

/// `raw` as it is, or gunzipped when it starts with the gzip magic.
fn inflate_if_gzip(path: &Path, raw: Source) -> Result<Opened, ReadError> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(Opened {
            bytes: raw,
            gzip: false,
            warning: None,
        });
    }
    let mut inflated = Vec::with_capacity(raw.len().saturating_mul(3));
    let result = flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut inflated);
    let mut warning = None;
    if let Err(e) = result {
        if inflated.is_empty() {
            return Err(ReadError::new(
                path,
                ReadErrorKind::Corrupt,
                format!("the file starts like gzip (1f 8b) but does not decompress: {e}"),
            )
            .hint("check the file with `gzip -t`; if it is not compressed, it is no capture twincap reads"));
        }
        // A gzip stream cut off (the writer was killed) decompresses up to
        // where it stops: read what came out, as gunzip would.
        warning = Some(Warning {
            frame: 0,
            offset: Some(inflated.len() as u64),
            message: format!(
                "gzip data stops after {} decompressed bytes ({e}); reading what was decompressed",
                inflated.len()
            ),
        });
    }
    if inflated.is_empty() {
        return Err(empty(
            path,
            "the gzip file decompresses to nothing (0 bytes)",
        ));
    }
    Ok(Opened {
        bytes: Source::Inflated(inflated),
        gzip: true,
        warning,
    })
}

fn empty(path: &Path, message: &str) -> ReadError {
    ReadError::new(path, ReadErrorKind::Empty, message)
        .hint("nothing was captured into it; check that the capture ran and was stopped cleanly")
}

/// Ask the CPU to load the cache lines of `bytes[from..to]` (a hint: no
/// effect on what is read, only on when it arrives).
pub(crate) fn prefetch_lines(bytes: &[u8], from: usize, to: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let to = to.min(bytes.len());
        let mut at = from & !63;
        while at < to {
            let line = bytes[at..].as_ptr() as *const i8;
            // SAFETY: SSE is part of every x86-64 CPU, and a prefetch only
            // hints: it reads nothing the program sees and never faults
            // (the address is in `bytes` anyway: `at < to <= bytes.len()`).
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line) };
            at += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, from, to);
}

/// Ask the CPU to load the cache lines of `value` (its first and last
/// byte's lines: a value may straddle two). A hint: no effect on what is
/// read, only on when it arrives.
#[inline]
pub fn prefetch_value<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let first = value as *const T as *const i8;
        let last = first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1));
        // SAFETY: SSE is part of every x86-64 CPU, and a prefetch only
        // hints: it reads nothing the program sees and never faults (both
        // addresses are within `value` anyway).
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(first);
            _mm_prefetch::<_MM_HINT_T0>(last);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Ask the kernel to back `buf`'s allocation with 2 MB pages where it can
/// (the whole 2 MB pages it holds), before the pages are first touched:
/// for a large table looked up at random, once per packet, where with
/// 4 KB pages nearly every lookup also missed the TLB. Only for a buffer
/// that is never grown in place (`realloc` could no longer `mremap` it:
/// the advice splits its mapping). A hint (a kernel without transparent
/// huge pages ignores it); changes no byte.
pub(crate) fn huge_pages<T>(buf: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = buf.as_ptr() as usize;
        let end = start + buf.capacity() * std::mem::size_of::<T>();
        let from = start.next_multiple_of(HUGE);
        let to = end / HUGE * HUGE;
        if to > from {
            // SAFETY: the range lies within `buf`'s allocation;
            // MADV_HUGEPAGE only changes how its pages are backed, never
            // their contents.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// Map in now the pages of `len` bytes of this process's memory at
/// address `from` (page-aligned), as writing them would
/// (`MADV_POPULATE_WRITE`, Linux 5.14): in one call, where each page's
/// first write would be a fault of its own. A hint: a page already mapped
/// keeps its bytes, a fresh one comes in zeroed as a write would find it,
/// and a range not mapped only makes the call fail (ignored).
pub(crate) fn populate_write(from: usize, len: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: MADV_POPULATE_WRITE changes no byte the program can see (see
    // above); it only decides when the kernel backs the pages.
    unsafe {
        libc::madvise(from as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (from, len);
}

/// `len` bytes at `at`, if the buffer holds them.
pub(crate) fn slice(bytes: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    bytes.get(at..at.checked_add(len)?)
}

pub(crate) fn u16_at(bytes: &[u8], at: usize, swapped: bool) -> Option<u16> {
    let v = u16::from_le_bytes(slice(bytes, at, 2)?.try_into().ok()?);
    Some(if swapped { v.swap_bytes() } else { v })
}

pub(crate) fn u32_at(bytes: &[u8], at: usize, swapped: bool) -> Option<u32> {
    let v = u32::from_le_bytes(slice(bytes, at, 4)?.try_into().ok()?);
    Some(if swapped { v.swap_bytes() } else { v })
}

pub(crate) fn u64_at(bytes: &[u8], at: usize, swapped: bool) -> Option<u64> {
    let v = u64::from_le_bytes(slice(bytes, at, 8)?.try_into().ok()?);
    Some(if swapped { v.swap_bytes() } else { v })
}

/// Seconds and nanoseconds since the epoch as one `i64` of nanoseconds,
/// saturating instead of overflowing on absurd values.
pub(crate) fn ns(secs: i64, nanos: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_pages_read_back_the_same_and_ranges_are_whole_pages() {
        let path = std::env::temp_dir().join(format!("twincap-release-{}.bin", std::process::id()));
        let bytes: Vec<u8> = (0..5 * PAGE + 100).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let opened = open(&path).unwrap();
        let source = &opened.bytes;
        assert_eq!(source.release(0, PAGE - 1), 0, "less than a page: nothing");
        assert_eq!(source.release(0, 2 * PAGE + 7), 2 * PAGE);
        assert_eq!(source.release(2 * PAGE, 2 * PAGE + 10), 2 * PAGE);
        assert_eq!(source.release(100, 3 * PAGE), 3 * PAGE, "from rounds up");
        assert_eq!(
            source.release(3 * PAGE, usize::MAX),
            5 * PAGE,
            "ends at the map"
        );
        assert_eq!(
            &source[..],
            &bytes[..],
            "released pages are read back from the file"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
