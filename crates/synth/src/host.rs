//! The TCP state each synthetic host keeps, so that every segment it sends
//! says only what that host could know when it sent it.
//!
//! A host receives the segments (pieces, copies) the path delivered to it,
//! in arrival order; its ACK is the end of the bytes it holds without a
//! hole (`rcv_nxt`), its TS echo reply the newest TSval it has received.
//! As a sender it keeps its unacknowledged segments and one retransmission
//! timer (RFC 6298): started when a segment goes out and none is running,
//! restarted when an ACK acknowledges new data, stopped when nothing is
//! outstanding; when it fires, the oldest unacknowledged segment goes out
//! again and the timeout doubles.
//!
//! Sequence numbers here are offsets from the sender's ISN (a SYN or FIN
//! counts one), so they never wrap; `lib.rs` turns them into wire values.

use std::collections::VecDeque;

/// A segment (or a piece of one, or a copy) on its way to a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// When it reaches the host.
    pub at: i64,
    /// Its sequence range, offsets from the sender's ISN.
    pub start: u64,
    pub end: u64,
    /// It carries the sender's FIN (the last offset of the range).
    pub fin: bool,
    /// Its ACK, an offset from the receiving host's ISN.
    pub ack: Option<u64>,
    pub tsval: u32,
    /// The receive window it advertises, in bytes (a SYN's is not scaled).
    pub window: u64,
}

/// One of the host's own segments that the peer has not acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outstanding {
    pub start: u64,
    pub len: u16,
    pub flags: u16,
    /// Sequence space it takes (payload, plus one for a SYN or FIN).
    pub span: u64,
}

/// What taking in one arrival did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub arrival: Arrival,
    /// Its bytes were all received before (a duplicate or a needless
    /// retransmission): a host that has nothing more to send answers it.
    pub old: bool,
    /// It moved `rcv_nxt` (in-order bytes, or the bytes of a hole).
    pub advanced: bool,
}

/// One host's TCP state.
#[derive(Debug)]
pub struct Host {
    /// Next new sequence offset to send, and the oldest unacknowledged.
    pub snd_nxt: u64,
    pub snd_una: u64,
    pub unacked: VecDeque<Outstanding>,
    /// Retransmission timeout now (backed off), the base it resets to,
    /// retransmissions of the oldest segment since the last new ACK, and
    /// when the timer fires.
    pub rto: i64,
    rto_base: i64,
    pub retries: u32,
    pub timer: Option<i64>,
    /// Next sequence offset expected from the peer, and the ranges held
    /// above it (disjoint, sorted).
    pub rcv_nxt: u64,
    above: Vec<(u64, u64)>,
    /// Newest TSval received, echoed in TSecr.
    pub ts_recent: u32,
    /// The peer's receive window, as its latest segment here advertised.
    pub peer_window: u64,
    /// Where the peer's FIN ends, once one has arrived, and when all
    /// bytes up to it had (the peer's FIN received in order).
    fin_end: Option<u64>,
    pub fin_in_order_at: Option<i64>,
    /// Segments on their way to this host.
    pub inbox: Vec<Arrival>,
}

impl Host {
    pub fn new(rto: i64) -> Host {
        Host {
            snd_nxt: 0,
            snd_una: 0,
            unacked: VecDeque::new(),
            rto,
            rto_base: rto,
            retries: 0,
            timer: None,
            rcv_nxt: 0,
            above: Vec::new(),
            ts_recent: 0,
            peer_window: 0,
            fin_end: None,
            fin_in_order_at: None,
            inbox: Vec::new(),
        }
    }

    /// The next arrival: earliest, ties by sequence range (deterministic).
    pub fn next_arrival(&self) -> Option<i64> {
        self.inbox.iter().map(|a| a.at).min()
    }

    /// Take in the next arrival (see [`Host::next_arrival`]).
    pub fn receive(&mut self) -> Option<Received> {
        let i = (0..self.inbox.len())
            .min_by_key(|&i| (self.inbox[i].at, self.inbox[i].start, self.inbox[i].end))?;
        let a = self.inbox.swap_remove(i);
        let old = a.end > a.start && a.end <= self.rcv_nxt;
        let rcv_before = self.rcv_nxt;
        if a.end > self.rcv_nxt {
            self.hold(a.start.max(self.rcv_nxt), a.end);
        }
        if a.fin {
            self.fin_end = Some(a.end);
        }
        self.peer_window = a.window;
        if self.fin_in_order_at.is_none() && self.fin_end.is_some_and(|e| self.rcv_nxt >= e) {
            self.fin_in_order_at = Some(a.at);
        }
        if a.tsval.wrapping_sub(self.ts_recent) as i32 > 0 || self.ts_recent == 0 {
            self.ts_recent = a.tsval;
        }
        let acked_new = a.ack.is_some_and(|ack| ack > self.snd_una);
        if let Some(ack) = a.ack.filter(|_| acked_new) {
            self.snd_una = ack;
            while self
                .unacked
                .front()
                .is_some_and(|o| o.start + o.span <= ack)
            {
                self.unacked.pop_front();
            }
            self.rto = self.rto_base;
            self.retries = 0;
            self.timer = (!self.unacked.is_empty()).then_some(a.at + self.rto);
        }
        Some(Received {
            arrival: a,
            old,
            advanced: self.rcv_nxt > rcv_before,
        })
    }

    /// Hold `[start, end)` (above or at `rcv_nxt`) and move `rcv_nxt` over
    /// everything now held without a hole.
    fn hold(&mut self, start: u64, end: u64) {
        let (mut s, mut e) = (start, end);
        self.above.retain(|&(a, b)| {
            let touches = a <= e && s <= b;
            if touches {
                s = s.min(a);
                e = e.max(b);
            }
            !touches
        });
        let at = self.above.partition_point(|&(a, _)| a < s);
        self.above.insert(at, (s, e));
        if let Some(&(a, b)) = self.above.first() {
            if a <= self.rcv_nxt {
                self.rcv_nxt = self.rcv_nxt.max(b);
                self.above.remove(0);
            }
        }
    }

    /// A segment of `span` sequence space went out at `t`: a new one is
    /// remembered until acknowledged; either starts the timer if it is off.
    pub fn sent(&mut self, t: i64, out: Outstanding, new: bool) {
        if out.span == 0 {
            return;
        }
        if new {
            self.unacked.push_back(out);
            self.snd_nxt = self.snd_nxt.max(out.start + out.span);
        }
        if self.timer.is_none() {
            self.timer = Some(t + self.rto);
        }
    }

    /// Whether `len` more new bytes fit in the peer's receive window.
    pub fn window_allows(&self, len: u16) -> bool {
        self.snd_nxt + len as u64 <= self.snd_una + self.peer_window
    }

    /// The timer fired at `t`: the segment to send again (the oldest
    /// unacknowledged), with the timeout doubled, or `None` when there is
    /// nothing outstanding or the sender gives up after `max_retries`.
    pub fn expire(&mut self, t: i64, max_retries: u32) -> Option<Outstanding> {
        self.timer = None;
        let front = *self.unacked.front()?;
        if self.retries >= max_retries {
            self.unacked.clear();
            return None;
        }
        self.retries += 1;
        self.rto = self.rto.saturating_mul(2);
        self.timer = Some(t + self.rto);
        Some(front)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: Arrival = Arrival {
        at: 100,
        start: 1,
        end: 11,
        fin: false,
        ack: None,
        tsval: 5,
        window: 20,
    };

    fn take(h: &mut Host, arrivals: &[Arrival]) -> Vec<Received> {
        h.inbox.extend_from_slice(arrivals);
        std::iter::from_fn(|| h.receive()).collect()
    }

    #[test]
    fn ack_stops_at_a_hole_until_it_is_filled() {
        let mut h = Host::new(1000);
        h.rcv_nxt = 1;
        let later = Arrival {
            at: 110,
            start: 11,
            end: 21,
            ..DATA
        };
        take(&mut h, &[later]);
        assert_eq!(h.rcv_nxt, 1);
        take(&mut h, &[DATA]);
        assert_eq!(h.rcv_nxt, 21);
        assert!(h.above.is_empty());
    }

    #[test]
    fn arrivals_are_taken_in_time_order_and_a_copy_is_old() {
        let mut h = Host::new(1000);
        h.rcv_nxt = 1;
        let copy = Arrival { at: 105, ..DATA };
        let got = take(&mut h, &[copy, DATA]);
        assert_eq!(got[0].arrival, DATA);
        assert!(!got[0].old && got[1].old);
        assert!(got[0].advanced && !got[1].advanced);
        assert!(got[0].advanced && !got[1].advanced);
    }

    #[test]
    fn fin_in_order_only_once_the_bytes_before_it_arrived() {
        let mut h = Host::new(1000);
        h.rcv_nxt = 1;
        let fin = Arrival {
            at: 120,
            start: 11,
            end: 12,
            fin: true,
            ..DATA
        };
        take(&mut h, &[fin]);
        assert_eq!(h.fin_in_order_at, None);
        take(&mut h, &[Arrival { at: 300, ..DATA }]);
        assert_eq!(h.fin_in_order_at, Some(300));
    }

    #[test]
    fn ts_echo_is_the_newest_tsval_received() {
        let mut h = Host::new(1000);
        let late = Arrival {
            at: 130,
            tsval: 3,
            ..DATA
        };
        take(&mut h, &[DATA, late]);
        assert_eq!(h.ts_recent, 5);
    }

    #[test]
    fn timer_restarts_on_new_ack_and_backs_off_on_expiry() {
        let mut h = Host::new(1000);
        let seg = |start| Outstanding {
            start,
            len: 10,
            flags: 0x18,
            span: 10,
        };
        h.snd_una = 1;
        h.sent(0, seg(1), true);
        h.sent(50, seg(11), true);
        assert_eq!(h.timer, Some(1000));
        take(
            &mut h,
            &[Arrival {
                ack: Some(11),
                start: 0,
                end: 0,
                ..DATA
            }],
        );
        assert_eq!((h.timer, h.unacked.len()), (Some(1100), 1));
        assert_eq!(h.expire(1100, 3), Some(seg(11)));
        assert_eq!((h.rto, h.timer), (2000, Some(3100)));
        assert!(!h.window_allows(11) && h.window_allows(10));
    }

    #[test]
    fn sender_gives_up_after_its_retries() {
        let mut h = Host::new(10);
        h.sent(
            0,
            Outstanding {
                start: 0,
                len: 0,
                flags: 0x01,
                span: 1,
            },
            true,
        );
        assert!(h.expire(10, 1).is_some());
        assert_eq!(h.expire(30, 1), None);
        assert_eq!((h.timer, h.unacked.len()), (None, 0));
    }
}
