//! `twincap diff --format json` diagnoses on the lab datasets, checked
//! against each dataset's ground truth (`truth.json`, shared/lab/README.md):
//! every diagnosis the data contains, with the right frames on both sides.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

mod support;
use support::{all_events, diff, lab};

/// The JSON report and the truth of a dataset.
fn run(name: &str) -> (Value, Value) {
    run_dir(&lab(name))
}

/// The same for a dataset anywhere.
fn run_dir(dir: &std::path::Path) -> (Value, Value) {
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    (diff(dir, &[]), truth)
}

fn diagnoses<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"] == id)
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn frames(d: &Value, side: &str) -> BTreeSet<u64> {
    d[format!("{side}_frames")]
        .as_array()
        .unwrap()
        .iter()
        .map(u)
        .collect()
}

/// Truth packets of a flow in LB-capture order: (lb frame, dir, flags, relay, client frame).
fn lb_order(flow: &Value) -> Vec<(u64, String, String, String, Option<u64>)> {
    let mut v: Vec<_> = flow["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["lb_frame"].is_u64())
        .map(|p| {
            (
                u(&p["lb_frame"]),
                p["dir"].as_str().unwrap().to_string(),
                p["flags"].as_str().unwrap().to_string(),
                p["relay"].as_str().unwrap_or("").to_string(),
                p["client_frame"].as_u64(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Reset answered by a reset, from the truth alone: per flow, the first
/// LB-side RST, then the first client packet arriving after it that the
/// server answers with another RST.
/// (reset lb frame, late lb frame, late client frame, answer lb frame, late packet was held in between)
fn truth_resets(truth: &Value) -> BTreeSet<(u64, u64, Option<u64>, u64, bool)> {
    let mut out = BTreeSet::new();
    // (A second client's connections, not in the client capture, cannot be
    // judged: nothing says when that client sent what.)
    for f in truth["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["client_captured"] != false)
    {
        let pk = lb_order(f);
        let Some(k) = pk.iter().position(|p| p.1 == "s2c" && p.2.contains('R')) else {
            continue;
        };
        let mut late = None;
        for p in &pk[k + 1..] {
            if p.1 == "c2s" {
                late = Some(p.clone());
            } else if p.2.contains('R') {
                if let Some(l) = late.take() {
                    out.insert((pk[k].0, l.0, l.4, p.0, l.3.split('+').any(|r| r == "held")));
                    break;
                }
            }
        }
    }
    out
}

fn report_resets(report: &Value) -> BTreeSet<(u64, u64, Option<u64>, u64, bool)> {
    diagnoses(report, "reset_answered_by_reset")
        .iter()
        .map(|d| {
            let f = &d["figures"];
            (
                u(&f["reset_lb_frame"]),
                u(&f["late_lb_frame"]),
                f["late_client_frame"].as_u64(),
                u(&f["answer_lb_frame"]),
                f["late_in_between"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_seed_story_reset_answered_by_reset_after_a_late_client_packet() {
    let (report, truth) = run("probe-late-reset-s41");
    let want = truth_resets(&truth);
    assert!(want.len() >= 5, "the dataset holds the story: {want:?}");
    assert!(
        want.iter().any(|w| w.4),
        "some late packets were held in between"
    );
    assert_eq!(report_resets(&report), want);
    // The one the README walks through: reset at LB frame 66, the client's
    // data (client frame 68, held 108 ms) arrives as LB frame 76, answered by 77.
    let d = diagnoses(&report, "reset_answered_by_reset")
        .into_iter()
        .find(|d| d["figures"]["reset_lb_frame"] == 66)
        .unwrap();
    assert_eq!(frames(d, "lb"), BTreeSet::from([66, 76, 77, 78, 79]));
    assert_eq!(frames(d, "client"), BTreeSet::from([68, 69, 71, 84, 85]));
    let s = d["summary"].as_str().unwrap();
    assert!(s.contains("the path reordered it"), "{s}");
    assert!(s.contains("The LB behaved correctly"), "{s}");
}

/// Truth events of a kind: (dir, client frame, lb frame, every receiver
/// copy of a duplicate).
/// (dir, client frame, lb frame, receiver copies)
type TruthEvent = (String, Option<u64>, Option<u64>, Vec<u64>);

fn truth_events(truth: &Value, kind: &str) -> Vec<TruthEvent> {
    truth["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| {
            (
                e["dir"].as_str().unwrap().to_string(),
                e["client_frame"].as_u64(),
                e["lb_frame"].as_u64(),
                e["detail"]["receiver_frames"]
                    .as_array()
                    .map(|a| a.iter().map(u).collect())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// The first 50 (what a diagnosis lists) of a set of frames.
fn capped(v: impl IntoIterator<Item = u64>) -> BTreeSet<u64> {
    let all: BTreeSet<u64> = v.into_iter().collect();
    all.into_iter().take(50).collect()
}

/// The one finding of `id` in direction `dir`, if any.
fn one<'a>(report: &'a Value, id: &str, dir: &str) -> Option<&'a Value> {
    let v: Vec<&Value> = diagnoses(report, id)
        .into_iter()
        .filter(|d| d["dir"] == dir)
        .collect();
    assert!(v.len() <= 1, "{id} {dir}: one finding per direction");
    v.first().copied()
}

const DIRS: [&str; 2] = ["c2s", "s2c"];

/// A finding's frames on one side, put as the truth has them where the
/// report's event says an identical packet could as well be the one
/// (`alternatives`: the files cannot tell which; only the lab's relay log knows).
fn frames_as_truth(report: &Value, f: &Value, side: &str, truth: &BTreeSet<u64>) -> BTreeSet<u64> {
    let alternatives = |x: u64| -> Vec<u64> {
        report["flows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|fl| fl["events"].as_array().unwrap())
            .filter(|e| e[format!("{side}_frame")] == x)
            .flat_map(|e| e["alternatives"].as_array().cloned().unwrap_or_default())
            .map(|a| u(&a))
            .collect()
    };
    frames(f, side)
        .into_iter()
        .map(|x| {
            if truth.contains(&x) {
                return x;
            }
            alternatives(x)
                .into_iter()
                .find(|a| truth.contains(a))
                .unwrap_or(x)
        })
        .collect()
}

/// Sender frames the captures cannot tell apart from an identical one (the
/// report's events' `alternatives`), and the receiver frames of the
/// report's events of a kind on them.
fn undecided_copies(
    report: &Value,
    kind: &str,
    dir: &str,
    snd: &str,
    rcv: &str,
) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let events: Vec<&Value> = report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|fl| fl["events"].as_array().unwrap())
        .filter(|e| e["kind"] == kind && e["dir"] == dir)
        .collect();
    let senders: BTreeSet<u64> = events
        .iter()
        .filter_map(|e| e["alternatives"].as_array())
        .flatten()
        .map(u)
        .chain(
            events
                .iter()
                .filter(|e| e["alternatives"].is_array())
                .filter_map(|e| e[format!("{snd}_frame")].as_u64()),
        )
        .collect();
    let copies = events
        .iter()
        .filter(|e| {
            e[format!("{snd}_frame")]
                .as_u64()
                .is_some_and(|x| senders.contains(&x))
        })
        .flat_map(|e| {
            let extra: Vec<u64> = e["extra_frames"]
                .as_array()
                .map(|a| a.iter().map(u).collect())
                .unwrap_or_default();
            e[format!("{rcv}_frame")].as_u64().into_iter().chain(extra)
        })
        .collect();
    (copies, senders)
}

/// Events of `kind` in direction `dir` that only the other reading of an
/// undecidable choice has (`flows[].ambiguous[].events[]` with
/// `reported: false`): the truth may hold them where the report cannot.
fn unreported(report: &Value, kind: &str, dir: &str) -> usize {
    report["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["ambiguous"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["dir"] == dir)
        .flat_map(|a| a["events"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["kind"] == kind && e["reported"] == false)
        .count()
}

/// Where an undecidable choice leaves events of `kind` that only the other
/// reading has, the finding's count may differ from the truth's by that
/// many and its frames cannot be pinned: check the count, say so.
fn undecided(name: &str, report: &Value, id: &str, kind: &str, d: &str, truth: usize) -> bool {
    let open = unreported(report, kind, d);
    if open == 0 {
        return false;
    }
    let f = one(report, id, d).unwrap();
    let n = u(&f["figures"][kind]) as usize;
    assert!(
        n.abs_diff(truth) <= open,
        "{name} {kind} {d}: {n} against {truth} in the truth"
    );
    true
}

/// Path loss, reordering and duplication: one finding per direction, with
/// exactly the truth's frames on both sides.
fn check_path(name: &str, report: &Value, truth: &Value) {
    for d in DIRS {
        let (snd, rcv) = if d == "c2s" {
            ("client", "lb")
        } else {
            ("lb", "client")
        };
        let lost: Vec<_> = truth_events(truth, "lost")
            .into_iter()
            .filter(|e| e.0 == d)
            .collect();
        match one(report, "path_loss", d) {
            None => assert!(lost.is_empty(), "{name}: path_loss {d} missing"),
            Some(_) if undecided(name, report, "path_loss", "lost", d, lost.len()) => {}
            Some(f) => {
                assert_eq!(
                    u(&f["figures"]["lost"]) as usize,
                    lost.len(),
                    "{name} loss {d}"
                );
                let want = capped(
                    lost.iter()
                        .filter_map(|e| if snd == "client" { e.1 } else { e.2 }),
                );
                assert_eq!(
                    frames_as_truth(report, f, snd, &want),
                    want,
                    "{name}: path_loss {d} frames"
                );
                assert!(frames(f, rcv).is_empty());
            }
        }
        let re: Vec<_> = truth_events(truth, "reordered")
            .into_iter()
            .filter(|e| e.0 == d)
            .collect();
        match one(report, "path_reordering", d) {
            None => assert!(re.is_empty(), "{name}: path_reordering {d} missing"),
            Some(_) if undecided(name, report, "path_reordering", "reordered", d, re.len()) => {}
            Some(f) => {
                assert_eq!(
                    u(&f["figures"]["reordered"]) as usize,
                    re.len(),
                    "{name} reordered {d}"
                );
                let want = capped(re.iter().filter_map(|e| e.1));
                assert_eq!(
                    frames_as_truth(report, f, "client", &want),
                    want,
                    "{name}: reordering {d}"
                );
                assert_eq!(
                    frames(f, "lb"),
                    capped(re.iter().filter_map(|e| e.2)),
                    "{name}: reordering {d}"
                );
                assert!(u(&f["figures"]["max_late_packets"]) >= 1, "{name}");
            }
        }
        let dup: Vec<_> = truth_events(truth, "duplicated")
            .into_iter()
            .filter(|e| e.0 == d)
            .collect();
        match one(report, "path_duplication", d) {
            None => assert!(dup.is_empty(), "{name}: path_duplication {d} missing"),
            Some(_) if undecided(name, report, "path_duplication", "duplicated", d, dup.len()) => {}
            Some(f) => {
                assert_eq!(
                    u(&f["figures"]["duplicated"]) as usize,
                    dup.len(),
                    "{name} dup {d}"
                );
                let (s, r): (Vec<u64>, Vec<u64>) = if d == "c2s" {
                    (
                        dup.iter().filter_map(|e| e.1).collect(),
                        dup.iter()
                            .flat_map(|e| e.2.into_iter().chain(e.3.clone()))
                            .collect(),
                    )
                } else {
                    (
                        dup.iter().filter_map(|e| e.2).collect(),
                        dup.iter()
                            .flat_map(|e| e.1.into_iter().chain(e.3.clone()))
                            .collect(),
                    )
                };
                let s = capped(s);
                assert_eq!(
                    frames_as_truth(report, f, snd, &s),
                    s,
                    "{name}: duplication {d}"
                );
                // Receiver copies of packets the captures cannot tell apart
                // (the event's alternatives) are as interchangeable as
                // their senders: the others exactly, those by count.
                let (mut undecided, senders) = undecided_copies(report, "duplicated", d, snd, rcv);
                for e in &dup {
                    let sf = if snd == "client" { e.1 } else { e.2 };
                    if sf.is_some_and(|x| senders.contains(&x)) {
                        undecided.extend(&e.3);
                    }
                }
                let got = frames(f, rcv);
                let keep = |v: &BTreeSet<u64>| -> BTreeSet<u64> {
                    v.difference(&undecided).copied().collect()
                };
                let r: BTreeSet<u64> = r.into_iter().collect();
                assert_eq!(keep(&got), keep(&r), "{name}: duplication {d}");
                assert_eq!(got.len(), r.len(), "{name}: duplication {d}");
            }
        }
    }
}

/// Injections: every truth-injected frame in an `injected` finding of its
/// direction, and nothing the lab injected taken for a capture drop (the
/// lab's captures miss nothing).
fn check_injected(name: &str, report: &Value, truth: &Value) {
    assert!(
        diagnoses(report, "capture_missed_frame").is_empty(),
        "{name}"
    );
    for d in DIRS {
        let rcv = if d == "c2s" { "lb" } else { "client" };
        let want: BTreeSet<u64> = truth_events(truth, "injected")
            .into_iter()
            .filter(|e| e.0 == d)
            .filter_map(|e| if rcv == "lb" { e.2 } else { e.1 })
            .collect();
        let got: BTreeSet<u64> = diagnoses(report, "injected")
            .into_iter()
            .filter(|f| f["dir"] == d)
            .flat_map(|f| frames(f, rcv))
            .collect();
        assert_eq!(got, want, "{name}: injected {d}");
    }
}

/// A client connection of the truth, over its flows (the lab has a flow per
/// NAT mapping: SYN retries of one connection that went through a new
/// mapping after the first expired are further flows of it).
#[derive(Default)]
struct TruthConn {
    /// Some packet of it reached the LB capture.
    reached: bool,
    /// Its SYNs' client frames, in frame order.
    syns: Vec<u64>,
    /// SYNs the lab's NAT dropped for want of a free port.
    pool_drops: usize,
}

/// The truth's client connections that begin with a SYN, by client
/// address, port and ISN.
fn truth_conns(truth: &Value) -> Vec<TruthConn> {
    let mut conns: BTreeMap<(String, u64, u64), TruthConn> = BTreeMap::new();
    for f in truth["flows"].as_array().unwrap() {
        let pk = f["packets"].as_array().unwrap();
        let Some(syn) = pk.iter().find(|p| p["flags"] == "S") else {
            continue;
        };
        if f["client_captured"] == false {
            continue;
        }
        let key = (
            f["client"][0].to_string(),
            u(&f["client"][1]),
            u(&syn["seq"]),
        );
        let c = conns.entry(key).or_default();
        c.reached |= pk.iter().any(|p| p["lb_frame"].is_u64());
        for p in pk.iter().filter(|p| p["flags"] == "S") {
            c.syns.extend(p["client_frame"].as_u64());
            c.pool_drops += (p["relay"] == "dropped:nat_pool_exhausted") as usize;
        }
    }
    let mut v: Vec<TruthConn> = conns.into_values().collect();
    for c in &mut v {
        c.syns.sort_unstable();
    }
    v
}

/// SYNs that never reached the LB side: client connections none of whose
/// packets reached the LB capture, by their client-side SYN frames. A
/// connection whose first SYNs died with an expired NAT mapping and whose
/// later retry went through a new one did reach the LB.
fn check_syn(name: &str, report: &Value, truth: &Value) {
    let want: BTreeSet<Vec<u64>> = truth_conns(truth)
        .into_iter()
        .filter(|c| !c.reached && !c.syns.is_empty())
        .map(|c| c.syns)
        .collect();
    let got: BTreeSet<Vec<u64>> = diagnoses(report, "syn_not_at_lb")
        .into_iter()
        .map(|f| frames(f, "client").into_iter().collect())
        .collect();
    assert_eq!(got, want, "{name}: syn_not_at_lb");
}

/// A SNAT pool exhausted: the connections named by `snat_ports_exhausted`
/// are exactly the client connections that never reached the LB side and
/// whose SYNs the lab's NAT dropped, at least half of them, for want of a
/// free port (`dropped:nat_pool_exhausted`).
fn check_snat_pool(name: &str, report: &Value, truth: &Value) {
    // Client frame -> client stream, of the connections with no twin.
    let stream_of: BTreeMap<u64, u64> = report["unmatched"]["client"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            c["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(move |e| Some((e["client_frame"].as_u64()?, u(&c["stream"]))))
        })
        .collect();
    let want: BTreeSet<u64> = truth_conns(truth)
        .iter()
        .filter(|c| !c.reached && !c.syns.is_empty() && c.pool_drops * 2 >= c.syns.len())
        .filter_map(|c| stream_of.get(&c.syns[0]).copied())
        .collect();
    let got: BTreeSet<u64> = diagnoses(report, "snat_ports_exhausted")
        .into_iter()
        .flat_map(|d| {
            d["figures"]["blocked_streams"]
                .as_array()
                .unwrap()
                .iter()
                .map(u)
        })
        .collect();
    assert_eq!(got, want, "{name}: snat_ports_exhausted");
}

/// Connections the middle stopped passing: `flow_dropped` names exactly
/// the client-captured connections whose packets the lab's NAT dropped for
/// want of a mapping (`dropped:no_nat_mapping`) at least 3 times after it
/// had passed some (not a new SYN on the same ports), each with the truth's
/// reason: the mapping released after the relay saw a RST or both FINs
/// (`after_close`), or after `--nat-idle` of silence (`after_idle`, whose
/// bound must hold the NAT's idle timeout).
fn check_dropped(name: &str, report: &Value, truth: &Value) {
    let frame_of = |p: &Value| {
        if p["dir"] == "c2s" {
            ("client", p["client_frame"].as_u64())
        } else {
            ("lb", p["lb_frame"].as_u64())
        }
    };
    // (the dropped packets' sender frames by side, the reason)
    type Dropped<'a> = (BTreeSet<(&'a str, Option<u64>)>, &'a str);
    let mut want: Vec<Dropped> = Vec::new();
    for f in truth["flows"].as_array().unwrap() {
        let pk = f["packets"].as_array().unwrap();
        let no_map: Vec<usize> = (0..pk.len())
            .filter(|&i| pk[i]["relay"] == "dropped:no_nat_mapping")
            .collect();
        let Some(&first) = no_map.first() else {
            continue;
        };
        let passed = pk[..first].iter().any(|p| p["relay"] == "forwarded");
        let new_syn = no_map
            .iter()
            .any(|&i| pk[i]["flags"].as_str().unwrap().contains('S'));
        if f["client_captured"] == false || !passed || new_syn || no_map.len() < 3 {
            continue;
        }
        let before = &pk[..first];
        let fin = |d: &str| {
            before
                .iter()
                .any(|p| p["dir"] == d && p["flags"].as_str().unwrap().contains('F'))
        };
        let rst = before
            .iter()
            .any(|p| p["flags"].as_str().unwrap().contains('R'));
        let kind = if rst || (fin("c2s") && fin("s2c")) {
            "after_close"
        } else {
            "after_idle"
        };
        want.push((no_map.iter().map(|&i| frame_of(&pk[i])).collect(), kind));
    }
    let found = diagnoses(report, "flow_dropped");
    for d in &found {
        let named: BTreeSet<(&str, Option<u64>)> = ["client", "lb"]
            .into_iter()
            .flat_map(|side| frames(d, side).into_iter().map(move |f| (side, Some(f))))
            .collect();
        let hit = want.iter().find(|(w, _)| !w.is_disjoint(&named));
        let Some((_, kind)) = hit else {
            panic!("{name}: flow_dropped names no connection the NAT dropped: {d}");
        };
        assert_eq!(d["figures"]["after"], *kind, "{name}: {d}");
        if *kind == "after_idle" {
            let idle = truth["params"]["options"]["nat_idle"].as_f64().unwrap();
            let f = &d["figures"];
            assert!(
                f["longest_silence_survived_s"].as_f64().unwrap() <= idle
                    && idle <= f["silence_before_s"].as_f64().unwrap(),
                "{name}: the NAT's idle timeout {idle} s outside the bound of {d}"
            );
        }
    }
    assert_eq!(found.len(), want.len(), "{name}: flow_dropped");
    // path_loss counts the same packets as the dropped connections' tails.
    let in_tails: u64 = found
        .iter()
        .map(|d| u(&d["figures"]["lost_in_a_row"]))
        .sum();
    let in_loss: u64 = diagnoses(report, "path_loss")
        .iter()
        .map(|d| u(&d["figures"]["in_dropped_flows"]))
        .sum();
    assert_eq!(in_loss, in_tails, "{name}: path_loss in_dropped_flows");
}

/// Packets a reused NAT port delivered to the wrong connection: each
/// `nat_port_reused` finding names, on the two sides, the two frames of
/// packets the truth has crossing (its client frame and LB frame), and
/// nothing else. (That no other packet of the dataset is reported injected
/// is `check_injected`'s.)
fn check_port_reuse(name: &str, report: &Value, truth: &Value) {
    let mut crossed: BTreeMap<u64, u64> = BTreeMap::new();
    for f in truth["flows"].as_array().unwrap() {
        for p in f["packets"].as_array().unwrap() {
            if let (Some(c), Some(l)) = (p["client_frame"].as_u64(), p["lb_frame"].as_u64()) {
                crossed.insert(c, l);
            }
        }
    }
    for d in diagnoses(report, "nat_port_reused") {
        let (c, l) = (frames(d, "client"), frames(d, "lb"));
        let paired: BTreeSet<u64> = c.iter().filter_map(|f| crossed.get(f).copied()).collect();
        assert_eq!(paired, l, "{name}: {d}");
        assert_eq!(u(&d["figures"]["packets"]) as usize, c.len(), "{name}: {d}");
    }
}

/// A capture taken with a snaplen (the lab's `--lb-snaplen`,
/// `--client-snaplen`): one `capture_snaplen` finding per such side, with
/// its snaplen; none for the others.
fn check_snaplen(name: &str, report: &Value, truth: &Value) {
    let opts = &truth["params"]["options"];
    let want: BTreeSet<(String, u64)> = [("client", "client_snaplen"), ("lb", "lb_snaplen")]
        .into_iter()
        .filter_map(|(side, opt)| {
            let n = opts[opt].as_u64().unwrap_or(0);
            (n > 0).then(|| (side.to_string(), n))
        })
        .collect();
    let got: BTreeSet<(String, u64)> = diagnoses(report, "capture_snaplen")
        .into_iter()
        .map(|d| {
            let f = &d["figures"];
            (f["side"].as_str().unwrap().to_string(), u(&f["snaplen"]))
        })
        .collect();
    assert_eq!(got, want, "{name}: capture_snaplen");
}

/// What the middle changed: a finding for each kind of change the truth
/// records, none for the others; the SNAT and the one-hop TTL drop always.
fn check_middle(name: &str, report: &Value, truth: &Value) {
    let kinds: BTreeSet<String> = truth["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "modified")
        .map(|e| e["detail"]["what"].as_str().unwrap().to_string())
        .collect();
    for (what, id) in [
        ("mss_clamp", "mss_clamped"),
        ("sackperm_strip", "sackperm_stripped"),
        ("ip_id", "ip_id_rewritten"),
        ("seq_offset", "seq_shifted"),
    ] {
        assert_eq!(
            !diagnoses(report, id).is_empty(),
            kinds.contains(what),
            "{name}: {id}"
        );
    }
    assert_eq!(diagnoses(report, "snat").len(), 1, "{name}");
    let hop = diagnoses(report, "hop_count");
    assert_eq!(hop[0]["figures"]["ttl_drop_c2s"], 1, "{name}");
    assert_eq!(hop[0]["figures"]["ttl_drop_s2c"], 1, "{name}");
}

#[test]
fn every_lab_dataset_gets_the_diagnoses_its_truth_holds() {
    let root = lab("");
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| root.join(n).join("truth.json").exists())
        .collect();
    names.sort();
    assert!(names.len() >= 14);
    for name in &names {
        let (report, truth) = run(name);
        check_all(name, &report, &truth);
    }
}

/// A NAT that frees a port as soon as its connection closes (the lab's
/// `--nat-linger 0`, `fixtures/nat-reuse/`): an old connection's
/// retransmitted FIN reaches the next connection on the port, whose client
/// answers with a RST that reaches the old one. `nat_port_reused` tells it
/// and keeps both packets out of `injected`; every other diagnosis as the
/// truth holds it. (Not under `fixtures/lab/`: the matcher's events keep
/// the two packets lost on their own connection and injected into the
/// other, where the truth, per NAT mapping, has them forwarded.)
#[test]
fn a_port_the_nat_reused_too_soon_misdelivers_packets() {
    let name = "probe-natidle3-linger0-s1109";
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/nat-reuse")
        .join(name);
    let (report, truth) = run_dir(&dir);
    check_all(name, &report, &truth);
    let reused = diagnoses(&report, "nat_port_reused");
    assert_eq!(reused.len(), 1, "{reused:?}");
    assert_eq!(frames(reused[0], "client"), BTreeSet::from([413, 414]));
    assert_eq!(frames(reused[0], "lb"), BTreeSet::from([403, 404]));
}

/// Every check of a lab dataset's diagnoses against its truth.
fn check_all(name: &str, report: &Value, truth: &Value) {
    check_path(name, report, truth);
    check_injected(name, report, truth);
    check_syn(name, report, truth);
    check_middle(name, report, truth);
    check_snaplen(name, report, truth);
    check_snat_pool(name, report, truth);
    check_dropped(name, report, truth);
    check_port_reuse(name, report, truth);
    assert_eq!(
        report_resets(report),
        truth_resets(truth),
        "{name}: reset answered by reset"
    );
}

/// Frames `twincap analyze` flags with any of `flags`, of one capture.
fn analyze_frames(file: &std::path::Path, flags: &[&str]) -> BTreeSet<u64> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twincap"))
        .args(["analyze", "--format", "json"])
        .arg(file)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| flags.contains(&x.as_str().unwrap()))
        })
        .map(|f| u(&f["frame"]))
        .collect()
}

#[test]
fn the_slow_reading_client_is_the_host_not_the_network() {
    // bulk-zerowindow: the client reads slowly (SO_RCVBUF 4096, stalls).
    let dir = lab("bulk-zerowindow-s18");
    let report = diff(&dir, &[]);
    let found = diagnoses(&report, "slow_reader");
    assert_eq!(found.len(), 1, "only the client is slow");
    let f = found[0];
    assert_eq!(f["figures"]["role"], "client");
    assert!(u(&f["figures"]["zero_window"]) > 0);
    assert!(f["summary"].as_str().unwrap().contains("10.99.1.2"));
    // The evidence: exactly the frames each capture's analysis flags.
    let flags = ["zero_window", "window_full", "zero_window_probe"];
    for side in ["client", "lb"] {
        let want = capped(analyze_frames(&support::side(&dir, side), &flags));
        assert_eq!(frames(f, side), want, "{side}");
    }
}

#[test]
fn spurious_retransmissions_repeat_segments_that_had_arrived() {
    let (report, truth) = run("probe-late-reset-s41");
    // Every frame the finding names reached the other side, by the truth.
    let arrived: BTreeSet<u64> = truth["flows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["packets"].as_array().unwrap())
        .filter(|p| p["dir"] == "c2s" && p["lb_frame"].is_u64())
        .filter_map(|p| p["client_frame"].as_u64())
        .collect();
    let f = one(&report, "spurious_retransmission", "c2s").unwrap();
    // Flow 5: the FIN 69 was held in between, the client resent it as 70.
    assert!(frames(f, "client").is_superset(&BTreeSet::from([69, 70])));
    assert!(frames(f, "client").is_subset(&arrived));
    assert_eq!(frames(f, "lb").len(), frames(f, "client").len());
}

#[test]
fn captures_of_different_times_do_not_overlap() {
    // The client side of one lab run against the LB side of another (other
    // traffic: nothing pairs).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twincap"))
        .args(["diff", "--format", "json", "--quiet"])
        .arg(support::side(&lab("ex1-probe-seed7"), "client"))
        .arg(support::side(&lab("bulk-zerowindow-s18"), "lb"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = diagnoses(&report, "captures_do_not_overlap");
    assert_eq!(d.len(), 1, "{}", report["diagnoses"]);
    assert_eq!(d[0]["severity"], "error");
    assert!(diagnoses(&report, "path_loss").is_empty(), "not losses");
}

/// The LB capture's clock set back 2 s at frame 260
/// (`fixtures/lab/probe-clock-step-s11`, made from
/// `probe-loss-dup-reorder-s11` by `tests/tools/set_clock.py`): the step is
/// found where the file's time goes back, said in one `clock_step` finding
/// and in `clock_steps`, and every event is the one the same captures give
/// without the step.
#[test]
fn a_clock_set_back_mid_capture_changes_no_event() {
    let (stepped, _) = run("probe-clock-step-s11");
    let (plain, _) = run("probe-loss-dup-reorder-s11");
    assert!(plain.get("clock_steps").is_none());
    let steps = stepped["clock_steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0]["side"], "lb");
    assert_eq!(u(&steps[0]["frame"]), 260);
    let step = steps[0]["step_s"].as_f64().unwrap();
    assert!((step + 2.0).abs() < 1e-3, "step {step}");
    let found = diagnoses(&stepped, "clock_step");
    assert_eq!(found.len(), 1);
    assert_eq!(frames(found[0], "lb"), BTreeSet::from([259, 260]));
    assert!(found[0]["summary"]
        .as_str()
        .unwrap()
        .contains("set back 2.000 s at LB frame 260"));
    let events = |r: &Value| -> Vec<(String, String, Value, Value)> {
        all_events(r)
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_string(),
                    e["dir"].as_str().unwrap().to_string(),
                    e["client_frame"].clone(),
                    e["lb_frame"].clone(),
                )
            })
            .collect()
    };
    assert!(!events(&plain).is_empty());
    assert_eq!(events(&stepped), events(&plain));
    // The text summary's clock line says it too.
    let dir = lab("probe-clock-step-s11");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twincap"))
        .arg("diff")
        .args([dir.join("client.pcap"), dir.join("lb.pcap")])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let clock = text.lines().find(|l| l.starts_with("clock:")).unwrap();
    assert!(
        clock.ends_with("; stepped: lb -2.000 s at frame 260 (taken off)"),
        "{clock}"
    );
}
