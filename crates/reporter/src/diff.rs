//! `twincap diff`: the matcher's [`DiffResult`] as text, Markdown, JSON and YAML.
//!
//! JSON contract `twincap.diff/1` (docs/json-diff.md). Fields are only ever
//! added. Times are seconds: `*_time` since the epoch on that capture's own
//! clock, `*_rel` since the capture's first TCP packet (what Wireshark's
//! default Time column shows).

use crate::diagnose::{self, Diagnosis, Severity};
use crate::pretty::{write_field as field, PrettyAt};
use crate::rows::{self, Captures, Row};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use twincap_matcher::analyze::Analysis;
use twincap_matcher::diff::frames::FramePair;
use twincap_matcher::diff::{
    AlignStats, Ambiguity, ClockEstimate, ClockStep, ConnRef, DiffResult, Dir, Event, EventKind,
    Evidence, F5Pair, FlowPair, Modification, NatChange, SideRstCause, Unmatched,
};
use twincap_parser::Capture;

pub const SCHEMA: &str = "twincap.diff/1";

#[derive(Serialize, Debug)]
pub struct DiffReport {
    pub schema: &'static str,
    pub files: Files,
    pub clock: ClockEstimate,
    /// Where one capture clock stepped against the other while both ran
    /// (LB times after a step are read with it taken off); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clock_steps: Vec<ClockStep>,
    pub summary: Summary,
    /// Findings in words, most severe first (docs/diagnoses.md).
    pub diagnoses: Vec<Diagnosis>,
    pub flows: Vec<FlowOut>,
    pub unmatched: UnmatchedOut,
    /// Side-by-side frame tables of the connections with problems (text
    /// and Markdown only).
    #[serde(skip)]
    pub tables: Vec<FlowTable>,
}

/// What a report is built from: the two captures the diff ran on and each
/// one's expert flags.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub caps: Captures<'a>,
    pub client_analysis: &'a Analysis,
    pub lb_analysis: &'a Analysis,
}

/// Columns of a side-by-side frame table: seven per side, the direction
/// between them, the event last.
pub const TABLE_HEAD: [&str; 16] = [
    "time", "frame", "ip.id", "flags", "seq", "ack", "len", "", "time", "frame", "ip.id", "flags",
    "seq", "ack", "len", "event",
];

/// One connection with problems, packet by packet.
#[derive(Debug)]
pub struct FlowTable {
    /// Index into `flows`.
    pub flow: usize,
    /// Rows in time order on the client clock; `None` stands for rows left
    /// out (long connections show the rows around their events).
    pub rows: Vec<Option<TableRow>>,
}

#[derive(Debug)]
pub struct TableRow {
    pub cells: [String; 16],
    /// The event column's kind, for colour.
    pub event: Option<EventKind>,
}

#[derive(Serialize, Debug)]
pub struct Files {
    pub client: FileOut,
    pub lb: FileOut,
}

#[derive(Serialize, Debug)]
pub struct FileOut {
    pub path: String,
    pub frames: u32,
    pub tcp_frames: u32,
    pub connections: usize,
    /// Time of the first and last TCP packet, seconds since the epoch.
    pub first_time: f64,
    pub last_time: f64,
}

#[derive(Serialize, Debug)]
pub struct Summary {
    pub pairs: usize,
    pub unmatched_client: usize,
    pub unmatched_lb: usize,
    /// Event counts: kind -> {"c2s": n, "s2c": n}.
    pub events: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
    /// Paired connections with at least one event other than `modified`.
    pub flows_with_problems: usize,
}

#[derive(Serialize, Debug)]
pub struct FlowOut {
    pub client: ConnRef,
    pub lb: ConnRef,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lb_extra: Vec<ConnRef>,
    pub confidence: f64,
    pub evidence: Vec<Evidence>,
    pub nat: NatChange,
    pub c2s: AlignStats,
    pub s2c: AlignStats,
    /// Wireshark display filters for the connection on each side.
    pub filters: Filters,
    pub events: Vec<EventOut>,
    /// Why the pair's RSTs were sent (F5 trailer or RST payload), per side.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rst_causes: Vec<SideRstCause>,
    /// The LB connection through an F5 BIG-IP's trailers, and its other leg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f5: Option<F5Pair>,
    /// Choices between identical copies the two captures cannot decide,
    /// and the events the other reading would report instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ambiguous: Vec<Ambiguity>,
}

#[derive(Serialize, Debug, Default)]
pub struct Filters {
    pub client: String,
    pub lb: String,
}

#[derive(Serialize, Debug)]
pub struct EventOut {
    pub kind: EventKind,
    pub dir: Dir,
    pub client_frame: Option<u32>,
    pub lb_frame: Option<u32>,
    pub client_time: Option<f64>,
    pub lb_time: Option<f64>,
    pub client_rel: Option<f64>,
    pub lb_rel: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_frames: Vec<u32>,
    /// Sender-side frames the event could as well name (identical copies
    /// the two captures cannot tell apart).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modification: Option<Modification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<u32>,
    /// Display filters that show this packet on each side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_filter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_filter: Option<String>,
    /// Flags, seq and payload length as the sender sent them.
    pub what: String,
    /// For a RST: why it was sent, where a frame says so (F5 trailer or
    /// RST payload), e.g. `BIG-IP: [0x2664c65:2574] No flow found for ACK`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rst_cause: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct UnmatchedOut {
    pub client: Vec<UnmatchedConn>,
    pub lb: Vec<UnmatchedConn>,
}

#[derive(Serialize, Debug)]
pub struct UnmatchedConn {
    pub stream: u32,
    pub src: String,
    pub dst: String,
    pub packets: u32,
    pub reason: &'static str,
    pub filter: String,
    pub events: Vec<EventOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rst_causes: Vec<SideRstCause>,
}

fn file_out(cap: &Capture, connections: usize, first_ns: i64, last_ns: i64) -> FileOut {
    FileOut {
        path: cap.path.display().to_string(),
        frames: cap.frames(),
        tcp_frames: cap.packets.len() as u32,
        connections,
        first_time: first_ns as f64 / 1e9,
        last_time: last_ns as f64 / 1e9,
    }
}

/// Flags as Wireshark's Info column writes them, e.g. `FIN, ACK`.
pub fn flag_words(flags: u16) -> String {
    const NAMES: [(u16, &str); 6] = [
        (0x02, "SYN"),
        (0x01, "FIN"),
        (0x04, "RST"),
        (0x08, "PSH"),
        (0x10, "ACK"),
        (0x20, "URG"),
    ];
    let mut out = String::with_capacity(24);
    for (_, name) in NAMES.iter().filter(|(b, _)| flags & b != 0) {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(name);
    }
    out
}

struct Sides<'a> {
    client: &'a Capture,
    lb: &'a Capture,
    client_first_ns: i64,
    lb_first_ns: i64,
}

fn stream_filter(stream: u32) -> String {
    format!("tcp.stream eq {stream}")
}

/// A filter that shows one packet: by IP ID where it has one (what the user
/// follows across the SNAT), else by its frame number.
fn packet_filter(stream: u32, p: &twincap_parser::TcpPacket) -> String {
    if p.ip_id != 0 {
        format!("tcp.stream eq {stream} && ip.id == 0x{:04x}", p.ip_id)
    } else {
        format!("tcp.stream eq {stream} && frame.number == {}", p.frame)
    }
}

fn event_out(e: &Event, s: &Sides, client_stream: Option<u32>, lb_stream: Option<u32>) -> EventOut {
    let cp = e.client_packet.map(|i| &s.client.packets[i as usize]);
    let lp = e.lb_packet.map(|i| &s.lb.packets[i as usize]);
    let sender = match e.dir {
        Dir::C2s => cp.or(lp),
        Dir::S2c => lp.or(cp),
    };
    let what = sender
        .map(|p| {
            use std::fmt::Write;
            let mut w = String::with_capacity(48);
            w.push('[');
            w.push_str(&flag_words(p.flags));
            let _ = write!(w, "] Seq={} Len={}", p.seq, p.payload_len);
            if p.ip_id != 0 {
                let _ = write!(w, " ID=0x{:04x}", p.ip_id);
            }
            w
        })
        .unwrap_or_default();
    let cause = |cap: &Capture, p: Option<&twincap_parser::TcpPacket>| {
        let p = p.filter(|p| p.has(twincap_parser::tcp_flags::RST))?;
        Some(cap.rst_cause(p.frame)?.cause.to_string())
    };
    EventOut {
        kind: e.kind,
        dir: e.dir,
        client_frame: e.client_frame,
        lb_frame: e.lb_frame,
        client_time: e.client_time_ns.map(|t| t as f64 / 1e9),
        lb_time: e.lb_time_ns.map(|t| t as f64 / 1e9),
        client_rel: e
            .client_time_ns
            .map(|t| (t - s.client_first_ns) as f64 / 1e9),
        lb_rel: e.lb_time_ns.map(|t| (t - s.lb_first_ns) as f64 / 1e9),
        extra_frames: e.extra_frames.clone(),
        alternatives: e.alternatives.clone(),
        modification: e.modification,
        packets: e.packets,
        client_filter: cp.zip(client_stream).map(|(p, st)| packet_filter(st, p)),
        lb_filter: lp.zip(lb_stream).map(|(p, st)| packet_filter(st, p)),
        what,
        rst_cause: cause(s.lb, lp).or_else(|| cause(s.client, cp)),
    }
}

/// `tcp.stream eq N && frame.number in {a b c}` for the frames events name.
fn frames_filter(stream: u32, frames: &[u32]) -> String {
    if frames.is_empty() {
        return stream_filter(stream);
    }
    use std::fmt::Write;
    let mut out = stream_filter(stream);
    out.reserve(24 + 8 * frames.len());
    out.push_str(" && frame.number in {");
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{f}");
    }
    out.push('}');
    out
}

fn flow_out(f: &FlowPair, s: &Sides) -> FlowOut {
    let events: Vec<EventOut> = f
        .events
        .iter()
        .map(|e| event_out(e, s, Some(f.client.stream), Some(f.lb.stream)))
        .collect();
    // The frames of the events other than `modified`: each side's own,
    // and the extra copies on the receiving side.
    let (mut cf, mut lf) = (Vec::new(), Vec::new());
    for e in events.iter().filter(|e| e.kind != EventKind::Modified) {
        cf.extend(e.client_frame);
        lf.extend(e.lb_frame);
        match e.dir {
            Dir::C2s => lf.extend_from_slice(&e.extra_frames),
            Dir::S2c => cf.extend_from_slice(&e.extra_frames),
        }
    }
    cf.sort_unstable();
    cf.dedup();
    lf.sort_unstable();
    lf.dedup();
    FlowOut {
        client: f.client.clone(),
        lb: f.lb.clone(),
        lb_extra: f.lb_extra.clone(),
        confidence: f.confidence,
        evidence: f.evidence.clone(),
        nat: f.nat.clone(),
        c2s: f.c2s,
        s2c: f.s2c,
        filters: Filters {
            client: frames_filter(f.client.stream, &cf),
            lb: frames_filter(f.lb.stream, &lf),
        },
        events,
        rst_causes: f.rst_causes.clone(),
        f5: f.f5.clone(),
        ambiguous: f.ambiguous.clone(),
    }
}

fn unmatched_out(u: &Unmatched, s: &Sides, client_side: bool) -> UnmatchedConn {
    let (cs, ls) = if client_side {
        (Some(u.stream), None)
    } else {
        (None, Some(u.stream))
    };
    UnmatchedConn {
        stream: u.stream,
        src: u.src.clone(),
        dst: u.dst.clone(),
        packets: u.packets,
        reason: u.reason,
        filter: stream_filter(u.stream),
        events: u.events.iter().map(|e| event_out(e, s, cs, ls)).collect(),
        rst_causes: u.rst_causes.clone(),
    }
}

/// A paired connection with an event other than `modified`.
pub(crate) fn has_problems(f: &FlowPair) -> bool {
    f.events.iter().any(|e| e.kind != EventKind::Modified)
}

/// What the report reads off one paired connection's rows: the facts the
/// diagnoses need and, for text and Markdown, its frame table.
pub struct FlowRows {
    facts: diagnose::FlowFacts,
    table: Option<FlowTable>,
}

/// When each capture's first TCP packet was (the times tables show are
/// relative to it).
#[derive(Clone, Copy, Debug)]
pub struct Windows {
    pub client_first_ns: i64,
    pub lb_first_ns: i64,
}

/// Read one paired connection's rows (`frames`, from
/// `twincap_matcher::diff::frames`): the diagnoses' facts, and with
/// `with_tables` its frame table if it has problems.
pub fn read_rows(
    src: &Sources,
    clock: &ClockEstimate,
    windows: Windows,
    f: &FlowPair,
    frames: &[FramePair],
    with_tables: bool,
) -> FlowRows {
    let caps = src.caps;
    let rows: Vec<Row> = frames.iter().map(Row::from).collect();
    let late = rows::lateness_all(frames);
    let fin = diagnose::FlowInputs {
        caps,
        client_analysis: src.client_analysis,
        lb_analysis: src.lb_analysis,
        clock,
    };
    let facts = diagnose::flow_facts(&fin, f, &rows, &late);
    let table = (with_tables && has_problems(f)).then(|| {
        let s = Sides {
            client: caps.client,
            lb: caps.lb,
            client_first_ns: windows.client_first_ns,
            lb_first_ns: windows.lb_first_ns,
        };
        // Its place in the report's flows is set by `build_from`.
        flow_table(usize::MAX, &rows, &late, &caps, &s)
    });
    FlowRows { facts, table }
}

/// Whether the diagnoses need a connection packet by packet: it has
/// problems, the LB side reset it more than once, or a side retransmitted.
pub fn wants_rows(f: &FlowPair, src: &Sources) -> bool {
    let lb_resets = src
        .caps
        .lb_conns
        .list
        .get(f.lb.stream as usize)
        .map_or(0, |c| {
            c.packets
                .iter()
                .filter(|&&i| src.caps.packet(true, i).has(twincap_parser::tcp_flags::RST))
                .count()
        });
    let retransmitted = |an: &Analysis, stream: u32| {
        an.stream(stream).is_some_and(|s| {
            s.count(twincap_matcher::analyze::Flag::Retransmission)
                + s.count(twincap_matcher::analyze::Flag::FastRetransmission)
                + s.count(twincap_matcher::analyze::Flag::SpuriousRetransmission)
                > 0
        })
    };
    has_problems(f)
        || lb_resets >= 2
        || retransmitted(src.client_analysis, f.client.stream)
        || retransmitted(src.lb_analysis, f.lb.stream)
}

/// Rows shown around each event of a long connection's table.
const CONTEXT_ROWS: usize = 3;
/// Connections with at most this many rows show all of them.
const FULL_TABLE_ROWS: usize = 40;

/// Relative sequence numbers as Wireshark shows them: per side and
/// direction, from the first packet's seq (the SYN's).
struct SeqBase {
    base: [[Option<u32>; 2]; 2],
}

impl SeqBase {
    fn new(rows: &[Row], caps: &Captures) -> SeqBase {
        let mut base = [[None; 2]; 2];
        for (lb, side) in base.iter_mut().enumerate() {
            for d in Dir::BOTH {
                side[d.index()] = rows
                    .iter()
                    .filter(|r| r.dir == d)
                    .filter_map(|r| if lb == 1 { r.lb } else { r.client })
                    .map(|i| caps.packet(lb == 1, i))
                    .min_by_key(|p| p.frame)
                    .map(|p| p.seq);
            }
        }
        SeqBase { base }
    }
    fn cells(&self, lb: bool, d: Dir, p: &twincap_parser::TcpPacket, rel_ns: i64) -> [String; 7] {
        let b = &self.base[lb as usize];
        let seq = p.seq.wrapping_sub(b[d.index()].unwrap_or(p.seq));
        let ack = if p.has(twincap_parser::tcp_flags::ACK) {
            match b[d.other().index()] {
                Some(o) => p.ack.wrapping_sub(o).to_string(),
                None => p.ack.to_string(),
            }
        } else {
            String::new()
        };
        [
            format!("{:.6}", rel_ns as f64 / 1e9),
            p.frame.to_string(),
            format!("0x{:04x}", p.ip_id),
            flag_words(p.flags),
            seq.to_string(),
            ack,
            p.payload_len.to_string(),
        ]
    }
}

fn event_words(r: &Row, late: Option<rows::Lateness>) -> String {
    let rcv = match r.dir {
        Dir::C2s => "LB",
        Dir::S2c => "client",
    };
    match r.event {
        None => String::new(),
        Some(EventKind::Lost) => format!("lost in between: not seen at the {rcv} side"),
        Some(EventKind::Injected) => "injected: its sender never sent it".into(),
        Some(EventKind::Duplicated) => "duplicated: an extra copy".into(),
        Some(EventKind::OutsideWindow) => "outside the other capture's time window".into(),
        Some(EventKind::Modified) => String::new(),
        Some(EventKind::Reordered) => match late {
            Some(l) => format!(
                "reordered: arrived after {rcv} frame {} ({} pkt, {:.1} ms late)",
                l.after_frame,
                l.packets,
                l.ns as f64 / 1e6
            ),
            None => "reordered".into(),
        },
    }
}

fn flow_table(
    fi: usize,
    rows: &[Row],
    late: &[Option<rows::Lateness>],
    caps: &Captures,
    s: &Sides,
) -> FlowTable {
    let base = SeqBase::new(rows, caps);
    let keep: Vec<bool> = if rows.len() <= FULL_TABLE_ROWS {
        vec![true; rows.len()]
    } else {
        let mut k = vec![false; rows.len()];
        for (i, r) in rows.iter().enumerate() {
            if r.event.is_some() {
                let lo = i.saturating_sub(CONTEXT_ROWS);
                let hi = (i + CONTEXT_ROWS).min(rows.len() - 1);
                k[lo..=hi].iter_mut().for_each(|x| *x = true);
            }
        }
        k
    };
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if !keep[i] {
            if out.last().is_some_and(|x: &Option<TableRow>| x.is_some()) || out.is_empty() {
                out.push(None);
            }
            continue;
        }
        let mut cells: [String; 16] = Default::default();
        if let Some(c) = r.client {
            let p = caps.packet(false, c);
            cells[..7].clone_from_slice(&base.cells(false, r.dir, p, p.ts_ns - s.client_first_ns));
        }
        cells[7] = match r.dir {
            Dir::C2s => "->".into(),
            Dir::S2c => "<-".into(),
        };
        if let Some(l) = r.lb {
            let p = caps.packet(true, l);
            cells[8..15].clone_from_slice(&base.cells(true, r.dir, p, p.ts_ns - s.lb_first_ns));
        }
        cells[15] = event_words(r, late[i]);
        out.push(Some(TableRow {
            cells,
            event: r.event,
        }));
    }
    FlowTable {
        flow: fi,
        rows: out,
    }
}

impl DiffReport {
    /// The whole report, with the side-by-side frame tables that text and
    /// Markdown print, from a finished diff: each pair's rows are made
    /// again from its alignment (the command instead reads them as the
    /// diff judges each pair, `twincap_matcher::diff::diff_with_rows`, and
    /// calls [`DiffReport::build_from`]).
    pub fn build(res: &DiffResult, src: &Sources) -> DiffReport {
        let with_tables = true;
        let (client, lb) = src.caps.sides();
        let windows = Windows {
            client_first_ns: res.client_window.first_ns,
            lb_first_ns: res.lb_window.first_ns,
        };
        let per_flow: Vec<(usize, FlowRows)> = (0..res.flows.len())
            .into_par_iter()
            .filter(|&i| wants_rows(&res.flows[i], src))
            .map(|i| {
                let f = &res.flows[i];
                let frames = twincap_matcher::diff::frames::frame_pairs(&client, &lb, res, f);
                (
                    i,
                    read_rows(src, &res.clock, windows, f, &frames, with_tables),
                )
            })
            .collect();
        DiffReport::build_from(res, src, per_flow, with_tables, true)
    }

    /// The report from what [`read_rows`] read of the connections that
    /// [`wants_rows`] (by index into `res.flows`, in that order), e.g. as
    /// `twincap_matcher::diff::diff_with_rows` hands them over while it
    /// judges each pair. `with_tables`: the frame tables of text and
    /// Markdown (the rows must have been read with it too). Without
    /// `with_flows`, `flows` is left empty, for [`write_json_flows`] to
    /// make them one at a time as it writes them.
    pub fn build_from(
        res: &DiffResult,
        src: &Sources,
        per_flow: Vec<(usize, FlowRows)>,
        with_tables: bool,
        with_flows: bool,
    ) -> DiffReport {
        debug_assert!(with_tables || per_flow.iter().all(|(_, r)| r.table.is_none()));
        let caps = src.caps;
        let (client, lb) = (caps.client, caps.lb);
        let (client_conns, lb_conns) = (caps.client_conns.list.len(), caps.lb_conns.list.len());
        let s = Sides {
            client,
            lb,
            client_first_ns: res.client_window.first_ns,
            lb_first_ns: res.lb_window.first_ns,
        };
        // Counted by kind and direction, then named: a map looked up by
        // the words for every event took ~4 ms of this one thread on the
        // 4 M-packet bench pair.
        let mut counts = [[0usize; 2]; EventKind::ALL.len()];
        for e in res.all_events() {
            counts[e.kind as usize][e.dir.index()] += 1;
        }
        let mut events: BTreeMap<&'static str, BTreeMap<&'static str, usize>> = BTreeMap::new();
        for (kind, n) in EventKind::ALL.iter().zip(counts) {
            for d in Dir::BOTH.into_iter().filter(|d| n[d.index()] > 0) {
                events
                    .entry(kind.word())
                    .or_default()
                    .insert(d.word(), n[d.index()]);
            }
        }
        let flows: Vec<FlowOut> = if with_flows {
            res.flows.par_iter().map(|f| flow_out(f, &s)).collect()
        } else {
            Vec::new()
        };
        let mut facts = Vec::with_capacity(per_flow.len());
        let mut tables = Vec::new();
        for (i, r) in per_flow {
            facts.push((i, r.facts));
            if let Some(mut t) = r.table {
                t.flow = i;
                tables.push(t);
            }
        }
        let diagnoses = diagnose::diagnose(&diagnose::Inputs {
            result: res,
            caps,
            client_analysis: src.client_analysis,
            lb_analysis: src.lb_analysis,
            facts: &facts,
        });
        DiffReport {
            schema: SCHEMA,
            files: Files {
                client: file_out(
                    client,
                    client_conns,
                    res.client_window.first_ns,
                    res.client_window.last_ns,
                ),
                lb: file_out(lb, lb_conns, res.lb_window.first_ns, res.lb_window.last_ns),
            },
            clock: res.clock,
            clock_steps: res.clock_steps.clone(),
            summary: Summary {
                pairs: res.flows.len(),
                unmatched_client: res.unmatched_client.len(),
                unmatched_lb: res.unmatched_lb.len(),
                events,
                flows_with_problems: res
                    .flows
                    .iter()
                    .filter(|f| f.events.iter().any(|e| e.kind != EventKind::Modified))
                    .count(),
            },
            diagnoses,
            flows,
            unmatched: UnmatchedOut {
                client: res
                    .unmatched_client
                    .iter()
                    .map(|u| unmatched_out(u, &s, true))
                    .collect(),
                lb: res
                    .unmatched_lb
                    .iter()
                    .map(|u| unmatched_out(u, &s, false))
                    .collect(),
            },
            tables,
        }
    }
}

pub fn to_json(r: &DiffReport) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("diff report serializes");
    s.push('\n');
    s
}

/// The JSON straight into a writer: a big report is never held as a string.
pub fn write_json<W: std::io::Write>(r: &DiffReport, mut w: W) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut w, r)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// The JSON of a report built without its flows ([`DiffReport::build_from`]),
/// each flow made from `res` just as it is written and dropped after: the
/// same bytes as [`write_json`] of the whole report, without holding every
/// flow's events as text at once. `caps` are the captures of `res`.
///
/// The flows are made and serialized in parallel, [`JSON_FLOWS_AT_ONCE`]
/// at a time, each already at its depth ([`PrettyAt`]), by rayon's pool
/// while the calling thread writes the batch before; the object around
/// them is written here the way serde_json's pretty printer writes a struct.
pub fn write_json_flows<W: std::io::Write>(
    r: &DiffReport,
    res: &DiffResult,
    caps: &Captures,
    mut w: W,
) -> std::io::Result<()> {
    debug_assert!(r.flows.is_empty());
    let sides = Sides {
        client: caps.client,
        lb: caps.lb,
        client_first_ns: res.client_window.first_ns,
        lb_first_ns: res.lb_window.first_ns,
    };
    write!(w, "{{\n  \"schema\": ")?;
    serde_json::to_writer(&mut w, r.schema)?;
    field(&mut w, "files", &r.files)?;
    field(&mut w, "clock", &r.clock)?;
    if !r.clock_steps.is_empty() {
        field(&mut w, "clock_steps", &r.clock_steps)?;
    }
    field(&mut w, "summary", &r.summary)?;
    field(&mut w, "diagnoses", &r.diagnoses)?;
    w.write_all(b",\n  \"flows\": [")?;
    // Batch `b` of flows into `texts`, FLOWS_PER_TEXT flows to a text,
    // each flow after its separator; returns how many texts it filled
    // (the buffers are kept from batch to batch).
    let batches: Vec<&[FlowPair]> = res.flows.chunks(JSON_FLOWS_AT_ONCE).collect();
    let serialize = |b: usize, texts: &mut Vec<Vec<u8>>| -> usize {
        let n = batches[b].len().div_ceil(FLOWS_PER_TEXT);
        if texts.len() < n {
            texts.resize_with(n, Vec::new);
        }
        texts[..n]
            .par_iter_mut()
            .zip(batches[b].par_chunks(FLOWS_PER_TEXT))
            .enumerate()
            .for_each(|(t, (buf, flows))| {
                buf.clear();
                for (i, f) in flows.iter().enumerate() {
                    let first = b == 0 && t == 0 && i == 0;
                    buf.extend_from_slice(if first { b"\n    " } else { b",\n    " });
                    let mut ser =
                        serde_json::Serializer::with_formatter(&mut *buf, PrettyAt::new(2));
                    flow_out(f, &sides)
                        .serialize(&mut ser)
                        .expect("a flow serializes into memory");
                }
            });
        n
    };
    // Each batch is written while the pool serializes the next.
    let (mut ready, mut next) = (Vec::new(), Vec::new());
    let mut filled = if batches.is_empty() {
        0
    } else {
        serialize(0, &mut ready)
    };
    for b in 0..batches.len() {
        let mut filled_next = 0;
        let written = rayon::in_place_scope(|s| {
            if b + 1 < batches.len() {
                s.spawn(|_| filled_next = serialize(b + 1, &mut next));
            }
            ready[..filled].iter().try_for_each(|t| w.write_all(t))
        });
        written?;
        std::mem::swap(&mut ready, &mut next);
        filled = filled_next;
    }
    if !res.flows.is_empty() {
        w.write_all(b"\n  ")?;
    }
    w.write_all(b"]")?;
    field(&mut w, "unmatched", &r.unmatched)?;
    w.write_all(b"\n}\n")?;
    w.flush()
}

/// Flows made and serialized at once by [`write_json_flows`]: enough to
/// keep both cores busy, few enough that their text stays small (a few MB,
/// twice: one batch is written while the next is made).
const JSON_FLOWS_AT_ONCE: usize = 256;

/// Flows serialized one after the other into one text (one write).
const FLOWS_PER_TEXT: usize = 16;

pub fn to_yaml(r: &DiffReport) -> String {
    serde_yaml_ng::to_string(r).expect("diff report serializes")
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

fn opt_time(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_else(|| "-".into())
}

fn nat_words(n: &NatChange) -> String {
    let mut parts = Vec::new();
    if n.snat {
        parts.push(format!("SNAT {} -> {}", n.client_src, n.lb_src));
    }
    if n.dnat {
        parts.push(format!("DNAT {} -> {}", n.client_dst, n.lb_dst));
    }
    if let Some(o) = n.seq_offset_c2s {
        parts.push(format!("seq c2s {:+}", o as i32));
    }
    if let Some(o) = n.seq_offset_s2c {
        parts.push(format!("seq s2c {:+}", o as i32));
    }
    if let Some((a, b)) = n.mss_c2s {
        parts.push(format!("MSS c2s {a}->{b}"));
    }
    if let Some((a, b)) = n.mss_s2c {
        parts.push(format!("MSS s2c {a}->{b}"));
    }
    for d in &n.sackperm_stripped {
        parts.push(format!("SACK_PERM stripped {}", d.word()));
    }
    for d in Dir::BOTH {
        let w = n.ip_id[d.index()];
        if w != "kept" && w != "unknown" {
            parts.push(format!("IP ID {} {}", d.word(), w));
        }
    }
    if let Some(t) = n.ttl_drop[0] {
        parts.push(format!("TTL -{t}"));
    }
    parts.join("; ")
}

fn event_rows(events: &[EventOut]) -> String {
    let head = [
        "kind",
        "dir",
        "client frame",
        "client time",
        "lb frame",
        "lb time",
        "packet",
        "filter",
    ];
    let rows: Vec<[String; 8]> = events
        .iter()
        .map(|e| {
            let mut lbf = opt(e.lb_frame);
            let mut cf = opt(e.client_frame);
            if !e.extra_frames.is_empty() {
                let extra: Vec<String> = e.extra_frames.iter().map(|f| f.to_string()).collect();
                match e.dir {
                    Dir::C2s => lbf = format!("{lbf} +{}", extra.join(",")),
                    Dir::S2c => cf = format!("{cf} +{}", extra.join(",")),
                }
            }
            let kind = match e.modification {
                Some(m) => format!(
                    "modified ({})",
                    serde_json::to_value(m).unwrap().as_str().unwrap_or("")
                ),
                None => e.kind.word().to_string(),
            };
            [
                kind,
                e.dir.word().to_string(),
                cf,
                opt_time(e.client_rel),
                lbf,
                opt_time(e.lb_rel),
                match &e.rst_cause {
                    Some(c) => format!("{} ({c})", e.what),
                    None => e.what.clone(),
                },
                e.lb_filter
                    .clone()
                    .or(e.client_filter.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    crate::flows::table(&head, &rows)
}

/// `  RST cause: lb frame 20 (s2c, F5 trailer): BIG-IP: [0x2664c65:2574] ...`
pub(crate) fn cause_lines(causes: &[SideRstCause]) -> String {
    causes
        .iter()
        .map(|c| {
            format!(
                "  RST cause: {} frame {} ({}, {}): {}\n",
                c.side,
                c.cause.frame,
                c.dir.word(),
                c.cause.source_words(),
                c.cause.display
            )
        })
        .collect()
}

/// The F5 view of a pair: virtual server, TMM, and the other leg's bytes.
pub(crate) fn f5_words(f: &F5Pair) -> String {
    let l = &f.leg;
    let mut out = format!(
        "  F5: {}{}{}; lb stream bytes {}/{}\n",
        l.virtual_server.as_deref().unwrap_or("no virtual server"),
        match l.role {
            Some(twincap_matcher::f5::LegRole::ClientSide) => ", client-side leg",
            Some(twincap_matcher::f5::LegRole::ServerSide) => ", server-side leg",
            None => "",
        },
        match (l.slot, l.tmm) {
            (Some(s), Some(t)) =>
                format!(", s{s}/tmm{t}{}", if l.tmm_moved { " (moved)" } else { "" }),
            _ => String::new(),
        },
        f.c2s_bytes,
        f.s2c_bytes
    );
    for p in &f.peer_leg_streams {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{:+.3} ms", s * 1e3));
        out.push_str(&format!(
            "  F5 other leg: lb stream {} ({} -> {})",
            p.conn.stream, p.conn.src, p.conn.dst
        ));
        if let Some(b) = &p.bytes {
            out.push_str(&format!(
                ": request {} B -> {} B (first byte {}, last {}), response {} B -> {} B (first byte {}, last {})",
                b.client_leg_c2s_bytes,
                b.server_leg_c2s_bytes,
                ms(b.c2s_first_byte_delay_s),
                ms(b.c2s_last_byte_delay_s),
                b.server_leg_s2c_bytes,
                b.client_leg_s2c_bytes,
                ms(b.s2c_first_byte_delay_s),
                ms(b.s2c_last_byte_delay_s),
            ));
        }
        out.push('\n');
        out.push_str(&cause_lines(&p.rst_causes));
    }
    if f.peer_leg_streams.is_empty() {
        for p in &l.peers {
            out.push_str(&format!(
                "  F5 other leg (not in the capture): {} -> {}\n",
                p.local, p.remote
            ));
        }
    }
    out
}

fn indent(s: &str, by: &str) -> String {
    s.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// ANSI colours for a terminal, or none (a file, a pipe, `NO_COLOR`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color && !s.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn severity(&self, sev: Severity) -> String {
        let w = format!("{:<7}", sev.word());
        match sev {
            Severity::Error => self.paint("1;31", &w),
            Severity::Warning => self.paint("33", &w),
            Severity::Info => self.paint("36", &w),
        }
    }
    fn event(&self, k: Option<EventKind>, s: &str) -> String {
        match k {
            Some(EventKind::Lost) | Some(EventKind::Injected) => self.paint("31", s),
            Some(EventKind::Reordered) | Some(EventKind::Duplicated) => self.paint("33", s),
            Some(_) => self.paint("2", s),
            None => s.to_string(),
        }
    }
}

/// The header line of a paired connection.
pub(crate) fn flow_title(fl: &FlowOut) -> String {
    format!(
        "client stream {} ({} -> {})  <->  lb stream {} ({} -> {})  confidence {:.2}",
        fl.client.stream,
        fl.client.src,
        fl.client.dst,
        fl.lb.stream,
        fl.lb.src,
        fl.lb.dst,
        fl.confidence
    )
}

/// A table's rows through `cells`; rows left out become `…`.
fn table_rows(t: &FlowTable, cells: impl Fn(&TableRow) -> [String; 16]) -> Vec<[String; 16]> {
    t.rows
        .iter()
        .map(|r| match r {
            Some(r) => cells(r),
            None => std::array::from_fn(|i| {
                if i == 0 || i == 8 {
                    "…".into()
                } else {
                    String::new()
                }
            }),
        })
        .collect()
}

/// A side-by-side table as plain columns.
fn table_text(t: &FlowTable, st: Style) -> String {
    let mut head = TABLE_HEAD;
    head[0] = "client time";
    head[8] = "lb time";
    let rows = table_rows(t, |r| {
        let mut c = r.cells.clone();
        c[15] = st.event(r.event, &c[15]);
        c
    });
    crate::flows::table(&head, &rows)
}

/// For a terminal: summary, findings, then every connection with problems
/// side by side.
pub fn to_text(r: &DiffReport, st: Style) -> String {
    let mut out = String::new();
    let f = &r.files;
    out.push_str(&format!(
        "client: {} ({} frames, {} connections)\nlb:     {} ({} frames, {} connections)\n\n",
        f.client.path,
        f.client.frames,
        f.client.connections,
        f.lb.path,
        f.lb.frames,
        f.lb.connections
    ));
    out.push_str(&format!(
        "pairs: {}   unmatched: {} client-side, {} lb-side   connections with problems: {}\n",
        r.summary.pairs,
        r.summary.unmatched_client,
        r.summary.unmatched_lb,
        r.summary.flows_with_problems
    ));
    if r.summary.pairs == 0 && r.summary.unmatched_client + r.summary.unmatched_lb > 0 {
        out.push_str(
            "warning: no connection could be paired: are these two captures of the same traffic, taken at the same time?\n",
        );
    }
    out.push_str(&format!(
        "clock: lb = client {:+.6} s, drift {:+.2} ppm (±{:.6} s, {} samples, {}){}\n\n",
        r.clock.offset_s,
        r.clock.drift_ppm,
        r.clock.uncertainty_s,
        r.clock.samples,
        r.clock.source,
        steps_said(&r.clock_steps)
    ));
    out.push_str(&crate::flows::table(
        &["events", "c2s", "s2c"],
        &event_count_rows(r),
    ));
    if !r.diagnoses.is_empty() {
        out.push_str("\nfindings:\n");
        if let Some(line) = findings_by_kind(&r.diagnoses) {
            out.push_str(&format!("  {line}\n"));
        }
        for d in &r.diagnoses {
            out.push_str(&format!(
                "\n  {} {}: {}\n",
                st.severity(d.severity),
                d.id,
                d.summary
            ));
            for (side, fl) in side_filters(d, ["client: ", "lb:     "]) {
                out.push_str(&format!("          {side}{fl}\n"));
            }
        }
    }
    for t in &r.tables {
        let fl = &r.flows[t.flow];
        out.push_str(&format!("\n{}\n", flow_title(fl)));
        for x in &fl.lb_extra {
            out.push_str(&format!(
                "  also lb stream {} ({} -> {})\n",
                x.stream, x.src, x.dst
            ));
        }
        let nat = nat_words(&fl.nat);
        if !nat.is_empty() {
            out.push_str(&format!("  {nat}\n"));
        }
        if let Some(f5) = &fl.f5 {
            out.push_str(&f5_words(f5));
        }
        out.push_str(&cause_lines(&fl.rst_causes));
        out.push_str(&indent(&table_text(t, st), "  "));
        out.push_str(&format!(
            "  client: {}\n  lb:     {}\n",
            fl.filters.client, fl.filters.lb
        ));
    }
    // Resets with a stated cause on connections without problems.
    for fl in &r.flows {
        if fl.rst_causes.is_empty() || r.tables.iter().any(|t| r.flows[t.flow].client == fl.client)
        {
            continue;
        }
        out.push_str(&format!("\n{}\n", flow_title(fl)));
        if let Some(f5) = &fl.f5 {
            out.push_str(&f5_words(f5));
        }
        out.push_str(&cause_lines(&fl.rst_causes));
    }
    let with_events: Vec<&UnmatchedConn> = r.unmatched.client.iter().collect();
    if !with_events.is_empty() {
        out.push_str("\nclient-side connections with no twin on the LB side:\n");
        for u in with_events {
            out.push_str(&format!(
                "\nclient stream {} ({} -> {}): {}\n",
                u.stream, u.src, u.dst, u.reason
            ));
            out.push_str(&cause_lines(&u.rst_causes));
            out.push_str(&indent(&event_rows(&u.events), "  "));
        }
    }
    if !r.unmatched.lb.is_empty() {
        out.push_str("\nlb-side connections with no twin on the client side:\n");
        out.push_str(&indent(
            &crate::flows::table(&["stream", "src", "dst", "why"], &unmatched_lb_rows(r)),
            "  ",
        ));
    }
    out
}

fn event_count_rows(r: &DiffReport) -> Vec<[String; 3]> {
    EventKind::ALL
        .iter()
        .map(|k| {
            let m = r.summary.events.get(k.word());
            let n = |d: &str| m.and_then(|m| m.get(d)).copied().unwrap_or(0).to_string();
            [k.word().to_string(), n("c2s"), n("s2c")]
        })
        .collect()
}

fn unmatched_lb_rows(r: &DiffReport) -> Vec<[String; 4]> {
    r.unmatched
        .lb
        .iter()
        .map(|u| {
            [
                u.stream.to_string(),
                u.src.clone(),
                u.dst.clone(),
                u.reason.to_string(),
            ]
        })
        .collect()
}

/// A finding's display filters with their side's label.
fn side_filters<'a>(
    d: &'a Diagnosis,
    labels: [&'a str; 2],
) -> impl Iterator<Item = (&'a str, &'a String)> {
    labels
        .into_iter()
        .zip([&d.client_filter, &d.lb_filter])
        .filter_map(|(l, f)| f.as_ref().map(|f| (l, f)))
}

/// A GitHub / Jira Markdown table; `|` in cells escaped.
fn md_table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", head.map(cell).join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(N)));
    for r in rows {
        let c: Vec<String> = r.iter().map(|x| cell(x)).collect();
        out.push_str(&format!("| {} |\n", c.join(" | ")));
    }
    out
}

/// Markdown for a ticket: the same content as the text, in tables, with the
/// Wireshark display filters that open each finding on each side.
pub fn to_md(r: &DiffReport) -> String {
    let mut out = String::new();
    let f = &r.files;
    out.push_str("# twincap diff\n\n");
    out.push_str(&md_table(
        &["side", "file", "frames", "connections"],
        &[
            [
                "client".into(),
                format!("`{}`", f.client.path),
                f.client.frames.to_string(),
                f.client.connections.to_string(),
            ],
            [
                "LB".into(),
                format!("`{}`", f.lb.path),
                f.lb.frames.to_string(),
                f.lb.connections.to_string(),
            ],
        ],
    ));
    out.push_str(&format!(
        "\n**{}** connections paired, **{}** client-side and **{}** LB-side unmatched, **{}** with problems. Clock: LB = client {:+.6} s, drift {:+.2} ppm (±{:.6} s, {} samples, {}){}.\n\n",
        r.summary.pairs,
        r.summary.unmatched_client,
        r.summary.unmatched_lb,
        r.summary.flows_with_problems,
        r.clock.offset_s,
        r.clock.drift_ppm,
        r.clock.uncertainty_s,
        r.clock.samples,
        r.clock.source,
        steps_said(&r.clock_steps)
    ));
    out.push_str(&md_table(&["event", "c2s", "s2c"], &event_count_rows(r)));
    out.push_str("\n## Findings\n\n");
    if r.diagnoses.is_empty() {
        out.push_str("Nothing to report.\n");
    }
    if let Some(line) = findings_by_kind(&r.diagnoses) {
        out.push_str(&format!("{line}\n\n"));
    }
    for d in &r.diagnoses {
        out.push_str(&format!(
            "- **{}** `{}`: {}\n",
            d.severity.word(),
            d.id,
            d.summary
        ));
        for (side, fl) in side_filters(d, ["client side: ", "LB side: "]) {
            out.push_str(&format!("  - {side}`{fl}`\n"));
        }
    }
    if !r.tables.is_empty() {
        out.push_str("\n## Connections with problems\n");
    }
    for t in &r.tables {
        let fl = &r.flows[t.flow];
        out.push_str(&format!("\n### {}\n\n", flow_title(fl).replace("<->", "↔")));
        let nat = nat_words(&fl.nat);
        if !nat.is_empty() {
            out.push_str(&format!("{nat}\n\n"));
        }
        if let Some(f5) = &fl.f5 {
            out.push_str(&format!("{}\n", f5_words(f5).trim()));
        }
        if !fl.rst_causes.is_empty() {
            out.push_str(&format!("{}\n\n", cause_lines(&fl.rst_causes).trim()));
        }
        let mut head = TABLE_HEAD;
        head[0] = "client time";
        head[7] = "dir";
        head[8] = "LB time";
        let rows = table_rows(t, |r| {
            let mut c = r.cells.clone();
            c[7] = if r.cells[7] == "->" { "→" } else { "←" }.into();
            c
        });
        out.push_str(&md_table(&head, &rows));
        out.push_str(&format!(
            "\nclient side: `{}`  \nLB side: `{}`\n",
            fl.filters.client, fl.filters.lb
        ));
    }
    if !r.unmatched.client.is_empty() {
        out.push_str("\n## Client-side connections with no twin on the LB side\n");
        for u in &r.unmatched.client {
            out.push_str(&format!(
                "\n### client stream {} ({} -> {}): {}\n\n",
                u.stream, u.src, u.dst, u.reason
            ));
            let rows: Vec<[String; 5]> = u
                .events
                .iter()
                .map(|e| {
                    [
                        e.kind.word().to_string(),
                        e.dir.word().to_string(),
                        opt(e.client_frame),
                        opt_time(e.client_rel),
                        e.what.clone(),
                    ]
                })
                .collect();
            out.push_str(&md_table(
                &["kind", "dir", "client frame", "client time", "packet"],
                &rows,
            ));
            out.push_str(&format!("\nclient side: `{}`\n", u.filter));
        }
    }
    if !r.unmatched.lb.is_empty() {
        out.push_str("\n## LB-side connections with no twin on the client side\n\n");
        out.push_str(&md_table(
            &["stream", "src", "dst", "why"],
            &unmatched_lb_rows(r),
        ));
    }
    out
}

/// Past [`FINDINGS_LISTED_ALONE`] findings, one line with how many there
/// are of each kind (in the order they are listed), so that the first
/// screen says what the long list below holds: a capture with resets
/// injected on 30 connections gives a finding per connection.
fn findings_by_kind(ds: &[Diagnosis]) -> Option<String> {
    if ds.len() <= FINDINGS_LISTED_ALONE {
        return None;
    }
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for d in ds {
        match kinds.iter_mut().find(|k| k.0 == d.id) {
            Some(k) => k.1 += 1,
            None => kinds.push((d.id, 1)),
        }
    }
    let parts: Vec<String> = kinds.iter().map(|(id, n)| format!("{id} {n}")).collect();
    Some(format!("{} findings: {}", ds.len(), parts.join(", ")))
}

/// How many findings a report lists without a count per kind first.
const FINDINGS_LISTED_ALONE: usize = 8;

/// `; stepped: lb -2.000 s at frame 260`: the clock steps taken off, for
/// the clock line of the text and Markdown summaries (the `clock_step`
/// finding says more); nothing without steps.
fn steps_said(steps: &[ClockStep]) -> String {
    if steps.is_empty() {
        return String::new();
    }
    let each: Vec<String> = steps
        .iter()
        .map(|s| format!("{} {:+.3} s at frame {}", s.side, s.step_s, s.frame))
        .collect();
    format!("; stepped: {} (taken off)", each.join(", "))
}

#[cfg(test)]
mod tests {
    fn finding(id: &'static str) -> super::Diagnosis {
        super::Diagnosis::new(id, super::Severity::Error, String::new())
    }

    /// Up to eight findings are listed alone; past that, a line first says
    /// how many of each kind, in the order they are listed.
    #[test]
    fn a_long_findings_list_is_counted_by_kind_first() {
        let mut ds: Vec<_> = ["injected", "path_loss", "injected", "snat"]
            .into_iter()
            .cycle()
            .take(8)
            .map(finding)
            .collect();
        assert_eq!(super::findings_by_kind(&ds), None);
        ds.push(finding("injected"));
        assert_eq!(
            super::findings_by_kind(&ds).as_deref(),
            Some("9 findings: injected 5, path_loss 2, snat 2")
        );
    }
}
