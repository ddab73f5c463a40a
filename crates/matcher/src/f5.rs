//! F5 BIG-IP captures, per connection: what the trailers say about each
//! connection, and the two legs of a full-proxy virtual server joined.
//!
//! A BIG-IP Standard virtual server is a full proxy: it terminates the
//! client's connection (the *client-side leg*, client to virtual address)
//! and opens its own to the pool member (the *server-side leg*), with its
//! own sequence numbers, IP IDs, options and segmentation. Only the byte
//! stream and the trailer tie the two legs together, so:
//!
//! - [`connections`] summarises each connection's trailers ([`F5Conn`]):
//!   virtual server, which leg it is, slot and TMM, flow IDs, RST causes,
//!   the peer connection TMM names (high noise), and its *peer legs* in the
//!   same capture, joined by flow ID (this leg's peer ID is the other's flow
//!   ID) or by the high-noise peer addresses, in either case only while the
//!   two overlap in time (TMM reuses flow IDs, and SNAT reuses ports);
//! - [`compare_legs`] compares two joined legs as byte streams: bytes
//!   delivered each way on each leg, and how long the BIG-IP took to pass
//!   the first and the last byte on, each way ([`LegComparison`]).
//!
//! All of it comes from `Capture::f5` (the parser's side table) and a few
//! facts of the packets ([`PacketFacts`]: the stream and time of each
//! trailer frame, each connection's endpoints and span, the RST frames that
//! may state a cause), which a reader that keeps no packet gathers as it
//! goes; a capture without trailers gives no [`F5Conn`] at all.

use rustc_hash::FxHashMap;
use serde::Serialize;
use std::net::IpAddr;
use twincap_parser::f5::{
    F5Frame, F5Table, FrameRstCause, PeerFlow, RstCause, RstCauseSource, NONE,
};
use twincap_parser::{endpoint, tcp_flags, AddrId, Capture, Connection, Connections, TcpPacket};

/// Which leg of a full-proxy connection a connection is, from the direction
/// of its opening SYN through the BIG-IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegRole {
    /// Someone connected into the BIG-IP (the SYN was ingress): client to
    /// virtual server.
    ClientSide,
    /// The BIG-IP connected out (its SYN was egress): to a pool member.
    ServerSide,
}

/// What tied a peer leg to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinedBy {
    /// This connection's peer flow ID is the other's flow ID (`:nn`).
    FlowId,
    /// The peer addresses and ports in this connection's high noise are the
    /// other's endpoints (`:nnn`).
    PeerAddress,
}

/// Another connection of the same capture that is this one's other leg.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeerLeg {
    pub stream: u32,
    pub joined_by: Vec<JoinedBy>,
}

/// A peer connection as high noise names it (the other leg as TMM sees
/// it), whether or not the capture holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeerTuple {
    /// The far end of the other leg (client or pool member), `ip:port`.
    pub remote: String,
    /// The BIG-IP's own end of the other leg (virtual address or SNAT).
    pub local: String,
    pub vlan: u16,
    pub ip_proto: u8,
    /// The route domain of the addresses, when not the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_domain: Option<u16>,
}

/// A reset cause of one frame, as the reports write it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RstCauseRef {
    pub frame: u32,
    /// `trailer` (F5 medium noise) or `payload` (the RST's data).
    pub source: RstCauseSource,
    /// `big_ip` (`BIG-IP: [0x..:line] text`), `text` or `binary`.
    pub kind: &'static str,
    /// The reason in words (for `binary`, a hex head).
    pub text: String,
    /// BIG-IP causes: the cause's code value (hex), TMM source line, and
    /// whether the peer side's reset caused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<bool>,
    /// As the BIG-IP writes it, e.g. `BIG-IP: [0x2664c65:2574] No flow
    /// found for ACK`.
    pub display: String,
}

impl RstCauseRef {
    /// `F5 trailer` or `RST payload`, for text reports.
    pub fn source_words(&self) -> &'static str {
        match self.source {
            RstCauseSource::Trailer => "F5 trailer",
            RstCauseSource::Payload => "RST payload",
        }
    }

    pub fn new(c: &FrameRstCause) -> RstCauseRef {
        let (kind, text, value, line, peer) = match &c.cause {
            RstCause::BigIp(b) => (
                "big_ip",
                b.text.clone(),
                Some(format!("{:#x}", b.value)),
                Some(b.line),
                Some(b.peer),
            ),
            RstCause::Text(t) => ("text", t.clone(), None, None, None),
            RstCause::Binary { .. } => ("binary", c.cause.to_string(), None, None, None),
        };
        RstCauseRef {
            frame: c.frame,
            source: c.source,
            kind,
            text,
            value,
            line,
            peer,
            display: c.cause.to_string(),
        }
    }
}

/// The RST causes of a connection's frames, in frame order, each with its
/// packet's index in `Capture::packets`.
pub fn rst_causes_of(cap: &Capture, c: &Connection) -> Vec<(u32, RstCauseRef)> {
    if !has_rst_causes(cap) {
        return Vec::new();
    }
    c.packets
        .iter()
        .filter_map(|&i| Some((i, rst_cause(cap, &cap.packets[i as usize])?)))
        .collect()
}

/// Whether any frame of `cap` may say why it was reset.
fn has_rst_causes(cap: &Capture) -> bool {
    !(cap.rst_payloads.is_empty() && cap.f5.rst_causes.is_empty())
}

/// The reset cause of packet `p`, if it is a RST that states one.
fn rst_cause(cap: &Capture, p: &TcpPacket) -> Option<RstCauseRef> {
    if !p.has(tcp_flags::RST) {
        return None;
    }
    Some(RstCauseRef::new(&cap.rst_cause(p.frame)?))
}

/// What the F5 summaries ([`connections`]) and the reset causes of a report
/// read of a capture's packets, gathered one packet at a time
/// ([`PacketFacts::push`]), so that a reader that does not keep the packets
/// (`twincap analyze`) reports them as one that does: per F5 trailer row,
/// the stream, time and opening-SYN bit of its packet (16 bytes); per
/// connection its endpoints and first and last time (32 bytes); the RST
/// frames that may state a cause. [`PacketFacts::of`] gathers them from a
/// whole capture.
#[derive(Clone, Debug, Default)]
pub struct PacketFacts {
    /// One per row of `Capture::f5.frames`, in the same order.
    rows: Vec<RowFact>,
    /// Indexed by stream.
    conns: Vec<ConnFact>,
    /// (frame, stream) of every RST with a payload or an F5 trailer, in
    /// frame order.
    rsts: Vec<(u32, u32)>,
}

/// The packet of one F5 trailer row.
#[derive(Clone, Copy, Debug)]
struct RowFact {
    stream: u32,
    /// A SYN without ACK: the frame that opened its connection.
    opening_syn: bool,
    ts_ns: i64,
}

/// One connection: the endpoint that sent its first frame, the other, and
/// the times of its first and last frames.
#[derive(Clone, Copy, Debug)]
struct ConnFact {
    a: (AddrId, u16),
    b: (AddrId, u16),
    span: Span,
}

impl PacketFacts {
    /// The next TCP packet of the capture, in frame order: its `stream`
    /// (streams start in number order), whether the reader kept its F5
    /// trailer (a row of `Capture::f5.frames`) and its RST payload
    /// (`Capture::rst_payloads`).
    pub fn push(&mut self, p: &TcpPacket, stream: u32, f5_row: bool, rst_payload: bool) {
        let s = stream as usize;
        if s == self.conns.len() {
            self.conns.push(ConnFact {
                a: (p.src, p.sport),
                b: (p.dst, p.dport),
                span: (p.ts_ns, p.ts_ns),
            });
        } else if let Some(c) = self.conns.get_mut(s) {
            c.span.1 = p.ts_ns;
        }
        if f5_row {
            self.rows.push(RowFact {
                stream,
                opening_syn: p.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN,
                ts_ns: p.ts_ns,
            });
        }
        if p.has(tcp_flags::RST) && (f5_row || rst_payload) {
            self.rsts.push((p.frame, stream));
        }
    }

    /// The facts of a whole capture, `conns` being `conn::split(cap)`.
    pub fn of(cap: &Capture, conns: &Connections) -> PacketFacts {
        let mut facts = PacketFacts::default();
        let mut rows = cap.f5.frames.iter().map(|f| f.packet).peekable();
        let mut payloads = cap.rst_payloads.iter().map(|(f, _)| *f).peekable();
        for (i, (p, &stream)) in cap.packets.iter().zip(&conns.stream_of).enumerate() {
            let f5_row = rows.next_if_eq(&(i as u32)).is_some();
            let rst_payload = payloads.next_if_eq(&p.frame).is_some();
            facts.push(p, stream, f5_row, rst_payload);
        }
        facts
    }

    /// Connections seen.
    pub fn connections(&self) -> u32 {
        self.conns.len() as u32
    }

    /// Every stated reset cause with its stream, in frame order.
    pub fn rst_causes(&self, cap: &Capture) -> Vec<(u32, RstCauseRef)> {
        if !has_rst_causes(cap) {
            return Vec::new();
        }
        self.rsts
            .iter()
            .filter_map(|&(frame, stream)| Some((stream, RstCauseRef::new(&cap.rst_cause(frame)?))))
            .collect()
    }
}

/// What the trailers say about one connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct F5Conn {
    /// The virtual server most of its frames name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<LegRole>,
    /// Slot (1-based, as Wireshark shows it) and TMM that handled most of
    /// its frames; `tmm_moved` when some frames went through another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmm: Option<u8>,
    pub tmm_moved: bool,
    /// Frames into the BIG-IP and out of it.
    pub frames_in: u32,
    pub frames_out: u32,
    /// Frames with an F5 trailer.
    pub frames_with_trailer: u32,
    /// Distinct non-zero flow IDs of its frames, and peer flow IDs (hex).
    pub flow_ids: Vec<String>,
    pub peer_ids: Vec<String>,
    /// The other leg(s) in this capture.
    pub peer_legs: Vec<PeerLeg>,
    /// The other leg(s) as high noise names them.
    pub peers: Vec<PeerTuple>,
}

/// Per connection (indexed by stream), what its trailers say; `None` for
/// connections none of whose frames carries an F5 trailer (every connection
/// of a capture without trailers).
pub fn connections(cap: &Capture, conns: &Connections) -> Vec<Option<F5Conn>> {
    let mut out = vec![None; conns.list.len()];
    if cap.f5.frames.is_empty() {
        return out;
    }
    for (stream, c) in connections_from(cap, &PacketFacts::of(cap, conns)) {
        out[stream as usize] = Some(c);
    }
    out
}

/// [`connections`] from the capture's [`PacketFacts`] (the capture's
/// packets are not read: it may have none), for the connections with at
/// least one F5 trailer only, in stream order.
pub fn connections_from(cap: &Capture, facts: &PacketFacts) -> Vec<(u32, F5Conn)> {
    let t = &cap.f5;
    if t.frames.is_empty() {
        return Vec::new();
    }
    // Trailer rows per stream (streams with trailers only, in stream
    // order), each in frame order.
    let mut order: Vec<(u32, u32)> = facts
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.stream, i as u32))
        .collect();
    order.sort_unstable();
    let rows: Vec<(u32, Vec<Row>)> = order
        .chunk_by(|x, y| x.0 == y.0)
        .map(|g| {
            let rows = g
                .iter()
                .map(|&(_, i)| (&t.frames[i as usize], &facts.rows[i as usize]));
            (g[0].0, rows.collect())
        })
        .collect();
    drop(order);
    // (flow ID, peer ID) -> the connections whose frames carry that pair,
    // and when.
    let mut by_flow: FxHashMap<(u64, u64), Vec<(u32, Span)>> = FxHashMap::default();
    for (s, r) in &rows {
        for (ids, when) in named_spans(r, flow_pair) {
            by_flow.entry(ids).or_default().push((*s, when));
        }
    }
    let ids: FxHashMap<IpAddr, AddrId> = cap
        .addrs
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, i as AddrId))
        .collect();
    // The connections of the endpoint pairs high noise names (few), found
    // in one pass over all connections.
    let peer_key = |peer: u32| {
        let p = t.peers.get(peer as usize)?;
        let (ra, la) = (ids.get(&p.remote.ip)?, ids.get(&p.local.ip)?);
        Some(tuple_key((*ra, p.remote_port), (*la, p.local_port)))
    };
    let mut by_tuple: FxHashMap<[(AddrId, u16); 2], Vec<u32>> = t
        .frames
        .iter()
        .filter(|f| f.peer != NONE)
        .filter_map(|f| Some((peer_key(f.peer)?, Vec::new())))
        .collect();
    if !by_tuple.is_empty() {
        for (stream, c) in facts.conns.iter().enumerate() {
            if let Some(list) = by_tuple.get_mut(&tuple_key(c.a, c.b)) {
                list.push(stream as u32);
            }
        }
    }

    let mut out: Vec<(u32, F5Conn)> = rows
        .iter()
        .map(|(s, r)| {
            let s = *s;
            let mut info = summarise(t, r);
            // Peer legs: by flow ID (this leg's (flow, peer) is the other's
            // (peer, flow): both legs say so), then by peer address; only
            // while both exist, and never two legs of the same role.
            let mut legs: Vec<(u32, JoinedBy)> = Vec::new();
            for ((flow, peer), when) in named_spans(r, flow_pair) {
                for &(o, other) in by_flow.get(&(peer, flow)).into_iter().flatten() {
                    if o != s && overlaps(other, when) {
                        legs.push((o, JoinedBy::FlowId));
                    }
                }
            }
            for (peer, (t0, t1)) in named_spans(r, |f| (f.peer != NONE).then_some(f.peer)) {
                let Some(key) = peer_key(peer) else {
                    continue;
                };
                for &o in by_tuple.get(&key).into_iter().flatten() {
                    if o != s && overlaps(facts.conns[o as usize].span, (t0, t1)) {
                        legs.push((o, JoinedBy::PeerAddress));
                    }
                }
            }
            info.peer_legs = group_legs(legs);
            // Flow IDs are the stronger tie: where they join a leg, a leg
            // joined by addresses alone is an earlier or later connection on
            // the same SNAT address and port.
            if info
                .peer_legs
                .iter()
                .any(|l| l.joined_by.contains(&JoinedBy::FlowId))
            {
                info.peer_legs
                    .retain(|l| l.joined_by.contains(&JoinedBy::FlowId));
            }
            (s, info)
        })
        .collect();
    let index_of =
        |out: &[(u32, F5Conn)], stream: u32| out.binary_search_by_key(&stream, |(s, _)| *s).ok();
    // Two legs of one proxied connection are a client-side and a
    // server-side one.
    let roles: Vec<Option<LegRole>> = out.iter().map(|(_, c)| c.role).collect();
    let role_of = |stream| index_of(&out, stream).and_then(|i| roles[i]);
    let kept: Vec<Vec<PeerLeg>> = out
        .iter()
        .zip(&roles)
        .map(|((_, c), &role)| {
            let mut legs = c.peer_legs.clone();
            legs.retain(|l| match (role, role_of(l.stream)) {
                (Some(a), Some(b)) => a != b,
                _ => true,
            });
            legs
        })
        .collect();
    for ((_, c), legs) in out.iter_mut().zip(kept) {
        c.peer_legs = legs;
    }
    // A join found from one side holds for the other.
    let found: Vec<(u32, u32, Vec<JoinedBy>)> = out
        .iter()
        .flat_map(|(s, c)| {
            c.peer_legs
                .iter()
                .map(move |l| (*s, l.stream, l.joined_by.clone()))
        })
        .collect();
    for (s, o, by) in found {
        let Some(i) = index_of(&out, o) else {
            continue;
        };
        let other = &mut out[i].1;
        match other.peer_legs.iter_mut().find(|l| l.stream == s) {
            Some(l) => {
                l.joined_by.extend(by);
                l.joined_by.sort_unstable();
                l.joined_by.dedup();
            }
            None => {
                other.peer_legs.push(PeerLeg {
                    stream: s,
                    joined_by: by,
                });
                other.peer_legs.sort_by_key(|l| l.stream);
            }
        }
    }
    out
}

/// One key for a connection's two endpoints, whichever way round.
fn tuple_key(x: (AddrId, u16), y: (AddrId, u16)) -> [(AddrId, u16); 2] {
    if x <= y {
        [x, y]
    } else {
        [y, x]
    }
}

/// First and last time, ns.
type Span = (i64, i64);

/// A trailer row with the facts of its packet.
type Row<'a> = (&'a F5Frame, &'a RowFact);

/// Two time spans meet, with a second of slack either way (the frames of
/// the two legs are not taken at one instant).
fn overlaps(a: (i64, i64), b: (i64, i64)) -> bool {
    const SLACK_NS: i64 = 1_000_000_000;
    a.0 <= b.1 + SLACK_NS && b.0 <= a.1 + SLACK_NS
}

/// A frame's (flow ID, peer ID), when it has both.
fn flow_pair(f: &F5Frame) -> Option<(u64, u64)> {
    (f.flow_id != 0 && f.peer_id != 0).then_some((f.flow_id, f.peer_id))
}

/// For each distinct value `key` gives over the rows (a pair of flow IDs, a
/// peer), the first and last time a frame named it.
fn named_spans<K: PartialEq>(
    rows: &[Row],
    key: impl Fn(&F5Frame) -> Option<K>,
) -> Vec<(K, (i64, i64))> {
    let mut out: Vec<(K, (i64, i64))> = Vec::new();
    for (f, fact) in rows {
        let Some(k) = key(f) else { continue };
        let t = fact.ts_ns;
        match out.iter_mut().find(|(x, _)| *x == k) {
            Some((_, s)) => s.1 = s.1.max(t),
            None => out.push((k, (t, t))),
        }
    }
    out
}

fn group_legs(mut legs: Vec<(u32, JoinedBy)>) -> Vec<PeerLeg> {
    legs.sort_unstable();
    legs.dedup();
    let mut out: Vec<PeerLeg> = Vec::new();
    for (s, by) in legs {
        match out.last_mut() {
            Some(l) if l.stream == s => l.joined_by.push(by),
            _ => out.push(PeerLeg {
                stream: s,
                joined_by: vec![by],
            }),
        }
    }
    out
}

/// Everything but the joins, from one connection's trailer rows.
fn summarise(t: &F5Table, rows: &[Row]) -> F5Conn {
    let mut info = F5Conn {
        frames_with_trailer: rows.len() as u32,
        ..F5Conn::default()
    };
    let mut vs_count: FxHashMap<u32, u32> = FxHashMap::default();
    let mut tmm_count: FxHashMap<(u8, u8), u32> = FxHashMap::default();
    let (mut flows, mut peers, mut tuples) = (Vec::new(), Vec::new(), Vec::new());
    for &(f, fact) in rows {
        match f.ingress() {
            Some(true) => info.frames_in += 1,
            Some(false) => info.frames_out += 1,
            None => {}
        }
        if f.ingress().is_some() {
            *tmm_count.entry((f.slot, f.tmm)).or_default() += 1;
            if t.virtual_server(f).is_some() {
                *vs_count.entry(f.vs).or_default() += 1;
            }
            // The SYN that opened the connection says which leg it is.
            if info.role.is_none() && fact.opening_syn {
                info.role = Some(if f.is(twincap_parser::f5::f5_bits::INGRESS) {
                    LegRole::ClientSide
                } else {
                    LegRole::ServerSide
                });
            }
        }
        for (v, list) in [(f.flow_id, &mut flows), (f.peer_id, &mut peers)] {
            if v != 0 && !list.contains(&v) {
                list.push(v);
            }
        }
        if let Some(p) = t.peer(f) {
            if !tuples.contains(&f.peer) {
                tuples.push(f.peer);
                info.peers.push(peer_tuple(p));
            }
        }
    }
    info.virtual_server = most(&vs_count, rows.iter().map(|(f, _)| f.vs))
        .and_then(|v| t.virtual_servers.get(v as usize).cloned());
    if let Some((slot, tmm)) = most(&tmm_count, rows.iter().map(|(f, _)| (f.slot, f.tmm))) {
        info.slot = Some(slot.saturating_add(1));
        info.tmm = Some(tmm);
        info.tmm_moved = tmm_count.len() > 1;
    }
    info.flow_ids = flows.iter().map(|v| format!("{v:#018x}")).collect();
    info.peer_ids = peers.iter().map(|v| format!("{v:#018x}")).collect();
    info
}

/// The most common key of `counts`, the first in `order` among equals.
fn most<K: Eq + std::hash::Hash>(
    counts: &FxHashMap<K, u32>,
    mut order: impl Iterator<Item = K>,
) -> Option<K> {
    let best = counts.values().copied().max()?;
    order.find(|k| counts.get(k) == Some(&best))
}

fn peer_tuple(p: &PeerFlow) -> PeerTuple {
    PeerTuple {
        remote: endpoint(p.remote.ip, p.remote_port),
        local: endpoint(p.local.ip, p.local_port),
        vlan: p.vlan,
        ip_proto: p.ip_proto,
        route_domain: p.remote.route_domain.or(p.local.route_domain),
    }
}

/// A leg's byte stream one way: bytes delivered (the highest sequence
/// number reached, counted from the first byte: retransmissions add
/// nothing, and a RST's payload is a message, not stream data), and when
/// the stream first reached each new length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamBytes {
    pub bytes: u64,
    /// (stream length reached, capture time), increasing.
    pub reached: Vec<(u64, i64)>,
}

impl StreamBytes {
    /// When byte `n` (1-based) was first captured.
    pub fn time_of_byte(&self, n: u64) -> Option<i64> {
        let i = self.reached.partition_point(|&(end, _)| end < n);
        self.reached.get(i).map(|&(_, t)| t)
    }
}

/// One leg's byte stream each way: `[0]` from the leg's initiator (the
/// client on the client-side leg, the BIG-IP on the server-side leg).
pub fn leg_bytes(cap: &Capture, c: &Connection, initiator: (AddrId, u16)) -> [StreamBytes; 2] {
    let mut out = [StreamBytes::default(), StreamBytes::default()];
    // Base: the byte after the SYN's sequence number, else the first data byte.
    let mut base: [Option<u32>; 2] = [None; 2];
    for &i in &c.packets {
        let p = &cap.packets[i as usize];
        let d = usize::from((p.src, p.sport) != initiator);
        if base[d].is_none() && p.has(tcp_flags::SYN) {
            base[d] = Some(p.seq.wrapping_add(1));
        }
        if p.payload_len == 0 || p.has(tcp_flags::RST) {
            continue;
        }
        let b = *base[d].get_or_insert(p.seq);
        let off = p.seq.wrapping_sub(b);
        if off >= 1 << 31 {
            // Before the base (a late SYN, a keep-alive probe): not new bytes.
            continue;
        }
        let end = u64::from(off) + u64::from(p.payload_len);
        let s = &mut out[d];
        if end > s.bytes {
            s.bytes = end;
            s.reached.push((end, p.ts_ns));
        }
    }
    out
}

/// Two legs of one full-proxy connection, compared as byte streams.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LegComparison {
    /// Bytes delivered on the client-side leg from the client, and to it.
    pub client_leg_c2s_bytes: u64,
    pub client_leg_s2c_bytes: u64,
    /// Bytes delivered on the server-side leg toward the pool member, and back.
    pub server_leg_c2s_bytes: u64,
    pub server_leg_s2c_bytes: u64,
    /// Seconds from a request byte arriving on the client-side leg to the
    /// BIG-IP sending it on the server-side leg: the first byte, and the
    /// last byte both legs carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c2s_first_byte_delay_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c2s_last_byte_delay_s: Option<f64>,
    /// Seconds from a response byte arriving on the server-side leg to the
    /// BIG-IP sending it on the client-side leg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s2c_first_byte_delay_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s2c_last_byte_delay_s: Option<f64>,
}

/// Compare the byte streams of a client-side leg and a server-side leg of
/// the same capture (same clock), each given with its initiator.
pub fn compare_legs(
    cap: &Capture,
    client_leg: (&Connection, (AddrId, u16)),
    server_leg: (&Connection, (AddrId, u16)),
) -> LegComparison {
    let c = leg_bytes(cap, client_leg.0, client_leg.1);
    let s = leg_bytes(cap, server_leg.0, server_leg.1);
    // Delay of byte `n` from leg `from` to leg `to`; the last byte is the
    // last one both legs carried.
    let delay = |from: &StreamBytes, to: &StreamBytes, last: bool| {
        let n = if last { from.bytes.min(to.bytes) } else { 1 };
        let (a, b) = (from.time_of_byte(n)?, to.time_of_byte(n)?);
        Some((b - a) as f64 / 1e9)
    };
    LegComparison {
        client_leg_c2s_bytes: c[0].bytes,
        client_leg_s2c_bytes: c[1].bytes,
        server_leg_c2s_bytes: s[0].bytes,
        server_leg_s2c_bytes: s[1].bytes,
        c2s_first_byte_delay_s: delay(&c[0], &s[0], false),
        c2s_last_byte_delay_s: delay(&c[0], &s[0], true),
        s2c_first_byte_delay_s: delay(&s[1], &c[1], false),
        s2c_last_byte_delay_s: delay(&s[1], &c[1], true),
    }
}

/// The connection's initiator: the sender of its first SYN, else the
/// receiver of its first SYN-ACK, else the sender of its first frame.
pub fn initiator(cap: &Capture, c: &Connection) -> (AddrId, u16) {
    for &i in &c.packets {
        let p = &cap.packets[i as usize];
        match p.flags & (tcp_flags::SYN | tcp_flags::ACK) {
            x if x == tcp_flags::SYN => return (p.src, p.sport),
            x if x == tcp_flags::SYN | tcp_flags::ACK => return (p.dst, p.dport),
            _ => {}
        }
    }
    c.a
}

/// The capture as a BIG-IP wrote it: its capture information and what the
/// trailers hold overall.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct F5Capture {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// From the command line: `n`s of the interface options (1 low, 2
    /// medium, 3 high noise) and `p` (peer flows captured too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_level: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_flows_captured: Option<bool>,
    pub frames_with_trailer: u32,
    pub virtual_servers: Vec<String>,
    /// Trailers that looked like F5's but were malformed.
    pub malformed_trailers: u32,
}

/// `None` for a capture with neither F5 trailers nor capture information.
pub fn capture_info(cap: &Capture) -> Option<F5Capture> {
    let t = &cap.f5;
    if t.is_empty() {
        return None;
    }
    let info = t.fileinfo.as_ref().map(|(_, i)| i);
    let noise = info.and_then(|i| i.noise());
    Some(F5Capture {
        command: info.and_then(|i| i.command.clone()),
        version: info.and_then(|i| i.version.clone()),
        hostname: info.and_then(|i| i.hostname.clone()),
        platform: info.and_then(|i| i.platform.clone()),
        platform_name: info.and_then(|i| i.platform_name()),
        product: info.and_then(|i| i.product.clone()),
        noise_level: noise.map(|n| n.level),
        peer_flows_captured: noise.map(|n| n.peer),
        frames_with_trailer: t.frames.len() as u32,
        virtual_servers: t.virtual_servers.clone(),
        malformed_trailers: t.issue_count,
    })
}
