//! Diagnoses: what an engineer writes on a support ticket, read off the
//! matcher's diff events and each capture's expert flags.
//!
//! Each rule turns facts the matcher already established into a finding
//! with a stable `id` (docs/diagnoses.md), a severity, one sentence, and the
//! frames that prove it on both sides. Nothing here pairs, aligns or flags
//! packets again: events come from [`DiffResult`], flags from the two
//! [`Analysis`] values, packet-by-packet rows from [`crate::rows`].

use crate::rows::{self, Captures, Row};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use twincap_matcher::analyze::{Analysis, Flag};
use twincap_matcher::diff::{
    ClockEstimate, DiffResult, Dir, Event, EventKind, FlowPair, Modification, Unmatched,
};
use twincap_parser::f5::RstCause;
use twincap_parser::{tcp_flags, Capture, TcpPacket};

/// How bad a finding is for the connections it touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Connections failed because of it.
    Error,
    /// It slowed connections down or explains a symptom.
    Warning,
    /// What the middle or the captures are like; nothing broke.
    Info,
}

impl Severity {
    pub fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnosis {
    /// Stable identifier (docs/diagnoses.md).
    pub id: &'static str,
    pub severity: Severity,
    /// One sentence, in an engineer's words.
    pub summary: String,
    /// Direction it is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<Dir>,
    /// Connection it is about (`tcp.stream` on each side), when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_stream: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_stream: Option<u32>,
    /// Evidence frames on each side, in frame order (at most [`MAX_FRAMES`];
    /// `figures` holds the full counts).
    pub client_frames: Vec<u32>,
    pub lb_frames: Vec<u32>,
    /// Wireshark display filters that open the evidence on each side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_filter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_filter: Option<String>,
    /// The numbers behind the sentence (rates, counts, milliseconds).
    pub figures: BTreeMap<&'static str, Value>,
}

/// Evidence frames listed per side at most.
pub const MAX_FRAMES: usize = 50;

impl Diagnosis {
    pub(crate) fn new(id: &'static str, severity: Severity, summary: String) -> Diagnosis {
        Diagnosis {
            id,
            severity,
            summary,
            dir: None,
            client_stream: None,
            lb_stream: None,
            client_frames: Vec::new(),
            lb_frames: Vec::new(),
            client_filter: None,
            lb_filter: None,
            figures: BTreeMap::new(),
        }
    }
    fn streams(mut self, client: Option<u32>, lb: Option<u32>) -> Diagnosis {
        self.client_stream = client;
        self.lb_stream = lb;
        self
    }
    fn frames(mut self, mut client: Vec<u32>, mut lb: Vec<u32>) -> Diagnosis {
        for v in [&mut client, &mut lb] {
            v.sort_unstable();
            v.dedup();
            v.truncate(MAX_FRAMES);
        }
        self.client_frames = client;
        self.lb_frames = lb;
        self
    }
    fn figure(mut self, k: &'static str, v: Value) -> Diagnosis {
        self.figures.insert(k, v);
        self
    }
}

/// `tcp.stream eq N && frame.number in {a b c}`: what opens the evidence
/// in Wireshark.
fn filter(stream: Option<u32>, frames: &[u32]) -> Option<String> {
    if frames.is_empty() {
        return None;
    }
    let list: Vec<String> = frames.iter().map(|f| f.to_string()).collect();
    let inside = stream
        .map(|s| format!("tcp.stream eq {s} && "))
        .unwrap_or_default();
    Some(format!("{inside}frame.number in {{{}}}", list.join(" ")))
}

/// What the rules read.
pub struct Inputs<'a> {
    pub result: &'a DiffResult,
    pub caps: Captures<'a>,
    pub client_analysis: &'a Analysis,
    pub lb_analysis: &'a Analysis,
    /// What the rules read off the packet-by-packet rows of the paired
    /// connections that need them ([`flow_facts`]), by index into
    /// `result.flows`, in that order.
    pub facts: &'a [(usize, FlowFacts)],
}

/// What the readings of one connection's rows need (nothing of the others).
#[derive(Clone, Copy)]
pub struct FlowInputs<'a> {
    pub caps: Captures<'a>,
    pub client_analysis: &'a Analysis,
    pub lb_analysis: &'a Analysis,
    pub clock: &'a ClockEstimate,
}

impl<'a> Inputs<'a> {
    /// What the readings of one connection need.
    pub fn flow_inputs(&self) -> FlowInputs<'a> {
        FlowInputs {
            caps: self.caps,
            client_analysis: self.client_analysis,
            lb_analysis: self.lb_analysis,
            clock: &self.result.clock,
        }
    }
}

/// What the rules read off one paired connection's rows: the rows of a
/// connection are made, read and dropped one connection at a time (and
/// connections in parallel), never all held at once.
#[derive(Debug, Default)]
pub struct FlowFacts {
    /// Reordered rows, in row order.
    reordered: Vec<Reordered>,
    /// The connection's `injected` and `capture_missed_frame` findings.
    injected: Vec<Diagnosis>,
    /// A reset the LB side answered by another reset.
    reset: Option<ResetFacts>,
    /// Retransmissions whose original arrived, per direction: how many, and
    /// their frames on each side.
    spurious: [(usize, Vec<u32>, Vec<u32>); 2],
    /// The connection's last packets, all lost in between.
    dropped: Option<DroppedTail>,
    /// The longest silence of the connection (both directions) that a
    /// packet crossing the path ended, on the client clock.
    longest_silence_ns: i64,
}

impl FlowFacts {
    /// Whether the connection has a reset answered by a reset.
    pub fn has_answered_reset(&self) -> bool {
        self.reset.is_some()
    }
}

/// A reordered row: direction, client and LB packet, and how late it came.
type Reordered = (Dir, Option<u32>, Option<u32>, Option<rows::Lateness>);

/// The facts of paired connection `f` from its rows and their lateness
/// ([`rows::lateness_all`]). `inp.facts` is not read.
pub fn flow_facts(
    inp: &FlowInputs,
    f: &FlowPair,
    rows: &[Row],
    late: &[Option<rows::Lateness>],
) -> FlowFacts {
    FlowFacts {
        reordered: rows
            .iter()
            .zip(late)
            .filter(|(r, _)| r.event == Some(EventKind::Reordered))
            .map(|(r, l)| (r.dir, r.client, r.lb, *l))
            .collect(),
        injected: injected_in(inp, f, rows),
        reset: reset_facts(inp, rows),
        spurious: Dir::BOTH.map(|d| spurious_in(inp, f, rows, d)),
        dropped: dropped_tail(inp, rows),
        longest_silence_ns: longest_silence(rows),
    }
}

/// Why a RST was sent, as far as the capture tells: the one place that
/// asks, so that causes from other sources (F5 trailers) join here.
pub fn rst_cause(cap: &Capture, frame: u32) -> Option<RstCause> {
    cap.rst_cause(frame).map(|c| c.cause)
}

/// Every diagnosis, most severe first, then by id and place (stable).
pub fn diagnose(inp: &Inputs) -> Vec<Diagnosis> {
    let mut out = Vec::new();
    let lost = syns_lost(inp);
    syn_not_at_lb(&lost, &mut out);
    snat_ports_exhausted(inp, &lost, &mut out);
    let dropped = dropped_flows(inp);
    for d in Dir::BOTH {
        path_loss(inp, d, &dropped, &mut out);
        path_reordering(inp, d, &mut out);
        path_duplication(inp, d, &mut out);
    }
    let crossed = crossed_over(inp);
    injected(inp, &crossed, &mut out);
    reset_answered_by_reset(inp, &mut out);
    flow_dropped(inp, &dropped, &mut out);
    nat_port_reused(inp, crossed, &mut out);
    reset_cause(inp, &mut out);
    middle_changed(inp, &mut out);
    slow_reader(inp, &mut out);
    spurious_retransmission(inp, &mut out);
    capture_window(inp, &mut out);
    capture_snaplen(inp, &mut out);
    clock_steps(inp, &mut out);
    note_undecidable(inp.result, &mut out);
    for d in &mut out {
        d.client_filter = filter(d.client_stream, &d.client_frames);
        d.lb_filter = filter(d.lb_stream, &d.lb_frames);
    }
    out.sort_by(|a, b| {
        (
            a.severity,
            a.id,
            a.dir.map(|d| d.index()),
            a.client_stream,
            a.lb_stream,
        )
            .cmp(&(
                b.severity,
                b.id,
                b.dir.map(|d| d.index()),
                b.client_stream,
                b.lb_stream,
            ))
            .then_with(|| a.client_frames.cmp(&b.client_frames))
            .then_with(|| a.lb_frames.cmp(&b.lb_frames))
    });
    out
}

// ---- words ----

fn dir_words(d: Dir) -> &'static str {
    match d {
        Dir::C2s => "client-to-server",
        Dir::S2c => "server-to-client",
    }
}

fn receiver_words(d: Dir) -> &'static str {
    match d {
        Dir::C2s => "the LB side",
        Dir::S2c => "the client side",
    }
}

fn ms(ns: i64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 * 100.0 / of as f64
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `[FIN, ACK]` and the like.
fn pkt_words(p: &TcpPacket) -> String {
    format!("[{}]", crate::diff::flag_words(p.flags))
}

/// A paired connection or an unmatched one, with its events.
fn all_events(r: &DiffResult) -> impl Iterator<Item = (Option<&FlowPair>, &Event)> {
    r.flows
        .iter()
        .flat_map(|f| f.events.iter().map(move |e| (Some(f), e)))
        .chain(
            r.unmatched_client
                .iter()
                .chain(&r.unmatched_lb)
                .flat_map(|u| u.events.iter().map(|e| (None, e))),
        )
}

/// Both sides' frames of events.
fn event_frames<'a>(events: impl Iterator<Item = &'a Event>) -> (Vec<u32>, Vec<u32>) {
    let (mut c, mut l) = (Vec::new(), Vec::new());
    for e in events {
        c.extend(e.client_frame);
        l.extend(e.lb_frame);
        match e.dir {
            Dir::C2s => l.extend(&e.extra_frames),
            Dir::S2c => c.extend(&e.extra_frames),
        }
    }
    (c, l)
}

// ---- rules ----

/// A client connection with no twin whose SYNs were all lost.
/// Client connections whose SYNs never reached the LB side: the
/// unmatched ones whose SYNs are all lost (not outside the LB capture's
/// window), with those `lost` events.
fn syns_lost<'r>(inp: &Inputs<'r>) -> Vec<(&'r Unmatched, Vec<&'r Event>)> {
    inp.result
        .unmatched_client
        .iter()
        .filter(|u| !u.events.iter().any(|e| e.kind == EventKind::OutsideWindow))
        .map(|u| {
            let syns = u
                .events
                .iter()
                .filter(|e| {
                    e.kind == EventKind::Lost
                        && e.dir == Dir::C2s
                        && e.client_packet.is_some_and(|i| {
                            let p = inp.caps.packet(false, i);
                            p.has(tcp_flags::SYN) && !p.has(tcp_flags::ACK)
                        })
                })
                .collect();
            (u, syns)
        })
        .filter(|(_, syns): &(_, Vec<_>)| !syns.is_empty())
        .collect()
}

fn syn_not_at_lb(lost: &[(&Unmatched, Vec<&Event>)], out: &mut Vec<Diagnosis>) {
    for (u, syns) in lost {
        let frames: Vec<u32> = syns.iter().filter_map(|e| e.client_frame).collect();
        let retries = match frames.len() {
            1 => String::new(),
            n => format!(" and its {}", plural(n - 1, "retry", "retries")),
        };
        let d = Diagnosis::new(
            "syn_not_at_lb",
            Severity::Error,
            format!(
                "The client's SYN from {} to {} (client frame {}){retries} never reached the LB side: the connection never existed there.",
                u.src, u.dst, frames[0]
            ),
        )
        .streams(Some(u.stream), None)
        .frames(frames.clone(), vec![])
        .figure("syns", json!(frames.len()));
        out.push(d);
    }
}

/// How long a NAT keeps a port after the last packet of its connection,
/// which the LB capture cannot see: Linux conntrack holds a closed
/// connection's tuple 120 s in TIME_WAIT, an idle mapping until its
/// timeout. A port counts as taken this long after its last packet (on the
/// lab's NAT, 1 s found 566 of the 654 blocked connections, 3 s 653, 10 s
/// all, none wrongly).
const NAT_LINGER_NS: i64 = 10_000_000_000;

/// SYNs that never reached the LB side, sent while every source port the
/// SNAT was seen using was taken by another connection: the SNAT's pool
/// was exhausted. Only the LB capture's own connections count (it sees the
/// SNAT's other clients too).
fn snat_ports_exhausted(
    inp: &Inputs,
    lost: &[(&Unmatched, Vec<&Event>)],
    out: &mut Vec<Diagnosis>,
) {
    let r = inp.result;
    if lost.is_empty() {
        return;
    }
    let lb = inp.caps.lb;
    // The SNAT's addresses: the LB-side sources of pairs whose source changed.
    let snat: BTreeSet<IpAddr> = r
        .flows
        .iter()
        .filter(|f| f.nat.snat)
        .filter_map(|f| f.lb.src.parse::<SocketAddr>().ok())
        .map(|a| a.ip())
        .collect();
    // Each LB connection of a SNAT address: the port it took, and when
    // (client clock).
    let mut spans: Vec<((IpAddr, u16), i64, i64)> = Vec::new();
    for c in &inp.caps.lb_conns.list {
        let (Some(&first), Some(&last)) = (c.packets.first(), c.packets.last()) else {
            continue;
        };
        let Some(end) = [c.a, c.b]
            .into_iter()
            .find(|e| snat.contains(&lb.addrs[e.0 as usize]))
        else {
            continue;
        };
        let at = |i: u32| r.clock.to_client(lb.packets[i as usize].ts_ns);
        spans.push((
            (lb.addrs[end.0 as usize], end.1),
            at(first),
            at(last).saturating_add(NAT_LINGER_NS),
        ));
    }
    let ports: BTreeSet<_> = spans.iter().map(|s| s.0).collect();
    let syn_count: usize = lost.iter().map(|l| l.1.len()).sum();
    // A pool the capture saw cycling (a port taken again by a later
    // connection): with every port used once, the capture says nothing of
    // the pool's size. Bounded work: every span is read once per lost SYN.
    if ports.len() >= spans.len() || syn_count.saturating_mul(spans.len()) > 50_000_000 {
        return;
    }
    let delay = r.typical_delay_ns[0].max(0);
    let all_taken = |t: i64| {
        let busy: BTreeSet<_> = spans
            .iter()
            .filter(|s| s.1 <= t && t <= s.2)
            .map(|s| s.0)
            .collect();
        busy.len() == ports.len()
    };
    let mut blocked: Vec<(u32, u32)> = Vec::new();
    for (u, syns) in lost {
        let taken = syns
            .iter()
            .filter(|e| {
                e.client_packet
                    .is_some_and(|i| all_taken(inp.caps.packet(false, i).ts_ns + delay))
            })
            .count();
        if taken * 2 >= syns.len() {
            blocked.push((u.stream, syns[0].client_frame.unwrap_or(0)));
        }
    }
    if blocked.is_empty() {
        return;
    }
    let addrs: Vec<String> = snat.iter().map(ToString::to_string).collect();
    out.push(
        Diagnosis::new(
            "snat_ports_exhausted",
            // An error, as the failed connections it explains are; listed
            // before them (same severity, its id sorts first).
            Severity::Error,
            format!(
                "The SNAT ({}) was seen using {} in the LB capture, and every one of them was taken by another connection when {} of the {} client connections whose SYNs never reached the LB side tried: the SNAT's port pool looks exhausted (more addresses or ports, or shorter NAT timeouts, would let them through).",
                addrs.join(", "),
                plural(ports.len(), "source port", "source ports"),
                blocked.len(),
                lost.len()
            ),
        )
        .frames(blocked.iter().map(|b| b.1).collect(), vec![])
        .figure("snat_ports", json!(ports.len()))
        .figure("blocked_connections", json!(blocked.len()))
        .figure(
            "blocked_streams",
            json!(blocked.iter().map(|b| b.0).collect::<Vec<_>>()),
        )
        .figure("syn_not_at_lb", json!(lost.len())),
    );
}

/// Loss, reordering and duplication findings whose events the captures
/// cannot pin to one packet (an identical packet sent right beside it, the
/// event's `alternatives`) say so.
fn note_undecidable(r: &DiffResult, out: &mut [Diagnosis]) {
    for d in out.iter_mut() {
        let kind = match d.id {
            "path_loss" => EventKind::Lost,
            "path_reordering" => EventKind::Reordered,
            "path_duplication" => EventKind::Duplicated,
            _ => continue,
        };
        let Some(dir) = d.dir else { continue };
        let n = all_events(r)
            .filter(|(_, e)| e.kind == kind && e.dir == dir && !e.alternatives.is_empty())
            .count();
        if n == 0 {
            continue;
        }
        d.summary.pop();
        d.summary.push_str(&format!(
            "; for {n} of them an identical packet sent right beside it could as well be the one (the captures cannot tell which; the events list the alternatives)."
        ));
        d.figures.insert("undecidable", json!(n));
    }
}

/// Sender packets of a direction over the whole diff.
fn sent_in(r: &DiffResult, d: Dir) -> usize {
    let paired: usize = r
        .flows
        .iter()
        .map(|f| match d {
            Dir::C2s => f.c2s.sent as usize,
            Dir::S2c => f.s2c.sent as usize,
        })
        .sum();
    // An unmatched client connection's c2s packets were sent too.
    let unmatched: usize = r
        .unmatched_client
        .iter()
        .flat_map(|u| &u.events)
        .filter(|e| e.dir == d && d == Dir::C2s && e.kind == EventKind::Lost)
        .count();
    paired + unmatched
}

/// A time on the client clock of an event's sender frame.
fn sender_time(r: &DiffResult, e: &Event) -> Option<i64> {
    match e.dir {
        Dir::C2s => e.client_time_ns,
        Dir::S2c => e.lb_time_ns.map(|t| r.clock.to_client(t)),
    }
}

/// A time on the client clock of an event's receiver frame.
fn receiver_time(r: &DiffResult, e: &Event) -> Option<i64> {
    match e.dir {
        Dir::C2s => e.lb_time_ns.map(|t| r.clock.to_client(t)),
        Dir::S2c => e.client_time_ns,
    }
}

/// The packets of an event's sender frame and of its receiver frame.
fn event_packets<'a>(caps: &Captures<'a>, e: &Event) -> [Option<&'a TcpPacket>; 2] {
    let c = e.client_packet.map(|i| caps.packet(false, i));
    let l = e.lb_packet.map(|i| caps.packet(true, i));
    match e.dir {
        Dir::C2s => [c, l],
        Dir::S2c => [l, c],
    }
}

/// Where events bunch in time: the most events in any window of a tenth of
/// the span they could have happened in. `(count, start, end)` in ns on the
/// client clock.
fn densest(times: &mut [i64], span_ns: i64) -> (usize, i64, i64) {
    times.sort_unstable();
    let w = (span_ns / 10).max(1);
    let (mut best, mut at) = (0, 0);
    let mut j = 0;
    for i in 0..times.len() {
        while times[i] - times[j] > w {
            j += 1;
        }
        if i + 1 - j > best {
            best = i + 1 - j;
            at = j;
        }
    }
    let end = times.get(at + best.max(1) - 1).copied().unwrap_or(0);
    (best, times.first().map(|_| times[at]).unwrap_or(0), end)
}

/// When both captures ran, on the client clock.
fn capture_span(r: &DiffResult) -> (i64, i64) {
    let first = r
        .client_window
        .first_ns
        .min(r.clock.to_client(r.lb_window.first_ns));
    let last = r
        .client_window
        .last_ns
        .max(r.clock.to_client(r.lb_window.last_ns));
    (first, last)
}

fn count_kind(r: &DiffResult, k: EventKind, d: Dir) -> usize {
    all_events(r)
        .filter(|(_, e)| e.kind == k && e.dir == d)
        .count()
}

fn path_loss(inp: &Inputs, d: Dir, dropped: &[Dropped], out: &mut Vec<Diagnosis>) {
    let r = inp.result;
    let lost: Vec<&Event> = all_events(r)
        .map(|(_, e)| e)
        .filter(|e| e.kind == EventKind::Lost && e.dir == d)
        .collect();
    if lost.is_empty() {
        return;
    }
    let sent = sent_in(r, d).max(lost.len());
    let other = count_kind(r, EventKind::Lost, d.other());
    let (first, last) = capture_span(r);
    let mut times: Vec<i64> = lost.iter().filter_map(|e| sender_time(r, e)).collect();
    let (dense, t0, t1) = densest(&mut times, last - first);
    let clustered = dense >= 3 && dense * 2 >= lost.len();
    let when = if clustered {
        format!(
            "clustered in time ({dense} of them between {:.3} s and {:.3} s into the client capture)",
            (t0 - r.client_window.first_ns) as f64 / 1e9,
            (t1 - r.client_window.first_ns) as f64 / 1e9
        )
    } else {
        "spread over the capture".to_string()
    };
    let which = if other == 0 {
        "no packet was lost the other way".to_string()
    } else {
        format!(
            "{} of the {} losses went this way",
            lost.len(),
            lost.len() + other
        )
    };
    // Losses that are a dropped connection's last packets: the middle's
    // state, not the path's quality.
    let in_dropped: Vec<usize> = dropped
        .iter()
        .map(|x| x.tail.lost.iter().filter(|row| row.dir == d).count())
        .filter(|&n| n > 0)
        .collect();
    let of_dropped = match in_dropped.iter().sum::<usize>() {
        0 => String::new(),
        n => format!(
            "; {n} of them were the last packets of {} the middle stopped passing (flow_dropped)",
            plural(in_dropped.len(), "connection", "connections")
        ),
    };
    let (c, l) = event_frames(lost.iter().copied());
    out.push(
        Diagnosis::new(
            "path_loss",
            Severity::Warning,
            format!(
                "The path between the capture points lost {} of {} {} packets ({:.2}%), {when}; {which}{of_dropped}.",
                lost.len(),
                sent,
                dir_words(d),
                pct(lost.len(), sent)
            ),
        )
        .figure("in_dropped_flows", json!(in_dropped.iter().sum::<usize>()))
        .frames(c, l)
        .figure("lost", json!(lost.len()))
        .figure("sent", json!(sent))
        .figure("rate_pct", json!(round2(pct(lost.len(), sent))))
        .figure("clustered_in_time", json!(clustered))
        .figure("share_of_losses_pct", json!(round2(pct(lost.len(), lost.len() + other))))
        .with_dir(d),
    );
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Diagnosis {
    fn with_dir(mut self, d: Dir) -> Diagnosis {
        self.dir = Some(d);
        self
    }
}

fn median(v: &mut [i64]) -> i64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

fn path_reordering(inp: &Inputs, d: Dir, out: &mut Vec<Diagnosis>) {
    let mut events = Vec::new();
    let (mut late_pk, mut late_ns) = (Vec::new(), Vec::new());
    for (_, f) in inp.facts {
        for &(dir, client, lb, late) in &f.reordered {
            if dir != d {
                continue;
            }
            events.push((client, lb));
            if let Some(l) = late {
                late_pk.push(l.packets as i64);
                late_ns.push(l.ns);
            }
        }
    }
    if events.is_empty() {
        return;
    }
    let n = events.len();
    let (max_pk, max_ns) = (
        late_pk.iter().copied().max().unwrap_or(0),
        late_ns.iter().copied().max().unwrap_or(0),
    );
    let (med_pk, med_ns) = (median(&mut late_pk), median(&mut late_ns));
    let c: Vec<u32> = events
        .iter()
        .filter_map(|(c, _)| c.map(|i| inp.caps.packet(false, i).frame))
        .collect();
    let l: Vec<u32> = events
        .iter()
        .filter_map(|(_, l)| l.map(|i| inp.caps.packet(true, i).frame))
        .collect();
    out.push(
        Diagnosis::new(
            "path_reordering",
            Severity::Warning,
            format!(
                "The path reordered {}: they reached {} up to {} and {} late (median {}, {}).",
                plural(
                    n,
                    &format!("{} packet", dir_words(d)),
                    &format!("{} packets", dir_words(d))
                ),
                receiver_words(d),
                plural(max_pk as usize, "packet", "packets"),
                ms(max_ns),
                plural(med_pk as usize, "packet", "packets"),
                ms(med_ns)
            ),
        )
        .with_dir(d)
        .frames(c, l)
        .figure("reordered", json!(n))
        .figure("max_late_packets", json!(max_pk))
        .figure("max_late_ms", json!(round2(max_ns as f64 / 1e6)))
        .figure("median_late_packets", json!(med_pk))
        .figure("median_late_ms", json!(round2(med_ns as f64 / 1e6))),
    );
}

fn path_duplication(inp: &Inputs, d: Dir, out: &mut Vec<Diagnosis>) {
    let dups: Vec<&Event> = all_events(inp.result)
        .map(|(_, e)| e)
        .filter(|e| e.kind == EventKind::Duplicated && e.dir == d)
        .collect();
    if dups.is_empty() {
        return;
    }
    let copies: usize = dups.iter().map(|e| e.extra_frames.len()).sum();
    let (c, l) = event_frames(dups.iter().copied());
    out.push(
        Diagnosis::new(
            "path_duplication",
            Severity::Warning,
            format!(
                "The path duplicated {}: {} arrived at {} that the sender sent once.",
                plural(
                    dups.len(),
                    &format!("{} packet", dir_words(d)),
                    &format!("{} packets", dir_words(d))
                ),
                plural(copies, "extra copy", "extra copies"),
                receiver_words(d)
            ),
        )
        .with_dir(d)
        .frames(c, l)
        .figure("duplicated", json!(dups.len()))
        .figure("extra_copies", json!(copies)),
    );
}

/// The most common value.
fn mode<T: Ord + Copy>(v: impl Iterator<Item = T>) -> Option<T> {
    let mut m: BTreeMap<T, usize> = BTreeMap::new();
    for x in v {
        *m.entry(x).or_default() += 1;
    }
    m.into_iter().max_by_key(|(_, n)| *n).map(|(x, _)| x)
}

/// What gives away a packet nobody sent.
struct Tells {
    /// TTL of the packet and of the genuine packets arriving the same way.
    ttl: (u8, Option<u8>),
    /// The IP ID and the genuine neighbours' (before, after).
    ip_id: (u16, Option<u16>, Option<u16>),
    /// Time since the receiver's own last packet, and the connection's
    /// round trip as the receiver measured it at the handshake.
    gap_ns: Option<i64>,
    rtt_ns: Option<i64>,
}

impl Tells {
    /// The packet looks like one of the sender's own: same TTL, IP ID in
    /// the sender's run.
    fn looks_genuine(&self) -> bool {
        let ttl_ok = self.ttl.1 == Some(self.ttl.0);
        let (id, a, b) = self.ip_id;
        let id_ok = match (a, b) {
            (Some(a), Some(b)) if a != 0 && b != 0 => {
                id != 0 && id.wrapping_sub(a) < 64 && b.wrapping_sub(id) < 64
            }
            (Some(a), None) if a != 0 => id != 0 && id.wrapping_sub(a) < 64 && id != a,
            _ => false,
        };
        ttl_ok && id_ok
    }
    fn words(&self, d: Dir) -> Vec<String> {
        let mut v = Vec::new();
        if let (t, Some(g)) = self.ttl {
            if t != g {
                v.push(format!(
                    "TTL {t} where the {}'s packets arrive with {g}",
                    if d == Dir::S2c { "server" } else { "client" }
                ));
            }
        }
        let (id, a, b) = self.ip_id;
        if a.is_some() || b.is_some() {
            let nb: Vec<String> = [a, b]
                .iter()
                .flatten()
                .map(|x| format!("0x{x:04x}"))
                .collect();
            if !self.looks_genuine() {
                v.push(format!(
                    "IP ID 0x{id:04x} outside the sender's run ({})",
                    nb.join(", ")
                ));
            }
        }
        if let (Some(g), Some(rtt)) = (self.gap_ns, self.rtt_ns) {
            if g < rtt / 2 {
                v.push(format!(
                    "{} after the receiver's own last packet, quicker than the {} round trip allows",
                    ms(g),
                    ms(rtt)
                ));
            }
        }
        v
    }
}

/// Tell-tales of a receiver-side packet `idx` in direction `d` of a flow.
fn tells(inp: &FlowInputs, rows: &[Row], d: Dir, idx: u32) -> Tells {
    let rcv_lb = d == Dir::C2s;
    let p = inp.caps.packet(rcv_lb, idx);
    // Genuine arrivals of the same direction, in receiver order.
    let mut genuine: Vec<&TcpPacket> = rows
        .iter()
        .filter(|r| r.dir == d && r.sender().is_some())
        .filter_map(|r| r.receiver().map(|i| inp.caps.packet(rcv_lb, i)))
        .collect();
    genuine.sort_by_key(|q| q.frame);
    let before = genuine.iter().rev().find(|q| q.frame < p.frame);
    let after = genuine.iter().find(|q| q.frame > p.frame);
    // The receiver's own packets (the other direction, same capture).
    let own: Vec<&TcpPacket> = rows
        .iter()
        .filter(|r| r.dir == d.other())
        .filter_map(|r| r.sender().map(|i| inp.caps.packet(rcv_lb, i)))
        .collect();
    let last_own = own
        .iter()
        .filter(|q| q.ts_ns <= p.ts_ns)
        .map(|q| q.ts_ns)
        .max();
    // Round trip at the receiver: its SYN (or SYN-ACK) to the answer.
    let syn = own.iter().find(|q| q.has(tcp_flags::SYN)).map(|q| q.ts_ns);
    let answer = genuine
        .iter()
        .find(|q| q.has(tcp_flags::SYN) || q.has(tcp_flags::ACK))
        .map(|q| q.ts_ns);
    let rtt = match (syn, answer) {
        (Some(a), Some(b)) if b > a => Some(b - a),
        _ => None,
    };
    Tells {
        ttl: (p.ttl, mode(genuine.iter().map(|q| q.ttl))),
        ip_id: (p.ip_id, before.map(|q| q.ip_id), after.map(|q| q.ip_id)),
        gap_ns: last_own.map(|t| p.ts_ns - t),
        rtt_ns: rtt,
    }
}

/// Packets nobody sent: an injection, or a frame the sender's capture missed.
fn injected(
    inp: &Inputs,
    crossed: &BTreeMap<(usize, usize), Vec<CrossedOver>>,
    out: &mut Vec<Diagnosis>,
) {
    // Packets a reused NAT port misdelivered are told by nat_port_reused.
    let misdelivered: BTreeSet<(Option<u32>, Option<u32>)> = crossed
        .values()
        .flatten()
        .map(|x| match x.injected.dir {
            Dir::C2s => (None, x.injected.lb_frame),
            Dir::S2c => (x.injected.client_frame, None),
        })
        .collect();
    let explained = |d: &Diagnosis| {
        d.id == "injected"
            && d.client_frames
                .iter()
                .map(|&f| (Some(f), None))
                .chain(d.lb_frames.iter().map(|&f| (None, Some(f))))
                .all(|k| misdelivered.contains(&k))
    };
    for (_, f) in inp.facts {
        out.extend(f.injected.iter().filter(|d| !explained(d)).cloned());
    }
}

/// [`injected`] on one paired connection's rows.
fn injected_in(inp: &FlowInputs, f: &FlowPair, rows: &[Row]) -> Vec<Diagnosis> {
    let mut out = Vec::new();
    {
        for d in Dir::BOTH {
            let rcv_lb = d == Dir::C2s;
            let mut inj = Vec::new();
            let mut missed = Vec::new();
            for r in rows
                .iter()
                .filter(|r| r.dir == d && r.event == Some(EventKind::Injected))
            {
                let Some(i) = r.receiver() else { continue };
                let t = tells(inp, rows, d, i);
                if t.looks_genuine() {
                    missed.push(i);
                } else {
                    inj.push((i, t));
                }
            }
            let frame = |i: u32| inp.caps.packet(rcv_lb, i).frame;
            let side = |v: Vec<u32>| if rcv_lb { (vec![], v) } else { (v, vec![]) };
            if !inj.is_empty() {
                let (i0, t0) = &inj[0];
                let p = inp.caps.packet(rcv_lb, *i0);
                let toward = if d == Dir::S2c {
                    "the client"
                } else {
                    "the server"
                };
                let mut tell = t0.words(d);
                if tell.is_empty() {
                    tell.push(
                        "no header tell-tale: only its absence from the sender's capture".into(),
                    );
                }
                let (c, l) = side(inj.iter().map(|(i, _)| frame(*i)).collect());
                out.push(
                    Diagnosis::new(
                        "injected",
                        Severity::Error,
                        format!(
                            "A device in between injected {} toward {toward}: {} {} at {} frame {} was never sent by the {} ({}).",
                            plural(inj.len(), "packet", "packets"),
                            if inj.len() == 1 { "the" } else { "the first," },
                            pkt_words(p),
                            if rcv_lb { "LB" } else { "client" },
                            p.frame,
                            if d == Dir::S2c { "LB side" } else { "client" },
                            tell.join("; ")
                        ),
                    )
                    .with_dir(d)
                    .streams(Some(f.client.stream), Some(f.lb.stream))
                    .frames(c, l)
                    .figure("packets", json!(inj.len()))
                    .figure("ttl", json!(t0.ttl.0))
                    .figure("expected_ttl", json!(t0.ttl.1))
                    .figure("ip_id", json!(t0.ip_id.0)),
                );
            }
            if !missed.is_empty() {
                let (c, l) = side(missed.iter().map(|&i| frame(i)).collect());
                out.push(
                    Diagnosis::new(
                        "capture_missed_frame",
                        Severity::Warning,
                        format!(
                            "The {} capture is missing {} that {} received ({} frame {}): same TTL and IP ID in the sender's run, so the capture dropped {}, the path did not inject {}.",
                            if d == Dir::C2s { "client" } else { "LB-side" },
                            plural(missed.len(), "frame", "frames"),
                            receiver_words(d),
                            if rcv_lb { "LB" } else { "client" },
                            frame(missed[0]),
                            if missed.len() == 1 { "it" } else { "them" },
                            if missed.len() == 1 { "it" } else { "them" },
                        ),
                    )
                    .with_dir(d)
                    .streams(Some(f.client.stream), Some(f.lb.stream))
                    .frames(c, l)
                    .figure("frames", json!(missed.len())),
                );
            }
        }
    }
    out
}

/// The LB side reset the connection, a client packet arrived after that,
/// and the LB side answered it with another reset (the seed's case).
fn reset_answered_by_reset(inp: &Inputs, out: &mut Vec<Diagnosis>) {
    // The usual client-to-server delay: the diff's median over the whole
    // capture (its clock samples), not one connection's.
    let usual = inp.result.typical_delay_ns[Dir::C2s.index()];
    for (fi, facts) in inp.facts {
        let Some(ResetFacts { r1, answers }) = &facts.reset else {
            continue;
        };
        let f = &inp.result.flows[*fi];
        let lbp = |i: u32| inp.caps.packet(true, i);
        let clp = |i: u32| inp.caps.packet(false, i);
        let (late, r2) = &answers[0];
        let (p1, pl, p2) = (
            lbp(r1.lb.unwrap()),
            lbp(late.lb.unwrap()),
            lbp(r2.lb.unwrap()),
        );
        // When did the first reset reach the client, and when did the
        // client send the late packet?
        let rst_at_client = r1.client.map(|i| clp(i).ts_ns);
        let held = one_way_ns(&inp.flow_inputs(), late)
            .filter(|&t| t - usual > HELD_NS.max(usual))
            .map(|t| (t, usual));
        let late_sent = late.client.map(clp);
        let verdict = match (late_sent, rst_at_client) {
            (Some(s), Some(rc)) if s.ts_ns > rc => format!(
                "the client sent it late, {} after the reset reached it (client frame {}): the client kept talking on a reset connection",
                ms(s.ts_ns - rc),
                clp(r1.client.unwrap()).frame
            ),
            (Some(s), rc) => {
                let before = match rc {
                    Some(rc) => format!("{} before the reset reached the client", ms(rc - s.ts_ns)),
                    None => "while the reset, lost in between, never reached the client".to_string(),
                };
                let arrival = inp.result.clock.to_client(pl.ts_ns);
                let rst_sent = inp.result.clock.to_client(p1.ts_ns);
                if late.event == Some(EventKind::Reordered) {
                    format!(
                        "the path reordered it: the client sent it (client frame {}) {before}, and it arrived at the LB {} after the reset",
                        s.frame,
                        ms(arrival - rst_sent)
                    )
                } else if let Some((took, usual)) = held {
                    format!(
                        "the path held it back: the client sent it (client frame {}) {before}, and it took {} to reach the LB where packets usually take {}",
                        s.frame,
                        ms(took),
                        ms(usual)
                    )
                } else {
                    format!(
                        "it crossed the reset in flight: the client sent it (client frame {}) {before}",
                        s.frame
                    )
                }
            }
            (None, _) => "the client capture does not show it being sent".to_string(),
        };
        let cause = rst_cause(inp.caps.lb, p2.frame)
            .map(|c| format!(" with cause \"{c}\""))
            .unwrap_or_default();
        let mut d = Diagnosis::new(
            "reset_answered_by_reset",
            Severity::Warning,
            format!(
                "The LB side reset the connection (LB frame {}); the client's {} arrived after that (LB frame {}) and found no connection, so the LB side answered {}{} (LB frame {}): {verdict}. The LB behaved correctly.",
                p1.frame,
                pkt_words(pl),
                pl.frame,
                pkt_words(p2),
                cause,
                p2.frame
            ),
        )
        .streams(Some(f.client.stream), Some(f.lb.stream));
        let mut c = Vec::new();
        let mut l = vec![p1.frame];
        c.extend(r1.client.map(|i| clp(i).frame));
        for (late, r2) in answers.iter() {
            l.extend([lbp(late.lb.unwrap()).frame, lbp(r2.lb.unwrap()).frame]);
            c.extend(late.client.map(|i| clp(i).frame));
            c.extend(r2.client.map(|i| clp(i).frame));
        }
        d = d
            .frames(c, l)
            .figure("answered_resets", json!(answers.len()))
            .figure(
                "late_by_client",
                json!(matches!((late_sent, rst_at_client), (Some(s), Some(rc)) if s.ts_ns > rc)),
            )
            .figure(
                "late_reordered",
                json!(late.event == Some(EventKind::Reordered)),
            )
            .figure(
                "late_in_between",
                json!(late.event == Some(EventKind::Reordered) || held.is_some()),
            )
            .figure("reset_lb_frame", json!(p1.frame))
            .figure("late_lb_frame", json!(pl.frame))
            .figure("late_client_frame", json!(late_sent.map(|p| p.frame)))
            .figure("answer_lb_frame", json!(p2.frame));
        if let Some(c) = rst_cause(inp.caps.lb, p2.frame) {
            d = d.figure("rst_cause", json!(c.to_string()));
        }
        out.push(d);
    }
}

/// A reset of the LB side (`r1`) and each later LB reset that answered a
/// client packet arriving after it: (the late packet, the answer).
#[derive(Debug)]
struct ResetFacts {
    r1: Row,
    answers: Vec<(Row, Row)>,
}

/// [`reset_answered_by_reset`]'s reading of one connection's rows.
fn reset_facts(inp: &FlowInputs, rows: &[Row]) -> Option<ResetFacts> {
    let lbp = |i: u32| inp.caps.packet(true, i);
    let is_reset = |r: &Row| {
        r.dir == Dir::S2c
            && r.event != Some(EventKind::Duplicated)
            && r.lb.is_some_and(|i| lbp(i).has(tcp_flags::RST))
    };
    // Two resets are needed: most connections have none.
    if rows.iter().filter(|r| is_reset(r)).take(2).count() < 2 {
        return None;
    }
    // Rows in LB-capture order.
    let mut at_lb: Vec<&Row> = rows.iter().filter(|r| r.lb.is_some()).collect();
    at_lb.sort_by_key(|r| lbp(r.lb.unwrap()).frame);
    let k = at_lb.iter().position(|r| is_reset(r))?;
    // Each later LB reset that follows a client packet arriving after r1.
    let mut answers: Vec<(Row, Row)> = Vec::new();
    let mut pending: Option<&Row> = None;
    for r in &at_lb[k + 1..] {
        match r.dir {
            Dir::C2s if r.event != Some(EventKind::Duplicated) => pending = Some(r),
            Dir::S2c if is_reset(r) => {
                if let Some(late) = pending.take() {
                    answers.push((late.clone(), (*r).clone()));
                }
            }
            _ => {}
        }
    }
    (!answers.is_empty()).then(|| ResetFacts {
        r1: at_lb[k].clone(),
        answers,
    })
}

/// Extra one-way delay beyond which a packet was held back in between.
const HELD_NS: i64 = 10_000_000;

/// How long a row's packet took from its sender's capture to its
/// receiver's, on the aligned clock.
fn one_way_ns(inp: &FlowInputs, r: &Row) -> Option<i64> {
    let [c, l] = row_times(inp, r);
    let (c, l) = (c?, l?);
    Some(match r.dir {
        Dir::C2s => l - c,
        Dir::S2c => c - l,
    })
}

/// The last packets of a connection, every one lost in between, after the
/// path had carried the packets before them ([`flow_dropped`]).
#[derive(Debug)]
struct DroppedTail {
    /// The lost rows, in the order they were sent.
    lost: Vec<Row>,
    /// The last row that crossed before them.
    last_crossed: Row,
    /// When the path last carried a packet of the connection before the
    /// first lost one (the later of that row's two times), client clock.
    last_carried_ns: i64,
    /// The first FIN or RST that crossed before the lost packets, or the
    /// first of them when it is a FIN or RST sent while the connection was
    /// busy (less than [`IDLE_NS`] after the last packet carried).
    closed_by: Option<Row>,
    /// Lost packets that repeat an earlier lost one (same direction,
    /// sequence number, SYN/FIN/RST and length): the sender kept trying.
    retries: usize,
}

/// Lost packets in a row, at least, before the connection counts as
/// dropped by the middle.
const DROPPED_MIN: usize = 3;
/// A silence at least this long before the first lost packet makes the
/// drop an idle timeout.
const IDLE_NS: i64 = 1_000_000_000;
/// The drop is claimed only when the path's other losses would lose as many
/// packets in a row with at most this chance.
const DROPPED_CHANCE: f64 = 1e-3;

/// The wall-clock times (client clock) of a row's packet on each side.
fn row_times(inp: &FlowInputs, r: &Row) -> [Option<i64>; 2] {
    [
        r.client.map(|i| inp.caps.packet(false, i).ts_ns),
        r.lb.map(|i| inp.clock.to_client(inp.caps.packet(true, i).ts_ns)),
    ]
}

/// [`flow_dropped`]'s reading of one connection's rows: its sent packets
/// in time order end in at least [`DROPPED_MIN`] lost ones, among them a
/// retransmission (the sender kept trying: the capture did not just stop),
/// after a packet that crossed.
fn dropped_tail(inp: &FlowInputs, rows: &[Row]) -> Option<DroppedTail> {
    // Packets nobody sent are not the connection's own.
    let own = |r: &&Row| r.event != Some(EventKind::Injected);
    // Rows come in time order; most connections end with a packet that
    // crossed.
    if rows.iter().rev().find(own)?.event != Some(EventKind::Lost) {
        return None;
    }
    let order: Vec<&Row> = rows.iter().filter(own).collect();
    let k = order
        .iter()
        .rposition(|r| r.event != Some(EventKind::Lost))?;
    let last_crossed = order[k];
    // A packet that would have arrived outside the receiver's capture says
    // nothing either way.
    if last_crossed.receiver().is_none() || order.len() - (k + 1) < DROPPED_MIN {
        return None;
    }
    let sender = |r: &Row| -> Option<&TcpPacket> {
        let lb = r.dir == Dir::S2c;
        r.sender().map(|i| inp.caps.packet(lb, i))
    };
    let shape = |r: &Row| {
        sender(r).map(|p| {
            (
                r.dir.index(),
                p.seq,
                p.flags & (tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST),
                p.payload_len,
            )
        })
    };
    let lost: Vec<Row> = order[k + 1..].iter().map(|r| (*r).clone()).collect();
    // SYNs among them are a new connection on the same ports, whose loss
    // `syn_not_at_lb` and `snat_ports_exhausted` tell.
    if lost
        .iter()
        .any(|r| sender(r).is_some_and(|p| p.has(tcp_flags::SYN)))
    {
        return None;
    }
    let mut seen = BTreeSet::new();
    let retries = lost.iter().filter(|r| !seen.insert(shape(r))).count();
    if retries == 0 {
        return None;
    }
    let closes =
        |r: &Row| sender(r).is_some_and(|p| p.flags & (tcp_flags::FIN | tcp_flags::RST) != 0);
    let last_carried_ns = row_times(inp, last_crossed)
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(last_crossed.at_ns);
    // A FIN or RST that crossed before the losses, or one that was the
    // first of them, sent while the connection was still busy: the middle
    // saw it (a packet lost "in between" may have been lost after the
    // middle) and may have let the connection go.
    let closed_by = order[..=k]
        .iter()
        .find(|r| r.receiver().is_some() && closes(r))
        .copied()
        .or_else(|| {
            let first = &lost[0];
            (closes(first) && first.at_ns - last_carried_ns < IDLE_NS).then_some(first)
        })
        .cloned();
    Some(DroppedTail {
        lost,
        last_crossed: last_crossed.clone(),
        last_carried_ns,
        closed_by,
        retries,
    })
}

/// The longest silence a packet crossing the path ended: the gap, in both
/// directions together, before a packet the receiver got. From the rows'
/// times (in time order, each its send time): to within a one-way delay.
fn longest_silence(rows: &[Row]) -> i64 {
    let mut own = rows.iter().filter(|r| r.event != Some(EventKind::Injected));
    let Some(mut prev) = own.next().map(|r| r.at_ns) else {
        return 0;
    };
    let mut longest = 0;
    for r in own {
        if r.receiver().is_some() {
            longest = longest.max(r.at_ns - prev);
        }
        prev = r.at_ns;
    }
    longest
}

/// The same for a connection without events (no rows): every packet of it
/// crossed; its client-side packets give the silences.
fn longest_silence_of_clean(caps: &Captures, f: &FlowPair) -> i64 {
    let Some(c) = caps.client_conns.list.get(f.client.stream as usize) else {
        return 0;
    };
    c.packets
        .windows(2)
        .map(|w| caps.packet(false, w[1]).ts_ns - caps.packet(false, w[0]).ts_ns)
        .max()
        .unwrap_or(0)
}

/// A connection whose lost last packets [`flow_dropped`] reports.
struct Dropped<'a> {
    /// Index into `result.flows`.
    flow: usize,
    tail: &'a DroppedTail,
    /// How likely the path's other losses would have lost them all.
    chance: f64,
}

/// The connections whose lost last packets ordinary loss would hardly
/// explain: the chance that the path's other losses (their rate per
/// direction, these tails and lost SYNs left out) took them all is at most
/// [`DROPPED_CHANCE`].
fn dropped_flows<'a>(inp: &Inputs<'a>) -> Vec<Dropped<'a>> {
    let r = inp.result;
    let tails: Vec<(usize, &DroppedTail)> = inp
        .facts
        .iter()
        .filter_map(|(fi, f)| f.dropped.as_ref().map(|t| (*fi, t)))
        .collect();
    if tails.is_empty() {
        return Vec::new();
    }
    // Lost SYNs have their own findings (a SNAT pool run dry loses every
    // retry): they count neither as sent nor as lost here.
    let rate = Dir::BOTH.map(|d| {
        let in_tails = |t: &DroppedTail| t.lost.iter().filter(|x| x.dir == d).count();
        let tail_lost: usize = tails.iter().map(|(_, t)| in_tails(t)).sum();
        let syns_lost = all_events(r)
            .filter(|(_, e)| e.kind == EventKind::Lost && e.dir == d)
            .filter(|(_, e)| event_packets(&inp.caps, e)[0].is_some_and(|p| p.has(tcp_flags::SYN)))
            .count();
        let lost = count_kind(r, EventKind::Lost, d).saturating_sub(tail_lost + syns_lost);
        let sent = sent_in(r, d).saturating_sub(tail_lost + syns_lost);
        if sent == 0 {
            0.0
        } else {
            lost as f64 / sent as f64
        }
    });
    tails
        .into_iter()
        .map(|(flow, tail)| Dropped {
            flow,
            tail,
            chance: tail.lost.iter().map(|x| rate[x.dir.index()]).product(),
        })
        .filter(|d| d.chance <= DROPPED_CHANCE)
        .collect()
}

/// Connections whose last packets, in both directions, were all lost in
/// between while their senders kept retrying: the middle stopped passing
/// them. Says whether the connection had been silent first (an idle
/// timeout, bounded by the longest silence other connections survived),
/// had closed (state forgotten right after a FIN or RST), or neither.
fn flow_dropped(inp: &Inputs, dropped: &[Dropped], out: &mut Vec<Diagnosis>) {
    let r = inp.result;
    let flow_inp = inp.flow_inputs();
    let clp = |i: u32| inp.caps.packet(false, i);
    let lbp = |i: u32| inp.caps.packet(true, i);
    let mut idle: Vec<Diagnosis> = Vec::new();
    for &Dropped {
        flow: fi,
        tail: t,
        chance,
    } in dropped
    {
        let f = &r.flows[fi];
        let first = &t.lost[0];
        let first_at = row_times(&flow_inp, first)
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(first.at_ns);
        let silence = first_at - t.last_carried_ns;
        let span = t.lost.last().map_or(0, |x| x.at_ns) - first.at_ns;
        let count = |d: Dir| t.lost.iter().filter(|x| x.dir == d).count();
        let (c2s, s2c) = (count(Dir::C2s), count(Dir::S2c));
        let frame_words = |x: &Row| match (x.client, x.lb) {
            (Some(c), Some(l)) => {
                format!("client frame {}, LB frame {}", clp(c).frame, lbp(l).frame)
            }
            (Some(c), None) => format!("client frame {}", clp(c).frame),
            (None, Some(l)) => format!("LB frame {}", lbp(l).frame),
            (None, None) => String::new(),
        };
        let sender_pkt = |x: &Row| match x.dir {
            Dir::C2s => x.client.map(clp),
            Dir::S2c => x.lb.map(lbp),
        };
        let what = sender_pkt(first)
            .map(|p| {
                format!(
                    "the {}'s {}",
                    if first.dir == Dir::C2s {
                        "client"
                    } else {
                        "server"
                    },
                    pkt_words(p)
                )
            })
            .unwrap_or_else(|| "a packet".to_string());
        let gap = if silence >= 0 {
            format!(
                "{:.3} s after the path last carried one of its packets ({})",
                silence as f64 / 1e9,
                frame_words(&t.last_crossed)
            )
        } else {
            format!(
                "while its last packet to cross ({}) was still on the way",
                frame_words(&t.last_crossed)
            )
        };
        let mut sentence = format!(
            "The middle stopped passing this connection: its last {} packets ({c2s} client-to-server, {s2c} server-to-client, {} of them retransmissions, over {:.3} s) were all lost in between, from {what} ({}) on, {gap}.",
            t.lost.len(),
            t.retries,
            span as f64 / 1e9,
            frame_words(first),
        );
        let closed = t
            .closed_by
            .as_ref()
            .and_then(|x| sender_pkt(x).map(|p| (x, p)));
        let kind = if let Some((x, p)) = closed {
            sentence.push_str(&format!(
                " The connection had begun to close ({} of the {}, {}): a NAT or firewall that forgets a connection soon after its FIN or RST, while the ends still send its last packets, does this.",
                pkt_words(p),
                if x.dir == Dir::C2s { "client" } else { "server" },
                frame_words(x)
            ));
            "after_close"
        } else if silence >= IDLE_NS {
            sentence.push_str(&format!(
                " The connection had been silent for {:.3} s in both directions: an idle timeout shorter than that in a NAT, firewall or load balancer in between does this (keep-alives more often than the timeout, or a longer timeout, keep such a connection).",
                silence as f64 / 1e9
            ));
            "after_idle"
        } else {
            sentence.push_str(" Neither a silence nor a close came before it: the middle lost the connection's state (a failover, a flushed NAT table) or a route changed.");
            "mid_flow"
        };
        // The lost packets and the last one that crossed, on each side.
        let shown = || t.lost.iter().chain([&t.last_crossed]);
        let c: Vec<u32> = shown()
            .filter_map(|x| x.client)
            .map(|i| clp(i).frame)
            .collect();
        let l: Vec<u32> = shown().filter_map(|x| x.lb).map(|i| lbp(i).frame).collect();
        let d = Diagnosis::new("flow_dropped", Severity::Error, sentence)
            .streams(Some(f.client.stream), Some(f.lb.stream))
            .frames(c, l)
            .figure("lost_in_a_row", json!(t.lost.len()))
            .figure("retransmissions", json!(t.retries))
            .figure(
                "silence_before_s",
                json!((silence.max(0) as f64 / 1e6).round() / 1e3),
            )
            .figure("after", json!(kind))
            .figure("chance_by_path_loss", json!(chance));
        if kind == "after_idle" {
            idle.push(d);
        } else {
            out.push(d);
        }
    }
    if idle.is_empty() {
        return;
    }
    // How long a silence connections survived: the timeout lies above it.
    let survived = inp
        .facts
        .iter()
        .filter(|(fi, _)| !dropped.iter().any(|d| d.flow == *fi))
        .map(|(_, f)| f.longest_silence_ns)
        .chain(
            r.flows
                .iter()
                .filter(|f| !crate::diff::has_problems(f))
                .map(|f| longest_silence_of_clean(&inp.caps, f)),
        )
        .max()
        .unwrap_or(0);
    let shortest = idle
        .iter()
        .filter_map(|d| d.figures.get("silence_before_s").and_then(|v| v.as_f64()))
        .fold(f64::INFINITY, f64::min);
    let survived_s = (survived as f64 / 1e6).round() / 1e3;
    for mut d in idle {
        d.summary.pop();
        if survived_s < shortest {
            d.summary.push_str(&format!(
                ". Other connections survived silences of up to {survived_s:.3} s: the timeout lies between {survived_s:.3} s and {shortest:.3} s."
            ));
        } else {
            d.summary.push_str(&format!(
                ". Other connections survived silences of up to {survived_s:.3} s, longer than this one: a timer of this connection's own state rather than one idle timeout for all."
            ));
        }
        out.push(d.figure("longest_silence_survived_s", json!(survived_s)));
    }
}

/// A packet the NAT handed to the connection that had taken over its
/// LB-side port: lost from one paired connection, injected into another.
struct CrossedOver<'a> {
    lost: &'a Event,
    injected: &'a Event,
    /// Index into `result.flows` of the connection it reached.
    injected_flow: usize,
}

/// Misdelivery across a reused NAT port, arriving at most this long after
/// it was sent (client clock)...
const CROSSED_OVER_MAX_NS: i64 = 500_000_000;
/// ... or this long before it (the two clocks' slack).
const CROSSED_OVER_EARLY_NS: i64 = 2_000_000;

/// Packets lost from one paired connection and injected into another that
/// has the same LB-side addresses and ports (the NAT gave the port to a
/// new connection while packets of the old one were still on the way),
/// identical in every field the NAT leaves alone (flags, length, window,
/// TCP timestamps, payload, and the sequence number it does not shift:
/// the server's seq, the client's ack), arriving within
/// [`CROSSED_OVER_MAX_NS`] of being sent. One finding per pair of
/// connections.
fn crossed_over<'a>(inp: &Inputs<'a>) -> BTreeMap<(usize, usize), Vec<CrossedOver<'a>>> {
    let r = inp.result;
    // LB-side endpoints of each paired connection, either way round.
    let endpoints = |fi: usize| {
        let c = inp.caps.lb_conns.list.get(r.flows[fi].lb.stream as usize)?;
        Some(if c.a <= c.b { (c.a, c.b) } else { (c.b, c.a) })
    };
    let mut by_ports: BTreeMap<_, Vec<usize>> = BTreeMap::new();
    for fi in 0..r.flows.len() {
        if crate::diff::has_problems(&r.flows[fi]) {
            if let Some(k) = endpoints(fi) {
                by_ports.entry(k).or_default().push(fi);
            }
        }
    }
    let same = |d: Dir, a: &TcpPacket, b: &TcpPacket| {
        let kept = match d {
            Dir::C2s => a.ack == b.ack,
            Dir::S2c => a.seq == b.seq,
        };
        kept && a.flags == b.flags
            && a.payload_len == b.payload_len
            && a.win == b.win
            && (a.ts_val, a.ts_ecr) == (b.ts_val, b.ts_ecr)
            && (a.captured_len != a.payload_len
                || b.captured_len != b.payload_len
                || a.payload_hash == b.payload_hash)
    };
    let mut found: BTreeMap<(usize, usize), Vec<CrossedOver>> = BTreeMap::new();
    for flows in by_ports.values().filter(|v| v.len() >= 2) {
        let of_kind = |k: EventKind| -> Vec<(usize, &Event)> {
            flows
                .iter()
                .flat_map(|&fi| r.flows[fi].events.iter().map(move |e| (fi, e)))
                .filter(|(_, e)| e.kind == k)
                .collect()
        };
        let lost = of_kind(EventKind::Lost);
        let mut taken = vec![false; lost.len()];
        for (ifi, inj) in of_kind(EventKind::Injected) {
            let (Some(rp), Some(arrived)) =
                (event_packets(&inp.caps, inj)[1], receiver_time(r, inj))
            else {
                continue;
            };
            // The nearest in time of the identical lost packets.
            let best = lost
                .iter()
                .enumerate()
                .filter(|(k, (lfi, l))| !taken[*k] && *lfi != ifi && l.dir == inj.dir)
                .filter_map(|(k, (lfi, l))| {
                    let sp = event_packets(&inp.caps, l)[0]?;
                    let delay = arrived - sender_time(r, l)?;
                    (same(l.dir, sp, rp)
                        && (-CROSSED_OVER_EARLY_NS..=CROSSED_OVER_MAX_NS).contains(&delay))
                    .then_some((delay.abs(), k, *lfi, *l))
                })
                .min_by_key(|x| (x.0, x.1));
            if let Some((_, k, lfi, l)) = best {
                taken[k] = true;
                let old_new = if r.flows[lfi].lb.stream < r.flows[ifi].lb.stream {
                    (lfi, ifi)
                } else {
                    (ifi, lfi)
                };
                found.entry(old_new).or_default().push(CrossedOver {
                    lost: l,
                    injected: inj,
                    injected_flow: ifi,
                });
            }
        }
    }
    for v in found.values_mut() {
        v.sort_by_key(|x| (sender_time(r, x.lost), x.lost.client_frame, x.lost.lb_frame));
    }
    found
}

/// One finding per pair of connections [`crossed_over`] found.
fn nat_port_reused(
    inp: &Inputs,
    found: BTreeMap<(usize, usize), Vec<CrossedOver>>,
    out: &mut Vec<Diagnosis>,
) {
    let r = inp.result;
    for ((old, new), crossed) in found {
        let (fo, fnew) = (&r.flows[old], &r.flows[new]);
        // The client's address and port as the LB side sees them.
        let port_words = &fo.nat.lb_src;
        let conn_words = |f: &FlowPair| {
            format!(
                "client stream {}, LB stream {}",
                f.client.stream, f.lb.stream
            )
        };
        let told: Vec<String> = crossed
            .iter()
            .take(3)
            .map(|x| {
                let who = if x.lost.dir == Dir::C2s {
                    "the client's"
                } else {
                    "the server's"
                };
                let onto = if x.injected_flow == new {
                    "the new connection"
                } else {
                    "the old connection"
                };
                let frame = |side: &str, f: Option<u32>| {
                    format!("{side} frame {}", f.map_or("?".into(), |f| f.to_string()))
                };
                let (from, to) = match x.lost.dir {
                    Dir::C2s => (
                        frame("client", x.lost.client_frame),
                        frame("LB", x.injected.lb_frame),
                    ),
                    Dir::S2c => (
                        frame("LB", x.lost.lb_frame),
                        frame("client", x.injected.client_frame),
                    ),
                };
                let what = event_packets(&inp.caps, x.lost)[0]
                    .map(pkt_words)
                    .unwrap_or_default();
                format!("{who} {what} ({from}) reached {onto} ({to})")
            })
            .collect();
        let more = match crossed.len() {
            n if n > 3 => format!(", and {} more", n - 3),
            _ => String::new(),
        };
        let (c, l) = event_frames(crossed.iter().flat_map(|x| [x.lost, x.injected]));
        let d = Diagnosis::new(
            "nat_port_reused",
            Severity::Warning,
            format!(
                "The NAT gave the LB-side address and port {port_words} of a connection ({}) to a new one ({}) while packets of the old one were still on the way, and delivered them to the wrong connection: {}{more}. These {} are not losses and injections but misdeliveries; a NAT that holds a port for a few minutes after its connection ends (past TCP's TIME_WAIT) avoids them.",
                conn_words(fo),
                conn_words(fnew),
                told.join("; "),
                plural(crossed.len(), "packet", "packets"),
            ),
        )
        // Frames of both connections: no one stream in the filters.
        .frames(c, l)
        .figure("packets", json!(crossed.len()))
        .figure("old_client_stream", json!(fo.client.stream))
        .figure("old_lb_stream", json!(fo.lb.stream))
        .figure("new_client_stream", json!(fnew.client.stream))
        .figure("new_lb_stream", json!(fnew.lb.stream))
        .figure("nat_port", json!(port_words));
        out.push(d);
    }
}

/// What a BIG-IP reset cause says to look at, for the causes engineers
/// meet most (the cause's words as the BIG-IP writes them).
fn reset_cause_hint(text: &str) -> &'static str {
    let t = text.to_ascii_lowercase();
    if t.contains("no flow found") {
        "the BIG-IP got a packet of a connection it no longer had (already reset or timed out, or never seen by this unit: a failover, asymmetric routing): look at what ended the connection before"
    } else if t.contains("idle timeout") {
        "the connection was silent longer than the virtual server's TCP idle timeout (its TCP profile): a longer timeout, or keep-alives from the application, keep it"
    } else if t.contains("handshake timeout") {
        "the TCP handshake was not completed in time"
    } else if t.contains("no pool member") || t.contains("no server selected") {
        "no pool member could take the connection: look at the pool and its monitors"
    } else {
        "the BIG-IP's own words; `tmsh modify sys db tm.rstcause.log value enable` logs every such reset"
    }
}

/// The LB side's resets that say why (an F5 trailer or the RST's payload,
/// e.g. BIG-IP's `tm.rstcause.pkt`), paired connections and LB-side
/// connections without a twin alike: one finding per cause, with the
/// connections and the reset frames.
fn reset_cause(inp: &Inputs, out: &mut Vec<Diagnosis>) {
    let r = inp.result;
    // cause words -> (LB streams, LB frames)
    let mut by_cause: BTreeMap<&str, (BTreeSet<u32>, BTreeSet<u32>)> = BTreeMap::new();
    let paired = r.flows.iter().flat_map(|f| &f.rst_causes);
    let lone = r.unmatched_lb.iter().flat_map(|u| &u.rst_causes);
    for c in paired.chain(lone).filter(|c| c.side == "lb") {
        let e = by_cause.entry(c.cause.text.as_str()).or_default();
        e.0.insert(c.stream);
        e.1.insert(c.cause.frame);
    }
    for (text, (streams, frames)) in by_cause {
        let one = (streams.len() == 1)
            .then(|| streams.first().copied())
            .flatten();
        let listed: Vec<String> = frames.iter().take(5).map(u32::to_string).collect();
        let more = if frames.len() > 5 { ", ..." } else { "" };
        out.push(
            Diagnosis::new(
                "reset_cause",
                Severity::Warning,
                format!(
                    "The LB side reset {} with the cause \"{text}\" ({}, LB {} {}{more}): {}.",
                    plural(streams.len(), "connection", "connections"),
                    plural(frames.len(), "reset", "resets"),
                    if frames.len() == 1 { "frame" } else { "frames" },
                    listed.join(", "),
                    reset_cause_hint(text)
                ),
            )
            .streams(None, one)
            .frames(Vec::new(), frames.iter().copied().collect())
            .figure("cause", json!(text))
            .figure("connections", json!(streams.len()))
            .figure("resets", json!(frames.len())),
        );
    }
}

/// What the middle rewrote, over all pairs: one finding per kind.
fn middle_changed(inp: &Inputs, out: &mut Vec<Diagnosis>) {
    let flows = &inp.result.flows;
    if flows.is_empty() {
        return;
    }
    let first_frames = |f: &FlowPair| {
        let c = inp.caps.client_conns.list.get(f.client.stream as usize);
        let l = inp.caps.lb_conns.list.get(f.lb.stream as usize);
        let fr = |lb: bool, p: Option<&u32>| p.map(|&i| inp.caps.packet(lb, i).frame);
        (
            c.and_then(|c| fr(false, c.packets.first())),
            l.and_then(|l| fr(true, l.packets.first())),
        )
    };
    let push = |out: &mut Vec<Diagnosis>, id, sev, words: String, sel: Vec<&FlowPair>| {
        let ex = sel[0];
        let (c, l) = first_frames(ex);
        out.push(
            Diagnosis::new(id, sev, words)
                .streams(Some(ex.client.stream), Some(ex.lb.stream))
                .frames(c.into_iter().collect(), l.into_iter().collect())
                .figure("connections", json!(sel.len())),
        );
    };
    let n = flows.len();
    let snat: Vec<&FlowPair> = flows.iter().filter(|f| f.nat.snat).collect();
    if !snat.is_empty() {
        let ex = snat[0];
        let kept = flows.iter().filter(|f| f.nat.ip_id[0] == "kept").count();
        push(
            out,
            "snat",
            Severity::Info,
            format!(
                "The middle translates the client's source address (SNAT) on {} of {n} connections, e.g. {} -> {}{}.",
                snat.len(),
                ex.nat.client_src,
                ex.nat.lb_src,
                if kept * 2 > n {
                    "; it keeps the IP ID, so follow a packet across it by ip.id"
                } else {
                    ""
                }
            ),
            snat,
        );
    }
    let dnat: Vec<&FlowPair> = flows.iter().filter(|f| f.nat.dnat).collect();
    if !dnat.is_empty() {
        let ex = dnat[0];
        push(
            out,
            "dnat",
            Severity::Info,
            format!(
                "The middle translates the destination (DNAT) on {} of {n} connections, e.g. {} -> {}.",
                dnat.len(),
                ex.nat.client_dst,
                ex.nat.lb_dst
            ),
            dnat,
        );
    }
    // Header rewrites the matcher reported as `modified` events.
    for (m, id, what) in [
        (Modification::MssClamp, "mss_clamped", "clamps the MSS"),
        (
            Modification::SackpermStrip,
            "sackperm_stripped",
            "strips SACK-permitted from the handshake (no selective acknowledgments: recovery from loss is slower)",
        ),
        (
            Modification::SeqOffset,
            "seq_shifted",
            "shifts the sequence numbers (ISN randomization, as a firewall does)",
        ),
        (Modification::IpId, "ip_id_rewritten", "rewrites the IP ID (packets cannot be followed across it by ip.id)"),
    ] {
        for d in Dir::BOTH {
            let evs: Vec<(&FlowPair, &Event)> = flows
                .iter()
                .flat_map(|f| f.events.iter().map(move |e| (f, e)))
                .filter(|(_, e)| e.modification == Some(m) && e.dir == d)
                .collect();
            if evs.is_empty() {
                continue;
            }
            let detail = match m {
                Modification::MssClamp => mode(evs.iter().filter_map(|(f, _)| match d {
                    Dir::C2s => f.nat.mss_c2s,
                    Dir::S2c => f.nat.mss_s2c,
                }))
                .map(|(a, b)| format!(" from {a} to {b}"))
                .unwrap_or_default(),
                Modification::SeqOffset => String::new(),
                Modification::IpId => mode(evs.iter().map(|(f, _)| f.nat.ip_id[d.index()]))
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default(),
                Modification::SackpermStrip => String::new(),
            };
            let (c, l) = event_frames(evs.iter().map(|(_, e)| *e));
            out.push(
                Diagnosis::new(
                    id,
                    if m == Modification::SackpermStrip {
                        Severity::Warning
                    } else {
                        Severity::Info
                    },
                    format!(
                        "The middle {what}{detail} on {} packets, in {} of {n} connections.",
                        dir_words(d),
                        evs.len()
                    ),
                )
                .with_dir(d)
                .frames(c, l)
                .figure("connections", json!(evs.len()))
                .figure(
                    "packets",
                    json!(evs.iter().filter_map(|(_, e)| e.packets).sum::<u32>()),
                ),
            );
        }
    }
    // Hop count: TTL drop per direction, most common over the pairs.
    let drops: Vec<(Option<i16>, Option<i16>)> = flows
        .iter()
        .map(|f| (f.nat.ttl_drop[0], f.nat.ttl_drop[1]))
        .collect();
    let c2s = mode(drops.iter().filter_map(|d| d.0));
    let s2c = mode(drops.iter().filter_map(|d| d.1));
    if c2s.is_some() || s2c.is_some() {
        let hop = |t: Option<i16>| match t {
            Some(t) => format!("{t}"),
            None => "?".into(),
        };
        let (c, l) = first_frames(&flows[0]);
        out.push(
            Diagnosis::new(
                "hop_count",
                Severity::Info,
                format!(
                    "Between the capture points the TTL drops by {} client-to-server and {} server-to-client: that many routing hops (NAT devices included) lie in between.",
                    hop(c2s),
                    hop(s2c)
                ),
            )
            .streams(Some(flows[0].client.stream), Some(flows[0].lb.stream))
            .frames(c.into_iter().collect(), l.into_iter().collect())
            .figure("ttl_drop_c2s", json!(c2s))
            .figure("ttl_drop_s2c", json!(s2c)),
        );
    }
}

/// Zero windows, full windows and zero-window probes: the host is slow to
/// read, not the network. One finding per slow end (client or server),
/// from both captures' flags.
fn slow_reader(inp: &Inputs, out: &mut Vec<Diagnosis>) {
    /// One end's flags, per capture (client capture first).
    #[derive(Default)]
    struct Slow {
        zero: [usize; 2],
        full: [usize; 2],
        probes: [usize; 2],
        frames: [Vec<u32>; 2],
        conns: [BTreeSet<u32>; 2],
        host: [String; 2],
    }
    // [client end, server end]
    let mut slow: [Slow; 2] = Default::default();
    for (lb, an) in [(false, inp.client_analysis), (true, inp.lb_analysis)] {
        let (cap, conns) = if lb {
            (inp.caps.lb, inp.caps.lb_conns)
        } else {
            (inp.caps.client, inp.caps.client_conns)
        };
        let side = lb as usize;
        for fl in an.flagged() {
            let (z, w, pr) = (
                fl.flags.contains(Flag::ZeroWindow),
                fl.flags.contains(Flag::WindowFull),
                fl.flags.contains(Flag::ZeroWindowProbe),
            );
            if !(z || w || pr) {
                continue;
            }
            let Some(conn) = conns.list.get(fl.stream as usize) else {
                continue;
            };
            let p = &cap.packets[fl.packet as usize];
            let from_initiator = (p.src, p.sport) == conn.a;
            // A zero window is the sender's own buffer; a full window and a
            // probe are about the receiver's.
            let slow_is_initiator = if z { from_initiator } else { !from_initiator };
            let s = &mut slow[!slow_is_initiator as usize];
            s.zero[side] += z as usize;
            s.full[side] += w as usize;
            s.probes[side] += pr as usize;
            s.frames[side].push(fl.frame);
            s.conns[side].insert(fl.stream);
            let (addr, _) = if slow_is_initiator { conn.a } else { conn.b };
            s.host[side] = cap.addr(addr).to_string();
        }
    }
    for (k, s) in slow.into_iter().enumerate() {
        // Counted in the capture next to that end (where it sent and
        // received them), else in the other.
        let near = if s.frames[k].is_empty() { 1 - k } else { k };
        if s.frames[near].is_empty() {
            continue;
        }
        let role = if k == 0 { "client" } else { "server" };
        let mut what = Vec::new();
        for (n, words) in [
            (s.zero[near], "advertised a zero window"),
            (s.full[near], "had its window filled"),
            (s.probes[near], "was sent zero-window probes"),
        ] {
            if n > 0 {
                what.push(format!("{words} {}", plural(n, "time", "times")));
            }
        }
        let conns = s.conns[near].len();
        let [c, l] = s.frames;
        out.push(
            Diagnosis::new(
                "slow_reader",
                Severity::Warning,
                format!(
                    "The {role} ({}) is slow to read: it {} in {} (as the {} capture shows); its application does not empty the receive buffer: look at that host, not the network.",
                    s.host[near],
                    what.join(", "),
                    plural(conns, "connection", "connections"),
                    if near == 0 { "client" } else { "LB-side" }
                ),
            )
            .frames(c, l)
            .figure("zero_window", json!(s.zero[near]))
            .figure("window_full", json!(s.full[near]))
            .figure("zero_window_probe", json!(s.probes[near]))
            .figure("connections", json!(conns))
            .figure("role", json!(role)),
        );
    }
}

/// Retransmissions whose original reached the receiver: the sender's timer
/// fired on delay, not on loss.
fn spurious_retransmission(inp: &Inputs, out: &mut Vec<Diagnosis>) {
    for d in Dir::BOTH {
        let (mut c, mut l) = (Vec::new(), Vec::new());
        let mut n = 0;
        for (_, f) in inp.facts {
            let (k, fc, fl) = &f.spurious[d.index()];
            n += k;
            c.extend(fc);
            l.extend(fl);
        }
        if n == 0 {
            continue;
        }
        let who = if d == Dir::C2s { "client" } else { "server" };
        out.push(
            Diagnosis::new(
                "spurious_retransmission",
                Severity::Info,
                format!(
                    "The {who} retransmitted {} whose original had reached {}: the path delayed them (or their ACKs), it did not lose them.",
                    plural(n, "segment", "segments"),
                    receiver_words(d)
                ),
            )
            .with_dir(d)
            .frames(c, l)
            .figure("retransmissions", json!(n)),
        );
    }
}

/// [`spurious_retransmission`] on one connection's rows in direction `d`:
/// how many, and their frames (with their originals') on each side.
fn spurious_in(
    inp: &FlowInputs,
    f: &FlowPair,
    rows: &[Row],
    d: Dir,
) -> (usize, Vec<u32>, Vec<u32>) {
    let snd_lb = d == Dir::S2c;
    let an = if snd_lb {
        inp.lb_analysis
    } else {
        inp.client_analysis
    };
    let (mut c, mut l) = (Vec::new(), Vec::new());
    let mut n = 0;
    // An ACK lost on the way back also explains a retransmission.
    if f.events.iter().any(|e| e.kind == EventKind::Lost) {
        return (n, c, l);
    }
    let sent: Vec<&Row> = rows
        .iter()
        .filter(|r| r.dir == d && r.sender().is_some())
        .collect();
    for (k, r) in sent.iter().enumerate() {
        let i = r.sender().unwrap();
        let fl = an.flags(i as usize);
        if !(fl.contains(Flag::Retransmission)
            || fl.contains(Flag::FastRetransmission)
            || fl.contains(Flag::SpuriousRetransmission))
        {
            continue;
        }
        let p = inp.caps.packet(snd_lb, i);
        if p.seq_len() == 0 {
            continue;
        }
        // The original: the first earlier send of the same sequence number.
        let orig = sent[..k].iter().find(|o| {
            let q = inp.caps.packet(snd_lb, o.sender().unwrap());
            q.seq == p.seq && q.seq_len() > 0 && q.frame < p.frame
        });
        let Some(o) = orig else { continue };
        if o.receiver().is_none() {
            continue;
        }
        n += 1;
        for row in [*o, *r] {
            c.extend(row.client.map(|i| inp.caps.packet(false, i).frame));
            l.extend(row.lb.map(|i| inp.caps.packet(true, i).frame));
        }
    }
    (n, c, l)
}

/// Captures that do not overlap in time, and packets that crossed while
/// only one capture ran.
/// `clock_step`: one capture clock was set while both captures ran. The
/// diff found it (`DiffResult::clock_steps`) and compared the times after
/// it with the step taken off; Wireshark still shows them as captured, so
/// the engineer must know.
fn clock_steps(inp: &Inputs, out: &mut Vec<Diagnosis>) {
    for st in &inp.result.clock_steps {
        let (cap, name) = if st.side == "client" {
            (inp.caps.client, "client")
        } else {
            (inp.caps.lb, "LB")
        };
        let packets = &cap.packets;
        let at = packets.partition_point(|p| p.frame < st.frame);
        // Times before the step are as captured: the file's own time going
        // back there says that its clock was set.
        let before = at.checked_sub(1).map(|i| &packets[i]);
        let back = before
            .map(|p| st.time_ns - p.ts_ns)
            .filter(|&d| d < 0 && st.step_s < 0.0);
        let summary = match back {
            Some(d) => format!(
                "The {name} capture's clock was set back {:.3} s at {name} frame {} (its own timestamps go back {:.3} s there). Its times from that frame on are compared, and shown here, with the step taken off; Wireshark shows them as captured.",
                -st.step_s,
                st.frame,
                -d as f64 / 1e9
            ),
            None => format!(
                "The two capture clocks moved {:+.3} s against each other (LB clock minus client clock) at {name} frame {}: one of them was set (an NTP step, a resumed VM). {name} times from that frame on are compared, and shown here, with the step taken off; Wireshark shows them as captured.",
                st.step_s, st.frame
            ),
        };
        let frames: Vec<u32> = before
            .map(|p| p.frame)
            .into_iter()
            .chain([st.frame])
            .collect();
        let (client_frames, lb_frames) = if st.side == "client" {
            (frames, Vec::new())
        } else {
            (Vec::new(), frames)
        };
        out.push(
            Diagnosis::new("clock_step", Severity::Info, summary)
                .frames(client_frames, lb_frames)
                .figure("step_s", json!(st.step_s))
                .figure("frame", json!(st.frame))
                .figure("side", json!(st.side)),
        );
    }
}

fn capture_window(inp: &Inputs, out: &mut Vec<Diagnosis>) {
    let r = inp.result;
    let (cw, lw) = (r.client_window, r.lb_window);
    let utc = |ns: i64| {
        let s = ns.div_euclid(1_000_000_000);
        let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
        let (y, mo, d) = civil_from_days(days);
        format!(
            "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} UTC",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    };
    let lb_first = r.clock.to_client(lw.first_ns);
    let lb_last = r.clock.to_client(lw.last_ns);
    if cw.last_ns != 0
        && lw.last_ns != 0
        && r.flows.is_empty()
        && (lb_first > cw.last_ns || lb_last < cw.first_ns)
    {
        out.push(
            Diagnosis::new(
                "captures_do_not_overlap",
                Severity::Error,
                format!(
                    "The two captures do not overlap in time (client {} to {}, LB side {} to {} on its own clock): nothing can be compared; take both captures during the same traffic.",
                    utc(cw.first_ns),
                    utc(cw.last_ns),
                    utc(lw.first_ns),
                    utc(lw.last_ns)
                ),
            )
            .figure("client_first_s", json!(cw.first_s))
            .figure("client_last_s", json!(cw.last_s))
            .figure("lb_first_s", json!(lw.first_s))
            .figure("lb_last_s", json!(lw.last_s)),
        );
    }
    let outside: Vec<&Event> = all_events(r)
        .map(|(_, e)| e)
        .filter(|e| e.kind == EventKind::OutsideWindow)
        .collect();
    if !outside.is_empty() {
        let (c, l) = event_frames(outside.iter().copied());
        let (nc, nl) = (c.len(), l.len());
        out.push(
            Diagnosis::new(
                "outside_window",
                Severity::Info,
                format!(
                    "{} crossed while only one capture was running ({} seen only on the client side, {} only on the LB side): not losses; start both captures before the traffic and stop them after.",
                    plural(outside.len(), "packet", "packets"),
                    nc,
                    nl
                ),
            )
            .frames(c, l)
            .figure("packets", json!(outside.len())),
        );
    }
}

/// Below this a capture's snaplen cuts ordinary frames (an Ethernet frame
/// of a full 1500-byte packet is 1514 bytes).
const FULL_FRAME: u32 = 1514;

/// A capture taken with a small snaplen (`tcpdump -s 96`): its payloads
/// cannot be compared, and below ~80 bytes TCP options are cut too. Read
/// off the file's header (pcap) or interface blocks (pcapng): no packet is
/// walked.
fn capture_snaplen(inp: &Inputs, out: &mut Vec<Diagnosis>) {
    for (side, cap) in [("client", inp.caps.client), ("LB", inp.caps.lb)] {
        // 0 is "no limit" in pcapng.
        let Some(snaplen) = cap
            .interfaces
            .iter()
            .map(|i| i.snaplen)
            .filter(|&s| s > 0)
            .min()
            .filter(|&s| s < FULL_FRAME)
        else {
            continue;
        };
        out.push(
            Diagnosis::new(
                "capture_snaplen",
                Severity::Info,
                format!(
                    "The {side} capture keeps only the first {snaplen} bytes of each frame (snaplen {snaplen}): \
                     payloads cut there are not compared, and where the TCP header did not fit its \
                     options (timestamps, SACK blocks) are unknown; those packets were matched by \
                     sequence numbers, IP ID and timing. For payload evidence, capture with -s 0."
                ),
            )
            .figure("side", json!(side.to_lowercase()))
            .figure("snaplen", json!(snaplen)),
        );
    }
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian;
/// Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_day_counts() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_887), (2024, 6, 13)); // the seed's case
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
