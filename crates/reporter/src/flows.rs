//! `twincap flows`: one row per TCP connection.
//!
//! JSON contract `twincap.flows/1` (docs/json-flows.md): `schema`, `file`,
//! `frames`, and `flows[]` with at least `stream`, `src`, `dst`, `packets`,
//! where `src` sent the connection's first frame.

use serde::Serialize;
use twincap_matcher::analyze::{Analysis, Flag};
use twincap_matcher::f5::{self, F5Capture, F5Conn, RstCauseRef};
use twincap_parser::{endpoint, tcp_flags, Capture, Connection, Connections, Direction};

pub const SCHEMA: &str = "twincap.flows/1";

#[derive(Serialize, Debug)]
pub struct FlowsReport {
    pub schema: &'static str,
    pub file: String,
    /// Every record of the file, TCP or not (Wireshark's last frame number).
    pub frames: u32,
    pub tcp_frames: u32,
    pub flows: Vec<FlowRow>,
    /// The capture as an F5 BIG-IP wrote it (only for such captures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f5: Option<F5Capture>,
}

/// How a connection ended, as far as the capture shows.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// A RST was seen.
    Rst,
    /// Both sides sent FIN.
    Fin,
    /// Only one side sent FIN.
    HalfClosed,
    /// Neither FIN nor RST: open when the capture stopped.
    Open,
}

impl Ending {
    fn word(self) -> &'static str {
        match self {
            Ending::Rst => "RST",
            Ending::Fin => "FIN",
            Ending::HalfClosed => "half-closed",
            Ending::Open => "open",
        }
    }
}

/// Packets and payload bytes one way.
#[derive(Serialize, Debug, Default, Clone, Copy)]
pub struct OneWay {
    pub packets: u32,
    pub bytes: u64,
    /// Segments Wireshark flags `tcp.analysis.retransmission` (fast and
    /// spurious ones included), and their payload bytes.
    pub retransmitted_packets: u32,
    pub retransmitted_bytes: u64,
}

#[derive(Serialize, Debug)]
pub struct FlowRow {
    /// Wireshark's `tcp.stream`.
    pub stream: u32,
    pub src: String,
    pub dst: String,
    pub packets: u32,
    pub first_frame: u32,
    /// Seconds since the epoch of the first and last frame.
    pub first_time: f64,
    pub last_time: f64,
    pub duration_s: f64,
    /// From `src` to `dst`, and back.
    pub src_to_dst: OneWay,
    pub dst_to_src: OneWay,
    /// SYN, SYN-ACK and the ACK that completes the handshake were all seen.
    pub handshake: bool,
    pub syn_seen: bool,
    pub end: Ending,
    /// Why its RSTs were sent, where a frame says so (F5 trailer or RST
    /// payload).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rst_causes: Vec<RstCauseRef>,
    /// What F5 BIG-IP trailers say about it (only with trailers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f5: Option<F5Conn>,
}

impl FlowsReport {
    /// One row per connection; retransmission counts come from `analysis`.
    pub fn build(cap: &Capture, conns: &Connections, analysis: &Analysis) -> FlowsReport {
        let mut f5s = f5::connections(cap, conns);
        let flows = conns
            .list
            .iter()
            .map(|c| {
                let mut r = row(cap, c, analysis);
                r.rst_causes = f5::rst_causes_of(cap, c)
                    .into_iter()
                    .map(|(_, c)| c)
                    .collect();
                r.f5 = f5s.get_mut(c.stream as usize).and_then(Option::take);
                r
            })
            .collect();
        FlowsReport {
            schema: SCHEMA,
            file: cap.path.display().to_string(),
            frames: cap.frames(),
            tcp_frames: cap.packets.len() as u32,
            flows,
            f5: f5::capture_info(cap),
        }
    }
}

fn row(cap: &Capture, c: &Connection, analysis: &Analysis) -> FlowRow {
    let mut ways = [OneWay::default(); 2];
    let (mut syn, mut synack, mut ack_after_synack) = (false, false, false);
    let (mut fin_ab, mut fin_ba, mut rst) = (false, false, false);
    let first = &cap.packets[c.packets[0] as usize];
    let last = &cap.packets[*c.packets.last().unwrap() as usize];
    for &i in &c.packets {
        let p = &cap.packets[i as usize];
        let dir = c.direction(p);
        let w = &mut ways[(dir == Direction::BtoA) as usize];
        w.packets += 1;
        w.bytes += p.payload_len as u64;
        if analysis.flags(i as usize).contains(Flag::Retransmission) {
            w.retransmitted_packets += 1;
            w.retransmitted_bytes += p.payload_len as u64;
        }
        let is_syn = p.has(tcp_flags::SYN);
        let is_ack = p.has(tcp_flags::ACK);
        if is_syn && !is_ack {
            syn = true;
        } else if is_syn && is_ack {
            synack = true;
        } else if is_ack && synack && syn {
            ack_after_synack = true;
        }
        if p.has(tcp_flags::FIN) {
            match dir {
                Direction::AtoB => fin_ab = true,
                Direction::BtoA => fin_ba = true,
            }
        }
        rst |= p.has(tcp_flags::RST);
    }
    let end = if rst {
        Ending::Rst
    } else if fin_ab && fin_ba {
        Ending::Fin
    } else if fin_ab || fin_ba {
        Ending::HalfClosed
    } else {
        Ending::Open
    };
    let t0 = first.ts_ns as f64 / 1e9;
    let t1 = last.ts_ns as f64 / 1e9;
    FlowRow {
        stream: c.stream,
        src: endpoint(cap.addr(c.a.0), c.a.1),
        dst: endpoint(cap.addr(c.b.0), c.b.1),
        packets: c.packets.len() as u32,
        first_frame: first.frame,
        first_time: t0,
        last_time: t1,
        duration_s: ((last.ts_ns - first.ts_ns) as f64 / 1e9).max(0.0),
        src_to_dst: ways[0],
        dst_to_src: ways[1],
        handshake: syn && synack && ack_after_synack,
        syn_seen: syn,
        end,
        rst_causes: Vec::new(),
        f5: None,
    }
}

pub fn to_json(r: &FlowsReport) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("flows report serializes");
    s.push('\n');
    s
}

pub fn to_yaml(r: &FlowsReport) -> String {
    serde_yaml_ng::to_string(r).expect("flows report serializes")
}

/// A plain table for a terminal: one row per connection.
pub fn to_text(r: &FlowsReport) -> String {
    let mut out = format!(
        "{}: {} frames, {} TCP, {} connections\n\n",
        r.file,
        r.frames,
        r.tcp_frames,
        r.flows.len()
    );
    let rows: Vec<[String; 10]> = r
        .flows
        .iter()
        .map(|f| {
            [
                f.stream.to_string(),
                f.src.clone(),
                f.dst.clone(),
                format!("{:.6}", f.first_time),
                format!("{:.3}", f.duration_s),
                format!("{}/{}", f.src_to_dst.packets, f.dst_to_src.packets),
                format!("{}/{}", f.src_to_dst.bytes, f.dst_to_src.bytes),
                format!(
                    "{}/{}",
                    f.src_to_dst.retransmitted_bytes, f.dst_to_src.retransmitted_bytes
                ),
                if f.handshake {
                    "yes"
                } else if f.syn_seen {
                    "partial"
                } else {
                    "no"
                }
                .to_string(),
                f.end.word().to_string(),
            ]
        })
        .collect();
    let head = [
        "stream",
        "src",
        "dst",
        "first",
        "dur s",
        "pkts >/<",
        "bytes >/<",
        "retrans bytes >/<",
        "handshake",
        "end",
    ];
    out.push_str(&table(&head, &rows));
    out.push_str(&f5_text(r));
    out
}

/// The F5 BIG-IP section and the reset causes, when there are any.
fn f5_text(r: &FlowsReport) -> String {
    let mut out = String::new();
    if let Some(c) = &r.f5 {
        out.push_str(&format!(
            "\nF5 BIG-IP capture: {} frames with a trailer",
            c.frames_with_trailer
        ));
        for (k, v) in [
            ("host", &c.hostname),
            ("version", &c.version),
            ("command", &c.command),
        ] {
            if let Some(v) = v {
                out.push_str(&format!("; {k} {v}"));
            }
        }
        out.push('\n');
        let rows: Vec<[String; 7]> = r
            .flows
            .iter()
            .filter_map(|f| Some((f, f.f5.as_ref()?)))
            .map(|(f, x)| {
                let peer = if !x.peer_legs.is_empty() {
                    let s: Vec<String> = x
                        .peer_legs
                        .iter()
                        .map(|l| format!("stream {}", l.stream))
                        .collect();
                    s.join(", ")
                } else {
                    // High noise names them; the first, and how many more.
                    match x.peers.first() {
                        Some(p) if x.peers.len() > 1 => {
                            format!("{} -> {} (+{})", p.local, p.remote, x.peers.len() - 1)
                        }
                        Some(p) => format!("{} -> {}", p.local, p.remote),
                        None => String::new(),
                    }
                };
                [
                    f.stream.to_string(),
                    x.virtual_server.clone().unwrap_or_else(|| "-".into()),
                    match x.role {
                        Some(f5::LegRole::ClientSide) => "client-side",
                        Some(f5::LegRole::ServerSide) => "server-side",
                        None => "-",
                    }
                    .to_string(),
                    match (x.slot, x.tmm) {
                        (Some(s), Some(t)) => {
                            format!("s{s}/tmm{t}{}", if x.tmm_moved { "+" } else { "" })
                        }
                        _ => "-".into(),
                    },
                    format!("{}/{}", x.frames_in, x.frames_out),
                    peer,
                    f.rst_causes
                        .first()
                        .map_or(String::new(), |c| c.display.clone()),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &[
                "stream",
                "virtual server",
                "leg",
                "tmm",
                "frames in/out",
                "other leg",
                "RST cause",
            ],
            &rows,
        ));
        return out;
    }
    let rows: Vec<[String; 3]> = r
        .flows
        .iter()
        .flat_map(|f| {
            f.rst_causes
                .iter()
                .map(move |c| [f.stream.to_string(), c.frame.to_string(), c.display.clone()])
        })
        .collect();
    if !rows.is_empty() {
        out.push_str("\nRST causes:\n\n");
        out.push_str(&table(&["stream", "frame", "cause"], &rows));
    }
    out
}

/// Left-aligned columns separated by two spaces.
pub fn table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let mut w = [0usize; N];
    for (i, h) in head.iter().enumerate() {
        w[i] = h.len();
    }
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(&format!("{:<width$}", c, width = w[i]));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(head.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(|s| s.as_str()).collect(), &mut out);
    }
    out
}
