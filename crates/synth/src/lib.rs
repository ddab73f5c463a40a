//! Synthetic two-sided captures: the same TCP traffic captured on the client
//! and on the load-balancer side of a SNAT middlebox, with impairments whose
//! every effect is known.
//!
//! [`generate`] writes `client.pcap`, `lb.pcap` and (optionally) a
//! `truth.json` in the lab's format (`shared/lab/README.md`: flows with
//! per-packet frames on both sides, and events), so the same scorers work on
//! synthetic and lab datasets. It streams: connections are generated in
//! groups that run concurrently, and each group is written before the next
//! is made, so a pair of millions of packets needs little memory.
//!
//! What the middle does, each with its own knob in [`Config`]: loss,
//! reordering, duplication, RST injection toward the client, SNAT with a
//! small port pool (the LB side reuses its 4-tuples), IP ID rewrite
//! (random or zero), an ASA-style per-connection sequence shift, MSS
//! clamping, segmentation changes (a TSO super-segment in the LB's capture
//! that crosses as two segments; two client segments that the LB's capture
//! shows GRO-merged into one), and the LB clock's offset and drift.
//!
//! The TCP itself is causal: the two hosts of a connection run against each
//! other through the path ([`host`]; the client host at the client capture
//! point, the server host just behind the LB's), so each segment acks only
//! what had arrived at its host, and a lost segment is sent again when its
//! sender's retransmission timer fires (see `script`). Wireshark flags on
//! these captures what an impaired path makes it flag, a few percent of the
//! frames (`crates/cli/tests/synth_tshark.rs`).

pub mod f5;
pub mod frame;
pub mod host;
pub mod rng;

use frame::{PcapWriter, Segment};
use host::{Arrival, Host, Outstanding};
use rng::Rng;
use serde::Serialize;
use std::io;
use std::path::Path;

/// How the middlebox treats IP IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpIdMode {
    Keep,
    Random,
    Zero,
}

/// Everything a synthetic pair is made from.
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// Connections in total.
    pub connections: u32,
    /// Data segments per connection and direction.
    pub segments: u32,
    /// Connections running at the same time.
    pub concurrency: u32,
    /// Per forwarded segment (not on handshakes): probabilities.
    pub loss: f64,
    pub reorder: f64,
    pub dup: f64,
    /// Per c2s data segment: a RST toward the client the server never sent.
    pub inject: f64,
    /// SNAT port pool size (>= concurrency): ports are reused in turn.
    pub nat_pool: u16,
    pub ipid: IpIdMode,
    /// A random per-connection offset on c2s seq (and s2c ack) on the LB side.
    pub seq_shift: bool,
    /// MSS on SYN and SYN-ACK lowered to this on the receiver side.
    pub mss_clamp: Option<u16>,
    /// Share of s2c data segments the LB's capture shows as one TSO
    /// super-segment that crosses the path as two segments, and of c2s data
    /// segments the LB's capture shows merged (GRO) with the one before.
    pub resegment: f64,
    /// LB clock minus client clock, seconds, and the LB clock's drift.
    pub clock_offset_s: f64,
    pub drift_ppm: f64,
    /// Payload length range of data segments.
    pub payload_min: u16,
    pub payload_max: u16,
    /// Nanosecond pcap.
    pub nano: bool,
    /// Write truth.json.
    pub truth: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: 1,
            connections: 100,
            segments: 10,
            concurrency: 8,
            loss: 0.02,
            reorder: 0.02,
            dup: 0.01,
            inject: 0.0,
            nat_pool: 16,
            ipid: IpIdMode::Keep,
            seq_shift: false,
            mss_clamp: None,
            resegment: 0.0,
            clock_offset_s: 0.0,
            drift_ppm: 0.0,
            payload_min: 40,
            payload_max: 600,
            nano: false,
            truth: true,
        }
    }
}

/// Truth about one sent packet (the lab's `flows[].packets[]`).
#[derive(Serialize, Clone, Debug)]
pub struct PacketTruth {
    pub dir: &'static str,
    pub client_frame: Option<u32>,
    pub lb_frame: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_frames: Vec<u32>,
    pub flags: String,
    pub seq: u32,
    pub len: u16,
    pub relay: &'static str,
}

#[derive(Serialize, Clone, Debug)]
pub struct FlowTruth {
    pub id: u32,
    pub client: (String, u16, String, u16),
    pub server: (String, u16, String, u16),
    pub client_captured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isn_offset: Option<u32>,
    pub packets: Vec<PacketTruth>,
}

#[derive(Serialize, Clone, Debug)]
pub struct EventTruth {
    pub kind: &'static str,
    pub dir: &'static str,
    pub client_frame: Option<u32>,
    pub lb_frame: Option<u32>,
    pub flow: u32,
}

/// What was written.
#[derive(Serialize, Clone, Debug, Default)]
pub struct Summary {
    pub client_frames: u32,
    pub lb_frames: u32,
    pub flows: u32,
    pub events: std::collections::BTreeMap<&'static str, u32>,
}

const CLIENT_IP: [u8; 4] = [10, 77, 0, 2];
const SNAT_IP: [u8; 4] = [198, 51, 100, 9];
const SERVER_IP: [u8; 4] = [203, 0, 113, 80];
const SERVER_PORT: u16 = 443;
/// One-way delay of the path and the spacing between a side's sends, ns.
const DELAY_NS: i64 = 300_000;
const GAP_NS: i64 = 40_000;
/// Extra delay of a reordered packet: it lets a few later packets pass.
const HOLD_NS: i64 = 200_000;

fn ip_str(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

/// One copy of a segment in one capture.
struct Copy {
    ts_ns: i64,
    seg: Segment,
    /// Index into the group's sent list, or `None` for injected packets.
    sent: Option<usize>,
    /// A piece of a TSO super-segment (no one-to-one sender frame).
    piece: bool,
    /// A GRO-merged receiver frame also carries this sent packet's bytes.
    merged_with: Option<usize>,
}

/// One segment as its sender sent it, and what the path did.
struct Sent {
    conn: u32,
    c2s: bool,
    /// Frames once written: sender frame and receiver frames.
    sender_frame: u32,
    receiver_frames: Vec<u32>,
    flags: u16,
    seq: u32,
    len: u16,
    relay: &'static str,
    resegmented: bool,
}

fn flags_str(f: u16) -> String {
    let mut s = String::new();
    for (b, c) in [
        (0x02, 'S'),
        (0x10, 'A'),
        (0x08, 'P'),
        (0x01, 'F'),
        (0x04, 'R'),
    ] {
        if f & b != 0 {
            s.push(c);
        }
    }
    s
}

/// Per-connection state while its script is generated.
struct Conn {
    id: u32,
    client_port: u16,
    snat_port: u16,
    isn_c: u32,
    isn_s: u32,
    shift: u32,
    id_c: u16,
    id_s: u16,
    ts_c: u32,
    ts_s: u32,
}

/// Generate a pair into `dir`.
pub fn generate(cfg: &Config, dir: &Path) -> io::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let mut client_w = PcapWriter::create(&dir.join("client.pcap"), cfg.nano)?;
    let mut lb_w = PcapWriter::create(&dir.join("lb.pcap"), cfg.nano)?;
    let mut rng = Rng::new(cfg.seed);
    let mut flows: Vec<FlowTruth> = Vec::new();
    let mut events: Vec<EventTruth> = Vec::new();
    let mut summary = Summary::default();
    let t0: i64 = 1_800_000_000_000_000_000;
    let mut group_start = t0;
    let pool = cfg.nat_pool.max(cfg.concurrency as u16).max(1);
    let mut next_conn = 0u32;
    while next_conn < cfg.connections {
        let n = cfg.concurrency.min(cfg.connections - next_conn);
        let mut sent: Vec<Sent> = Vec::new();
        let mut client_side: Vec<Copy> = Vec::new();
        let mut lb_side: Vec<Copy> = Vec::new();
        let mut group_end = group_start;
        for k in 0..n {
            let id = next_conn + k;
            let mut c = Conn {
                id,
                client_port: 20_000 + (id % 40_000) as u16,
                snat_port: 40_000 + (id % pool as u32) as u16,
                isn_c: rng.u32(),
                isn_s: rng.u32(),
                shift: if cfg.seq_shift { rng.u32() | 1 } else { 0 },
                id_c: rng.u32() as u16,
                id_s: rng.u32() as u16,
                ts_c: rng.u32() >> 1,
                ts_s: rng.u32() >> 1,
            };
            let start = group_start + k as i64 * 7_000;
            let end = script(
                cfg,
                &mut rng,
                &mut c,
                start,
                &mut sent,
                &mut client_side,
                &mut lb_side,
            );
            group_end = group_end.max(end);
            if cfg.truth {
                flows.push(FlowTruth {
                    id,
                    client: (
                        ip_str(CLIENT_IP),
                        c.client_port,
                        ip_str(SERVER_IP),
                        SERVER_PORT,
                    ),
                    server: (ip_str(SNAT_IP), c.snat_port, ip_str(SERVER_IP), SERVER_PORT),
                    client_captured: true,
                    isn_offset: cfg.seq_shift.then_some(c.shift),
                    packets: Vec::new(),
                });
            }
        }
        // Write both sides in time order, numbering frames.
        let lb_clock = |t: i64| {
            t + (cfg.clock_offset_s * 1e9) as i64 + ((t - t0) as f64 * cfg.drift_ppm * 1e-6) as i64
        };
        client_side.sort_by_key(|c| c.ts_ns);
        lb_side.sort_by_key(|c| c.ts_ns);
        for (side, copies) in [(0, &client_side), (1, &lb_side)] {
            for cp in copies.iter() {
                let frame = if side == 0 {
                    client_w.write(cp.ts_ns, &cp.seg)?
                } else {
                    lb_w.write(lb_clock(cp.ts_ns), &cp.seg)?
                };
                if let Some(j) = cp.merged_with {
                    sent[j].receiver_frames.push(frame);
                }
                if let Some(i) = cp.sent {
                    let s = &mut sent[i];
                    let is_sender = (side == 0) == s.c2s;
                    if is_sender && !cp.piece {
                        s.sender_frame = frame;
                    } else if !is_sender {
                        s.receiver_frames.push(frame);
                    }
                } else if cfg.truth {
                    let conn = cp.seg.conn;
                    events.push(EventTruth {
                        kind: "injected",
                        dir: "s2c",
                        client_frame: Some(frame),
                        lb_frame: None,
                        flow: conn,
                    });
                }
            }
        }
        if cfg.truth {
            group_truth(&sent, &client_side, &lb_side, &mut flows, &mut events);
        }
        next_conn += n;
        group_start = group_end + 2_000_000;
    }
    summary.client_frames = client_w.frames();
    summary.lb_frames = lb_w.frames();
    summary.flows = cfg.connections;
    client_w.finish()?;
    lb_w.finish()?;
    if cfg.truth {
        events.sort_by_key(|e| (e.flow, e.client_frame.or(e.lb_frame)));
        for e in &events {
            *summary.events.entry(e.kind).or_default() += 1;
        }
        let truth = serde_json::json!({
            "format": "lab-truth/1",
            "files": {"client": "client.pcap", "lb": "lb.pcap"},
            "summary": &summary,
            "params": {"generator": "twincap-synth", "config": format!("{cfg:?}")},
            "flows": flows,
            "events": events,
        });
        std::fs::write(dir.join("truth.json"), serde_json::to_string(&truth)?)?;
    }
    std::fs::write(
        dir.join("README"),
        format!(
            "Synthetic two-sided TCP capture pair with ground truth\n\nmade by: twincap-synth\nconfig: {cfg:?}\nframes: client {} lb {}\nevents: {:?}\n",
            summary.client_frames, summary.lb_frames, summary.events
        ),
    )?;
    Ok(summary)
}

/// Per-group truth: receiver frames per sent packet, lost, duplicated and
/// reordered (RFC 4737 over first copies, per connection and direction).
fn group_truth(
    sent: &[Sent],
    client_side: &[Copy],
    lb_side: &[Copy],
    flows: &mut [FlowTruth],
    events: &mut Vec<EventTruth>,
) {
    // Flows are pushed in connection order, one per connection.
    let flow_index = |conn: u32| conn as usize;
    for s in sent {
        let dir = if s.c2s { "c2s" } else { "s2c" };
        let (cf, lf) = if s.c2s {
            (Some(s.sender_frame), s.receiver_frames.first().copied())
        } else {
            (s.receiver_frames.first().copied(), Some(s.sender_frame))
        };
        let fi = flow_index(s.conn);
        flows[fi].packets.push(PacketTruth {
            dir,
            client_frame: cf,
            lb_frame: lf,
            extra_frames: if s.resegmented {
                Vec::new()
            } else {
                s.receiver_frames.iter().skip(1).copied().collect()
            },
            flags: flags_str(s.flags),
            seq: s.seq,
            len: s.len,
            relay: s.relay,
        });
        if s.receiver_frames.is_empty() {
            events.push(EventTruth {
                kind: "lost",
                dir,
                client_frame: cf,
                lb_frame: lf,
                flow: s.conn,
            });
        } else if s.receiver_frames.len() > 1 && !s.resegmented {
            events.push(EventTruth {
                kind: "duplicated",
                dir,
                client_frame: cf,
                lb_frame: lf,
                flow: s.conn,
            });
        }
    }
    // Reordering: walk each receiver capture in order.
    for (receiver, c2s) in [(lb_side, true), (client_side, false)] {
        let mut next_exp: std::collections::HashMap<u32, usize> = Default::default();
        let mut seen = vec![false; sent.len()];
        for cp in receiver {
            let Some(i) = cp.sent else { continue };
            let s = &sent[i];
            if s.c2s != c2s || s.resegmented || seen[i] {
                continue;
            }
            seen[i] = true;
            // Sender order = index among this connection's packets of this direction.
            let ne = next_exp.entry(s.conn).or_insert(0);
            let pos = i;
            if pos < *ne {
                let dir = if c2s { "c2s" } else { "s2c" };
                let (cf, lf) = if c2s {
                    (Some(s.sender_frame), s.receiver_frames.first().copied())
                } else {
                    (s.receiver_frames.first().copied(), Some(s.sender_frame))
                };
                events.push(EventTruth {
                    kind: "reordered",
                    dir,
                    client_frame: cf,
                    lb_frame: lf,
                    flow: s.conn,
                });
            } else {
                *ne = pos + 1;
            }
        }
    }
}

const SYN: u16 = 0x02;
const ACK: u16 = 0x10;
const PSH: u16 = 0x08;
const FIN: u16 = 0x01;
const RST: u16 = 0x04;

/// One segment as a host hands it to the path.
struct Out {
    t: i64,
    c2s: bool,
    flags: u16,
    seq: u32,
    ack: u32,
    tsval: u32,
    tsecr: u32,
    len: u16,
    /// The path may lose, duplicate, hold or resegment it (not handshakes).
    impair: bool,
    /// New data (not a retransmission or a pure ACK): only new data is
    /// resegmented (TSO, GRO).
    new: bool,
}

/// What the path did with one sent segment.
struct Delivery {
    /// Each piece or copy that reached the receiver's host: when, and its
    /// offset and length within the segment.
    pieces: Vec<(i64, u16, u16)>,
    /// It was GRO-merged into the previous c2s segment's receiver frame,
    /// which now shows at this time: the bytes of both reach the server then.
    merged_at: Option<i64>,
}

/// The path between the two capture points, and the two captures: what a
/// sent segment looks like on each side and what the impairments do to it.
struct Wire<'a> {
    cfg: &'a Config,
    sent: &'a mut Vec<Sent>,
    client_side: &'a mut Vec<Copy>,
    lb_side: &'a mut Vec<Copy>,
    injected: Vec<Copy>,
    /// The last c2s segment, if it was new data that crossed alone: (sent
    /// index, position of its receiver copy), a candidate for a GRO merge
    /// with the next.
    prev_c2s: Option<(usize, usize)>,
    /// Time of the last packet in either capture.
    last: i64,
}

impl Wire<'_> {
    /// Send one segment from one side; the path then does its thing.
    fn send(&mut self, rng: &mut Rng, c: &mut Conn, o: &Out) -> Delivery {
        let (cfg, t, c2s, flags, len) = (self.cfg, o.t, o.c2s, o.flags, o.len);
        let id = if c2s {
            c.id_c = c.id_c.wrapping_add(1);
            c.id_c
        } else if flags & SYN != 0 {
            0
        } else {
            c.id_s = c.id_s.wrapping_add(1);
            c.id_s
        };
        let seg = Segment {
            conn: c.id,
            src: if c2s { CLIENT_IP } else { SERVER_IP },
            dst: if c2s { SERVER_IP } else { CLIENT_IP },
            sport: if c2s { c.client_port } else { SERVER_PORT },
            dport: if c2s { SERVER_PORT } else { c.client_port },
            seq: o.seq,
            ack: if flags & ACK != 0 { o.ack } else { 0 },
            flags,
            ip_id: id,
            ttl: 64,
            mss: (flags & SYN != 0).then_some(1460),
            ts: Some((o.tsval, o.tsecr)),
            len,
            payload_seed: (c.id as u64) << 32 ^ o.seq as u64 ^ (c2s as u64) << 63,
        };
        // The receiver-side form: SNAT, TTL, seq shift, IP ID, MSS clamp.
        let mut wire = seg.clone();
        wire.ttl = 63;
        if c2s {
            wire.src = SNAT_IP;
            wire.sport = c.snat_port;
            wire.seq = wire.seq.wrapping_add(c.shift);
        }
        // The LB side sees the server talk to the SNAT address, and acking
        // the client's bytes in the shifted sequence space.
        let mut sender_form = seg.clone();
        if !c2s {
            sender_form.dst = SNAT_IP;
            sender_form.dport = c.snat_port;
            if flags & ACK != 0 {
                sender_form.ack = sender_form.ack.wrapping_add(c.shift);
            }
        }
        match cfg.ipid {
            IpIdMode::Keep => {}
            IpIdMode::Zero => wire.ip_id = 0,
            IpIdMode::Random => wire.ip_id = rng.u32() as u16,
        }
        if let (Some(clamp), Some(m)) = (cfg.mss_clamp, wire.mss) {
            wire.mss = Some(m.min(clamp));
        }
        let index = self.sent.len();
        let r = rng.f64();
        let impair = o.impair;
        let (mut relay, mut copies, mut extra) = ("forwarded", 1, 0);
        // TSO on the LB side: new s2c data leaves the server as one
        // super-segment and crosses as two (a retransmission crosses whole).
        let reseg = impair && o.new && !c2s && len >= 2 && rng.f64() < cfg.resegment;
        // GRO on the LB side: this c2s data segment arrives merged into the
        // previous one's receiver frame (which has not reached the server
        // yet: the merge moves it later, never earlier).
        let merge = impair
            && c2s
            && o.new
            && len > 0
            && self
                .prev_c2s
                .is_some_and(|(_, pos)| self.lb_side[pos].ts_ns > t)
            && rng.f64() < cfg.resegment;
        if merge {
            relay = "forwarded+merged";
        } else if impair && !reseg {
            if r < cfg.loss {
                relay = "dropped:impairment";
                copies = 0;
            } else if r < cfg.loss + cfg.dup {
                relay = "forwarded+duplicated";
                copies = 2;
            } else if r < cfg.loss + cfg.dup + cfg.reorder {
                relay = "held";
                extra = HOLD_NS;
            }
        }
        self.sent.push(Sent {
            conn: c.id,
            c2s,
            sender_frame: 0,
            receiver_frames: Vec::new(),
            flags,
            seq: o.seq,
            len,
            relay,
            resegmented: reseg || merge,
        });
        let (sender_list, receiver_list) = if c2s {
            (&mut *self.client_side, &mut *self.lb_side)
        } else {
            (&mut *self.lb_side, &mut *self.client_side)
        };
        sender_list.push(Copy {
            ts_ns: t,
            seg: if c2s { seg } else { sender_form },
            sent: Some(index),
            piece: false,
            merged_with: None,
        });
        let arrive = t + DELAY_NS + extra + (rng.u32() % 20_000) as i64;
        self.last = self.last.max(arrive + 5_000);
        if merge {
            let (prev, pos) = self.prev_c2s.take().unwrap();
            self.sent[prev].resegmented = true;
            let cp = &mut receiver_list[pos];
            cp.seg.len += len;
            cp.seg.payload_seed ^= 0xaaaa;
            cp.ts_ns = cp.ts_ns.max(arrive);
            cp.merged_with = Some(index);
            cp.piece = true;
            return Delivery {
                pieces: vec![(cp.ts_ns, 0, len)],
                merged_at: Some(cp.ts_ns),
            };
        }
        if c2s {
            self.prev_c2s = (impair && o.new && len > 0 && copies == 1 && extra == 0)
                .then_some((index, receiver_list.len()));
        }
        let mut pieces = Vec::new();
        if reseg {
            // Two pieces on the wire, one super-segment in the sender capture.
            let half = len / 2;
            let mut a = wire.clone();
            a.len = half;
            let mut b = wire;
            b.len = len - half;
            b.seq = b.seq.wrapping_add(half as u32);
            b.ip_id = b.ip_id.wrapping_add(1);
            b.payload_seed ^= 0x5555;
            for (k, piece) in [a, b].into_iter().enumerate() {
                let (at, off) = (arrive + k as i64 * 2_000, k as u16 * half);
                pieces.push((at, off, piece.len));
                receiver_list.push(Copy {
                    ts_ns: at,
                    seg: piece,
                    sent: Some(index),
                    piece: true,
                    merged_with: None,
                });
            }
        } else {
            for k in 0..copies {
                let at = arrive + k * 5_000;
                pieces.push((at, 0, len));
                receiver_list.push(Copy {
                    ts_ns: at,
                    seg: wire.clone(),
                    sent: Some(index),
                    piece: false,
                    merged_with: None,
                });
            }
        }
        Delivery {
            pieces,
            merged_at: None,
        }
    }

    /// A RST toward the client, as if from the server (`seq`: the server's
    /// next sequence number), seen only in the client's capture.
    fn inject(&mut self, c: &Conn, t: i64, seq: u32) {
        let rst = Segment {
            conn: c.id,
            src: SERVER_IP,
            dst: CLIENT_IP,
            sport: SERVER_PORT,
            dport: c.client_port,
            seq,
            ack: 0,
            flags: RST,
            ip_id: 0,
            ttl: 63,
            mss: None,
            ts: None,
            len: 0,
            payload_seed: 0,
        };
        self.injected.push(Copy {
            ts_ns: t + DELAY_NS / 2,
            seg: rst,
            sent: None,
            piece: false,
            merged_with: None,
        });
    }
}

/// What a host's application does, and where the close stands.
struct App {
    /// Data segments still to send; the length of the next (drawn when it
    /// is first due) and when it is due.
    data_left: u32,
    next_len: Option<u16>,
    next_at: Option<i64>,
    /// The next data segment waits for the peer's window to open.
    blocked: bool,
    /// The client closes first: its FIN follows its data. The server's FIN
    /// follows its own data and the client's FIN received in order.
    closes_first: bool,
    fin_sent: bool,
    /// A pure ACK due (see [`Tcp::arrive`]); any segment sent carries it.
    ack_due: Option<i64>,
}

impl App {
    fn new(segments: u32, closes_first: bool) -> App {
        App {
            data_left: segments,
            next_len: None,
            next_at: None,
            blocked: false,
            closes_first,
            fin_sent: false,
            ack_due: None,
        }
    }

    /// Its next data segment goes out soon (and carries the ACK).
    fn sending(&self) -> bool {
        self.data_left > 0 && !self.blocked
    }

    /// When this host sends its next data segment or FIN.
    fn own_action(&self, host: &Host) -> Option<i64> {
        if self.data_left > 0 {
            self.next_at.filter(|_| !self.blocked)
        } else if !self.fin_sent {
            if self.closes_first {
                self.next_at
            } else {
                let after = self.next_at.unwrap_or(i64::MIN);
                host.fin_in_order_at.map(|p| (p + PROC_NS).max(after))
            }
        } else {
            None
        }
    }

    /// When this host sends next (not counting retransmissions).
    fn next_action(&self, host: &Host) -> Option<i64> {
        self.own_action(host).into_iter().chain(self.ack_due).min()
    }
}

/// A host's reaction time: an answer goes out this long after its cause.
const PROC_NS: i64 = 20_000;
/// Retransmission timeout: Linux's floor (`TCP_RTO_MIN`, 200 ms), which is
/// what a path of 0.6 ms round trip gets. It doubles on each expiry.
const RTO_NS: i64 = 200_000_000;
/// How often one segment is sent again before its sender gives up.
const MAX_RETRIES: u32 = 8;
/// Both hosts' receive window: frame.rs writes 502 and a window scale of 7
/// on SYNs, so a SYN offers 502 bytes and every later segment 502 << 7.
const WINDOW_SYN: u64 = 502;
const WINDOW: u64 = 502 << 7;

/// The two hosts of one connection: client (0) and server (1).
struct Tcp {
    hosts: [Host; 2],
    apps: [App; 2],
    isn: [u32; 2],
    ts_base: [u32; 2],
    start: i64,
}

impl Tcp {
    /// Host `h` sends a segment at `t` of `len` bytes from sequence offset
    /// `rel`, acking what it holds in order and echoing the newest TSval it
    /// has; what reaches the peer goes to the peer's inbox.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        wire: &mut Wire,
        rng: &mut Rng,
        c: &mut Conn,
        h: usize,
        t: i64,
        flags: u16,
        rel: u64,
        len: u16,
        impair: bool,
        new: bool,
    ) {
        let peer = 1 - h;
        let span = len as u64 + (flags & (SYN | FIN) != 0) as u64;
        let ack_rel = self.hosts[h].rcv_nxt;
        let out = Out {
            t,
            c2s: h == 0,
            flags,
            seq: self.isn[h].wrapping_add(rel as u32),
            ack: self.isn[peer].wrapping_add(ack_rel as u32),
            tsval: self.ts_base[h].wrapping_add(((t - self.start) / 1_000_000) as u32),
            tsecr: if flags & ACK != 0 {
                self.hosts[h].ts_recent
            } else {
                0
            },
            len,
            impair,
            new,
        };
        let d = wire.send(rng, c, &out);
        for (at, off, piece_len) in d.pieces {
            let start = rel + off as u64;
            let last_piece = off + piece_len == len;
            self.hosts[peer].inbox.push(Arrival {
                at,
                start,
                end: if last_piece {
                    rel + span
                } else {
                    start + piece_len as u64
                },
                fin: last_piece && flags & FIN != 0,
                ack: (flags & ACK != 0).then_some(ack_rel),
                tsval: out.tsval,
                window: if flags & SYN != 0 { WINDOW_SYN } else { WINDOW },
            });
        }
        if let Some(at) = d.merged_at {
            for a in self.hosts[peer].inbox.iter_mut() {
                if a.end == rel && a.start < a.end {
                    a.at = a.at.max(at);
                }
            }
        }
        let sent = Outstanding {
            start: rel,
            len,
            flags,
            span,
        };
        self.hosts[h].sent(t, sent, new);
        self.apps[h].ack_due = None;
    }

    /// Host `h` takes in its next arrival. A host whose next data segment
    /// is not about to go out (it has none left, or waits for the window)
    /// acks, `PROC_NS` later, an arrival that moved its ACK (in-order data,
    /// a filled hole, the peer's FIN) and, once it has sent its FIN, one
    /// whose bytes it already held (so a lost last ACK is repaired) —
    /// unless a segment of its own goes out about then and carries the ACK.
    /// It sends no duplicate ACK for a segment above a hole: without SACK
    /// blocks those would be identical packets (same sequence numbers, ACK
    /// and TSval), which no one can tell apart once the middle rewrites IP
    /// IDs; so holes are repaired by the retransmission timer alone.
    fn arrive(&mut self, h: usize) {
        let Some(r) = self.hosts[h].receive() else {
            return;
        };
        let (host, app) = (&self.hosts[h], &mut self.apps[h]);
        let a = r.arrival;
        if app.blocked && host.window_allows(app.next_len.unwrap_or(0)) {
            app.blocked = false;
            app.next_at = Some(a.at + PROC_NS);
        }
        let due = a.at + PROC_NS;
        let carried = app.own_action(host).is_some_and(|t| t <= due + GAP_NS);
        let answer = r.advanced || (r.old && app.fin_sent);
        if answer && !app.sending() && !carried && app.ack_due.is_none() {
            app.ack_due = Some(due);
        }
    }

    /// Host `h` does what is due at `t`: its next data segment, its FIN,
    /// or a pure ACK.
    fn act(&mut self, wire: &mut Wire, rng: &mut Rng, c: &mut Conn, h: usize, t: i64) {
        let cfg = wire.cfg;
        let snd_nxt = self.hosts[h].snd_nxt;
        let app = &mut self.apps[h];
        if app.own_action(&self.hosts[h]) != Some(t) {
            return self.emit(wire, rng, c, h, t, ACK, snd_nxt, 0, true, false);
        }
        if app.data_left > 0 {
            let len = *app.next_len.get_or_insert_with(|| {
                rng.range(cfg.payload_min as u32, cfg.payload_max as u32) as u16
            });
            if !self.hosts[h].window_allows(len) {
                app.blocked = true;
                return;
            }
            app.next_len = None;
            app.data_left -= 1;
            app.next_at = Some(t + 2 * GAP_NS);
            self.emit(wire, rng, c, h, t, ACK | PSH, snd_nxt, len, true, true);
            if h == 0 && cfg.inject > 0.0 && rng.f64() < cfg.inject {
                let seq = self.isn[1].wrapping_add(self.hosts[1].snd_nxt as u32);
                wire.inject(c, t, seq);
            }
        } else {
            app.fin_sent = true;
            self.emit(wire, rng, c, h, t, ACK | FIN, snd_nxt, 0, true, true);
        }
    }

    /// Host `h`'s retransmission timer fires at `t`.
    fn expire(&mut self, wire: &mut Wire, rng: &mut Rng, c: &mut Conn, h: usize, t: i64) {
        if let Some(o) = self.hosts[h].expire(t, MAX_RETRIES) {
            self.emit(wire, rng, c, h, t, o.flags, o.start, o.len, true, false);
        }
    }
}

/// Generate one connection's packets; returns the time of its last packet.
///
/// The two hosts run TCP against each other through the path (a discrete
/// event simulation, one event at a time in time order): the client host
/// sits at the client capture point, the server host just behind the LB
/// capture point, so what a host has received is what its capture shows
/// arriving before it sends. Every segment acks only the bytes its host
/// holds without a hole, and echoes the newest TSval it has received.
///
/// After the handshake (never impaired: the pair stays recognisable) both
/// hosts send `segments` data segments, one every `2 * GAP_NS`, so with a
/// one-way delay of `DELAY_NS` several are in flight each way and the path
/// can reorder them; a sender never has more than the peer's window
/// outstanding (502 bytes as the SYN offered it until a later segment of
/// the peer's arrives with the scaled window). The client then sends FIN; the server sends FIN once its
/// data is out and the client's FIN has arrived in order; the client acks
/// the server's FIN when that has arrived (as below).
///
/// A hole (a lost segment) is repaired the way TCP does without SACK
/// recovery: the receiver's ACK stays at the hole (later segments wait
/// above it), and the sender's retransmission timer (RFC 6298, 200 ms,
/// restarted on each ACK of new data) fires and sends the oldest
/// unacknowledged segment again — a new sent packet, same sequence number
/// and payload, new IP ID and TSval, which the path may impair too; the
/// timeout doubles on each expiry and the sender gives up after
/// `MAX_RETRIES`. SACK is negotiated on the SYNs but no SACK blocks are
/// written, and receivers send no duplicate ACKs (see [`Tcp::arrive`]), so
/// there is no fast retransmit or SACK recovery: a hole lasts one RTO.
/// A lost FIN or a lost last ACK is repaired the same way (the unacked FIN
/// is sent again). A host with data still to send acks
/// with its next data segment (every `2 * GAP_NS`: a delayed ACK); a host
/// with none (or waiting for the window) acks with a pure ACK when its ACK
/// moves (see [`Tcp::arrive`]), so the sender learns of a repaired hole.
#[allow(clippy::too_many_arguments)]
fn script(
    cfg: &Config,
    rng: &mut Rng,
    c: &mut Conn,
    start: i64,
    sent: &mut Vec<Sent>,
    client_side: &mut Vec<Copy>,
    lb_side: &mut Vec<Copy>,
) -> i64 {
    let mut wire = Wire {
        cfg,
        sent,
        client_side,
        lb_side,
        injected: Vec::new(),
        prev_c2s: None,
        last: start,
    };
    let mut tcp = Tcp {
        hosts: [Host::new(RTO_NS), Host::new(RTO_NS)],
        apps: [App::new(cfg.segments, true), App::new(cfg.segments, false)],
        isn: [c.isn_c, c.isn_s],
        ts_base: [c.ts_c, c.ts_s],
        start,
    };
    // Handshake: SYN, SYN-ACK after the SYN arrived, ACK after the SYN-ACK.
    let w = &mut wire;
    let mut t = start;
    tcp.emit(w, rng, c, 0, t, SYN, 0, 0, false, true);
    t += 2 * DELAY_NS;
    while tcp.hosts[1].next_arrival().is_some_and(|a| a <= t) {
        tcp.arrive(1);
    }
    tcp.emit(w, rng, c, 1, t, SYN | ACK, 0, 0, false, true);
    t += 2 * DELAY_NS;
    while tcp.hosts[0].next_arrival().is_some_and(|a| a <= t) {
        tcp.arrive(0);
    }
    tcp.emit(w, rng, c, 0, t, ACK, 1, 0, false, false);
    // The client's data follows its ACK; the server's, the ACK's arrival.
    tcp.apps[0].next_at = Some(t + GAP_NS);
    tcp.apps[1].next_at = tcp.hosts[1].next_arrival().map(|a| a + GAP_NS);
    loop {
        // The next event: arrivals first, then timers, then sends.
        let mut next: Option<(i64, u8, usize)> = None;
        for h in 0..2 {
            let host = &tcp.hosts[h];
            for (at, kind) in [
                (host.next_arrival(), 0),
                (host.timer, 1),
                (tcp.apps[h].next_action(host), 2),
            ] {
                if let Some(at) = at {
                    if next.map_or(true, |n| (at, kind, h) < n) {
                        next = Some((at, kind, h));
                    }
                }
            }
        }
        match next {
            None => break,
            Some((_, 0, h)) => tcp.arrive(h),
            Some((at, 1, h)) => tcp.expire(w, rng, c, h, at),
            Some((at, _, h)) => tcp.act(w, rng, c, h, at),
        }
    }
    let mut injected = std::mem::take(&mut wire.injected);
    wire.client_side.append(&mut injected);
    wire.last
}
