//! The connections a drawing or an export shows, packet by packet: each
//! problem pair with its rows from the matcher ([`frame_pairs`], recomputed
//! for these pairs only), and the connections seen on one side only, whose
//! rows have one side empty. Shared by the HTML ladder diagrams and the
//! annotated pcapng, so both show the same connections and the same story.

use twincap_matcher::diff::frames::{frame_pairs, FramePair, FrameRef};
use twincap_matcher::diff::{
    align, DiffResult, Dir, Event, EventKind, FlowPair, Modification, Side, Unmatched,
};

/// One connection as both captures saw it.
#[derive(Clone, Debug)]
pub struct ConnView {
    /// `client stream 3 = LB stream 5: 10.0.0.2:50000 -> 203.0.113.10:80 (...)`.
    pub title: String,
    pub client_stream: Option<u32>,
    pub lb_stream: Option<u32>,
    /// Packets in time order on the client clock.
    pub rows: Vec<FramePair>,
}

/// The path did something to this pair's packets (what the middle changed
/// in headers does not count).
pub fn flow_has_problem(f: &FlowPair) -> bool {
    f.events.iter().any(|e| e.kind != EventKind::Modified)
}

/// A one-sided connection lost or had injected packets within the other
/// capture's window (not only `outside_window`).
fn unmatched_has_problem(u: &Unmatched) -> bool {
    u.events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Lost | EventKind::Injected))
}

/// A connection to show, before its rows are worked out.
#[derive(Clone, Copy)]
enum Pick<'a> {
    Pair(&'a FlowPair),
    /// A connection with no twin, and whether it is on the LB side.
    OneSided(&'a Unmatched, bool),
}

impl Pick<'_> {
    /// Events other than `modified` (what makes a connection a problem).
    fn problems(&self) -> usize {
        let events = match self {
            Pick::Pair(f) => &f.events,
            Pick::OneSided(u, _) => &u.events,
        };
        events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Modified | EventKind::OutsideWindow))
            .count()
    }

    fn title(&self) -> String {
        match self {
            Pick::Pair(f) => format!(
                "client stream {} = LB stream {}: {} -> {} (LB side {} -> {})",
                f.client.stream, f.lb.stream, f.client.src, f.client.dst, f.lb.src, f.lb.dst
            ),
            Pick::OneSided(u, lb_side) => {
                let name = if *lb_side { "LB" } else { "client" };
                format!(
                    "{name} stream {} ({name} side only: {}): {} -> {}",
                    u.stream, u.reason, u.src, u.dst
                )
            }
        }
    }

    fn view(&self, client: &Side, lb: &Side, res: &DiffResult) -> ConnView {
        let title = self.title();
        match *self {
            Pick::Pair(f) => ConnView {
                title,
                client_stream: Some(f.client.stream),
                lb_stream: Some(f.lb.stream),
                rows: frame_pairs(client, lb, res, f),
            },
            Pick::OneSided(u, lb_side) => ConnView {
                title,
                client_stream: (!lb_side).then_some(u.stream),
                lb_stream: lb_side.then_some(u.stream),
                rows: one_sided_rows(
                    if lb_side { lb } else { client },
                    u.stream,
                    &u.events,
                    lb_side,
                    res,
                ),
            },
        }
    }
}

/// The problem connections of a diff (every connection with `all`): pairs
/// first, then client-side and LB-side connections with no twin, each in
/// stream order.
fn picks(res: &DiffResult, all: bool) -> Vec<Pick<'_>> {
    let pairs = res
        .flows
        .iter()
        .filter(|f| all || flow_has_problem(f))
        .map(Pick::Pair);
    let one_sided = res
        .unmatched_client
        .iter()
        .map(|u| (u, false))
        .chain(res.unmatched_lb.iter().map(|u| (u, true)))
        .filter(|(u, _)| all || unmatched_has_problem(u))
        .map(|(u, lb_side)| Pick::OneSided(u, lb_side));
    pairs.chain(one_sided).collect()
}

/// The problem connections of a diff (every connection with `all`), with
/// their rows: pairs first, then client-side and LB-side connections with
/// no twin, each in stream order.
pub fn views(client: &Side, lb: &Side, res: &DiffResult, all: bool) -> Vec<ConnView> {
    picks(res, all)
        .iter()
        .map(|p| p.view(client, lb, res))
        .collect()
}

/// The `max` problem connections with the most events, with their rows (in
/// the order of [`views`]), and the titles of the other problem connections
/// with their event counts: rows are worked out for the shown ones only.
pub fn worst_views(
    client: &Side,
    lb: &Side,
    res: &DiffResult,
    max: usize,
) -> (Vec<ConnView>, Vec<(String, usize)>) {
    let picks = picks(res, false);
    let mut order: Vec<usize> = (0..picks.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(picks[i].problems()), i));
    let mut shown: Vec<usize> = order.iter().take(max).copied().collect();
    shown.sort_unstable();
    let views = shown
        .iter()
        .map(|&i| picks[i].view(client, lb, res))
        .collect();
    let rest = order[max.min(order.len())..]
        .iter()
        .map(|&i| (picks[i].title(), picks[i].problems()))
        .collect();
    (views, rest)
}

/// The rows of a connection seen on one side only: its packets, each with
/// the event the diff gave it (lost, injected or outside the window).
fn one_sided_rows(
    side: &Side,
    stream: u32,
    events: &[Event],
    lb_side: bool,
    res: &DiffResult,
) -> Vec<FramePair> {
    side.conn(stream)
        .packets
        .iter()
        .map(|&i| {
            let p = side.packet(i);
            let at = FrameRef {
                packet: i,
                frame: p.frame,
                ts_ns: p.ts_ns,
                at_ns: if lb_side {
                    res.clock.to_client(p.ts_ns)
                } else {
                    p.ts_ns
                },
            };
            let packet_of = |e: &Event| {
                if lb_side {
                    e.lb_packet
                } else {
                    e.client_packet
                }
            };
            FramePair {
                dir: align::direction(side, stream, p),
                client: (!lb_side).then_some(at),
                lb: lb_side.then_some(at),
                event: events
                    .iter()
                    .find(|e| packet_of(e) == Some(i))
                    .map(|e| e.kind),
                arrived_after: None,
                copy: 1,
                resegmented: false,
                modified: Vec::new(),
            }
        })
        .collect()
}

/// `client side` / `LB side`: the capture point that sends in a direction,
/// and the one that receives.
pub fn sender_name(d: Dir) -> &'static str {
    match d {
        Dir::C2s => "client side",
        Dir::S2c => "LB side",
    }
}

pub fn receiver_name(d: Dir) -> &'static str {
    sender_name(d.other())
}

/// A header change in words.
pub fn modification_words(m: Modification) -> &'static str {
    match m {
        Modification::MssClamp => "MSS clamped",
        Modification::SackpermStrip => "SACK-permitted stripped",
        Modification::IpId => "IP ID rewritten",
        Modification::SeqOffset => "sequence numbers shifted",
    }
}

/// What happened to a row's packet, in words, as seen from the sender's
/// frame and from the receiver's frame (either `None` when there is nothing
/// to say on that side). These are the pcapng packet comments and the
/// HTML tooltips.
pub fn row_words(r: &FramePair) -> (Option<String>, Option<String>) {
    let (snd, rcv) = (sender_name(r.dir), receiver_name(r.dir));
    let sent = r.sender().map(|f| f.frame);
    let (mut s, mut v): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    match r.event {
        Some(EventKind::Lost) => s.push(format!("lost in between: not seen at {rcv}")),
        Some(EventKind::Injected) => v.push(format!(
            "injected in between: the {snd} never sent it"
        )),
        Some(EventKind::OutsideWindow) if r.sender().is_some() => s.push(format!(
            "not seen at {rcv}, but it would have arrived while the {rcv} capture was not running (not a loss)"
        )),
        Some(EventKind::OutsideWindow) => v.push(format!(
            "not seen at {snd}, but it would have been sent while the {snd} capture was not running (not an injection)"
        )),
        Some(EventKind::Reordered) => {
            let after = r
                .arrived_after
                .map(|f| format!(" after frame {f} of the {rcv} capture, which was sent later"))
                .unwrap_or_default();
            v.push(format!("reordered: arrived{after}"));
            s.push(format!("reordered in between: arrived at {rcv}{after}"));
        }
        Some(EventKind::Duplicated) => v.push(format!(
            "duplicated in between: copy {} of frame {} of the {snd} capture",
            r.copy,
            sent.unwrap_or(0)
        )),
        Some(EventKind::Modified) | None => {}
    }
    if r.resegmented {
        let words =
            "resegmented in between: its bytes crossed in other segment boundaries (not a loss)";
        if r.receiver().is_some() {
            v.push(words.into());
        } else {
            s.push(words.into());
        }
    }
    for m in &r.modified {
        let w = format!("changed in between: {}", modification_words(*m));
        s.push(w.clone());
        v.push(w);
    }
    let join = |v: Vec<String>| (!v.is_empty()).then(|| v.join("; "));
    (join(s), join(v))
}

/// [`row_words`] placed on the client frame and the LB frame.
pub fn row_comments(r: &FramePair) -> (Option<String>, Option<String>) {
    let (s, v) = row_words(r);
    match r.dir {
        Dir::C2s => (s, v),
        Dir::S2c => (v, s),
    }
}
