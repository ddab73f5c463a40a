//! What a capture's F5 trailers say, kept per capture in [`Capture::f5`].
//!
//! The reader decodes the trailer of every TCP frame that has bytes after
//! its IP datagram (`info::TRAILER`) and keeps, for the frames that carry an
//! F5 trailer, a compact row ([`F5Frame`], 40 bytes): direction, slot, TMM,
//! virtual server (interned), flow and peer flow IDs, the peer connection
//! (high noise, interned) and whether medium noise named an RST cause (kept
//! in [`F5Table::rst_causes`]). A capture without trailers keeps an empty
//! table: nothing is allocated, and the only work is a failed probe of the
//! Ethernet padding of short frames (the heuristic Wireshark applies too).
//!
//! [`Capture::rst_cause`] answers "why was frame N reset" from either source:
//! the trailer's medium noise (BIG-IP side, `:nn`) or the RST's payload
//! (`tm.rstcause.pkt`, seen on both sides of the BIG-IP).

use super::{
    decode_fileinfo, decode_trailer, F5Error, F5FileInfo, F5RstCause, F5Trailer, PeerFlow,
};
use super::{parse_rst_cause, F5ErrorKind, RstCause};
use crate::packet::{info, Capture, TcpPacket};
use rustc_hash::FxHashMap;

/// "None" in the interned index fields of [`F5Frame`].
pub const NONE: u32 = u32::MAX;

/// Bits of [`F5Frame::bits`].
pub mod f5_bits {
    /// Low noise was present: `ingress`, `slot`, `tmm`, `vs` are valid.
    pub const LOW: u8 = 0x01;
    /// The frame was entering the BIG-IP (with `LOW`).
    pub const INGRESS: u8 = 0x02;
    /// Flow IDs were present (medium noise, or a BIG-IP 9.4 low trailer).
    pub const FLOW: u8 = 0x04;
    /// Medium noise named an RST cause (in [`super::F5Table::rst_causes`]).
    pub const RST_CAUSE: u8 = 0x08;
    /// High noise was present (`peer` is valid when not [`super::NONE`]).
    pub const HIGH: u8 = 0x10;
}

/// One frame's F5 trailer, compact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct F5Frame {
    pub frame: u32,
    /// Index into [`Capture::packets`].
    pub packet: u32,
    /// This frame's flow (TMM connection table entry); 0 none.
    pub flow_id: u64,
    /// The peer flow: the other leg of the full-proxy connection; 0 none.
    pub peer_id: u64,
    /// Index into [`F5Table::virtual_servers`], or [`NONE`].
    pub vs: u32,
    /// Index into [`F5Table::peers`], or [`NONE`].
    pub peer: u32,
    /// Slot as stored (0-based; Wireshark shows it plus one).
    pub slot: u8,
    pub tmm: u8,
    /// See [`f5_bits`].
    pub bits: u8,
}

impl F5Frame {
    pub fn is(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }
    /// Into the BIG-IP (`Some(true)`), out of it (`Some(false)`), or not
    /// said (no low noise).
    pub fn ingress(&self) -> Option<bool> {
        self.is(f5_bits::LOW).then_some(self.is(f5_bits::INGRESS))
    }
}

/// The F5 data of one capture.
#[derive(Clone, Debug, Default)]
pub struct F5Table {
    /// The capture information pseudo-packet (tcpdump command, BIG-IP
    /// version, hostname, platform), and its frame.
    pub fileinfo: Option<(u32, F5FileInfo)>,
    /// Frames with an F5 trailer, in frame order.
    pub frames: Vec<F5Frame>,
    /// Virtual server names, each once.
    pub virtual_servers: Vec<String>,
    /// Peer connections from high noise, each once.
    pub peers: Vec<PeerFlow>,
    /// RST causes from medium noise, by frame, in frame order.
    pub rst_causes: Vec<(u32, F5RstCause)>,
    /// Trailers that looked like F5's but were malformed (decoding kept what
    /// came before the fault): how many, and the first few with their frame.
    pub issue_count: u32,
    pub issues: Vec<(u32, F5Error)>,
}

/// Malformed trailers kept in [`F5Table::issues`], at most.
const MAX_ISSUES: usize = 16;

impl F5Table {
    /// No F5 trailer and no capture information in the capture.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.fileinfo.is_none()
    }

    /// The trailer row of a frame.
    pub fn of_frame(&self, frame: u32) -> Option<&F5Frame> {
        let i = self.frames.binary_search_by_key(&frame, |f| f.frame).ok()?;
        Some(&self.frames[i])
    }

    pub fn virtual_server(&self, f: &F5Frame) -> Option<&str> {
        self.virtual_servers.get(f.vs as usize).map(String::as_str)
    }

    pub fn peer(&self, f: &F5Frame) -> Option<&PeerFlow> {
        self.peers.get(f.peer as usize)
    }

    /// The RST cause the trailer of `frame` named.
    pub fn trailer_rst_cause(&self, frame: u32) -> Option<&F5RstCause> {
        let i = self
            .rst_causes
            .binary_search_by_key(&frame, |(f, _)| *f)
            .ok()?;
        Some(&self.rst_causes[i].1)
    }
}

/// Where a frame's RST cause was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RstCauseSource {
    /// The F5 trailer's medium noise (`f5ethtrailer.rstcause*`).
    Trailer,
    /// The RST segment's payload (`BIG-IP: [0x..:line] text`, or other text).
    Payload,
}

/// A frame's reset cause, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FrameRstCause {
    pub frame: u32,
    pub source: RstCauseSource,
    pub cause: RstCause,
}

impl Capture {
    /// Why frame `frame` was reset, if anything in the capture says so: the
    /// F5 trailer's RST cause (medium noise) first, else the RST payload
    /// (`BIG-IP: [0x2664c65:2574] No flow found for ACK`, other text, or
    /// binary). `None` for frames that are not RSTs with a cause.
    pub fn rst_cause(&self, frame: u32) -> Option<FrameRstCause> {
        if let Some(c) = self.f5.trailer_rst_cause(frame) {
            return Some(FrameRstCause {
                frame,
                source: RstCauseSource::Trailer,
                cause: RstCause::BigIp(c.clone()),
            });
        }
        let i = self
            .rst_payloads
            .binary_search_by_key(&frame, |(f, _)| *f)
            .ok()?;
        Some(FrameRstCause {
            frame,
            source: RstCauseSource::Payload,
            cause: parse_rst_cause(&self.rst_payloads[i].1)?,
        })
    }

    /// Every frame with an RST cause ([`Capture::rst_cause`]), in frame order.
    pub fn rst_causes(&self) -> Vec<FrameRstCause> {
        let mut frames: Vec<u32> = self.f5.rst_causes.iter().map(|(f, _)| *f).collect();
        frames.extend(self.rst_payloads.iter().map(|(f, _)| *f));
        frames.sort_unstable();
        frames.dedup();
        frames
            .into_iter()
            .filter_map(|f| self.rst_cause(f))
            .collect()
    }
}

/// The F5 trailer of a TCP frame as [`decode`] finds it: `None` when the
/// frame has none (no bytes after the IP datagram, Ethernet padding, bytes
/// that are not F5's), else the trailer or what is malformed in it. Boxed:
/// few frames have one.
pub(crate) type Trailer = Option<Box<Result<F5Trailer, F5Error>>>;

/// The F5 trailer of TCP packet `p` in `data`, the frame as captured, with
/// `trailer_len` bytes after its IP datagram. Pure, so the reader runs it
/// on the decoding threads; [`TableBuilder::tcp`] keeps the result in frame
/// order.
pub(crate) fn decode(p: &TcpPacket, trailer_len: u16, data: &[u8]) -> Trailer {
    if !p.is(info::TRAILER) {
        return None;
    }
    match decode_trailer(super::packet_trailer(p, trailer_len, data)?) {
        Err(e)
            if matches!(
                e.kind,
                F5ErrorKind::TooShort { .. } | F5ErrorKind::NotF5 { .. }
            ) =>
        {
            None
        }
        decoded => Some(Box::new(decoded)),
    }
}

/// Builds an [`F5Table`] while the reader folds frames in order.
#[derive(Default)]
pub(crate) struct TableBuilder {
    table: F5Table,
    vs_ids: FxHashMap<String, u32>,
    peer_ids: FxHashMap<PeerFlow, u32>,
}

impl TableBuilder {
    /// A frame that is not TCP: the capture information pseudo-packet?
    pub(crate) fn other(&mut self, frame: u32, link_type: u32, data: &[u8]) {
        if link_type == 1 && self.table.fileinfo.is_none() {
            if let Some(info) = decode_fileinfo(data) {
                self.table.fileinfo = Some((frame, info));
            }
        }
    }

    /// A TCP frame, with its trailer as [`decode`] gave it. Whether it
    /// had an F5 trailer (a row was added).
    pub(crate) fn tcp(&mut self, frame: u32, index: u32, trailer: Trailer) -> bool {
        let Some(decoded) = trailer else {
            return false;
        };
        let t = match *decoded {
            Ok(t) => t,
            Err(e) => {
                self.issue(frame, e);
                return false;
            }
        };
        let mut row = F5Frame {
            frame,
            packet: index,
            flow_id: 0,
            peer_id: 0,
            vs: NONE,
            peer: NONE,
            slot: 0,
            tmm: 0,
            bits: 0,
        };
        if let Some(low) = &t.low {
            row.bits |= f5_bits::LOW;
            if low.ingress {
                row.bits |= f5_bits::INGRESS;
            }
            row.slot = low.slot;
            row.tmm = low.tmm;
            if let Some(name) = &low.virtual_server {
                row.vs = intern(&mut self.vs_ids, &mut self.table.virtual_servers, name);
            }
        }
        if let Some(flow) = t.flow() {
            row.bits |= f5_bits::FLOW;
            row.flow_id = flow.flow_id;
            row.peer_id = flow.peer_id;
        }
        if let Some(cause) = t.rst_cause() {
            row.bits |= f5_bits::RST_CAUSE;
            self.table.rst_causes.push((frame, cause.clone()));
        }
        if let Some(high) = &t.high {
            row.bits |= f5_bits::HIGH;
            if let Some(peer) = &high.peer {
                row.peer = intern(&mut self.peer_ids, &mut self.table.peers, peer);
            }
        }
        if let Some(e) = t.issues.into_iter().next() {
            self.issue(frame, e);
        }
        self.table.frames.push(row);
        true
    }

    fn issue(&mut self, frame: u32, e: F5Error) {
        self.table.issue_count += 1;
        if self.table.issues.len() < MAX_ISSUES {
            self.table.issues.push((frame, e));
        }
    }

    pub(crate) fn finish(self) -> F5Table {
        let mut t = self.table;
        t.frames.shrink_to_fit();
        t
    }
}

/// The index of `v` in `list`, adding it once.
fn intern<T: Clone + Eq + std::hash::Hash>(
    ids: &mut FxHashMap<T, u32>,
    list: &mut Vec<T>,
    v: &T,
) -> u32 {
    if let Some(&i) = ids.get(v) {
        return i;
    }
    let i = list.len() as u32;
    list.push(v.clone());
    ids.insert(v.clone(), i);
    i
}
