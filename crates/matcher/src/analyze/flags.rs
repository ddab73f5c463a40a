//! The expert flags, named as Wireshark's `tcp.analysis.*` fields without
//! the prefix, and a small bitset of them.

use serde::{Serialize, Serializer};

/// One TCP expert flag. The discriminant is the flag's bit in [`Flags`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Flag {
    Retransmission = 0,
    FastRetransmission,
    SpuriousRetransmission,
    OutOfOrder,
    LostSegment,
    AckLostSegment,
    DuplicateAck,
    ZeroWindow,
    ZeroWindowProbe,
    ZeroWindowProbeAck,
    WindowFull,
    WindowUpdate,
    KeepAlive,
    KeepAliveAck,
    ReusedPorts,
    TfoSyn,
    TfoAck,
    TfoIgnored,
}

impl Flag {
    /// How many flags there are.
    pub const COUNT: usize = 18;

    /// Every flag, in the order reports list them.
    pub const ALL: [Flag; Flag::COUNT] = [
        Flag::Retransmission,
        Flag::FastRetransmission,
        Flag::SpuriousRetransmission,
        Flag::OutOfOrder,
        Flag::LostSegment,
        Flag::AckLostSegment,
        Flag::DuplicateAck,
        Flag::ZeroWindow,
        Flag::ZeroWindowProbe,
        Flag::ZeroWindowProbeAck,
        Flag::WindowFull,
        Flag::WindowUpdate,
        Flag::KeepAlive,
        Flag::KeepAliveAck,
        Flag::ReusedPorts,
        Flag::TfoSyn,
        Flag::TfoAck,
        Flag::TfoIgnored,
    ];

    /// Wireshark's field name without `tcp.analysis.`.
    pub fn name(self) -> &'static str {
        match self {
            Flag::Retransmission => "retransmission",
            Flag::FastRetransmission => "fast_retransmission",
            Flag::SpuriousRetransmission => "spurious_retransmission",
            Flag::OutOfOrder => "out_of_order",
            Flag::LostSegment => "lost_segment",
            Flag::AckLostSegment => "ack_lost_segment",
            Flag::DuplicateAck => "duplicate_ack",
            Flag::ZeroWindow => "zero_window",
            Flag::ZeroWindowProbe => "zero_window_probe",
            Flag::ZeroWindowProbeAck => "zero_window_probe_ack",
            Flag::WindowFull => "window_full",
            Flag::WindowUpdate => "window_update",
            Flag::KeepAlive => "keep_alive",
            Flag::KeepAliveAck => "keep_alive_ack",
            Flag::ReusedPorts => "reused_ports",
            Flag::TfoSyn => "tfo_syn",
            Flag::TfoAck => "tfo_ack",
            Flag::TfoIgnored => "tfo_ignored",
        }
    }

    /// The flag whose [`Flag::name`] is `name`.
    pub fn from_name(name: &str) -> Option<Flag> {
        let name = name.strip_prefix("tcp.analysis.").unwrap_or(name);
        Flag::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Wireshark's Expert Info summary for the flag.
    pub fn wireshark_text(self) -> &'static str {
        match self {
            Flag::Retransmission => "This frame is a (suspected) retransmission",
            Flag::FastRetransmission => "This frame is a (suspected) fast retransmission",
            Flag::SpuriousRetransmission => "This frame is a (suspected) spurious retransmission",
            Flag::OutOfOrder => "This frame is a (suspected) out-of-order segment",
            Flag::LostSegment => "Previous segment(s) not captured (common at capture start)",
            Flag::AckLostSegment => "ACKed segment that wasn't captured (common at capture start)",
            Flag::DuplicateAck => "Duplicate ACK",
            Flag::ZeroWindow => "TCP Zero Window segment",
            Flag::ZeroWindowProbe => "TCP Zero Window Probe",
            Flag::ZeroWindowProbeAck => "ACK to a TCP Zero Window Probe",
            Flag::WindowFull => "TCP window specified by the receiver is now completely full",
            Flag::WindowUpdate => "TCP window update",
            Flag::KeepAlive => "TCP keep-alive segment",
            Flag::KeepAliveAck => "ACK to a TCP keep-alive segment",
            Flag::ReusedPorts => "A new tcp session is started with the same ports as an earlier session in this trace",
            Flag::TfoSyn => "TCP SYN with TFO Cookie",
            Flag::TfoAck => "TCP SYN-ACK accepting TFO data",
            Flag::TfoIgnored => "TCP SYN-ACK ignoring TFO data",
        }
    }

    /// What the flag means for someone troubleshooting, and where to look.
    pub fn meaning(self) -> &'static str {
        match self {
            Flag::Retransmission => "the sender sent data again that it had sent before: the first copy (or its ACK) was lost or late",
            Flag::FastRetransmission => "resent right after duplicate ACKs: the receiver reported a gap, so a segment was lost on the path",
            Flag::SpuriousRetransmission => "resent data the receiver had already acknowledged: the sender's timer fired too early, or the ACK was late",
            Flag::OutOfOrder => "arrived after a later segment, soon after it: reordering on the path (or capture point), not a loss",
            Flag::LostSegment => "data before this frame is missing from the capture: lost before the capture point, or not captured",
            Flag::AckLostSegment => "acknowledges data the capture never showed: the capture missed it (capture start, or dropped by the capture)",
            Flag::DuplicateAck => "the receiver repeated its last ACK: it got a segment after a gap and is asking for the missing one",
            Flag::ZeroWindow => "the host sending this frame has a full receive buffer: its application is not reading fast enough; look at that host (CPU, application), not the network",
            Flag::ZeroWindowProbe => "the sender tests a zero window with one byte: it is waiting for the receiver's application",
            Flag::ZeroWindowProbeAck => "the host sending this frame answered a zero-window probe and its window is still zero: its application is still not reading",
            Flag::WindowFull => "the sender filled the receiver's advertised window and must wait for an ACK: the receiver (its buffer size or slow reading) limits throughput, not the network",
            Flag::WindowUpdate => "the host sending this frame announces a new window without new data: after a full or zero window, the other side may send again",
            Flag::KeepAlive => "an idle connection checks its peer is still there: normal on idle connections",
            Flag::KeepAliveAck => "the peer answered a keep-alive: it is still there",
            Flag::ReusedPorts => "a new connection uses the same addresses and ports as an earlier one in this capture",
            Flag::TfoSyn => "the client opened with a TCP Fast Open cookie (TFO)",
            Flag::TfoAck => "the server accepted the data sent in the TFO SYN",
            Flag::TfoIgnored => "the server ignored the data sent in the TFO SYN: the client will send it again",
        }
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

impl Serialize for Flag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Flag`]s in one `u32`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u32);

impl Flags {
    pub const EMPTY: Flags = Flags(0);

    pub fn contains(self, flag: Flag) -> bool {
        self.0 & flag.bit() != 0
    }
    pub fn insert(&mut self, flag: Flag) {
        self.0 |= flag.bit();
    }
    pub fn remove(&mut self, flag: Flag) {
        self.0 &= !flag.bit();
    }
    pub fn with(mut self, flag: Flag) -> Flags {
        self.insert(flag);
        self
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    /// The raw bits (bit `n` is the flag with discriminant `n`).
    pub fn bits(self) -> u32 {
        self.0
    }
    /// The flags in the set, in [`Flag::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::ALL.into_iter().filter(move |f| self.contains(*f))
    }
    /// The names of the flags in the set, in [`Flag::ALL`] order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Flag::name).collect()
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<I: IntoIterator<Item = Flag>>(iter: I) -> Flags {
        let mut s = Flags::EMPTY;
        for f in iter {
            s.insert(f);
        }
        s
    }
}

impl std::fmt::Debug for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(Flag::name)).finish()
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}
