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

pub mod f5;
pub mod frame;
pub mod rng;

use frame::{PcapWriter, Segment};
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
                t0,
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

/// Generate one connection's packets; returns the time of its last packet.
#[allow(clippy::too_many_arguments)]
fn script(
    cfg: &Config,
    rng: &mut Rng,
    c: &mut Conn,
    start: i64,
    _t0: i64,
    sent: &mut Vec<Sent>,
    client_side: &mut Vec<Copy>,
    lb_side: &mut Vec<Copy>,
) -> i64 {
    const SYN: u16 = 0x02;
    const ACK: u16 = 0x10;
    const PSH: u16 = 0x08;
    const FIN: u16 = 0x01;
    const RST: u16 = 0x04;
    let mut t = start;
    let (mut seq_c, mut seq_s) = (c.isn_c, c.isn_s);
    let mut last = start;
    let mut injected: Vec<Copy> = Vec::new();
    // The last c2s data segment that crossed alone: (sent index, position of
    // its receiver copy), a candidate for a GRO merge with the next.
    let mut prev_c2s: Option<(usize, usize)> = None;
    // Send one segment from one side; the path then does its thing.
    let mut send = |rng: &mut Rng,
                    c: &mut Conn,
                    t: i64,
                    c2s: bool,
                    flags: u16,
                    seq: u32,
                    ack: u32,
                    len: u16,
                    impair: bool| {
        let id = if c2s {
            c.id_c = c.id_c.wrapping_add(1);
            c.id_c
        } else if flags & SYN != 0 {
            0
        } else {
            c.id_s = c.id_s.wrapping_add(1);
            c.id_s
        };
        let tsv = ((t - start) / 1_000_000) as u32;
        let seg = Segment {
            conn: c.id,
            src: if c2s { CLIENT_IP } else { SERVER_IP },
            dst: if c2s { SERVER_IP } else { CLIENT_IP },
            sport: if c2s { c.client_port } else { SERVER_PORT },
            dport: if c2s { SERVER_PORT } else { c.client_port },
            seq,
            ack: if flags & ACK != 0 { ack } else { 0 },
            flags,
            ip_id: id,
            ttl: 64,
            mss: (flags & SYN != 0).then_some(1460),
            ts: Some(if c2s {
                (
                    c.ts_c.wrapping_add(tsv),
                    if flags & ACK != 0 {
                        c.ts_s.wrapping_add(tsv)
                    } else {
                        0
                    },
                )
            } else {
                (c.ts_s.wrapping_add(tsv), c.ts_c.wrapping_add(tsv))
            }),
            len,
            payload_seed: (c.id as u64) << 32 ^ seq as u64 ^ (c2s as u64) << 63,
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
        let index = sent.len();
        let r = rng.f64();
        let (mut relay, mut copies, mut extra) = ("forwarded", 1, 0);
        let reseg = impair && !c2s && len >= 2 && rng.f64() < cfg.resegment;
        // GRO on the LB side: this c2s data segment arrives merged into the
        // previous one's receiver frame.
        let merge = impair && c2s && len > 0 && prev_c2s.is_some() && rng.f64() < cfg.resegment;
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
        sent.push(Sent {
            conn: c.id,
            c2s,
            sender_frame: 0,
            receiver_frames: Vec::new(),
            flags,
            seq,
            len,
            relay,
            resegmented: reseg || merge,
        });
        let (sender_list, receiver_list) = if c2s {
            (&mut *client_side, &mut *lb_side)
        } else {
            (&mut *lb_side, &mut *client_side)
        };
        sender_list.push(Copy {
            ts_ns: t,
            seg: if c2s { seg.clone() } else { sender_form },
            sent: Some(index),
            piece: false,
            merged_with: None,
        });
        let arrive = t + DELAY_NS + extra + (rng.u32() % 20_000) as i64;
        if merge {
            let (prev, pos) = prev_c2s.take().unwrap();
            sent[prev].resegmented = true;
            let cp = &mut receiver_list[pos];
            cp.seg.len += len;
            cp.seg.payload_seed ^= 0xaaaa;
            cp.ts_ns = cp.ts_ns.max(arrive);
            cp.merged_with = Some(index);
            cp.piece = true;
            return arrive;
        }
        if c2s {
            prev_c2s = (impair && len > 0 && copies == 1 && extra == 0)
                .then_some((index, receiver_list.len()));
        }
        if reseg {
            // Two pieces on the wire, one super-segment in the sender capture.
            let half = len / 2;
            let mut a = wire.clone();
            a.len = half;
            let mut b = wire.clone();
            b.len = len - half;
            b.seq = b.seq.wrapping_add(half as u32);
            b.ip_id = b.ip_id.wrapping_add(1);
            b.payload_seed ^= 0x5555;
            receiver_list.push(Copy {
                ts_ns: arrive,
                seg: a,
                sent: Some(index),
                piece: true,
                merged_with: None,
            });
            receiver_list.push(Copy {
                ts_ns: arrive + 2_000,
                seg: b,
                sent: Some(index),
                piece: true,
                merged_with: None,
            });
        } else {
            for k in 0..copies {
                receiver_list.push(Copy {
                    ts_ns: arrive + k * 5_000,
                    seg: wire.clone(),
                    sent: Some(index),
                    piece: false,
                    merged_with: None,
                });
            }
        }
        arrive
    };
    // Handshake (never impaired: the pair stays recognisable).
    last = last.max(send(rng, c, t, true, SYN, seq_c, 0, 0, false));
    seq_c = seq_c.wrapping_add(1);
    t += 2 * DELAY_NS;
    last = last.max(send(rng, c, t, false, SYN | ACK, seq_s, seq_c, 0, false));
    seq_s = seq_s.wrapping_add(1);
    t += 2 * DELAY_NS;
    last = last.max(send(rng, c, t, true, ACK, seq_c, seq_s, 0, false));
    // Data both ways, each segment acking the other side's bytes so far.
    for _ in 0..cfg.segments {
        t += GAP_NS;
        let len = rng.range(cfg.payload_min as u32, cfg.payload_max as u32) as u16;
        last = last.max(send(rng, c, t, true, ACK | PSH, seq_c, seq_s, len, true));
        seq_c = seq_c.wrapping_add(len as u32);
        if cfg.inject > 0.0 && rng.f64() < cfg.inject {
            // A RST toward the client, as if from the server.
            let mut rst = Segment {
                conn: c.id,
                src: SERVER_IP,
                dst: CLIENT_IP,
                sport: SERVER_PORT,
                dport: c.client_port,
                seq: seq_s,
                ack: 0,
                flags: RST,
                ip_id: 0,
                ttl: 63,
                mss: None,
                ts: None,
                len: 0,
                payload_seed: 0,
            };
            rst.ack = 0;
            injected.push(Copy {
                ts_ns: t + DELAY_NS / 2,
                seg: rst,
                sent: None,
                piece: false,
                merged_with: None,
            });
        }
        t += GAP_NS;
        let len = rng.range(cfg.payload_min as u32, cfg.payload_max as u32) as u16;
        last = last.max(send(rng, c, t, false, ACK | PSH, seq_s, seq_c, len, true));
        seq_s = seq_s.wrapping_add(len as u32);
    }
    t += GAP_NS;
    last = last.max(send(rng, c, t, true, ACK | FIN, seq_c, seq_s, 0, true));
    seq_c = seq_c.wrapping_add(1);
    t += 2 * DELAY_NS;
    last = last.max(send(rng, c, t, false, ACK | FIN, seq_s, seq_c, 0, true));
    seq_s = seq_s.wrapping_add(1);
    t += 2 * DELAY_NS;
    last = last.max(send(rng, c, t, true, ACK, seq_c, seq_s, 0, true));
    client_side.append(&mut injected);
    last
}
