//! `twincap analyze`: Wireshark's TCP expert flags, per flag and per frame.
//!
//! JSON contract `twincap.analyze/1` (docs/json-analyze.md): `schema`,
//! `file`, `frames[]` (every frame with at least one flag: `frame`,
//! `stream`, `flags`, and the values Wireshark shows with them), `streams[]`
//! (connections with at least one flagged frame, with counts per flag) and
//! `summary[]` (per flag: frames and connections).

use crate::pretty::{write_array, write_field, write_in_blocks};
use rayon::prelude::*;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::io::{self, Write};
use std::sync::Arc;
use twincap_matcher::analyze::{Analysis, Flag, Flagged, Flags, StreamCounts};
use twincap_matcher::f5::{self, F5Capture, F5Conn, PacketFacts, RstCauseRef};
use twincap_parser::{address_text, endpoint_with, AddrId, Capture, Connections, Direction};

pub const SCHEMA: &str = "twincap.analyze/1";

#[derive(Serialize, Debug)]
pub struct AnalyzeReport {
    pub schema: &'static str,
    pub file: String,
    /// Records in the file, TCP or not.
    pub total_frames: u32,
    pub tcp_frames: u32,
    pub connections: u32,
    /// Per flag present in the capture, in a fixed order.
    pub summary: Vec<SummaryRow>,
    /// Every frame with at least one flag, in frame order.
    pub frames: Vec<FrameRow>,
    /// Every connection with at least one flagged frame, in stream order.
    pub streams: Vec<StreamRow>,
    /// Every RST whose frame says why it was sent (F5 trailer or RST
    /// payload), in frame order, flagged or not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rst_causes: Vec<StreamRstCause>,
    /// The capture as an F5 BIG-IP wrote it (only for such captures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f5: Option<F5Capture>,
}

/// A reset cause and its connection.
#[derive(Serialize, Debug)]
pub struct StreamRstCause {
    pub stream: u32,
    #[serde(flatten)]
    pub cause: RstCauseRef,
}

#[derive(Serialize, Debug)]
pub struct SummaryRow {
    pub flag: &'static str,
    /// Frames carrying the flag.
    pub frames: u32,
    /// Connections with at least one such frame.
    pub connections: u32,
    /// What it means, in a network engineer's terms.
    pub meaning: &'static str,
}

#[derive(Serialize, Debug)]
pub struct FrameRow {
    pub frame: u32,
    pub stream: u32,
    /// Serialized as the list of flag names.
    pub flags: Flags,
    /// Sender and receiver of this frame, `ip:port` (shared with its
    /// connection's row: a report has one string per endpoint, not two per
    /// frame).
    pub src: Arc<str>,
    pub dst: Arc<str>,
    /// Seconds since the Unix epoch.
    pub time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dup_ack_num: Option<u32>,
    /// The frame this duplicate ACK repeats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dup_ack_of: Option<u32>,
    /// For a retransmission: the oldest unacknowledged frame of the sender
    /// (`tcp.analysis.rto_frame`), most likely the one repeated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmits_frame: Option<u32>,
    /// Seconds since that frame (`tcp.analysis.rto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rto_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_in_flight: Option<u32>,
    /// The frame this one acknowledges (`tcp.analysis.acks_frame`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acks_frame: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_rtt_s: Option<f64>,
}

#[derive(Serialize, Debug)]
pub struct StreamRow {
    pub stream: u32,
    /// The endpoint that sent the connection's first frame, and the other.
    pub src: Arc<str>,
    pub dst: Arc<str>,
    pub packets: u32,
    pub flagged_frames: u32,
    /// Frames per flag (only flags present).
    pub counts: FlagCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_rtt_s: Option<f64>,
    /// What F5 BIG-IP trailers say about the connection (only with
    /// trailers; boxed: most connections have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f5: Option<Box<F5Conn>>,
}

/// Frames per flag, indexed by `Flag as usize`; serialized as a map from
/// flag name to count of the flags present, in [`Flag::ALL`] order (a
/// table, not a map per connection: a report has a row for each of
/// hundreds of thousands of connections).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagCounts(pub [u32; Flag::COUNT]);

impl FlagCounts {
    /// The flags present, with their counts, in [`Flag::ALL`] order.
    pub fn present(&self) -> impl Iterator<Item = (Flag, u32)> + '_ {
        Flag::ALL
            .into_iter()
            .map(|f| (f, self.0[f as usize]))
            .filter(|&(_, n)| n > 0)
    }
}

impl Serialize for FlagCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.present().count()))?;
        for (flag, n) in self.present() {
            map.serialize_entry(flag.name(), &n)?;
        }
        map.end()
    }
}

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

impl AnalyzeReport {
    /// The report of `analysis` on `cap` with its connections `conns`.
    pub fn build(cap: &Capture, conns: &Connections, analysis: &Analysis) -> AnalyzeReport {
        let facts = PacketFacts::of(cap, conns);
        Self::from_facts(cap, analysis, &facts)
    }

    /// The report of `analysis` on `cap`, whose packets need not be kept:
    /// what the report reads of them is in `facts` (from
    /// `StreamingAnalysis`, or [`PacketFacts::of`] a whole capture).
    pub fn from_facts(cap: &Capture, analysis: &Analysis, facts: &PacketFacts) -> AnalyzeReport {
        // The F5 summaries are made while the rows are (rayon): the rows of
        // a large capture are most of the report's work, done in parallel.
        let (f5s, mut streams) = rayon::join(
            || f5::connections_from(cap, facts),
            || stream_rows(cap, analysis),
        );
        // Both in stream order: each stream row takes its F5 summary.
        let mut f5s = f5s.into_iter().peekable();
        for row in &mut streams {
            while f5s.next_if(|(s, _)| *s < row.stream).is_some() {}
            row.f5 = f5s
                .next_if(|(s, _)| *s == row.stream)
                .map(|(_, c)| Box::new(c));
        }
        let rst_causes = facts
            .rst_causes(cap)
            .into_iter()
            .map(|(stream, cause)| StreamRstCause { stream, cause })
            .collect();
        let totals = analysis.totals();
        let summary = Flag::ALL
            .into_iter()
            .filter(|f| totals[*f as usize] > 0)
            .map(|f| SummaryRow {
                flag: f.name(),
                frames: totals[f as usize],
                connections: analysis.connections_with(f) as u32,
                meaning: f.meaning(),
            })
            .collect();
        // Endpoint strings come from the stream rows: addresses are
        // formatted once per connection, not once per frame.
        let frames = analysis
            .flagged()
            .par_iter()
            .map(|f| {
                let row = streams
                    .binary_search_by_key(&f.stream, |s| s.stream)
                    .map(|i| &streams[i])
                    .expect("a flagged frame's connection has a stream row");
                frame_row(row, f)
            })
            .collect();
        AnalyzeReport {
            schema: SCHEMA,
            file: cap.path.display().to_string(),
            total_frames: cap.frames(),
            tcp_frames: cap.stats.tcp,
            connections: facts.connections(),
            summary,
            frames,
            streams,
            rst_causes,
            f5: f5::capture_info(cap),
        }
    }
}

/// A row per connection with a flagged frame, in stream order (without
/// its F5 summary). Each address is written once, however many
/// connections it has.
fn stream_rows(cap: &Capture, analysis: &Analysis) -> Vec<StreamRow> {
    let flagged = || analysis.streams().iter().filter(|s| s.flagged_frames > 0);
    let mut used = vec![false; cap.addrs.len()];
    for s in flagged() {
        used[s.a.0 as usize] = true;
        used[s.b.0 as usize] = true;
    }
    let text: Vec<Option<String>> = cap
        .addrs
        .par_iter()
        .zip(&used)
        .map(|(a, &u)| u.then(|| address_text(*a)))
        .collect();
    let endpoint = |(addr, port): (AddrId, u16)| -> Arc<str> {
        shared_endpoint(text[addr as usize].as_deref().unwrap_or_default(), port)
    };
    let flagged: Vec<&StreamCounts> = flagged().collect();
    flagged
        .par_iter()
        .map(|s| StreamRow {
            stream: s.stream,
            src: endpoint(s.a),
            dst: endpoint(s.b),
            packets: s.packets,
            flagged_frames: s.flagged_frames,
            counts: FlagCounts(s.counts),
            initial_rtt_s: s.initial_rtt_ns.map(secs),
            f5: None,
        })
        .collect()
}

/// `address:port` as a shared string, formatted on the stack first: one
/// allocation a connection endpoint where a `String` made into an
/// `Arc<str>` took two and a copy (the rows of the 3 M-frame bench capture
/// have 222 k endpoints).
fn shared_endpoint(address_text: &str, port: u16) -> Arc<str> {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(port).as_bytes();
    let address = address_text.as_bytes();
    let len = address.len() + 1 + digits.len();
    let mut buf = [0u8; 64];
    if len > buf.len() {
        // Longer than any IP address and port.
        return endpoint_with(address_text, port).into();
    }
    buf[..address.len()].copy_from_slice(address);
    buf[address.len()] = b':';
    buf[address.len() + 1..len].copy_from_slice(digits);
    // An str, a colon and ASCII digits: UTF-8.
    Arc::from(std::str::from_utf8(&buf[..len]).expect("text, colon and digits"))
}

fn frame_row(stream: &StreamRow, f: &Flagged) -> FrameRow {
    let v = &f.values;
    let nonzero = |x: u32| (x != 0).then_some(x);
    let retransmitted = f.flags.contains(Flag::Retransmission) && v.rto_ns != 0;
    let (src, dst) = match f.dir {
        Direction::AtoB => (stream.src.clone(), stream.dst.clone()),
        Direction::BtoA => (stream.dst.clone(), stream.src.clone()),
    };
    FrameRow {
        frame: f.frame,
        stream: f.stream,
        flags: f.flags,
        src,
        dst,
        time: secs(f.ts_ns),
        dup_ack_num: nonzero(v.dup_ack_num),
        dup_ack_of: (v.dup_ack_num != 0).then_some(v.dup_ack_of),
        retransmits_frame: retransmitted.then_some(v.rto_frame),
        rto_s: retransmitted.then_some(secs(v.rto_ns)),
        bytes_in_flight: nonzero(v.bytes_in_flight),
        acks_frame: nonzero(v.acks_frame),
        ack_rtt_s: (v.acks_frame != 0 && v.ack_rtt_ns != 0).then_some(secs(v.ack_rtt_ns)),
    }
}

pub fn to_json(r: &AnalyzeReport) -> String {
    let mut out = Vec::new();
    write_json(r, &mut out).expect("analyze report serializes");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// [`to_json`], written to `w` as it is made (a large report is never one
/// string in memory): serde_json's pretty printer's bytes for the whole
/// report, the frames and connections serialized in parallel blocks.
pub fn write_json<W: Write>(r: &AnalyzeReport, mut w: W) -> io::Result<()> {
    // The fields in the order of `AnalyzeReport`, skipped as its serde
    // attributes skip them (the cli test `analyze_streaming` compares the
    // bytes with serde_json's of the whole report on every fixture).
    let AnalyzeReport {
        schema,
        file,
        total_frames,
        tcp_frames,
        connections,
        summary,
        frames,
        streams,
        rst_causes,
        f5,
    } = r;
    w.write_all(b"{\n  \"schema\": ")?;
    serde_json::to_writer(&mut w, schema)?;
    write_field(&mut w, "file", file)?;
    write_field(&mut w, "total_frames", total_frames)?;
    write_field(&mut w, "tcp_frames", tcp_frames)?;
    write_field(&mut w, "connections", connections)?;
    write_field(&mut w, "summary", summary)?;
    write_array(&mut w, "frames", frames)?;
    write_array(&mut w, "streams", streams)?;
    if !rst_causes.is_empty() {
        write_field(&mut w, "rst_causes", rst_causes)?;
    }
    if let Some(f5) = f5 {
        write_field(&mut w, "f5", f5)?;
    }
    w.write_all(b"\n}\n")
}

pub fn to_yaml(r: &AnalyzeReport) -> String {
    serde_yaml_ng::to_string(r).expect("analyze report serializes")
}

/// Like Wireshark's Expert Info: a summary per flag, then per connection
/// its flagged frames.
pub fn to_text(r: &AnalyzeReport) -> String {
    let mut out = Vec::new();
    write_text(r, &mut out).expect("writing to memory does not fail");
    String::from_utf8(out).expect("the text report is UTF-8")
}

/// [`to_text`], written to `w` as it is made.
pub fn write_text<W: Write>(r: &AnalyzeReport, mut w: W) -> io::Result<()> {
    let flagged_conns = r.streams.len();
    writeln!(
        w,
        "{}: {} frames, {} TCP, {} connections; {} frames flagged in {} connections",
        r.file,
        r.total_frames,
        r.tcp_frames,
        r.connections,
        r.frames.len(),
        flagged_conns
    )?;
    if r.frames.is_empty() {
        writeln!(
            w,
            "\nNo TCP expert flags: Wireshark's TCP analysis finds nothing to report."
        )?;
        return w.write_all(f5_text(r).as_bytes());
    }
    w.write_all(b"\nFlags (Wireshark's tcp.analysis.*):\n\n")?;
    let rows: Vec<[String; 4]> = r
        .summary
        .iter()
        .map(|s| {
            [
                s.flag.to_string(),
                s.frames.to_string(),
                s.connections.to_string(),
                s.meaning.to_string(),
            ]
        })
        .collect();
    w.write_all(
        crate::flows::table(&["flag", "frames", "connections", "meaning"], &rows).as_bytes(),
    )?;

    w.write_all(b"\nFlagged frames per connection:\n")?;
    let by_stream = FramesByStream::of(r);
    // Connections with their frames, in blocks made in parallel and
    // written in order (a frame report has hundreds of thousands of lines).
    write_in_blocks(&mut w, r.streams.len(), |rows| {
        let mut text = Vec::with_capacity(rows.len() * 128);
        let mut line = String::new();
        for row in rows {
            let s = &r.streams[row];
            stream_line(s, &mut line);
            text.extend_from_slice(line.as_bytes());
            for &f in by_stream.frames_of(row) {
                let f = &r.frames[f as usize];
                frame_line(f, f.src == s.src, &mut line);
                text.extend_from_slice(line.as_bytes());
            }
        }
        text
    })?;
    w.write_all(f5_text(r).as_bytes())
}

/// The frames of each stream row of a report.
struct FramesByStream {
    /// Indices into the report's frames, grouped by row, each group in
    /// frame order.
    order: Vec<u32>,
    /// Where each row's group starts in `order` (one more entry than rows).
    start: Vec<usize>,
}

impl FramesByStream {
    /// For each stream row of `r`, its frames: a counting sort, frames
    /// being in frame order already and rows in stream order.
    fn of(r: &AnalyzeReport) -> FramesByStream {
        let row_of = |stream: u32| {
            r.streams
                .binary_search_by_key(&stream, |s| s.stream)
                .expect("a flagged frame's connection has a stream row")
        };
        let rows: Vec<usize> = r.frames.par_iter().map(|f| row_of(f.stream)).collect();
        let mut start = vec![0usize; r.streams.len() + 1];
        for &row in &rows {
            start[row + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut next = start.clone();
        let mut order = vec![0u32; r.frames.len()];
        for (i, &row) in rows.iter().enumerate() {
            order[next[row]] = i as u32;
            next[row] += 1;
        }
        FramesByStream { order, start }
    }

    /// Indices into the report's frames of row `row`'s frames.
    fn frames_of(&self, row: usize) -> &[u32] {
        &self.order[self.start[row]..self.start[row + 1]]
    }
}

/// Into `line` (emptied first): `\nstream 11  10.1.10.51:48752 ->
/// 10.1.10.201:443  (16 packets, 1 flagged)`, the F5 words, a newline.
/// Written piece by piece, not through `write!`: a report has a line for
/// each of up to hundreds of thousands of connections, and formatting took
/// ~1 300 instructions a line.
fn stream_line(s: &StreamRow, line: &mut String) {
    line.clear();
    line.push_str("\nstream ");
    push_int(line, s.stream);
    line.push_str("  ");
    line.push_str(&s.src);
    line.push_str(" -> ");
    line.push_str(&s.dst);
    line.push_str("  (");
    push_int(line, s.packets);
    line.push_str(" packets, ");
    push_int(line, s.flagged_frames);
    line.push_str(" flagged)");
    if let Some(c) = s.f5.as_deref() {
        push_f5_words(c, line);
    }
    line.push('\n');
}

/// `  [F5 /Common/app_vs, client-side leg, s1/tmm1]`
fn push_f5_words(c: &F5Conn, line: &mut String) {
    line.push_str("  [F5 ");
    line.push_str(c.virtual_server.as_deref().unwrap_or("no virtual server"));
    match c.role {
        Some(f5::LegRole::ClientSide) => line.push_str(", client-side leg"),
        Some(f5::LegRole::ServerSide) => line.push_str(", server-side leg"),
        None => {}
    }
    if let (Some(slot), Some(tmm)) = (c.slot, c.tmm) {
        line.push_str(", s");
        push_int(line, slot);
        line.push_str("/tmm");
        push_int(line, tmm);
    }
    line.push(']');
}

/// `n` in decimal, as `{}` writes it.
fn push_int(line: &mut String, n: impl itoa::Integer) {
    line.push_str(itoa::Buffer::new().format(n));
}

/// The F5 capture information and every RST cause, when there are any.
fn f5_text(r: &AnalyzeReport) -> String {
    let mut out = String::new();
    if let Some(c) = &r.f5 {
        out.push_str(&format!(
            "\nF5 BIG-IP capture: {} frames with a trailer, virtual servers: {}\n",
            c.frames_with_trailer,
            if c.virtual_servers.is_empty() {
                "none".to_string()
            } else {
                c.virtual_servers.join(", ")
            }
        ));
        if let Some(cmd) = &c.command {
            out.push_str(&format!("  taken with: {cmd}\n"));
        }
    }
    if !r.rst_causes.is_empty() {
        out.push_str("\nRST causes:\n\n");
        let rows: Vec<[String; 4]> = r
            .rst_causes
            .iter()
            .map(|c| {
                [
                    c.cause.frame.to_string(),
                    c.stream.to_string(),
                    c.cause.source_words().to_string(),
                    c.cause.display.clone(),
                ]
            })
            .collect();
        out.push_str(&crate::flows::table(
            &["frame", "stream", "from", "cause"],
            &rows,
        ));
    }
    out
}

/// `  frame 12       ->  retransmission  (repeats frame 9, 0.210 s later)`
/// into `line` (emptied first): the frame, its direction (`->` when sent
/// by the connection's first sender), its flags and the values worth a
/// word next to them.
fn frame_line(f: &FrameRow, from_a: bool, line: &mut String) {
    use std::fmt::Write as _;
    line.clear();
    line.push_str("  frame ");
    let start = line.len();
    push_int(line, f.frame);
    while line.len() - start < 8 {
        line.push(' ');
    }
    line.push_str(if from_a { " ->  " } else { " <-  " });
    for (i, flag) in f.flags.iter().enumerate() {
        if i > 0 {
            line.push_str(", ");
        }
        line.push_str(flag.name());
    }
    let mut notes = 0;
    let mut note = |line: &mut String| {
        line.push_str(if notes == 0 { "  (" } else { "; " });
        notes += 1;
    };
    if let (Some(num), Some(of)) = (f.dup_ack_num, f.dup_ack_of) {
        note(line);
        line.push_str("dup ACK #");
        push_int(line, num);
        line.push_str(" of frame ");
        push_int(line, of);
    }
    if let Some(of) = f.retransmits_frame {
        note(line);
        line.push_str("repeats frame ");
        push_int(line, of);
        if let Some(s) = f.rto_s {
            let _ = write!(line, ", {s:.3} s later");
        }
    }
    if let Some(b) = f.bytes_in_flight {
        note(line);
        push_int(line, b);
        line.push_str(" bytes in flight");
    }
    if notes > 0 {
        line.push(')');
    }
    line.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_endpoints_read_as_endpoint_with_writes_them() {
        let long = "x".repeat(70);
        for (address, port) in [
            ("10.1.10.51", 48752),
            ("[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]", 65535),
            ("0.0.0.0", 0),
            (long.as_str(), 443),
        ] {
            assert_eq!(
                &*shared_endpoint(address, port),
                endpoint_with(address, port).as_str()
            );
        }
    }
}
