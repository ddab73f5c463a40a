//! From an alignment to events: lost, reordered, duplicated, injected,
//! modified, and what only looks lost because it fell outside the other
//! capture's time window. Definitions are the lab's (`shared/lab/README.md`).

use super::align::{self, DirAlignment, DirRules, NONE};
use super::pairing::{self, Votes};
use super::side::{Side, SideKind};
use super::types::*;
use super::window::Bounds;
use super::Prepared;
use twincap_parser::{info, tcp_flags, TcpPacket};

/// What every judgement needs.
pub struct Context<'a> {
    pub client: Side<'a>,
    pub lb: Side<'a>,
    pub clock: ClockEstimate,
    /// Median one-way delay per direction over all pairs (client clock).
    pub typical_delay_ns: [i64; 2],
    pub client_window: Window,
    pub lb_window: Window,
    /// When each capture ran, on the client clock (open where unproven).
    pub client_bounds: Bounds,
    pub lb_bounds: Bounds,
}

impl Context<'_> {
    /// The receiver capture's window of a direction, on the client clock.
    fn receiver_window(&self, d: Dir) -> Bounds {
        match d {
            Dir::C2s => self.lb_bounds,
            Dir::S2c => self.client_bounds,
        }
    }
    fn sender_window(&self, d: Dir) -> Bounds {
        self.receiver_window(d.other())
    }
    /// A packet's time on the client clock.
    fn client_time(&self, side: SideKind, p: &TcpPacket) -> i64 {
        match side {
            SideKind::ClientSide => p.ts_ns,
            SideKind::LbSide => self.clock.to_client(p.ts_ns),
        }
    }
}

/// Which capture sends in a direction.
fn sender_kind(d: Dir) -> SideKind {
    match d {
        Dir::C2s => SideKind::ClientSide,
        Dir::S2c => SideKind::LbSide,
    }
}

fn receiver_kind(d: Dir) -> SideKind {
    match d {
        Dir::C2s => SideKind::LbSide,
        Dir::S2c => SideKind::ClientSide,
    }
}

/// Put a packet on its side of an event.
fn place(e: &mut Event, side: SideKind, index: u32, p: &TcpPacket) {
    match side {
        SideKind::ClientSide => {
            e.client_frame = Some(p.frame);
            e.client_time_ns = Some(p.ts_ns);
            e.client_packet = Some(index);
        }
        SideKind::LbSide => {
            e.lb_frame = Some(p.frame);
            e.lb_time_ns = Some(p.ts_ns);
            e.lb_packet = Some(index);
        }
    }
}

fn side<'a>(ctx: &Context<'a>, k: SideKind) -> Side<'a> {
    match k {
        SideKind::ClientSide => ctx.client,
        SideKind::LbSide => ctx.lb,
    }
}

/// Align one direction of a pair: the rules learnt from its sure matches,
/// what the middle does to the IP ID (`kept`, `zeroed`, ...), and which
/// receiver packet is which sender packet. Needs only the clock and the
/// whole capture's typical delays, so that [`super::frames`] redoes a
/// pair's alignment from a `DiffResult` exactly as the diff did.
pub fn align_dir(
    client: &Side,
    lb: &Side,
    clock: &ClockEstimate,
    typical_delay_ns: [i64; 2],
    prep: &Prepared,
    d: Dir,
) -> (DirRules, &'static str, DirAlignment) {
    let (snd, rcv) = align::sides(d, client, lb);
    let dp = &prep.dirs[d.index()];
    let (mut n, mut id_eq, mut rcv_zero, mut snd_zero, mut ts_n, mut ts_eq) = (0, 0, 0, 0, 0, 0);
    // Anchors whose sender IP ID is 0 agree with a middle that keeps the
    // IP ID and with one that zeroes it (Linux sends 0 on SYN-ACKs and
    // socket-less RSTs): only the others can say the middle keeps it.
    let (mut id_n, mut id_kept) = (0, 0);
    let (mut opt_n, mut opt_eq, mut win_eq) = (0, 0, 0);
    let anchors = &prep.anchors[d.index()];
    // How many anchors show each TTL drop.
    let mut ttl_drops = [0u32; 256];
    let mut delays = Vec::with_capacity(anchors.len());
    for &(s, r) in anchors {
        let sp = snd.packet(dp.sender[s as usize].index);
        let rp = rcv.packet(dp.receiver[r as usize].index);
        n += 1;
        id_eq += (sp.ip_id == rp.ip_id) as u32;
        if sp.ip_id != 0 {
            id_n += 1;
            id_kept += (sp.ip_id == rp.ip_id) as u32;
        }
        rcv_zero += (rp.ip_id == 0) as u32;
        snd_zero += (sp.ip_id == 0) as u32;
        if sp.is(info::TIMESTAMPS) && rp.is(info::TIMESTAMPS) {
            ts_n += 1;
            ts_eq += (sp.ts_val == rp.ts_val && sp.ts_ecr == rp.ts_ecr) as u32;
        }
        // SYNs aside: the middle may rewrite their options (MSS clamp,
        // SACK-permitted stripped).
        if sp.flags & tcp_flags::SYN == 0 {
            opt_n += 1;
            opt_eq += (sp.tcp_hdr_len == rp.tcp_hdr_len) as u32;
            win_eq += (sp.win == rp.win) as u32;
        }
        ttl_drops[sp.ttl.wrapping_sub(rp.ttl) as usize] += 1;
        delays.push(align::delay_ns(d, sp, rp, clock));
    }
    let options_kept = opt_n > 0 && opt_eq * 10 >= opt_n * 9;
    // SYNs aside too: a middle may rewrite their window with their options.
    let win_kept = opt_n > 0 && win_eq * 10 >= opt_n * 9;
    // The path's hop count, where 90% of the anchors agree on it.
    // (Counted, not sorted: at most one drop can have 90%.)
    let ttl_drop = (0..=u8::MAX).find(|&t| {
        let k = ttl_drops[t as usize];
        k > 0 && k * 10 >= n * 9
    });
    let ip_id_kept = id_n > 0 && id_kept * 10 >= id_n * 9;
    let ip_id = if n == 0 || (id_n == 0 && id_eq == n) {
        "unknown"
    } else if ip_id_kept {
        "kept"
    } else if rcv_zero == n && snd_zero < n {
        "zeroed"
    } else {
        "rewritten"
    };
    let ts_kept = ts_n == 0 || ts_eq * 10 >= ts_n * 9;
    // A few anchors may all be late (held, queued): below three, the
    // typical delay is the whole capture's; the floor is never above it.
    // Only the lowest and the median are read: found without a sort.
    let global = typical_delay_ns[d.index()];
    let slack = (clock.uncertainty_s * 2e9) as i64;
    let lowest = delays.iter().min().copied();
    let (typical, min) = if delays.len() < 3 {
        (global, global.min(0).min(lowest.unwrap_or(0)) - slack)
    } else {
        let middle = delays.len() / 2;
        let (_, &mut median, _) = delays.select_nth_unstable(middle);
        (median, lowest.unwrap_or(median).min(global) - slack)
    };
    let r = DirRules {
        ip_id_kept,
        ts_kept,
        win_kept,
        ttl_drop,
        options_kept,
        typical_delay_ns: typical,
        min_delay_ns: min,
    };
    let al = align::align(d, dp, &snd, &rcv, &r, clock);
    (r, ip_id, al)
}

/// Judge one paired connection.
pub fn judge_pair(ctx: &Context, prep: &Prepared, confidence: f64, votes: &Votes) -> FlowPair {
    judge_pair_aligned(ctx, prep, confidence, votes).0
}

/// [`judge_pair`], and the alignment of each direction it judged (for
/// [`super::frames::frame_pairs_from`]).
pub fn judge_pair_aligned(
    ctx: &Context,
    prep: &Prepared,
    confidence: f64,
    votes: &Votes,
) -> (FlowPair, [DirAlignment; 2]) {
    let client_conn = ctx.client.conn(prep.client_stream);
    let lb_conn = ctx.lb.conn(prep.lb_streams[0]);
    let client_ref = ctx.client.conn_ref(client_conn);
    let lb_ref = ctx.lb.conn_ref(lb_conn);
    let mut nat = NatChange {
        snat: client_ref.src != lb_ref.src,
        dnat: client_ref.dst != lb_ref.dst,
        client_src: client_ref.src.clone(),
        lb_src: lb_ref.src.clone(),
        client_dst: client_ref.dst.clone(),
        lb_dst: lb_ref.dst.clone(),
        ..NatChange::default()
    };
    let mut events = Vec::new();
    let mut ambiguous = Vec::new();
    let mut stats = [AlignStats::default(); 2];
    let mut aligned: [DirAlignment; 2] = Default::default();
    for d in Dir::BOTH {
        let (rules, ip_id_word, al) = align_dir(
            &ctx.client,
            &ctx.lb,
            &ctx.clock,
            ctx.typical_delay_ns,
            prep,
            d,
        );
        nat.ip_id[d.index()] = ip_id_word;
        let dp = &prep.dirs[d.index()];
        stats[d.index()] = AlignStats {
            sent: dp.sender.len() as u32,
            received: dp.receiver.len() as u32,
            matched: al.first_copy.iter().filter(|&&r| r != NONE).count() as u32
                + al.resegmented_sender.iter().filter(|&&b| b).count() as u32,
            resegmented: al.resegmented_sender.iter().filter(|&&b| b).count() as u32,
        };
        let from = events.len();
        direction_events(ctx, d, dp, &al, &rules, &mut events);
        other_readings(ctx, d, dp, &al, &rules, &events[from..], &mut ambiguous);
        modifications(ctx, prep, d, &al, &mut nat, &mut events);
        aligned[d.index()] = al;
    }
    events.sort_by_key(|e| {
        (
            e.client_frame.or(e.lb_frame).unwrap_or(0),
            e.lb_frame.unwrap_or(0),
            e.kind,
        )
    });
    let flow = FlowPair {
        client: client_ref,
        lb: lb_ref,
        lb_extra: prep.lb_streams[1..]
            .iter()
            .map(|&s| ctx.lb.conn_ref(ctx.lb.conn(s)))
            .collect(),
        confidence,
        evidence: pairing::evidence(votes),
        nat,
        c2s: stats[0],
        s2c: stats[1],
        events,
        rst_causes: Vec::new(),
        f5: None,
        ambiguous,
    };
    (flow, aligned)
}

/// Ambiguities re-read per direction, at most (each costs one pass).
const READINGS: usize = 16;

/// For each pair of sender packets the alignment could not tell apart, the
/// events that change when the receiver's copies are read the other way
/// round (the two packets' copies swapped).
fn other_readings(
    ctx: &Context,
    d: Dir,
    dp: &align::DirPackets,
    al: &DirAlignment,
    rules: &DirRules,
    reported: &[Event],
    out: &mut Vec<Ambiguity>,
) {
    let snd = side(ctx, sender_kind(d));
    let key = |e: &Event| {
        let f = match d {
            Dir::C2s => e.client_frame,
            Dir::S2c => e.lb_frame,
        };
        matches!(
            e.kind,
            EventKind::Lost | EventKind::Reordered | EventKind::Duplicated
        )
        .then_some((e.kind, f?))
    };
    let mut pairs: Vec<(u32, u32)> = al.alternatives.clone();
    pairs.sort_unstable();
    pairs.dedup();
    let main: Vec<(EventKind, u32)> = reported.iter().filter_map(key).collect();
    for &(a, b) in pairs.iter().take(READINGS) {
        let mut alt = al.clone();
        let swap = |x: &mut u32| {
            if *x == a {
                *x = b;
            } else if *x == b {
                *x = a;
            }
        };
        alt.sender_of.iter_mut().for_each(swap);
        alt.first_copy.swap(a as usize, b as usize);
        let mut other = Vec::new();
        direction_events(ctx, d, dp, &alt, rules, &mut other);
        let other: Vec<(EventKind, u32)> = other.iter().filter_map(key).collect();
        let mut events: Vec<AmbiguousEvent> = main
            .iter()
            .filter(|k| !other.contains(k))
            .map(|&(kind, f)| (kind, f, true))
            .chain(
                other
                    .iter()
                    .filter(|k| !main.contains(k))
                    .map(|&(kind, f)| (kind, f, false)),
            )
            .map(|(kind, sender_frame, reported)| AmbiguousEvent {
                kind,
                sender_frame,
                reported,
            })
            .collect();
        if events.is_empty() {
            continue;
        }
        events.sort_by_key(|e| (e.sender_frame, e.kind));
        let frame = |s: u32| snd.packet(dp.sender[s as usize].index).frame;
        out.push(Ambiguity {
            dir: d,
            sender_frames: [frame(a), frame(b)],
            events,
        });
    }
}

/// Lost, duplicated, injected and reordered packets of one direction.
fn direction_events(
    ctx: &Context,
    d: Dir,
    dp: &align::DirPackets,
    al: &DirAlignment,
    rules: &DirRules,
    out: &mut Vec<Event>,
) {
    let (sk, rk) = (sender_kind(d), receiver_kind(d));
    let (snd, rcv) = (side(ctx, sk), side(ctx, rk));
    let rw = ctx.receiver_window(d);
    let sw = ctx.sender_window(d);
    // Lost: no copy, bytes not resegmented, would have arrived in the window.
    for (s, sp) in dp.sender.iter().enumerate() {
        if al.first_copy[s] != NONE || al.resegmented_sender[s] {
            continue;
        }
        let p = snd.packet(sp.index);
        let sent = ctx.client_time(sk, p);
        let kind = if !rw.would_receive(sent, rules.typical_delay_ns.max(0)) {
            EventKind::OutsideWindow
        } else {
            EventKind::Lost
        };
        let mut e = Event::new(kind, d);
        place(&mut e, sk, sp.index, p);
        e.alternatives = alternatives(dp, al, &snd, s as u32);
        out.push(e);
    }
    // Duplicated and injected; reordered on first copies (RFC 4737).
    let mut extra: Vec<Vec<u32>> = Vec::new();
    let mut extra_of: Vec<(u32, usize)> = Vec::new();
    let mut next_expected = 0u32;
    for (r, rp) in dp.receiver.iter().enumerate() {
        let s = al.sender_of[r];
        let p = rcv.packet(rp.index);
        if s == NONE {
            if al.resegmented_receiver[r] {
                continue;
            }
            let got = ctx.client_time(rk, p);
            let kind = if !sw.would_have_sent(got, rules.typical_delay_ns.max(0)) {
                EventKind::OutsideWindow
            } else {
                EventKind::Injected
            };
            let mut e = Event::new(kind, d);
            place(&mut e, rk, rp.index, p);
            out.push(e);
            continue;
        }
        if al.first_copy[s as usize] != r as u32 {
            match extra_of.iter().find(|e| e.0 == s) {
                Some(&(_, i)) => extra[i].push(p.frame),
                None => {
                    extra_of.push((s, extra.len()));
                    extra.push(vec![p.frame]);
                }
            }
            continue;
        }
        if s < next_expected {
            let sp = &dp.sender[s as usize];
            let mut e = Event::new(EventKind::Reordered, d);
            place(&mut e, sk, sp.index, snd.packet(sp.index));
            place(&mut e, rk, rp.index, p);
            e.alternatives = alternatives(dp, al, &snd, s);
            out.push(e);
        } else {
            next_expected = s + 1;
        }
    }
    for (s, i) in extra_of {
        let sp = &dp.sender[s as usize];
        let rp = &dp.receiver[al.first_copy[s as usize] as usize];
        let mut e = Event::new(EventKind::Duplicated, d);
        place(&mut e, sk, sp.index, snd.packet(sp.index));
        place(&mut e, rk, rp.index, rcv.packet(rp.index));
        e.extra_frames = std::mem::take(&mut extra[i]);
        e.alternatives = alternatives(dp, al, &snd, s);
        out.push(e);
    }
}

/// The sender frames an event on sender position `s` could as well name.
fn alternatives(dp: &align::DirPackets, al: &DirAlignment, snd: &Side, s: u32) -> Vec<u32> {
    let mut v: Vec<u32> = al
        .alternatives_of(s)
        .map(|a| snd.packet(dp.sender[a as usize].index).frame)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// What the middle changed in one direction: MSS, SACK-permitted, IP ID,
/// sequence numbers, TTL. One `Modified` event per kind, on the first
/// affected packet, with the count.
fn modifications(
    ctx: &Context,
    prep: &Prepared,
    d: Dir,
    al: &DirAlignment,
    nat: &mut NatChange,
    out: &mut Vec<Event>,
) {
    let (sk, rk) = (sender_kind(d), receiver_kind(d));
    let (snd, rcv) = (side(ctx, sk), side(ctx, rk));
    let dp = &prep.dirs[d.index()];
    let mut found: Vec<(Modification, Event, u32)> = Vec::new();
    let note = |m: Modification,
                s: &align::Pkt,
                r: &align::Pkt,
                found: &mut Vec<(Modification, Event, u32)>| {
        if let Some(f) = found.iter_mut().find(|f| f.0 == m) {
            f.2 += 1;
            return;
        }
        let mut e = Event::new(EventKind::Modified, d);
        place(&mut e, sk, s.index, snd.packet(s.index));
        place(&mut e, rk, r.index, rcv.packet(r.index));
        e.modification = Some(m);
        found.push((m, e, 1));
    };
    let mut ttl: Vec<u32> = Vec::new();
    for (s, &r) in al.first_copy.iter().enumerate() {
        if r == NONE {
            continue;
        }
        let (sp, rp) = (&dp.sender[s], &dp.receiver[r as usize]);
        let (a, b) = (snd.packet(sp.index), rcv.packet(rp.index));
        ttl.push((a.ttl as i16 - b.ttl as i16) as u16 as u32);
        if a.ip_id != b.ip_id {
            note(Modification::IpId, sp, rp, &mut found);
        }
        let seq_shifted = a.seq != b.seq;
        let ack_shifted = a.has(tcp_flags::ACK) && a.ack != b.ack;
        if seq_shifted || ack_shifted {
            note(Modification::SeqOffset, sp, rp, &mut found);
        }
        if a.has(tcp_flags::SYN) {
            let (a_mss, b_mss) = (snd.cap.attrs(a).mss, rcv.cap.attrs(b).mss);
            if a.is(info::MSS) && b.is(info::MSS) && a_mss != b_mss {
                let slot = match d {
                    Dir::C2s => &mut nat.mss_c2s,
                    Dir::S2c => &mut nat.mss_s2c,
                };
                *slot = Some((a_mss, b_mss));
                note(Modification::MssClamp, sp, rp, &mut found);
            }
            if a.is(info::SACK_PERM) && !b.is(info::SACK_PERM) {
                if !nat.sackperm_stripped.contains(&d) {
                    nat.sackperm_stripped.push(d);
                }
                note(Modification::SackpermStrip, sp, rp, &mut found);
            }
        }
    }
    // Sequence offsets of the primary LB connection.
    let off = prep.offsets[0][d.index()];
    if off != 0 {
        match d {
            Dir::C2s => nat.seq_offset_c2s = Some(off),
            Dir::S2c => nat.seq_offset_s2c = Some(off),
        }
    }
    if let Some(m) = mode_u32(&mut ttl) {
        nat.ttl_drop[d.index()] = Some(m as u16 as i16);
    }
    for (_, mut e, n) in found {
        e.packets = Some(n);
        out.push(e);
    }
}

fn mode_u32(v: &mut [u32]) -> Option<u32> {
    v.sort_unstable();
    let mut best = None;
    let mut best_n = 0;
    for g in v.chunk_by(|a, b| a == b) {
        if g.len() > best_n {
            best_n = g.len();
            best = Some(g[0]);
        }
    }
    best
}

/// A client-side connection with no twin: what it sent is lost (or fell
/// outside the LB capture's window), what it received was injected.
pub fn judge_unmatched_client(ctx: &Context, stream: u32) -> Unmatched {
    let c = ctx.client.conn(stream);
    let r = ctx.client.conn_ref(c);
    let dirs = ctx.client.by_dir(c);
    let mut events = Vec::new();
    let lw = ctx.receiver_window(Dir::C2s);
    let mut inside = false;
    for d in Dir::BOTH {
        for &i in &dirs[d.index()] {
            let p = ctx.client.packet(i);
            let typical = ctx.typical_delay_ns[d.index()].max(0);
            let in_window = match d {
                Dir::C2s => lw.would_receive(p.ts_ns, typical),
                Dir::S2c => lw.would_have_sent(p.ts_ns, typical),
            };
            inside |= in_window;
            let kind = match (in_window, d) {
                (false, _) => EventKind::OutsideWindow,
                (true, Dir::C2s) => EventKind::Lost,
                (true, Dir::S2c) => EventKind::Injected,
            };
            let mut e = Event::new(kind, d);
            place(&mut e, SideKind::ClientSide, i, p);
            events.push(e);
        }
    }
    events.sort_by_key(|e| e.client_frame);
    Unmatched {
        stream,
        src: r.src,
        dst: r.dst,
        packets: r.packets,
        reason: if inside {
            "no twin in the LB capture"
        } else {
            "outside the LB capture's time window"
        },
        events,
        rst_causes: Vec::new(),
    }
}

/// An LB-side connection with no twin: most often another client's.
pub fn judge_unmatched_lb(ctx: &Context, stream: u32) -> Unmatched {
    let c = ctx.lb.conn(stream);
    let r = ctx.lb.conn_ref(c);
    let (t0, t1) = ctx.lb.span(c);
    let (t0, t1) = (ctx.clock.to_client(t0), ctx.clock.to_client(t1));
    let inside = t1 >= ctx.client_window.first_ns.max(ctx.client_bounds.start)
        && t0 <= ctx.client_window.last_ns.min(ctx.client_bounds.end);
    Unmatched {
        stream,
        src: r.src,
        dst: r.dst,
        packets: r.packets,
        reason: if inside {
            "no twin in the client capture (another client's connection)"
        } else {
            "outside the client capture's time window"
        },
        events: Vec::new(),
        rst_causes: Vec::new(),
    }
}
