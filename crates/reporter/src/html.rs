//! `twincap diff --format html`: one self-contained page (inline CSS and
//! SVG, no script, no external asset: it opens offline and can be attached
//! to a ticket): the summary, the findings, and for each problem connection
//! a two-lane ladder diagram.
//!
//! The ladder: the client capture point on the left, the LB capture point
//! on the right, time running down on the client's clock (the LB side moved
//! onto it by the diff's clock estimate). Each packet is an arrow from where
//! and when it was sent to where and when it arrived. A lost packet ends in
//! a cross half-way; reordered, duplicated and injected packets have their
//! own colour and stroke; hovering an arrow shows its frame numbers on both
//! sides (SVG `<title>`). Time is drawn to scale between close packets and
//! compressed across idle gaps (marked), so bursts and crossings stay
//! readable. At most [`MAX_ARROWS`] packets are drawn per connection, from
//! a little before its first event; the page says when it cut.

use crate::conns::{row_words, ConnView};
use crate::diff::{cause_lines, f5_words, flag_words, flow_title, DiffReport, FlowOut};
use std::fmt::Write;
use twincap_matcher::diff::frames::FramePair;
use twincap_matcher::diff::{Dir, EventKind};
use twincap_parser::Capture;

/// Packets drawn per diagram, at most.
pub const MAX_ARROWS: usize = 400;

/// Connections drawn per page, at most (those with the most events); the
/// others are listed.
pub const MAX_DIAGRAMS: usize = 40;

/// Rows shown before a connection's first event when it is cut.
const CONTEXT_BEFORE: usize = 20;

/// A finding as the page shows it: a diagnosis (`crate::diagnose`) reduced
/// to what every finding has (id, severity, one sentence, the frames that
/// prove it on each side), so the page renders any finding the same way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Finding {
    pub id: String,
    pub severity: String,
    pub summary: String,
    pub client_frames: Vec<u32>,
    pub lb_frames: Vec<u32>,
}

/// The report's diagnoses as the page shows them.
pub fn findings(rep: &DiffReport) -> Vec<Finding> {
    rep.diagnoses
        .iter()
        .map(|d| Finding {
            id: d.id.to_string(),
            severity: d.severity.word().to_string(),
            summary: d.summary.clone(),
            client_frames: d.client_frames.clone(),
            lb_frames: d.lb_frames.clone(),
        })
        .collect()
}

/// HTML text escaping (also fine inside attributes).
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn frames_list(v: &[u32]) -> String {
    const SHOWN: usize = 12;
    let mut s: Vec<String> = v.iter().take(SHOWN).map(|f| f.to_string()).collect();
    if v.len() > SHOWN {
        s.push(format!("… ({} more)", v.len() - SHOWN));
    }
    s.join(", ")
}

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1a202c;background:#fff;max-width:1100px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0}
h3{font-size:15px;margin:22px 0 6px}
table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #e2e8f0;padding:3px 8px;text-align:left}
th{background:#f7fafc} .num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#718096} .files td:first-child{font-weight:600}
ul.findings{list-style:none;padding:0} ul.findings li{margin:6px 0;padding:6px 10px;border-left:4px solid #a0aec0;background:#f7fafc}
.sev{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;padding:0 6px;border-radius:3px;margin-right:6px;color:#fff;background:#718096}
.sev-critical,.sev-error{background:#c53030} .sev-warning{background:#c05621} .sev-info,.sev-note{background:#2b6cb0}
li.sev-critical,li.sev-error{border-color:#c53030} li.sev-warning{border-color:#c05621} li.sev-info,li.sev-note{border-color:#2b6cb0}
code{font:12px ui-monospace,monospace;background:#edf2f7;padding:0 3px;border-radius:2px}
svg.ladder{display:block;margin:8px 0;border:1px solid #e2e8f0;background:#fff}
svg text{font:11px ui-monospace,monospace;fill:#2d3748}
svg .lane{stroke:#4a5568;stroke-width:2}
svg .pkt line,svg .pkt path{stroke-width:1.4;fill:none}
svg .pkt:hover line,svg .pkt:hover path{stroke-width:3}
svg .c2s line{stroke:#2b6cb0} svg .s2c line{stroke:#2f855a}
svg .lost line{stroke:#c53030;stroke-dasharray:5 3} svg .cross{stroke:#c53030;stroke-width:2.5}
svg .reordered line{stroke:#dd6b20;stroke-width:2.4}
svg .duplicated line{stroke:#805ad5;stroke-dasharray:2 2;stroke-width:2}
svg .injected line{stroke:#d53f8c;stroke-width:2.2} svg .spark{fill:#d53f8c}
svg .outside line{stroke:#a0aec0;stroke-dasharray:1 3} svg .resegmented line{stroke:#a0aec0;stroke-dasharray:6 2}
svg .gap{stroke:#cbd5e0;stroke-dasharray:3 3} svg .gaptext{fill:#a0aec0}
svg .tag{font-size:10px;font-weight:700}
pre.why{font:12px ui-monospace,monospace;background:#f7fafc;border-left:4px solid #2b6cb0;padding:4px 8px;margin:4px 0;white-space:pre-wrap}
"#;

/// The whole page.
pub fn to_html(
    rep: &DiffReport,
    views: &[ConnView],
    not_drawn: &[(String, usize)],
    findings: &[Finding],
    client: &Capture,
    lb: &Capture,
) -> String {
    let mut o = String::new();
    let problems = views.len() + not_drawn.len();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>twincap diff: {problems} problem connection(s)</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(o, "<h1>twincap diff</h1><p class=\"muted\">Two captures of the same traffic, lined up packet by packet: what the path between the client side and the load balancer (LB) side did.</p>");
    summary(&mut o, rep);
    let _ = writeln!(o, "<h2>Findings</h2>");
    if findings.is_empty() {
        o.push_str("<p>Nothing found: every packet arrived once, in order.</p>\n");
    } else {
        o.push_str("<ul class=\"findings\">\n");
        for f in findings {
            let sev = esc(&f.severity);
            let _ = write!(
                o,
                "<li class=\"sev-{sev}\"><span class=\"sev sev-{sev}\">{sev}</span><code>{}</code> {}",
                esc(&f.id),
                esc(&f.summary)
            );
            for (side, v) in [("client", &f.client_frames), ("LB", &f.lb_frames)] {
                if !v.is_empty() {
                    let _ = write!(
                        o,
                        "<br><span class=\"muted\">{side} frames: {}</span>",
                        frames_list(v)
                    );
                }
            }
            o.push_str("</li>\n");
        }
        o.push_str("</ul>\n");
    }
    let _ = writeln!(o, "<h2>Connections</h2>");
    if views.is_empty() {
        o.push_str("<p>No problem connection to draw.</p>\n");
    } else {
        legend(&mut o);
    }
    // The drawing `v` is of the pair `f`.
    let shows = |v: &ConnView, f: &FlowOut| {
        Some(f.client.stream) == v.client_stream && Some(f.lb.stream) == v.lb_stream
    };
    for (i, v) in views.iter().enumerate() {
        let _ = writeln!(o, "<h3 id=\"conn-{}\">{}</h3>", i + 1, esc(&v.title));
        if let Some(f) = rep.flows.iter().find(|f| shows(v, f)) {
            why(&mut o, f);
        }
        ladder(&mut o, v, client, lb);
    }
    // Resets with a stated cause on connections not drawn, as in the text.
    let others: Vec<&FlowOut> = rep
        .flows
        .iter()
        .filter(|f| !f.rst_causes.is_empty() && !views.iter().any(|v| shows(v, f)))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            o,
            "<h3>Resets with a stated cause on other connections</h3>"
        );
        for f in others {
            let _ = writeln!(o, "<p class=\"muted\">{}</p>", esc(&flow_title(f)));
            why(&mut o, f);
        }
    }
    if !not_drawn.is_empty() {
        let _ = writeln!(
            o,
            "<h3>{} more problem connections, not drawn</h3><p class=\"muted\">The page draws the {} with the most events; the pcapng export (<code>--export</code>) has every one.</p><table><tr><th>connection</th><th>events</th></tr>",
            not_drawn.len(),
            views.len()
        );
        for (title, n) in not_drawn {
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"num\">{n}</td></tr>",
                esc(title)
            );
        }
        o.push_str("</table>\n");
    }
    o.push_str("</body></html>\n");
    o
}

fn summary(o: &mut String, rep: &DiffReport) {
    let f = &rep.files;
    let _ = write!(o, "<h2>Summary</h2><table class=\"files\">");
    for (name, x) in [("client side", &f.client), ("LB side", &f.lb)] {
        let _ = write!(
            o,
            "<tr><td>{name}</td><td>{}</td><td class=\"num\">{} frames</td><td class=\"num\">{} TCP</td><td class=\"num\">{} connections</td></tr>",
            esc(&x.path),
            x.frames,
            x.tcp_frames,
            x.connections
        );
    }
    o.push_str("</table>\n");
    let s = &rep.summary;
    let _ = writeln!(
        o,
        "<p>{} connection pairs; {} client-side and {} LB-side connections without a twin; \
         <b>{} pairs with problems</b>.<br>Clock: LB = client {:+.6} s, drift {:+.2} ppm \
         (±{:.6} s, from {} packets, {}).</p>",
        s.pairs,
        s.unmatched_client,
        s.unmatched_lb,
        s.flows_with_problems,
        rep.clock.offset_s,
        rep.clock.drift_ppm,
        rep.clock.uncertainty_s,
        rep.clock.samples,
        rep.clock.source
    );
    o.push_str("<table><tr><th>event</th><th>client → LB</th><th>LB → client</th></tr>");
    for k in EventKind::ALL {
        let m = s.events.get(k.word());
        let n = |d: &str| m.and_then(|m| m.get(d)).copied().unwrap_or(0);
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            k.word(),
            n("c2s"),
            n("s2c")
        );
    }
    o.push_str("</table>\n");
}

/// The drawing classes of a row.
fn class(r: &FramePair) -> &'static str {
    match r.event {
        Some(EventKind::Lost) => "lost",
        Some(EventKind::Reordered) => "reordered",
        Some(EventKind::Duplicated) => "duplicated",
        Some(EventKind::Injected) => "injected",
        Some(EventKind::OutsideWindow) => "outside",
        _ if r.resegmented => "resegmented",
        _ => "",
    }
}

fn legend(o: &mut String) {
    let items = [
        ("c2s", "client → LB, arrived"),
        ("s2c", "LB → client, arrived"),
        ("lost", "lost in between"),
        ("reordered", "reordered (arrived after a later one)"),
        ("duplicated", "extra copy (duplicated)"),
        ("injected", "injected (never sent)"),
        ("outside", "other capture not running"),
    ];
    let _ = write!(o, "<svg class=\"ladder legend\" width=\"900\" height=\"{}\" role=\"img\" aria-label=\"legend\">", 10 + 18 * items.len().div_ceil(2));
    for (i, (cls, words)) in items.iter().enumerate() {
        let (x, y) = (10 + (i % 2) as i32 * 440, 18 + (i / 2) as i32 * 18);
        let dir = if *cls == "s2c" { "s2c" } else { "c2s" };
        let _ = write!(
            o,
            "<g class=\"pkt {dir} {cls}\"><line x1=\"{x}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            y - 4,
            x + 60,
            y - 4
        );
        match *cls {
            "lost" => cross(o, x + 60, y - 4),
            "injected" => spark(o, x, y - 4),
            _ => {}
        }
        let _ = write!(
            o,
            "</g><text x=\"{}\" y=\"{y}\">{}</text>",
            x + 72,
            esc(words)
        );
    }
    o.push_str("</svg>\n");
}

fn cross(o: &mut String, x: i32, y: i32) {
    let _ = write!(
        o,
        "<path class=\"cross\" d=\"M{} {} L{} {} M{} {} L{} {}\"/>",
        x - 5,
        y - 5,
        x + 5,
        y + 5,
        x - 5,
        y + 5,
        x + 5,
        y - 5
    );
}

fn spark(o: &mut String, x: i32, y: i32) {
    let _ = write!(
        o,
        "<path class=\"spark\" d=\"M{} {} L{} {} L{} {} L{} {} Z\"/>",
        x,
        y - 6,
        x + 5,
        y,
        x,
        y + 6,
        x - 5,
        y
    );
}

/// Time (client clock, ns) to y, to scale between close points and
/// compressed across idle gaps: the gaps drawn shortened are returned too.
struct Scale {
    /// Sorted distinct times and their y.
    points: Vec<(i64, f64)>,
    gaps: Vec<(f64, i64)>,
}

const TOP: f64 = 50.0;
/// Smallest step between two distinct times, px (arrows stay apart).
const MIN_STEP: f64 = 6.0;
/// Largest step, px: a longer quiet time is drawn as a marked gap.
const MAX_STEP: f64 = 60.0;

impl Scale {
    fn new(mut times: Vec<i64>, typical_delay_ns: i64) -> Scale {
        times.sort_unstable();
        times.dedup();
        // The typical one-way delay is drawn 30 px tall.
        let px_per_ns = 30.0 / typical_delay_ns.max(50_000) as f64;
        // Quiet times this long are marked as shortened.
        let gap_ns = (20 * typical_delay_ns).max(5_000_000);
        let mut points = Vec::with_capacity(times.len());
        let mut gaps = Vec::new();
        let mut y = TOP;
        for (i, &t) in times.iter().enumerate() {
            if i > 0 {
                let dt = t - times[i - 1];
                let step = dt as f64 * px_per_ns;
                if dt >= gap_ns {
                    gaps.push((y + MAX_STEP / 2.0, dt));
                }
                y += step.clamp(MIN_STEP, MAX_STEP);
            }
            points.push((t, y));
        }
        Scale { points, gaps }
    }
    fn y(&self, t: i64) -> f64 {
        let i = self.points.partition_point(|p| p.0 < t);
        self.points.get(i).map_or(TOP, |p| p.1)
    }
    fn bottom(&self) -> f64 {
        self.points.last().map_or(TOP, |p| p.1)
    }
}

/// A duration: `0.250 ms`, `12.345 ms`, `1.031234 s` (to the microsecond).
fn ms(ns: i64) -> String {
    let v = ns as f64 / 1e6;
    if v.abs() >= 1000.0 {
        format!("{:.6} s", v / 1e3)
    } else {
        format!("{v:.3} ms")
    }
}

/// Label heights already used beside a lane: a new label moves down until
/// it no longer overlaps one.
#[derive(Default)]
struct Labels(Vec<f64>);

impl Labels {
    fn place(&mut self, mut y: f64) -> f64 {
        while self.0.iter().rev().take(16).any(|u| (u - y).abs() < 9.0) {
            y += 9.0;
        }
        self.0.push(y);
        y
    }
}

/// Which rows to draw: all, or [`MAX_ARROWS`] from a little before the
/// first event.
fn shown(rows: &[FramePair]) -> (usize, usize) {
    if rows.len() <= MAX_ARROWS {
        return (0, rows.len());
    }
    let first = rows.iter().position(|r| r.event.is_some()).unwrap_or(0);
    let start = first
        .saturating_sub(CONTEXT_BEFORE)
        .min(rows.len() - MAX_ARROWS);
    (start, start + MAX_ARROWS)
}

/// What the captures say about a pair beyond its packets: the F5 view
/// (virtual server, TMM, the other leg) and why its RSTs were sent, in the
/// text report's words.
fn why(o: &mut String, f: &FlowOut) {
    let words = format!(
        "{}{}",
        f.f5.as_ref().map(f5_words).unwrap_or_default(),
        cause_lines(&f.rst_causes)
    );
    let lines: Vec<&str> = words.lines().map(str::trim).collect();
    if !lines.is_empty() {
        let _ = writeln!(o, "<pre class=\"why\">{}</pre>", esc(&lines.join("\n")));
    }
}

fn ladder(o: &mut String, v: &ConnView, client: &Capture, lb: &Capture) {
    let (a, b) = shown(&v.rows);
    let rows = &v.rows[a..b];
    if rows.is_empty() {
        o.push_str("<p class=\"muted\">No packets.</p>\n");
        return;
    }
    if b - a < v.rows.len() {
        let hidden = v.rows.iter().filter(|r| r.event.is_some()).count()
            - rows.iter().filter(|r| r.event.is_some()).count();
        let _ = writeln!(
            o,
            "<p class=\"muted\">Long connection: drawing packets {}–{} of {} (at most {MAX_ARROWS}), from just before the first event; {hidden} events fall outside the drawing (the pcapng export has them all).</p>",
            a + 1,
            b,
            v.rows.len()
        );
    }
    let mut delays: Vec<i64> = rows
        .iter()
        .filter_map(|r| Some((r.receiver()?.at_ns - r.sender()?.at_ns).abs()))
        .collect();
    delays.sort_unstable();
    let typical = delays.get(delays.len() / 2).copied().unwrap_or(1_000_000);
    let half = typical / 2;
    // Where each row starts and ends in time.
    let span = |r: &FramePair| -> (i64, i64) {
        match (r.sender(), r.receiver()) {
            (Some(s), Some(x)) => (s.at_ns, x.at_ns.max(s.at_ns)),
            (Some(s), None) => (s.at_ns, s.at_ns + half),
            (None, Some(x)) => (x.at_ns - half, x.at_ns),
            (None, None) => (0, 0),
        }
    };
    let times: Vec<i64> = rows
        .iter()
        .flat_map(|r| {
            let (s, e) = span(r);
            [s, e]
        })
        .collect();
    let scale = Scale::new(times, typical);
    let t0 = rows[0].at_ns();
    let (left, right, mid) = (230, 670, 450);
    let height = scale.bottom() + 30.0;
    let _ = write!(
        o,
        "<svg class=\"ladder\" width=\"900\" height=\"{height:.0}\" viewBox=\"0 0 900 {height:.0}\" role=\"img\" aria-label=\"ladder diagram of {}\">",
        esc(&v.title)
    );
    let _ = write!(
        o,
        "<text x=\"{left}\" y=\"18\" text-anchor=\"middle\" class=\"tag\">client side capture</text>\
         <text x=\"{right}\" y=\"18\" text-anchor=\"middle\" class=\"tag\">LB side capture</text>\
         <text x=\"8\" y=\"18\" class=\"tag\">time (client clock)</text>\
         <line class=\"lane\" x1=\"{left}\" y1=\"28\" x2=\"{left}\" y2=\"{:.0}\"/>\
         <line class=\"lane\" x1=\"{right}\" y1=\"28\" x2=\"{right}\" y2=\"{:.0}\"/>",
        height - 10.0,
        height - 10.0
    );
    for &(y, dt) in &scale.gaps {
        let _ = write!(
            o,
            "<line class=\"gap\" x1=\"0\" y1=\"{y:.1}\" x2=\"900\" y2=\"{y:.1}\"/><text class=\"gaptext\" x=\"{mid}\" y=\"{:.1}\" text-anchor=\"middle\">… {} later …</text>",
            y - 3.0,
            ms(dt)
        );
    }
    let (mut last_label, mut last_words) = (f64::MIN, f64::MIN);
    let mut labels = [Labels::default(), Labels::default()];
    for r in rows {
        let (ts, te) = span(r);
        let (y1, y2) = (scale.y(ts), scale.y(te));
        let (x_snd, x_rcv) = match r.dir {
            Dir::C2s => (left, right),
            Dir::S2c => (right, left),
        };
        let cls = class(r);
        let pkt = r
            .sender()
            .or(r.receiver())
            .and_then(|f| match (r.sender().is_some(), r.dir) {
                (true, Dir::C2s) | (false, Dir::S2c) => client.packets.get(f.packet as usize),
                _ => lb.packets.get(f.packet as usize),
            });
        let what = pkt.map_or(String::new(), |p| {
            let mut w = flag_words(p.flags);
            if p.payload_len > 0 {
                let _ = write!(w, " len {}", p.payload_len);
            }
            w
        });
        let (sw, vw) = row_words(r);
        let mut title = format!(
            "{} {}: client frame {}, LB frame {}; sent +{}",
            r.dir.word(),
            what,
            r.client.map_or("-".into(), |f| f.frame.to_string()),
            r.lb.map_or("-".into(), |f| f.frame.to_string()),
            ms(ts - t0),
        );
        if let (Some(s), Some(x)) = (r.sender(), r.receiver()) {
            let _ = write!(title, ", one-way {}", ms(x.at_ns - s.at_ns));
        }
        for w in [sw, vw].into_iter().flatten() {
            let _ = write!(title, "\n{w}");
        }
        let _ = write!(
            o,
            "<g class=\"pkt {} {cls}\"><title>{}</title>",
            r.dir.word(),
            esc(&title)
        );
        let (xa, xb) = match (r.sender(), r.receiver()) {
            (Some(_), Some(_)) => (x_snd, x_rcv),
            (Some(_), None) => (x_snd, mid),
            _ => (mid, x_rcv),
        };
        let _ = write!(
            o,
            "<line x1=\"{xa}\" y1=\"{y1:.1}\" x2=\"{xb}\" y2=\"{y2:.1}\"/>"
        );
        if r.receiver().is_some() {
            // Arrow head at the receiver.
            let dx = if xb > xa { -7 } else { 7 };
            let _ = write!(
                o,
                "<path d=\"M{} {:.1} L{xb} {y2:.1} L{} {:.1}\"/>",
                xb + dx,
                y2 - 4.0,
                xb + dx,
                y2 + 4.0
            );
        }
        match r.event {
            Some(EventKind::Lost) => cross(o, mid, y2.round() as i32),
            Some(EventKind::Injected) => spark(o, mid, y1.round() as i32),
            _ => {}
        }
        // Frame numbers beside the lanes (a sender frame once, on its
        // first copy's row), time on the left.
        for (f, lane_dir, x, anchor, lane) in [
            (r.client, Dir::C2s, left - 6, "end", 0),
            (r.lb, Dir::S2c, right + 6, "start", 1),
        ] {
            let Some(f) = f else { continue };
            let sends = r.dir == lane_dir && r.sender().is_some();
            if sends && r.copy > 1 {
                continue;
            }
            let y = labels[lane].place(if sends { y1 } else { y2 });
            let _ = write!(
                o,
                "<text x=\"{x}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
                y + 3.5,
                f.frame
            );
        }
        if y1 - last_label >= 12.0 {
            let _ = write!(
                o,
                "<text x=\"8\" y=\"{:.1}\" class=\"muted\">+{}</text>",
                y1 + 3.5,
                ms(ts - t0)
            );
            last_label = y1;
        }
        // What the packet was (or what happened to it), where there is room.
        let mid_y = (y1 + y2) / 2.0 - 3.0;
        if mid_y - last_words >= 11.0 {
            let xt = (xa + xb) / 2;
            let (cl, words) = match cls {
                "" | "reordered" | "duplicated" => ("", esc(&what)),
                tag => ("tag", tag.to_string()),
            };
            let _ = write!(o, "<text x=\"{xt}\" y=\"{mid_y:.1}\" text-anchor=\"middle\" class=\"{cl}\">{words}</text>");
            last_words = mid_y;
        }
        o.push_str("</g>");
    }
    o.push_str("</svg>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use twincap_matcher::diff::frames::FrameRef;

    /// `n` packets client -> LB, 1 ms apart, 0.1 ms on the way; every
    /// `lost_every`-th lost.
    fn view(n: u32, lost_every: u32) -> ConnView {
        let rows = (0..n)
            .map(|i| {
                let at = 1_000_000_000 + i as i64 * 1_000_000;
                let lost = i % lost_every == lost_every - 1;
                let f = |frame, at_ns| FrameRef {
                    packet: i,
                    frame,
                    ts_ns: at_ns,
                    at_ns,
                };
                FramePair {
                    dir: Dir::C2s,
                    client: Some(f(i + 1, at)),
                    lb: (!lost).then(|| f(i + 1, at + 100_000)),
                    event: lost.then_some(EventKind::Lost),
                    arrived_after: None,
                    copy: 1,
                    resegmented: false,
                    modified: Vec::new(),
                }
            })
            .collect();
        ConnView {
            title: "client stream 0 = LB stream 0".into(),
            client_stream: Some(0),
            lb_stream: Some(0),
            rows,
        }
    }

    fn draw(v: &ConnView) -> String {
        let mut o = String::new();
        ladder(&mut o, v, &Capture::default(), &Capture::default());
        o
    }

    #[test]
    fn short_connection_is_drawn_whole() {
        let o = draw(&view(50, 10));
        assert_eq!(o.matches("<g class=\"pkt ").count(), 50);
        assert_eq!(o.matches("class=\"cross\"").count(), 5);
        assert!(!o.contains("Long connection"));
    }

    #[test]
    fn long_connection_is_capped_from_just_before_its_first_event() {
        let o = draw(&view(10_000, 1_000));
        assert_eq!(o.matches("<g class=\"pkt ").count(), MAX_ARROWS);
        // First loss: row 1000 (index 999); drawing starts 20 rows before.
        assert!(
            o.contains("drawing packets 980–1379 of 10000"),
            "{}",
            &o[..400]
        );
        assert!(o.contains("9 events fall outside the drawing"));
        assert!(o.contains(">980</text>") && !o.contains(">979</text>"));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
