//! The diff report built in-process on a lab dataset: the reset cause an
//! LB-side RST carries reaches the finding, and colours are only there when
//! asked for.

use std::path::PathBuf;
use twincap_matcher::analyze::{analyze, Analysis};
use twincap_matcher::diff::{diff, DiffOptions, Side};
use twincap_parser::{conn, read_capture, Capture, ReadOptions};
use twincap_reporter::diff::{to_md, to_text, DiffReport, Sources, Style};
use twincap_reporter::rows::Captures;

fn read(side: &str) -> Capture {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/lab/probe-late-reset-s41")
        .join(format!("{side}.pcap"));
    read_capture(&p, &ReadOptions::default()).unwrap()
}

/// The report of the dataset, with `edit` applied to the LB capture first.
fn report(edit: impl FnOnce(&mut Capture)) -> DiffReport {
    let client = read("client");
    let mut lb = read("lb");
    edit(&mut lb);
    let (cc, lc) = (conn::split(&client), conn::split(&lb));
    let res = diff(
        Side::new(&client, &cc),
        Side::new(&lb, &lc),
        &DiffOptions::default(),
    );
    let (ca, la) = (analyze(&client, &cc), analyze(&lb, &lc));
    DiffReport::build(
        &res,
        &Sources {
            caps: Captures {
                client: &client,
                client_conns: &cc,
                lb: &lb,
                lb_conns: &lc,
            },
            client_analysis: &ca,
            lb_analysis: &la,
        },
    )
}

#[test]
fn the_answering_reset_says_why() {
    // LB frame 77 answers the client's late data (frame 76) after the reset
    // at 66; give it the cause a BIG-IP with tm.rstcause.pkt writes.
    let cause = b"BIG-IP: [0x2664c65:2574] No flow found for ACK".to_vec();
    let rep = report(|lb| lb.rst_payloads.push((77, cause)));
    let d = rep
        .diagnoses
        .iter()
        .find(|d| d.id == "reset_answered_by_reset" && d.lb_frames.contains(&77))
        .unwrap();
    assert!(
        d.summary.contains("answered [RST] with cause \"BIG-IP: "),
        "{}",
        d.summary
    );
    assert!(d.summary.contains("No flow found for ACK"), "{}", d.summary);
    let fig = d.figures["rst_cause"].as_str().unwrap();
    assert!(fig.contains("No flow found for ACK"), "{fig}");
    // Without the payload, no cause is made up.
    let plain = report(|_| {});
    let d = plain
        .diagnoses
        .iter()
        .find(|d| d.id == "reset_answered_by_reset" && d.lb_frames.contains(&77))
        .unwrap();
    assert!(!d.summary.contains("cause"), "{}", d.summary);
    assert!(!d.figures.contains_key("rst_cause"));
}

#[test]
fn colours_only_when_asked() {
    let rep = report(|_| {});
    let plain = to_text(&rep, Style { color: false });
    let painted = to_text(&rep, Style { color: true });
    assert!(!plain.contains('\x1b'));
    assert!(painted.contains("\x1b[33mwarning"), "severity painted");
    assert!(
        painted.contains("\x1b[33mreordered: arrived after"),
        "events painted"
    );
    // The same words once the colours are taken out.
    let stripped = painted
        .split('\x1b')
        .enumerate()
        .map(|(i, s)| {
            if i == 0 {
                s
            } else {
                &s[s.find('m').unwrap() + 1..]
            }
        })
        .collect::<String>();
    assert_eq!(stripped, plain);
    assert!(!to_md(&rep).contains('\x1b'));
}

/// The report the command makes, reading each pair's rows while the diff
/// judges it (`diff_with_rows`, `read_rows`, `build_from`), is the report
/// made afterwards from the result alone (`DiffReport::build`, which aligns
/// the pairs again): text (with the frame tables) and JSON, also when the
/// JSON makes each flow as it writes it, on lab datasets with a reset
/// answered by a reset, injections and reordering.
#[test]
fn rows_read_during_the_diff_give_the_same_report() {
    use twincap_matcher::diff::diff_with_rows;
    use twincap_reporter::diff::{read_rows, to_json, wants_rows, write_json_flows, Windows};
    // The last: the client capture of one dataset against the LB capture
    // of another, nothing pairs (no flows at all).
    for (set, lb_set) in [
        ("probe-late-reset-s41", "probe-late-reset-s41"),
        ("probe-inject-both-s12", "probe-inject-both-s12"),
        ("probe-loss-dup-reorder-s11", "probe-loss-dup-reorder-s11"),
        ("mixed-any-s16", "mixed-any-s16"),
        ("probe-loss-dup-reorder-s11", "http-clock-neg-s20"),
    ] {
        let read = |set: &str, side: &str| {
            let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/lab")
                .join(set)
                .join(format!("{side}.pcap"));
            read_capture(&p, &ReadOptions::default()).unwrap()
        };
        let (client, lb) = (read(set, "client"), read(lb_set, "lb"));
        let (cc, lc) = (conn::split(&client), conn::split(&lb));
        let caps = Captures {
            client: &client,
            client_conns: &cc,
            lb: &lb,
            lb_conns: &lc,
        };
        fn src<'a>(caps: Captures<'a>, an: &'a (Analysis, Analysis)) -> Sources<'a> {
            Sources {
                caps,
                client_analysis: &an.0,
                lb_analysis: &an.1,
            }
        }
        let Ok((res, an, per_flow)) = diff_with_rows(
            Side::new(&client, &cc),
            Side::new(&lb, &lc),
            &DiffOptions::default(),
            || (analyze(&client, &cc), analyze(&lb, &lc)),
            |an, f| wants_rows(f, &src(caps, an)),
            |an, ctx, f, frames| {
                let w = Windows {
                    client_first_ns: ctx.client_window.first_ns,
                    lb_first_ns: ctx.lb_window.first_ns,
                };
                read_rows(&src(caps, an), &ctx.clock, w, f, frames, true)
            },
        ) else {
            panic!("{set}: no clock steps in this dataset");
        };
        assert_eq!(per_flow.is_empty(), set != lb_set, "{set}");
        assert_eq!(res.flows.is_empty(), set != lb_set, "{set}");
        let during = DiffReport::build_from(&res, &src(caps, &an), per_flow, true, true);
        let after = DiffReport::build(&res, &src(caps, &an));
        let style = Style { color: false };
        assert_eq!(to_text(&during, style), to_text(&after, style), "{set}");
        assert_eq!(to_json(&during), to_json(&after), "{set}");
        // JSON with the flows made as they are written: the same bytes.
        let mut bare = during;
        bare.flows.clear();
        let mut streamed = Vec::new();
        write_json_flows(&bare, &res, &caps, &mut streamed).unwrap();
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            to_json(&after),
            "{set}"
        );
    }
}
