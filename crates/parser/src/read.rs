//! Reading a capture file into TCP packets.
//!
//! [`read_capture`] opens the file ([`crate::source`]: memory map, or gunzip
//! into memory), picks the format from the magic number (never the name),
//! and walks the records with the format's walker ([`crate::pcap`],
//! [`crate::pcapng`], [`crate::netmon`]). Walking is sequential (record
//! boundaries depend on the previous record), decoding is not: records are
//! taken in chunks of [`CHUNK`], decoded in parallel with rayon, and then
//! folded into the [`Capture`] in frame order (numbers, address interning,
//! side tables, IP reassembly, statistics).
//!
//! Frames are numbered as Wireshark numbers them: every record that
//! Wireshark shows as a frame counts, TCP or not, packet or not (a pcapng
//! custom block, a Network Monitor filter frame).

use crate::conn::PairHint;
use crate::decode::defrag::Defragmenter;
use crate::decode::{decode_frame, decode_frame_into, Decoded, DecodedTcp};
use crate::error::{ReadError, ReadErrorKind};
use crate::f5::Trailer;
use crate::packet::{Capture, FileFormat, Interface, SackBlock, TcpPacket, Warning};
use crate::{netmon, pcap, pcapng, source};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Options for [`read_capture`].
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Decode frames on one thread only (tests, tiny files).
    pub single_threaded: bool,
    /// Leave every `TcpPacket::payload_hash` 0: hashing reads every payload
    /// byte, and only `twincap diff` compares payloads.
    pub skip_payload_hash: bool,
    /// Let the walk fault a mapped file's pages in as it reaches them (the
    /// kernel maps 16 at a time), instead of mapping each chunk's pages in
    /// ahead (`MADV_POPULATE_READ`, a page at a time). Measured on the
    /// 2-core bench machine, medians of 14 interleaved runs: `twincap
    /// analyze` (one capture, no packet kept) 523 -> 505 ms; `twincap diff`
    /// (two captures at once, every packet kept) 882 -> 902 ms, so it keeps
    /// the mapping ahead.
    pub fault_pages_in: bool,
}

/// Records per chunk of the reading pipeline: large enough to keep every
/// core busy and to make the hand-offs between stages few, small enough
/// that the three chunks in flight (about 3.6 MB each at 450 bytes a frame)
/// stay in the last-level cache from the walk to the decoding, and a small
/// part of peak memory. Measured on the 2-core bench machine (32 MB L3),
/// interleaved runs, median: `twincap analyze` of the 3 M-frame capture
/// 543 ms with 4 096, 509 ms with 8 192, 518 ms with 16 384 (peak 129, 133,
/// 153 MB); `twincap diff` of the bench pair 910 and 916 ms with 4 096 and
/// 8 192. (In a cachegrind run with an 8 MB last-level cache, 16 384 missed
/// it 3.2x as often as 4 096.)
pub(crate) const CHUNK: usize = 8 * 1024;

/// Bytes mapped in beyond the expected end of the next chunk (see
/// `Source::prefetch`).
const PREFETCH_SLACK: usize = 1 << 20;

/// Bytes of the mapped file behind the fold that are released at once
/// (`Source::release`): every call interrupts the other threads (a TLB
/// shootdown), so it waits until this many bytes are done, a few chunks'
/// worth, a small part of peak memory.
const RELEASE_BATCH: usize = 8 << 20;

/// Largest captured length of a record we accept. Wireshark's
/// `WTAP_MAX_PACKET_SIZE_STANDARD`: no capture tool writes a bigger frame
/// for the link types twincap decodes, so a bigger length means the file
/// is corrupt at that point.
pub(crate) const MAX_RECORD_LEN: u32 = 262_144;

/// Link type of a record Wireshark numbers as a frame although it carries
/// no network packet (pcapng custom, systemd journal and sysdig blocks,
/// Network Monitor event and filter frames). Counted as non-TCP.
pub(crate) const NOT_A_PACKET: u32 = u32::MAX;

/// One record of the file, borrowed from the file's bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Record<'a> {
    /// The captured bytes.
    pub(crate) data: &'a [u8],
    /// Offset of the record (its header or block) in the (decompressed) file.
    pub(crate) offset: u64,
    pub(crate) ts_ns: i64,
    /// pcap LINKTYPE_* value, or [`NOT_A_PACKET`].
    pub(crate) link_type: u32,
    /// Length of the frame on the wire.
    pub(crate) orig_len: u32,
}

/// What a format walker reports besides records, and the frame count the
/// walker names frames by in errors, warnings and comments.
#[derive(Debug, Default)]
pub(crate) struct Side {
    pub(crate) path: PathBuf,
    /// Records handed out so far; the record being read is frame `frames + 1`.
    pub(crate) frames: u32,
    pub(crate) comments: Vec<(u32, String)>,
    pub(crate) section_comments: Vec<String>,
    pub(crate) interfaces: Vec<Interface>,
    pub(crate) warnings: Vec<Warning>,
}

impl Side {
    /// The frame number of the record being read.
    pub(crate) fn next_frame(&self) -> u32 {
        self.frames.saturating_add(1)
    }

    /// An error about the record being read.
    pub(crate) fn corrupt(&self, offset: usize, message: impl Into<String>) -> ReadError {
        let frame = self.next_frame();
        let hint = if frame > 1 {
            format!(
                "the file is damaged here and Wireshark stops here too; \
                 `editcap -r FILE fixed.pcapng 1-{}` keeps the {} frames before it",
                frame - 1,
                frame - 1
            )
        } else {
            "the file is damaged before its first whole frame; Wireshark cannot read it either"
                .to_string()
        };
        ReadError::new(&self.path, ReadErrorKind::Corrupt, message)
            .at_frame(frame)
            .at_offset(offset as u64)
            .hint(hint)
    }

    /// The file ends inside the record being read (the writer was killed):
    /// warn, and stop reading with every whole record kept. The record (or
    /// its header) needs `needed` bytes and `left` remain: a `left` far
    /// larger than a cut-off record shows a damaged length instead.
    pub(crate) fn truncated(&mut self, offset: usize, needed: usize, left: usize) {
        let frame = self.next_frame();
        self.warnings.push(Warning {
            frame,
            offset: Some(offset as u64),
            message: format!(
                "file ends in the middle of frame {frame} (its record needs {needed} bytes, \
                 {left} are left): read {} whole frames",
                frame - 1
            ),
        });
    }

    /// The file ends inside a block that is not a frame (pcapng).
    pub(crate) fn truncated_block(&mut self, offset: usize, what: &str) {
        self.warnings.push(Warning {
            frame: 0,
            offset: Some(offset as u64),
            message: format!(
                "file ends in the middle of {what}: read {} whole frames",
                self.frames
            ),
        });
    }
}

/// A format's record walker.
pub(crate) trait Walk<'a> {
    /// The next record, `None` at the end of the file (after pushing a
    /// warning to `side` when the file ends inside a record).
    fn next_record(&mut self, side: &mut Side) -> Result<Option<Record<'a>>, ReadError>;
}

/// Read a whole capture file.
///
/// Errors name the file, the frame and byte offset where reading stopped,
/// and what to do about it. A file cut off inside a record (a capture tool
/// killed mid-write) is not an error: every whole record is read and
/// [`Capture::warnings`] says where the file ends.
pub fn read_capture(path: &Path, opts: &ReadOptions) -> Result<Capture, ReadError> {
    let mut all = Collect::default();
    let cap = read_opened(path, source::open(path)?, opts, &mut all)?;
    Ok(all.into_capture(cap))
}

/// [`read_capture`] and [`crate::conn::split`] at once: each packet is
/// given its connection as it is read, in the reader's frame-ordered fold,
/// with the [`PairHint`] the decoding threads worked out (the connection's
/// table entry asked for a few packets ahead), where splitting after the
/// read walked every packet again and hashed its addresses once more. The
/// connections are those `conn::split` gives the capture.
pub fn read_capture_split(
    path: &Path,
    opts: &ReadOptions,
) -> Result<(Capture, crate::conn::Connections), ReadError> {
    let opened = source::open(path)?;
    let mut all = CollectSplit::default();
    // Room at once for as many packets as the file can hold (address
    // space: only the pages written cost memory), so that the array is
    // never moved while its next pages are mapped in (`take_later`).
    // Refused (a file larger than memory), it grows as it fills.
    let _ = all
        .collect
        .packets
        .try_reserve_exact(opened.bytes.len() / SMALLEST_TCP_RECORD);
    let cap = read_opened(path, opened, opts, &mut all)?;
    Ok((all.collect.into_capture(cap), all.split.finish()))
}

/// Read a capture held in memory (plain or gzip), as [`read_capture`] reads
/// a file; `path` only names the capture in errors and in
/// [`Capture::path`]. For tests and fuzzing, where a file would be in the way.
pub fn read_capture_bytes(
    path: &Path,
    bytes: Vec<u8>,
    opts: &ReadOptions,
) -> Result<Capture, ReadError> {
    let mut all = Collect::default();
    let cap = read_opened(path, source::from_vec(path, bytes)?, opts, &mut all)?;
    Ok(all.into_capture(cap))
}

/// Where [`read_packets`] hands the TCP packets of a capture, one at a
/// time, in frame order, as they are decoded: a caller that needs each
/// packet only once (`twincap analyze`) never holds them all.
///
/// A sink may also leave part of its work on a chunk's packets for later
/// ([`Self::take_later`]): the reader then runs it on another thread of its
/// pool while it hands over the next chunk's packets, so the sink's work is
/// no longer all on the reader's sequential path.
pub trait PacketSink: Send {
    /// Work left for later on packets already handed over (`()` when the
    /// sink leaves none).
    type Later: Send;

    /// The next TCP packet: its frame number, time, addresses and `attrs`
    /// (an index into the capture's attribute table, which the capture
    /// [`read_packets`] returns holds) are set; its SACK blocks are in
    /// `extras.sacks`.
    fn tcp(&mut self, packet: TcpPacket, extras: &PacketExtras<'_>);

    /// The work left on the packets handed over so far, taken out of the
    /// sink (`None`: none). The reader calls it after each chunk, runs the
    /// work with [`Self::run_later`] while it feeds [`Self::tcp`] the next
    /// chunk, and gives it back with [`Self::done_later`] before it takes
    /// the next.
    fn take_later(&mut self) -> Option<Self::Later> {
        None
    }

    /// Do `later` (on any thread, at the same time as [`Self::tcp`]).
    fn run_later(later: &mut Self::Later) {
        let _ = later;
    }

    /// Take back work done by [`Self::run_later`].
    fn done_later(&mut self, later: Self::Later) {
        let _ = later;
    }

    /// A TCP packet with this [`PairHint`] comes a few packets from now
    /// (its connection's state may be asked for ahead).
    fn soon(&self, pair: &PairHint) {
        let _ = pair;
    }
}

/// What the reader hands a [`PacketSink`] with each packet besides the
/// [`TcpPacket`].
#[derive(Clone, Copy, Debug)]
pub struct PacketExtras<'a> {
    /// The packet's SACK blocks.
    pub sacks: &'a [SackBlock],
    /// The capture's address table so far (`addrs[packet.src as usize]`).
    pub addrs: &'a [IpAddr],
    /// The packet is a RST with data, kept in [`Capture::rst_payloads`].
    pub rst_payload: bool,
    /// The frame's F5 trailer is the newest row of `Capture::f5.frames`.
    pub f5_row: bool,
    /// The hash of the packet's address/port pair and its flow index,
    /// for `conn::Splitter::push_hinted`.
    pub pair: PairHint,
}

/// The sink of [`read_capture`]: every packet, into the capture's tables.
#[derive(Default)]
struct Collect {
    packets: Vec<TcpPacket>,
    sacks: Vec<SackBlock>,
    sack_starts: Vec<(u32, u32)>,
}

impl Collect {
    /// `cap` (read without its packets) with the packets collected.
    fn into_capture(self, mut cap: Capture) -> Capture {
        cap.packets = self.packets;
        cap.sacks = self.sacks;
        cap.sack_starts = self.sack_starts;
        cap
    }
}

impl PacketSink for Collect {
    type Later = ();

    #[inline]
    fn tcp(&mut self, packet: TcpPacket, extras: &PacketExtras<'_>) {
        if !extras.sacks.is_empty() {
            self.sack_starts
                .push((packet.frame, self.sacks.len() as u32));
            self.sacks.extend_from_slice(extras.sacks);
        }
        self.packets.push(packet);
    }
}

/// The sink of [`read_capture_split`]: [`Collect`], and each packet's
/// connection.
#[derive(Default)]
struct CollectSplit {
    collect: Collect,
    split: crate::conn::Split,
    /// Packets whose room in the array was mapped in.
    populated: usize,
}

/// The fewest bytes a TCP packet takes in a capture file: a pcap record
/// header (16 bytes) and raw IPv4 and TCP headers (40).
const SMALLEST_TCP_RECORD: usize = 56;

/// Packets ahead of the last one collected whose room in the packet
/// array is mapped in by [`CollectSplit`]'s work left for later.
const POPULATE_AHEAD: usize = 2 * CHUNK;

impl PacketSink for CollectSplit {
    /// Pages of the packet array to map in: `(from, to)` addresses.
    type Later = (usize, usize);

    /// The pages of the packet array that the next chunks will fill, mapped
    /// in while the next chunk is folded (on another thread, one call for
    /// ~140 pages): filled 4 KB page by 4 KB page, each page was a fault on
    /// the fold's thread (2 x 37 000 on the bench pair).
    fn take_later(&mut self) -> Option<(usize, usize)> {
        let packets = &self.collect.packets;
        let size = std::mem::size_of::<TcpPacket>();
        let upto = (packets.len() + POPULATE_AHEAD).min(packets.capacity());
        let from = packets.len().max(self.populated);
        self.populated = upto;
        let start = packets.as_ptr() as usize;
        (from < upto).then(|| {
            let from = (start + from * size) / source::PAGE * source::PAGE;
            (from, start + upto * size)
        })
    }

    fn run_later(later: &mut (usize, usize)) {
        source::populate_write(later.0, later.1 - later.0);
    }

    #[inline]
    fn tcp(&mut self, packet: TcpPacket, extras: &PacketExtras<'_>) {
        self.split.push(&packet, extras.addrs, extras.pair);
        self.collect.tcp(packet, extras);
    }

    #[inline]
    fn soon(&self, pair: &PairHint) {
        self.split.prefetch(pair.hash);
    }
}

/// Read a capture file as [`read_capture`] does, handing each TCP packet
/// to `sink` instead of keeping it: the returned capture has everything
/// but `packets`, `sacks` and `sack_starts` (empty).
pub fn read_packets<S: PacketSink>(
    path: &Path,
    opts: &ReadOptions,
    sink: &mut S,
) -> Result<Capture, ReadError> {
    read_opened(path, source::open(path)?, opts, sink)
}

fn read_opened<S: PacketSink>(
    path: &Path,
    opened: source::Opened,
    opts: &ReadOptions,
    sink: &mut S,
) -> Result<Capture, ReadError> {
    if opts.single_threaded {
        return read_pipeline(path, opened, opts, sink);
    }
    // The pipeline runs on one of rayon's threads: its `join`s per chunk
    // are then calls inside the pool, where from a thread outside it each
    // one was handed over to the pool and waited for (a wake-up each way
    // per chunk). Inside the pool already (`twincap diff` reads both
    // captures in a `join`), this runs here.
    rayon::scope(|_| read_pipeline(path, opened, opts, sink))
}

fn read_pipeline<S: PacketSink>(
    path: &Path,
    opened: source::Opened,
    opts: &ReadOptions,
    sink: &mut S,
) -> Result<Capture, ReadError> {
    let bytes: &[u8] = &opened.bytes;
    let mut side = Side {
        path: path.to_path_buf(),
        ..Side::default()
    };
    side.warnings.extend(opened.warning.clone());
    let (format, mut walker) = open_walker(path, bytes, opened.gzip, &mut side)?;
    if let (FileFormat::Pcap | FileFormat::PcapNano, Some(interface)) =
        (format, side.interfaces.first())
    {
        if !link_type_supported(interface.link_type) {
            return Err(unsupported_link(path, &[interface.link_type]));
        }
    }

    // A pipeline of three stages, each on its own chunk: while chunk k is
    // folded into the capture in frame order (and handed to the sink),
    // chunk k + 1 is decoded in parallel and chunk k + 2 walked.
    let mut fold = Fold {
        sink,
        cap: Capture::default(),
        addr_ids: FxHashMap::default(),
        last_addrs: [None; 2],
        defrag: Defragmenter::default(),
        datagram: Vec::new(),
        f5: crate::f5::TableBuilder::default(),
    };
    let decode = Decode {
        single: opts.single_threaded,
        hash_payload: !opts.skip_payload_hash,
    };
    // Buffers are reused from chunk to chunk: fresh multi-megabyte vectors
    // would cost a page fault per page each time.
    let mut to_decode = walk_chunk(&mut walker, &mut side, Vec::with_capacity(CHUNK))?;
    let mut to_fold = Chunk::default();
    let mut decoded: Vec<Outcome<'_>> = Vec::with_capacity(CHUNK);
    let mut folding: Vec<Outcome<'_>> = Vec::with_capacity(CHUNK);
    let mut spare: Vec<Record<'_>> = Vec::with_capacity(CHUNK);
    // The file's bytes before `released` are no longer mapped in; those
    // before `populated` were mapped in ahead of the walker; the records
    // before `folded` are folded and not read again.
    let mut released = 0usize;
    let mut populated = 0usize;
    let mut folded = 0usize;
    while !(to_decode.records.is_empty() && to_fold.records.is_empty()) {
        let mut buffer = std::mem::take(&mut spare);
        buffer.clear();
        let more = !to_decode.at_end;
        // The next chunk most likely spans about as many bytes as the last.
        let ahead = match (to_decode.records.first(), to_decode.records.last()) {
            (Some(first), Some(last)) => Some((last.offset, last.offset - first.offset)),
            _ => None,
        };
        let source = &opened.bytes;
        // Pages for the walk: those of the next chunk that are not mapped in
        // yet (all of them only at the start), and those of the chunk after,
        // mapped in by another thread while this one walks.
        let (now, next) = match ahead {
            Some((from, span)) if more && !opts.fault_pages_in => {
                let (from, span) = (from as usize, span as usize);
                let end = from + span + PREFETCH_SLACK;
                let now = populated.max(from)..end;
                let next = populated.max(end)..end + span;
                populated = populated.max(end + span);
                (now, next)
            }
            _ => (0..0, 0..0),
        };
        let (walker, side) = (&mut walker, &mut side);
        let walk = move || {
            if more {
                if !now.is_empty() {
                    source.prefetch(now.start, now.len());
                }
                walk_chunk(walker, side, buffer)
            } else {
                Ok(Chunk {
                    records: buffer,
                    first: side.next_frame(),
                    at_end: true,
                })
            }
        };
        let release = if folded - released >= RELEASE_BATCH {
            let range = released..folded;
            released = folded / source::PAGE * source::PAGE;
            range
        } else {
            0..0
        };
        // Pages of the chunks folded before are dropped (the call
        // interrupts every thread, so it is made once per batch of chunks),
        // and those of the chunk after the next mapped in.
        let pages = move || {
            if !release.is_empty() {
                source.release(release.start, release.end);
            }
            if !next.is_empty() {
                source.prefetch(next.start, next.len());
            }
        };
        // The sink's work left on the chunk folded last time runs while
        // this one is folded.
        let mut later = fold.sink.take_later();
        let run_later = |later: &mut Option<S::Later>| {
            if let Some(later) = later {
                S::run_later(later);
            }
        };
        let walked = if decode.single {
            pages();
            fold.chunk(&to_fold, &mut folding);
            run_later(&mut later);
            decode.run(&to_decode.records, &mut decoded);
            walk()
        } else {
            rayon::join(
                || rayon::join(walk, || decode.run(&to_decode.records, &mut decoded)).0,
                || {
                    rayon::join(
                        || fold.chunk(&to_fold, &mut folding),
                        || rayon::join(pages, || run_later(&mut later)),
                    )
                },
            )
            .0
        };
        if let Some(later) = later {
            fold.sink.done_later(later);
        }
        // The frames of the folded chunk are not read again.
        if let Some(last) = to_fold.records.last() {
            folded = last.offset as usize;
        }
        spare = std::mem::replace(&mut to_fold, std::mem::take(&mut to_decode)).records;
        std::mem::swap(&mut folding, &mut decoded);
        to_decode = walked?;
    }
    drop(walker);
    if let Some(mut later) = fold.sink.take_later() {
        S::run_later(&mut later);
        fold.sink.done_later(later);
    }

    let mut cap = fold.cap;
    cap.f5 = fold.f5.finish();
    cap.path = path.to_path_buf();
    cap.format = Some(format);
    cap.gzip = opened.gzip;
    cap.stats.frames = side.frames;
    cap.comments = side.comments;
    cap.section_comments = side.section_comments;
    cap.interfaces = side.interfaces;
    cap.warnings = side.warnings;
    if cap.stats.frames > 0 && cap.stats.unsupported_link == cap.stats.frames {
        let mut kinds: Vec<u32> = cap.interfaces.iter().map(|i| i.link_type).collect();
        kinds.sort_unstable();
        kinds.dedup();
        return Err(unsupported_link(path, &kinds));
    }
    Ok(cap)
}

/// One record of a capture file read again, as `twincap diff --export`
/// copies it into a new file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// [`crate::TcpPacket::rec_offset`] of the record.
    pub offset: u64,
    pub frame: u32,
    /// Capture time, ns since the epoch, on the capture's own clock.
    pub ts_ns: i64,
    /// pcap LINKTYPE_* value of the record's interface.
    pub link_type: u32,
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// The bytes as captured.
    pub data: Vec<u8>,
}

/// Read the records at `offsets` (packets' `rec_offset`) again from `path`,
/// in file order, gzip or not: one pass over the records, no decoding. A
/// packet reassembled from IP fragments gives back its last fragment.
pub fn read_records(path: &Path, offsets: &[u64]) -> Result<Vec<RawRecord>, ReadError> {
    let opened = source::open(path)?;
    let bytes: &[u8] = &opened.bytes;
    let mut side = Side {
        path: path.to_path_buf(),
        ..Side::default()
    };
    let (_, mut walker) = open_walker(path, bytes, opened.gzip, &mut side)?;
    let mut wanted = offsets.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let mut out = Vec::with_capacity(wanted.len());
    while out.len() < wanted.len() {
        let Some(r) = walker.next_record(&mut side)? else {
            break;
        };
        side.frames += 1;
        if wanted.binary_search(&r.offset).is_ok() {
            out.push(RawRecord {
                offset: r.offset,
                frame: side.frames,
                ts_ns: r.ts_ns,
                link_type: r.link_type,
                orig_len: r.orig_len,
                data: r.data.to_vec(),
            });
        }
    }
    Ok(out)
}

/// The file's format and a walker of its records.
fn open_walker<'a>(
    path: &Path,
    bytes: &'a [u8],
    gzip: bool,
    side: &mut Side,
) -> Result<(FileFormat, Walker<'a>), ReadError> {
    let format = detect(path, bytes, gzip)?;
    let walker = match format {
        FileFormat::Pcap | FileFormat::PcapNano => Walker::Pcap(pcap::Pcap::open(bytes, side)?),
        FileFormat::Pcapng => Walker::Pcapng(pcapng::Pcapng::open(bytes, side)?),
        FileFormat::Netmon => Walker::Netmon(netmon::Netmon::open(bytes, side)?),
    };
    Ok((format, walker))
}

/// The walker of the file's format.
enum Walker<'a> {
    Pcap(pcap::Pcap<'a>),
    Pcapng(pcapng::Pcapng<'a>),
    Netmon(netmon::Netmon<'a>),
}

impl<'a> Walk<'a> for Walker<'a> {
    fn next_record(&mut self, side: &mut Side) -> Result<Option<Record<'a>>, ReadError> {
        match self {
            Walker::Pcap(w) => w.next_record(side),
            Walker::Pcapng(w) => w.next_record(side),
            Walker::Netmon(w) => w.next_record(side),
        }
    }
}

/// Up to [`CHUNK`] records in frame order.
#[derive(Default)]
struct Chunk<'a> {
    records: Vec<Record<'a>>,
    /// Frame number of the first record.
    first: u32,
    /// The walker reached the end of the file.
    at_end: bool,
}

/// Walk the next records; `side.frames` counts them.
fn walk_chunk<'a>(
    walker: &mut Walker<'a>,
    side: &mut Side,
    mut buffer: Vec<Record<'a>>,
) -> Result<Chunk<'a>, ReadError> {
    buffer.clear();
    let mut chunk = Chunk {
        records: buffer,
        first: side.next_frame(),
        at_end: false,
    };
    // One loop per format: the record comes out of an inlined
    // `next_record` in registers, where through the `Walker` dispatch it
    // was returned through memory and read back (a stall per record).
    chunk.at_end = match walker {
        Walker::Pcap(w) => walk_records(w, side, &mut chunk.records),
        Walker::Pcapng(w) => walk_records(w, side, &mut chunk.records),
        Walker::Netmon(w) => walk_records(w, side, &mut chunk.records),
    }?;
    Ok(chunk)
}

/// Walk records into `records` until it holds [`CHUNK`]; `side.frames`
/// counts them. True when the file ends.
#[inline]
fn walk_records<'a>(
    walker: &mut impl Walk<'a>,
    side: &mut Side,
    records: &mut Vec<Record<'a>>,
) -> Result<bool, ReadError> {
    while records.len() < CHUNK {
        let Some(record) = walker.next_record(side)? else {
            return Ok(true);
        };
        side.frames = side
            .frames
            .checked_add(1)
            .ok_or_else(|| side.corrupt(record.offset as usize, "more than 4294967295 frames"))?;
        records.push(record);
    }
    Ok(false)
}

/// Records between the one decoded and the one whose headers are asked
/// for (`source::prefetch_lines`).
const DECODE_AHEAD: usize = 4;

/// Bytes at the start of a record that hold its link, IP and TCP headers
/// in the common case (two cache lines).
const HEADER_BYTES: usize = 128;

/// How records are decoded.
#[derive(Clone, Copy)]
struct Decode {
    /// On one thread only.
    single: bool,
    hash_payload: bool,
}

impl Decode {
    /// Decode `records` into `out`, in parallel unless `single` (or few).
    /// Each record is decoded into its place in `out` (an outcome is ~200
    /// bytes: collecting returned values moved each one twice more), over
    /// what the place held: the slots are kept from chunk to chunk, not
    /// cleared and filled with defaults first (two more passes over them).
    fn run<'a>(self, records: &[Record<'a>], out: &mut Vec<Outcome<'a>>) {
        if out.len() < records.len() {
            out.resize_with(records.len(), Outcome::default);
        } else {
            out.truncate(records.len());
        }
        let one = |(i, (slot, r)): (usize, (&mut Outcome<'a>, &Record<'a>))| {
            // The headers of a record a few ahead are asked for now: the
            // walk read the chunk long enough ago that they have left the
            // core's cache, and decoding waited for them.
            if let Some(ahead) = records.get(i + DECODE_AHEAD) {
                crate::source::prefetch_lines(ahead.data, 0, HEADER_BYTES);
            }
            decode_record(r, self.hash_payload, slot)
        };
        if self.single || records.len() < 256 {
            out.iter_mut().zip(records).enumerate().for_each(one);
        } else {
            out.par_iter_mut().zip(records).enumerate().for_each(one);
        }
    }
}

/// A decoded record, with the F5 trailer of a TCP frame decoded too (on the
/// decoding threads: only its interning needs frame order).
struct Outcome<'a> {
    decoded: Decoded<'a>,
    trailer: Trailer,
}

impl Default for Outcome<'_> {
    fn default() -> Self {
        Outcome {
            decoded: Decoded::NonTcp,
            trailer: None,
        }
    }
}

/// Decode `record` into `out`, whatever `out` held before.
fn decode_record<'a>(record: &Record<'a>, hash_payload: bool, out: &mut Outcome<'a>) {
    if record.link_type == NOT_A_PACKET {
        out.decoded = Decoded::NonTcp;
        out.trailer = None;
        return;
    }
    decode_frame_into(
        record.link_type,
        record.data,
        record.orig_len,
        hash_payload,
        &mut out.decoded,
    );
    out.trailer = match &out.decoded {
        Decoded::Tcp(tcp) => trailer_of(tcp, record),
        _ => None,
    };
}

/// The F5 trailer after the IP datagram of a TCP frame, if any.
fn trailer_of(tcp: &DecodedTcp<'_>, record: &Record<'_>) -> Trailer {
    crate::f5::decode_packet_trailer(&tcp.packet, tcp.attrs.trailer_len, record.data)
}

/// Packets between the one folded and the one the sink is told of
/// ([`PacketSink::soon`]).
const FOLD_AHEAD: usize = 6;

/// The sequential half of reading: frame-ordered state.
struct Fold<'s, S> {
    sink: &'s mut S,
    /// Everything but the packets.
    cap: Capture,
    addr_ids: FxHashMap<IpAddr, u32>,
    /// The addresses of the last TCP frame and their ids.
    last_addrs: [Option<(IpAddr, u32)>; 2],
    defrag: Defragmenter,
    /// Reassembled datagram of the last completed fragment.
    datagram: Vec<u8>,
    f5: crate::f5::TableBuilder,
}

impl<S: PacketSink> Fold<'_, S> {
    /// Fold a decoded chunk (`decoded` holds its records' outcomes; they
    /// are left in place, their trailers taken).
    fn chunk(&mut self, chunk: &Chunk<'_>, decoded: &mut Vec<Outcome<'_>>) {
        // Outcomes are read where they lie (each is ~200 bytes: moving them
        // out cost more than reading them).
        for (i, record) in chunk.records.iter().enumerate() {
            // The sink is told of the packet a few ahead, so that its
            // connection's state is in cache when it comes.
            if let Some(Outcome {
                decoded: Decoded::Tcp(ahead),
                ..
            }) = decoded.get(i + FOLD_AHEAD)
            {
                self.sink.soon(&ahead.pair());
            }
            self.add(chunk.first + i as u32, record, &mut decoded[i]);
        }
    }

    fn add(&mut self, frame: u32, record: &Record<'_>, outcome: &mut Outcome<'_>) {
        match &outcome.decoded {
            Decoded::Tcp(tcp) => self.tcp(frame, record, tcp, outcome.trailer.take()),
            Decoded::Ipv4Fragment => {
                let mut datagram = std::mem::take(&mut self.datagram);
                match self.defrag.push(
                    record.link_type,
                    record.data,
                    record.orig_len,
                    &mut datagram,
                ) {
                    Decoded::Tcp(tcp) => {
                        let trailer = trailer_of(&tcp, record);
                        self.tcp(frame, record, &tcp, trailer)
                    }
                    _ => self.cap.stats.ipv4_fragments += 1,
                }
                self.datagram = datagram;
            }
            Decoded::NonTcp => {
                self.cap.stats.non_tcp += 1;
                self.f5.other(frame, record.link_type, record.data);
            }
            Decoded::Malformed(_) => self.cap.stats.malformed += 1,
            Decoded::UnsupportedLink => self.cap.stats.unsupported_link += 1,
        }
    }

    fn tcp(&mut self, frame: u32, record: &Record<'_>, tcp: &DecodedTcp<'_>, trailer: Trailer) {
        let cap = &mut self.cap;
        cap.stats.tcp += 1;
        let attrs = cap.attr_table.intern(frame, tcp.attrs);
        let [mut src, mut dst] = [0; 2];
        for (addr, id) in [(tcp.src, &mut src), (tcp.dst, &mut dst)] {
            // Consecutive frames mostly share their addresses (a burst of
            // one connection, its ACKs back): the last frame's two are
            // tried before the table.
            *id = match self.last_addrs.iter().flatten().find(|(a, _)| *a == addr) {
                Some(&(_, id)) => id,
                None => *self.addr_ids.entry(addr).or_insert_with(|| {
                    cap.addrs.push(addr);
                    cap.addrs.len() as u32 - 1
                }),
            };
        }
        self.last_addrs = [Some((tcp.src, src)), Some((tcp.dst, dst))];
        let sacks = tcp
            .sacks
            .get(..tcp.packet.sack_count as usize)
            .unwrap_or(&tcp.sacks);
        // Built whole from the decoded packet, not copied and then patched
        // field by field (one move of the packet fewer on the fold's
        // sequential path: CPU 778 -> 749 ms on the 3 M-frame bench).
        let packet = TcpPacket {
            frame,
            ts_ns: record.ts_ns,
            rec_offset: record.offset,
            attrs,
            src,
            dst,
            sack_count: sacks.len() as u8,
            ..tcp.packet
        };
        // The packet's index among the capture's TCP packets.
        let index = cap.stats.tcp - 1;
        let f5_row = self.f5.tcp(frame, index, trailer);
        if let Some(payload) = tcp.rst_payload {
            cap.rst_payloads.push((frame, payload.to_vec()));
        }
        let extras = PacketExtras {
            sacks,
            addrs: &cap.addrs,
            rst_payload: tcp.rst_payload.is_some(),
            f5_row,
            pair: tcp.pair(),
        };
        self.sink.tcp(packet, &extras);
    }
}

/// The format, from the first bytes of the (decompressed) file.
fn detect(path: &Path, bytes: &[u8], gzip: bool) -> Result<FileFormat, ReadError> {
    match bytes.get(..4) {
        Some([0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4]) => Ok(FileFormat::Pcap),
        Some([0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d]) => Ok(FileFormat::PcapNano),
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => Ok(FileFormat::Pcapng),
        Some(b"GMBU" | b"RTSS") => Ok(FileFormat::Netmon),
        _ => {
            let start: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
            Err(ReadError::new(
                path,
                ReadErrorKind::NotACapture,
                format!(
                    "not a capture file twincap reads: {}it starts with bytes {}, which is the magic \
                     number of none of pcap, pcapng or Microsoft Network Monitor 2.x \
                     (plain or gzip-compressed)",
                    if gzip { "after gunzip, " } else { "" },
                    start.join(" ")
                ),
            )
            .hint("if Wireshark opens it, convert it with `editcap -F pcapng FILE out.pcapng`"))
        }
    }
}

/// Whether `decode_frame` knows the link type (it answers `UnsupportedLink`
/// for an unknown one whatever the frame holds).
pub(crate) fn link_type_supported(link_type: u32) -> bool {
    link_type != NOT_A_PACKET && !matches!(decode_frame(link_type, &[]), Decoded::UnsupportedLink)
}

fn unsupported_link(path: &Path, link_types: &[u32]) -> ReadError {
    let names: Vec<String> = link_types.iter().map(|&l| link_type_name(l)).collect();
    let known: Vec<String> = (0..=300)
        .filter(|&l| link_type_supported(l))
        .map(link_type_name)
        .collect();
    ReadError::new(
        path,
        ReadErrorKind::UnsupportedLinkType,
        format!(
            "link type {} is not one twincap decodes, so no frame can be read",
            names.join(", ")
        ),
    )
    .hint(format!("twincap decodes link types {}", known.join(", ")))
}

/// `1 (Ethernet)`: a LINKTYPE_* value with its name where we know it.
fn link_type_name(link_type: u32) -> String {
    let name = match link_type {
        0 => "BSD loopback",
        1 => "Ethernet",
        6 => "Token Ring",
        9 => "PPP",
        10 => "FDDI",
        12 | 14 | 101 => "raw IP",
        50 => "PPP in HDLC framing",
        104 => "Cisco HDLC",
        105 => "802.11",
        108 => "OpenBSD loopback",
        109 => "OpenBSD enc",
        113 => "Linux cooked",
        117 => "OpenBSD pflog",
        127 => "802.11 radiotap",
        228 => "raw IPv4",
        229 => "raw IPv6",
        276 => "Linux cooked v2",
        NOT_A_PACKET => return "(no packet)".to_string(),
        l if l & 0xffff_0000 == netmon::UNMAPPED_MEDIA => {
            return format!("Network Monitor media type {}", l & 0xffff)
        }
        _ => return link_type.to_string(),
    };
    format!("{link_type} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode_general, decode_with_fast_path};

    /// Every capture file under `dir`, recursively.
    fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                captures(&path, out);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "pcap" | "pcapng" | "cap" | "gz"))
            {
                out.push(path);
            }
        }
    }

    /// Whether the fast path takes the frame, and if so, that it decodes it
    /// exactly as the general path does (every field of the answer).
    fn same(link_type: u32, data: &[u8], orig_len: u32) -> bool {
        let cut = (orig_len as usize).saturating_sub(data.len());
        let mut fast = false;
        for (cut, skip_hash) in [(cut, false), (cut, true), (usize::MAX, false)] {
            if let Some(quick) = decode_with_fast_path(link_type, data, cut, skip_hash) {
                let slow = decode_general(link_type, data, cut, skip_hash);
                assert_eq!(
                    format!("{quick:?}"),
                    format!("{slow:?}"),
                    "link type {link_type}, frame {data:02x?}, cut {cut}"
                );
                fast = true;
            }
        }
        fast
    }

    /// The decoder's fast path (`decode::fast`) against the general one on
    /// every frame of every capture in fixtures/ (corpus, lab, F5,
    /// regressions), and on damaged copies of the first frames of each:
    /// every byte of the headers changed, and the frame cut at every length.
    #[test]
    fn fast_path_matches_general() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let mut files = Vec::new();
        captures(&root, &mut files);
        files.sort();
        assert!(files.len() > 50, "fixtures not found under {root:?}");
        let (mut frames, mut fast, mut damaged) = (0u64, 0u64, 0u64);
        for path in &files {
            let Ok(opened) = source::open(path) else {
                continue;
            };
            let mut side = Side::default();
            let Ok((_, mut walker)) = open_walker(path, &opened.bytes, opened.gzip, &mut side)
            else {
                continue;
            };
            let mut taken = 0;
            while let Ok(Some(record)) = walker.next_record(&mut side) {
                side.frames += 1;
                frames += 1;
                if record.link_type == NOT_A_PACKET {
                    continue;
                }
                let data = record.data;
                if !same(record.link_type, data, record.orig_len) {
                    continue;
                }
                fast += 1;
                taken += 1;
                if taken > 40 {
                    continue;
                }
                let mut copy = data.to_vec();
                for at in 0..data.len().min(100) {
                    for value in [
                        0x00,
                        0xff,
                        data[at] ^ 0x01,
                        data[at] ^ 0x40,
                        data[at] ^ 0x0f,
                    ] {
                        copy[at] = value;
                        damaged += same(record.link_type, &copy, record.orig_len) as u64;
                    }
                    copy[at] = data[at];
                    damaged += same(record.link_type, &data[..at], record.orig_len) as u64;
                }
            }
        }
        assert!(
            fast > 100_000,
            "{fast} of {frames} frames took the fast path"
        );
        assert!(
            damaged > 10_000,
            "{damaged} damaged frames took the fast path"
        );
    }

    /// `read_capture_split` (connections made as the packets are read, with
    /// the decoding threads' pair hints) gives every fixture capture exactly
    /// the packets of `read_capture` and the connections of `conn::split`, or
    /// the same error.
    #[test]
    fn split_while_reading_equals_split_after() {
        let mut files = Vec::new();
        captures(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures"),
            &mut files,
        );
        files.sort();
        assert!(files.len() > 50, "{} captures", files.len());
        let mut packets = 0;
        for path in &files {
            let opts = ReadOptions::default();
            match (read_capture(path, &opts), read_capture_split(path, &opts)) {
                (Ok(cap), Ok((also, conns))) => {
                    assert_eq!(cap.packets, also.packets, "{}", path.display());
                    assert_eq!(cap.addrs, also.addrs, "{}", path.display());
                    let after = crate::conn::split(&cap);
                    assert_eq!(after.stream_of, conns.stream_of, "{}", path.display());
                    assert_eq!(
                        format!("{:?}", after.list),
                        format!("{:?}", conns.list),
                        "{}",
                        path.display()
                    );
                    packets += cap.packets.len();
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("{}: {:?} against {:?}", path.display(), a.err(), b.err()),
            }
        }
        assert!(packets > 100_000, "{packets} packets");
    }
}
