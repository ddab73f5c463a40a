//! The result of a diff, as plain data: what the reporter serializes.
//!
//! Everything here is computed by the matcher; the reporter only writes it.
//! Packet references are indices into `Capture::packets` of the side they
//! belong to (`client_packet`, `lb_packet`), next to the frame numbers and
//! times users see in Wireshark.

use serde::Serialize;

/// Which way a packet travels: from the client toward the load balancer
/// (`C2s`) or back (`S2c`). The client is the connection's initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    C2s,
    S2c,
}

impl Dir {
    pub const BOTH: [Dir; 2] = [Dir::C2s, Dir::S2c];
    pub fn index(self) -> usize {
        self as usize
    }
    pub fn other(self) -> Dir {
        match self {
            Dir::C2s => Dir::S2c,
            Dir::S2c => Dir::C2s,
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            Dir::C2s => "c2s",
            Dir::S2c => "s2c",
        }
    }
}

/// What the path did to one packet (or, for `Modified`, to a connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// In the sender capture, never in the receiver capture.
    Lost,
    /// Arrived after a packet the sender sent later (RFC 4737 Type-P-Reordered).
    Reordered,
    /// One sender frame, two or more receiver frames.
    Duplicated,
    /// In the receiver capture, never sent by the sender.
    Injected,
    /// The middle changed a header field (one event per connection and kind).
    Modified,
    /// In the sender capture, not in the receiver capture, but it would have
    /// arrived outside the receiver capture's time window: not a loss.
    OutsideWindow,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Lost,
        EventKind::Reordered,
        EventKind::Duplicated,
        EventKind::Injected,
        EventKind::Modified,
        EventKind::OutsideWindow,
    ];
    pub fn word(self) -> &'static str {
        match self {
            EventKind::Lost => "lost",
            EventKind::Reordered => "reordered",
            EventKind::Duplicated => "duplicated",
            EventKind::Injected => "injected",
            EventKind::Modified => "modified",
            EventKind::OutsideWindow => "outside_window",
        }
    }
}

/// Which header field a `Modified` event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Modification {
    MssClamp,
    SackpermStrip,
    IpId,
    SeqOffset,
}

/// One event with its frames on both sides.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    pub dir: Dir,
    /// Frame in the client capture (sender frame for c2s, receiver for s2c).
    pub client_frame: Option<u32>,
    pub lb_frame: Option<u32>,
    /// Capture times (ns since the epoch, each on its own clock).
    #[serde(skip)]
    pub client_time_ns: Option<i64>,
    #[serde(skip)]
    pub lb_time_ns: Option<i64>,
    /// Indices into the side's `Capture::packets`.
    #[serde(skip)]
    pub client_packet: Option<u32>,
    #[serde(skip)]
    pub lb_packet: Option<u32>,
    /// Further receiver frames (`Duplicated`: the extra copies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_frames: Vec<u32>,
    /// Lost, reordered, duplicated: other sender frames the event could as
    /// well name. They are identical to the named one as the receiver saw
    /// them (the middle zeroed or rewrote what told them apart) and were
    /// sent closer together than the path's jitter, so the two captures
    /// cannot tell which one it was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<u32>,
    /// `Modified`: which field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modification: Option<Modification>,
    /// `Modified`: how many packets were affected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<u32>,
}

impl Event {
    pub fn new(kind: EventKind, dir: Dir) -> Event {
        Event {
            kind,
            dir,
            client_frame: None,
            lb_frame: None,
            client_time_ns: None,
            lb_time_ns: None,
            client_packet: None,
            lb_packet: None,
            extra_frames: Vec::new(),
            alternatives: Vec::new(),
            modification: None,
            packets: None,
        }
    }
}

/// A step of one capture clock against the other while both captures ran
/// ([`super::clock::steps`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ClockStep {
    /// The capture whose clock was set: `client` where its own timestamps
    /// go back there, else `lb` (a step forward cannot be told from a
    /// quiet moment, and either reading compares the same).
    pub side: &'static str,
    /// The first frame of that capture after the step.
    pub frame: u32,
    /// That frame's time as captured, ns since the epoch.
    #[serde(skip)]
    pub time_ns: i64,
    /// How far that capture's clock moved, seconds (negative: back). Its
    /// frames from `frame` on are read with it taken off.
    pub step_s: f64,
}

/// How the two clocks relate: `lb_time = client_time + offset + drift * (client_time - reference)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ClockEstimate {
    /// LB clock minus client clock at `reference_ns`, seconds.
    pub offset_s: f64,
    /// How much faster the LB clock runs, parts per million.
    pub drift_ppm: f64,
    /// Client-clock time the offset refers to (the client capture's first packet).
    #[serde(skip)]
    pub reference_ns: i64,
    /// Half the width of the band causality allows for the offset, seconds
    /// (one-way delays cannot be told apart from the offset).
    pub uncertainty_s: f64,
    /// Packets matched one-to-one that the estimate rests on.
    pub samples: usize,
    /// `estimated`, `given` (--clock-offset) or `none` (nothing to estimate from).
    pub source: &'static str,
}

impl ClockEstimate {
    pub fn none() -> ClockEstimate {
        ClockEstimate {
            offset_s: 0.0,
            drift_ppm: 0.0,
            reference_ns: 0,
            uncertainty_s: 0.0,
            samples: 0,
            source: "none",
        }
    }
    /// LB-clock time of a client-clock instant.
    pub fn to_lb(&self, client_ns: i64) -> i64 {
        let dt = (client_ns - self.reference_ns) as f64;
        client_ns + (self.offset_s * 1e9 + dt * self.drift_ppm * 1e-6) as i64
    }
    /// Client-clock time of an LB-clock instant.
    pub fn to_client(&self, lb_ns: i64) -> i64 {
        // Invert lb = c + o + d*(c - r): c = (lb - o + d*r) / (1 + d).
        let d = self.drift_ppm * 1e-6;
        let num = (lb_ns - self.reference_ns) as f64 - self.offset_s * 1e9;
        self.reference_ns + (num / (1.0 + d)) as i64
    }
}

/// One evidence kind that tied a client connection to an LB connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Equal TCP timestamp (TSval, TSecr) on a packet of the same shape.
    TcpTimestamps,
    /// Equal IP ID on a packet of the same shape.
    IpId,
    /// Equal sequence number (or ISN) on a packet of the same shape.
    Seq,
    /// Equal acknowledgment number.
    Ack,
    /// Equal payload fingerprint.
    Payload,
}

/// What the middle changed between the two captures of one connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NatChange {
    /// Source of the client (initiator) before and after.
    pub client_src: String,
    pub lb_src: String,
    pub client_dst: String,
    pub lb_dst: String,
    /// SNAT: the initiator's address or port changed.
    pub snat: bool,
    /// DNAT: the destination address or port changed.
    pub dnat: bool,
    /// LB seq minus client seq for the client's bytes (ASA-style ISN shift), if not 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_offset_c2s: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_offset_s2c: Option<u32>,
    /// MSS on the SYN / SYN-ACK as sent and as received, where it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss_c2s: Option<(u16, u16)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mss_s2c: Option<(u16, u16)>,
    /// SACK-permitted removed from the SYN (c2s) or SYN-ACK (s2c).
    pub sackperm_stripped: Vec<Dir>,
    /// IP ID per direction: `kept`, `zeroed`, `rewritten` or `unknown`.
    pub ip_id: [&'static str; 2],
    /// TTL decrease per direction (sender TTL minus receiver TTL), most common value.
    pub ttl_drop: [Option<i16>; 2],
}

/// One side of a paired connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnRef {
    /// Wireshark's `tcp.stream` in that capture.
    pub stream: u32,
    /// The initiator (client) and the other end, `ip:port`.
    pub src: String,
    pub dst: String,
    pub packets: u32,
}

/// Per-direction packet counts of a pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct AlignStats {
    pub sent: u32,
    pub received: u32,
    /// Sender packets matched one-to-one (or through split/merge).
    pub matched: u32,
    /// Sender packets whose bytes arrived in other segment boundaries.
    pub resegmented: u32,
}

/// A client-side connection and its twin on the LB side.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowPair {
    pub client: ConnRef,
    pub lb: ConnRef,
    /// Further LB connections of the same client connection (a NAT mapping
    /// that expired between SYN retries).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lb_extra: Vec<ConnRef>,
    /// 0..1: how sure the pairing is.
    pub confidence: f64,
    /// Evidence kinds that matched, strongest first.
    pub evidence: Vec<Evidence>,
    pub nat: NatChange,
    pub c2s: AlignStats,
    pub s2c: AlignStats,
    pub events: Vec<Event>,
    /// Why the pair's RSTs were sent, where a frame says so (F5 trailer or
    /// RST payload), on both sides, in time order per side.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rst_causes: Vec<SideRstCause>,
    /// The LB connection as an F5 BIG-IP's trailers show it, and the
    /// BIG-IP's other leg(s) of the same full-proxy connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f5: Option<F5Pair>,
    /// Choices between identical copies the two captures cannot decide.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ambiguous: Vec<Ambiguity>,
}

/// A reset cause in one of the two captures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SideRstCause {
    /// `client` or `lb`: the capture the frame is in.
    pub side: &'static str,
    /// The connection (`tcp.stream`) in that capture.
    pub stream: u32,
    /// Which way the RST went: `c2s` from the connection's initiator.
    pub dir: Dir,
    #[serde(flatten)]
    pub cause: crate::f5::RstCauseRef,
}

/// A paired connection seen through an F5 BIG-IP's trailers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct F5Pair {
    /// The LB connection: virtual server, leg, slot/TMM, flow IDs, the
    /// peer connections high noise names (`peer_legs` there: streams only).
    #[serde(flatten)]
    pub leg: crate::f5::F5Conn,
    /// Bytes delivered on the LB connection each way.
    pub c2s_bytes: u64,
    pub s2c_bytes: u64,
    /// The BIG-IP's other leg(s) in the LB capture, compared as byte streams.
    pub peer_leg_streams: Vec<F5PeerLeg>,
}

/// The BIG-IP's other leg of a paired connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct F5PeerLeg {
    /// The connection in the LB capture (initiator first).
    pub conn: ConnRef,
    pub joined_by: Vec<crate::f5::JoinedBy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::f5::LegRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_server: Option<String>,
    /// Both legs as byte streams (when one is the client-side leg and the
    /// other the server-side leg).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<crate::f5::LegComparison>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rst_causes: Vec<SideRstCause>,
}

/// Two sender frames the receiver cannot tell apart (identical once the
/// middle zeroed or rewrote what differed, sent closer together than the
/// path's jitter): reading the receiver's copies the other way round
/// changes these events. Either reading is what the two files show.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ambiguity {
    pub dir: Dir,
    /// The two sender-side frames (the chosen reading's first).
    pub sender_frames: [u32; 2],
    /// Events (kind, sender-side frame) in one reading and not the other.
    pub events: Vec<AmbiguousEvent>,
}

/// An event only one reading of an [`Ambiguity`] has.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AmbiguousEvent {
    pub kind: EventKind,
    pub sender_frame: u32,
    /// In the reading the events report (else only in the other one).
    pub reported: bool,
}

/// A connection seen on one side only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unmatched {
    pub stream: u32,
    pub src: String,
    pub dst: String,
    pub packets: u32,
    /// Why it has no twin, in words.
    pub reason: &'static str,
    pub events: Vec<Event>,
    /// Why its RSTs were sent, where a frame says so.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rst_causes: Vec<SideRstCause>,
}

/// Time span of a capture's TCP packets, on its own clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Window {
    #[serde(skip)]
    pub first_ns: i64,
    #[serde(skip)]
    pub last_ns: i64,
    pub first_s: f64,
    pub last_s: f64,
}

/// Everything `twincap diff` found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiffResult {
    pub clock: ClockEstimate,
    pub client_window: Window,
    pub lb_window: Window,
    pub flows: Vec<FlowPair>,
    pub unmatched_client: Vec<Unmatched>,
    pub unmatched_lb: Vec<Unmatched>,
    /// Steps of one capture clock against the other, in time order (empty
    /// almost always). The captures the result refers to have them taken
    /// off ([`super::clock::apply_steps`]).
    pub clock_steps: Vec<ClockStep>,
    /// Median one-way delay per direction over the whole capture (client
    /// clock, ns): what [`super::frames::frame_pairs`] needs, beyond the
    /// clock, to redo a pair's alignment exactly as the diff did.
    #[serde(skip)]
    pub typical_delay_ns: [i64; 2],
}

impl DiffResult {
    /// Every event of the result: paired flows and unmatched connections.
    pub fn all_events(&self) -> impl Iterator<Item = &Event> {
        self.flows
            .iter()
            .flat_map(|f| f.events.iter())
            .chain(self.unmatched_client.iter().flat_map(|u| u.events.iter()))
            .chain(self.unmatched_lb.iter().flat_map(|u| u.events.iter()))
    }
}
