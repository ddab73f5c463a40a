//! A synthetic two-sided capture through an F5 BIG-IP full proxy, with F5
//! Ethernet trailers on the BIG-IP's side: `twincap-synth f5 OUT_DIR`.
//!
//! `client.pcap` is taken on the client (10.1.10.51); `lb.pcap` on the
//! BIG-IP with `tcpdump -s0 -nni 0.0:nnnp host 10.1.10.51`, so it holds
//! both legs of each connection through the Standard virtual server
//! `/Common/app_vs` (10.1.10.201:80): the client-side leg (client to the
//! virtual address) and the server-side leg (SNAT address 10.1.20.240 to the
//! pool member 10.1.20.20:80), each frame with the trailer a BIG-IP 13.1
//! writes (legacy low v1, medium v3, high v0: direction, slot, TMM, virtual
//! server, flow and peer flow IDs, RST cause, the peer leg's addresses), and
//! the capture information pseudo-packet as frame 1.
//!
//! The full proxy gives the server-side leg its own sequence numbers, IP
//! IDs, timestamps and segmentation: the client's request crosses in two
//! segments and goes to the pool member in one; the response comes back in
//! segments of 1448 bytes and goes to the client in segments of 1000.
//!
//! Connections (the client's ports count up from 40001):
//! - 0, 3, 6, ...: request, response, the client closes, the BIG-IP closes
//!   both legs;
//! - the others: request, response, then the client stays quiet longer than
//!   the virtual server's idle timeout (5 s; Reset on Timeout disabled), so
//!   the BIG-IP releases both flows without a word; 6 s after the response
//!   the client sends its next request and the BIG-IP answers with a RST
//!   whose payload and trailer say `BIG-IP: [0x2664c65:2574] No flow found
//!   for ACK`. Both captures hold that RST; but on 2, 5, 8, ... the first
//!   such RST is lost between the BIG-IP and the client, which sends its
//!   request again 200 ms later and gets a second RST.
//!
//! The client and the BIG-IP are 2 ms apart; the BIG-IP and the pool member
//! 0.5 ms; the BIG-IP's clock runs 120 ms ahead of the client's.

use crate::frame::{PcapWriter, Segment};
use std::io;
use std::path::Path;

const CLIENT: [u8; 4] = [10, 1, 10, 51];
const VIP: [u8; 4] = [10, 1, 10, 201];
const SNAT: [u8; 4] = [10, 1, 20, 240];
const POOL: [u8; 4] = [10, 1, 20, 20];
const HTTP: u16 = 80;
const VIRTUAL_SERVER: &str = "/Common/app_vs";
/// The capture's tcpdump command, as the pseudo-packet names it.
pub const COMMAND: &str = "tcpdump -s0 -w/var/tmp/lb.pcap -nni 0.0:nnnp host 10.1.10.51";
/// The reset cause of the connections the BIG-IP forgot.
pub const RST_CAUSE: (u64, u16, &str) = (0x2664c65, 2574, "No flow found for ACK");

const MS: i64 = 1_000_000;
/// Client to BIG-IP, and BIG-IP to pool member, one way.
const CLIENT_DELAY: i64 = 2 * MS;
const POOL_DELAY: i64 = MS / 2;
/// The BIG-IP's capture clock minus the client's.
const LB_CLOCK_AHEAD: i64 = 120 * MS;
const START_NS: i64 = 1_763_900_000_000_000_000;

const SYN: u16 = 0x02;
const ACK: u16 = 0x10;
const PSH: u16 = 0x08;
const FIN: u16 = 0x01;
const RST: u16 = 0x04;

/// What [`generate`] wrote.
#[derive(Debug, Default)]
pub struct Summary {
    pub client_frames: u32,
    pub lb_frames: u32,
    pub connections: u32,
}

/// One frame for one capture, at its own clock's time.
struct Frame {
    ts_ns: i64,
    bytes: Vec<u8>,
}

/// An address and port.
type End = ([u8; 4], u16);

/// Where a leg's segments are captured.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LegKind {
    /// Client to virtual server: in both captures.
    ClientSide,
    /// BIG-IP to pool member: in the BIG-IP's capture only.
    ServerSide,
}

/// One TCP connection of the proxy, with both ends' state.
struct Leg {
    kind: LegKind,
    /// The initiator's and the responder's address and port.
    ends: [End; 2],
    seq: [u32; 2],
    ip_id: [u16; 2],
    ts: [u32; 2],
    /// This leg's flow ID and its peer's, as TMM names them (0: none yet).
    flow_id: u64,
    peer_id: u64,
    /// The other leg's ends as TMM sees them: remote, then local.
    peer: Option<(End, End)>,
    tmm: u8,
}

/// A trailer's RST cause block: peer flag, 48-bit value, 16-bit line, text.
fn rst_cause_block(value: u64, line: u16, text: &str) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(&((value << 16) | u64::from(line)).to_be_bytes());
    v.extend_from_slice(text.as_bytes());
    v
}

/// A legacy TLV: type, length of what follows the length byte, version.
fn tlv(tlv_type: u8, version: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![tlv_type, (data.len() + 1) as u8, version];
    v.extend_from_slice(data);
    v
}

/// An IPv4 address as high noise stores it (IPv4-mapped IPv6).
fn mapped(a: [u8; 4]) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[10] = 0xff;
    v[11] = 0xff;
    v[12..].copy_from_slice(&a);
    v
}

/// The trailer a BIG-IP 13.1 appends with `:nnn`: low v1, medium v3, high v0.
fn trailer(
    ingress: bool,
    tmm: u8,
    vs: Option<&str>,
    flow: (u64, u64),
    rst: Option<&[u8]>,
    peer: Option<(End, End)>,
) -> Vec<u8> {
    let name = vs.unwrap_or("");
    let mut low = vec![u8::from(ingress), 0, tmm, name.len() as u8];
    low.extend_from_slice(name.as_bytes());
    let mut med = Vec::new();
    med.extend_from_slice(&flow.0.to_be_bytes());
    med.extend_from_slice(&flow.1.to_be_bytes());
    med.extend_from_slice(&0u32.to_be_bytes()); // connflow flags, high bits
    med.extend_from_slice(&0x0000_8024u32.to_be_bytes()); // connflow flags
    med.push(0x40); // flow type
    med.push(0); // HA unit
    med.extend_from_slice(&[0; 4]);
    med.push(0); // priority
    let rst = rst.unwrap_or(&[]);
    med.push(rst.len() as u8);
    med.extend_from_slice(rst);
    let mut high = vec![6];
    high.extend_from_slice(&4093u16.to_be_bytes());
    let ((ra, rp), (la, lp)) = peer.unwrap_or((([0; 4], 0), ([0; 4], 0)));
    high.extend_from_slice(&mapped(ra));
    high.extend_from_slice(&mapped(la));
    high.extend_from_slice(&rp.to_be_bytes());
    high.extend_from_slice(&lp.to_be_bytes());
    let mut t = tlv(1, 1, &low);
    t.extend(tlv(2, 3, &med));
    t.extend(tlv(3, 0, &high));
    t
}

/// The capture information pseudo-packet.
fn fileinfo() -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x05, 0xff]);
    for s in [
        "F5-Pseudo-pkt".to_string(),
        format!("CMD: {COMMAND}"),
        "VER: 13.1.0.3 0.0.5".to_string(),
        "HOST: bigip01.example.net".to_string(),
        "PLAT: Z100".to_string(),
        "PROD: BIG-IP".to_string(),
    ] {
        f.extend_from_slice(s.as_bytes());
        f.push(0);
    }
    f
}

struct Scenario {
    client: Vec<Frame>,
    lb: Vec<Frame>,
    buf: Vec<u8>,
}

/// A segment's extras: its payload, and the RST cause its trailer names.
#[derive(Default)]
struct Extra<'a> {
    payload: &'a [u8],
    rst_cause: Option<&'a [u8]>,
    /// Sent by the BIG-IP without a flow: no virtual server, no flow IDs.
    no_flow: bool,
    /// Lost between the BIG-IP and the client (never in the client capture).
    lost: bool,
}

impl Scenario {
    /// `from` (0 initiator, 1 responder) sends a segment on `leg` at `t`
    /// (client clock); both captures record it where they see it.
    fn send(&mut self, leg: &mut Leg, from: usize, t: i64, flags: u16, x: Extra<'_>) {
        let to = 1 - from;
        let len = x.payload.len() as u32;
        leg.ip_id[from] = leg.ip_id[from].wrapping_add(1);
        let ms = ((t - START_NS) / MS) as u32;
        let seg = Segment {
            conn: 0,
            src: leg.ends[from].0,
            dst: leg.ends[to].0,
            sport: leg.ends[from].1,
            dport: leg.ends[to].1,
            seq: leg.seq[from],
            ack: if flags & ACK != 0 { leg.seq[to] } else { 0 },
            flags,
            ip_id: leg.ip_id[from],
            ttl: 64,
            mss: (flags & SYN != 0).then_some(1460),
            ts: (flags & RST == 0).then(|| {
                (
                    leg.ts[from].wrapping_add(ms),
                    if flags & ACK != 0 {
                        leg.ts[to].wrapping_add(ms)
                    } else {
                        0
                    },
                )
            }),
            len: len as u16,
            payload_seed: 0,
        };
        // A RST's payload is a message, not stream data: it takes no
        // sequence space.
        if flags & RST == 0 {
            leg.seq[from] = leg.seq[from].wrapping_add(len + u32::from(flags & (SYN | FIN) != 0));
        }
        // The BIG-IP is the responder of the client-side leg and the
        // initiator of the server-side leg.
        let bigip_sends = (leg.kind == LegKind::ClientSide) == (from == 1);
        let delay = match leg.kind {
            LegKind::ClientSide => CLIENT_DELAY,
            LegKind::ServerSide => POOL_DELAY,
        };
        let at_bigip = if bigip_sends { t } else { t + delay };
        let mut wire = seg.clone();
        wire.ttl = 63;
        seg.encode_payload(&mut self.buf, Some(x.payload));
        let sent = self.buf.clone();
        wire.encode_payload(&mut self.buf, Some(x.payload));
        let arrived = self.buf.clone();
        let mut lb_frame = if bigip_sends {
            sent.clone()
        } else {
            arrived.clone()
        };
        lb_frame.extend(trailer(
            !bigip_sends,
            leg.tmm,
            (!x.no_flow).then_some(VIRTUAL_SERVER),
            if x.no_flow || flags & (SYN | ACK) == SYN {
                (0, 0)
            } else {
                (leg.flow_id, leg.peer_id)
            },
            x.rst_cause,
            if x.no_flow || leg.peer_id == 0 {
                None
            } else {
                leg.peer
            },
        ));
        self.lb.push(Frame {
            ts_ns: at_bigip + LB_CLOCK_AHEAD,
            bytes: lb_frame,
        });
        if leg.kind == LegKind::ClientSide && !(x.lost && bigip_sends) {
            let (ts_ns, bytes) = if bigip_sends {
                (t + delay, arrived)
            } else {
                (t, sent)
            };
            self.client.push(Frame { ts_ns, bytes });
        }
    }
}

/// A segment that carries `payload`.
fn data(payload: &[u8]) -> Extra<'_> {
    Extra {
        payload,
        ..Extra::default()
    }
}

/// The request a client sends, `n` bytes of HTTP.
fn request(k: u32, n: usize) -> Vec<u8> {
    let mut r = format!("GET /item/{k} HTTP/1.1\r\nHost: app.example.net\r\nX-Pad: ").into_bytes();
    while r.len() < n - 4 {
        r.push(b'a' + (r.len() % 26) as u8);
    }
    r.extend_from_slice(b"\r\n\r\n");
    r
}

/// The pool member's response, `n` bytes.
fn response(n: usize) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", n - 40).into_bytes();
    r.resize(40, b' ');
    while r.len() < n {
        r.push(b'0' + (r.len() % 10) as u8);
    }
    r
}

/// Write `client.pcap` and `lb.pcap` into `dir`.
pub fn generate(connections: u32, dir: &Path) -> io::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let mut sc = Scenario {
        client: Vec::new(),
        lb: Vec::new(),
        buf: Vec::with_capacity(2048),
    };
    let mut x: u32 = 0x9e37_79b9;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for k in 0..connections {
        let t0 = START_NS + i64::from(k) * 50 * MS;
        let cport = 40_001 + k as u16;
        let sport = 20_000 + (rnd() % 40_000) as u16;
        let (cflow, sflow) = (
            0x0000_5600_df76_0000 + u64::from(k) * 0x1100,
            0x0000_5600_df77_0000 + u64::from(k) * 0x1100,
        );
        let tmm = (k % 2) as u8;
        let mut cl = Leg {
            kind: LegKind::ClientSide,
            ends: [(CLIENT, cport), (VIP, HTTP)],
            seq: [rnd(), rnd()],
            ip_id: [rnd() as u16, rnd() as u16],
            ts: [rnd() >> 1, rnd() >> 1],
            flow_id: cflow,
            peer_id: 0,
            peer: Some(((POOL, HTTP), (SNAT, sport))),
            tmm,
        };
        let mut sl = Leg {
            kind: LegKind::ServerSide,
            ends: [(SNAT, sport), (POOL, HTTP)],
            seq: [rnd(), rnd()],
            ip_id: [rnd() as u16, rnd() as u16],
            ts: [rnd() >> 1, rnd() >> 1],
            flow_id: sflow,
            peer_id: cflow,
            peer: Some(((CLIENT, cport), (VIP, HTTP))),
            tmm,
        };
        let d = CLIENT_DELAY;
        let p = POOL_DELAY;
        let step = MS / 10;
        let req = request(k, 420);
        let resp = response(3000);
        let none = Extra::default;
        // Client-side handshake and the request in two segments.
        let mut t = t0;
        sc.send(&mut cl, 0, t, SYN, none());
        t += d + step;
        sc.send(&mut cl, 1, t, SYN | ACK, none());
        t += d + step;
        sc.send(&mut cl, 0, t, ACK, none());
        sc.send(&mut cl, 0, t + step, ACK | PSH, data(&req[..300]));
        sc.send(&mut cl, 0, t + 2 * step, ACK | PSH, data(&req[300..]));
        t += 2 * step + d + step;
        // The BIG-IP acks, picks the pool member and opens the server side.
        sc.send(&mut cl, 1, t, ACK, none());
        cl.peer_id = sflow;
        t += step;
        sc.send(&mut sl, 0, t, SYN, none());
        t += p + step;
        sc.send(&mut sl, 1, t, SYN | ACK, none());
        t += p + step;
        sc.send(&mut sl, 0, t, ACK, none());
        sc.send(&mut sl, 0, t + step, ACK | PSH, data(&req));
        t += step + p + 5 * MS;
        // The response: 1448-byte segments from the pool member, 1000-byte
        // segments to the client.
        for (i, chunk) in resp.chunks(1448).enumerate() {
            let flags = if i == 2 { ACK | PSH } else { ACK };
            sc.send(&mut sl, 1, t + i as i64 * step, flags, data(chunk));
        }
        t += 3 * step + p + step;
        sc.send(&mut sl, 0, t, ACK, none());
        for (i, chunk) in resp.chunks(1000).enumerate() {
            let flags = if i == 2 { ACK | PSH } else { ACK };
            sc.send(&mut cl, 1, t + i as i64 * step, flags, data(chunk));
        }
        t += 3 * step + d + step;
        sc.send(&mut cl, 0, t, ACK, none());
        if k % 3 == 0 {
            // The client closes; the BIG-IP closes both legs.
            t += 10 * MS;
            sc.send(&mut cl, 0, t, ACK | FIN, none());
            t += d + step;
            sc.send(&mut cl, 1, t, ACK | FIN, none());
            sc.send(&mut sl, 0, t + step, ACK | FIN, none());
            sc.send(&mut cl, 0, t + d + step, ACK, none());
            t += step + p + step;
            sc.send(&mut sl, 1, t, ACK | FIN, none());
            sc.send(&mut sl, 0, t + p + step, ACK, none());
        } else {
            // Quiet past the idle timeout: the BIG-IP forgets both flows.
            // The client's next request finds no flow. On every third
            // connection the first RST is lost on the way to the client,
            // which sends its request again 200 ms later.
            t += 6_000 * MS;
            let late = request(k + 1000, 200);
            let text = format!(
                "BIG-IP: [{:#x}:{}] {}",
                RST_CAUSE.0, RST_CAUSE.1, RST_CAUSE.2
            );
            let cause = rst_cause_block(RST_CAUSE.0, RST_CAUSE.1, RST_CAUSE.2);
            let tries = if k % 3 == 2 { 2 } else { 1 };
            let seq = cl.seq[0];
            for i in 0..tries {
                cl.seq[0] = seq;
                sc.send(&mut cl, 0, t, ACK | PSH, data(&late));
                let rst = Extra {
                    payload: text.as_bytes(),
                    rst_cause: Some(&cause),
                    no_flow: true,
                    lost: i + 1 < tries,
                };
                sc.send(&mut cl, 1, t + d + step, RST | ACK, rst);
                t += 200 * MS;
            }
        }
    }
    let first = sc.lb.iter().map(|f| f.ts_ns).min().unwrap_or(START_NS);
    let info = Frame {
        ts_ns: first - MS,
        bytes: fileinfo(),
    };
    Ok(Summary {
        client_frames: write(&dir.join("client.pcap"), None, &mut sc.client)?,
        lb_frames: write(&dir.join("lb.pcap"), Some(info), &mut sc.lb)?,
        connections,
    })
}

/// A pcap of `first` (if any), then `frames` in time order; its frame count.
fn write(path: &Path, first: Option<Frame>, frames: &mut [Frame]) -> io::Result<u32> {
    let mut w = PcapWriter::create(path, false)?;
    frames.sort_by_key(|f| f.ts_ns);
    for f in first.iter().chain(frames.iter()) {
        w.write_raw(f.ts_ns, &f.bytes)?;
    }
    let n = w.frames();
    w.finish()?;
    Ok(n)
}
