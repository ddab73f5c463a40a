//! `frames::frame_pairs` on every `fixtures/lab/*/` dataset: for every pair,
//! the rows hold every frame of both connections, in time order on the
//! client clock, and every event of the pair (but `modified`) sits on the
//! row of its frames, so the reports drawn from the rows tell what the diff
//! found, frame for frame.

mod diff_support;

use diff_support::*;
use twincap_matcher::diff::frames::frame_pairs;
use twincap_matcher::diff::{Dir, EventKind, Side};

#[test]
fn rows_carry_every_frame_and_every_event_on_the_lab_datasets() {
    let dirs = datasets();
    assert!(dirs.len() >= 10, "lab datasets missing");
    let (mut rows_seen, mut events_seen) = (0, 0);
    for dir in dirs {
        let mut ds = Dataset::open(&dir);
        let res = ds.diff();
        let client = Side::new(&ds.client, &ds.client_conns);
        let lb = Side::new(&ds.lb, &ds.lb_conns);
        for f in &res.flows {
            let rows = frame_pairs(&client, &lb, &res, f);
            let at = format!("{}: client stream {}", dir.display(), f.client.stream);
            assert!(
                rows.windows(2).all(|w| w[0].at_ns() <= w[1].at_ns()),
                "{at}"
            );
            let mut c: Vec<u32> = rows
                .iter()
                .filter_map(|r| r.client.map(|x| x.packet))
                .collect();
            let mut l: Vec<u32> = rows.iter().filter_map(|r| r.lb.map(|x| x.packet)).collect();
            c.sort_unstable();
            c.dedup();
            l.sort_unstable();
            l.dedup();
            let mut want_l: Vec<u32> = std::iter::once(f.lb.stream)
                .chain(f.lb_extra.iter().map(|x| x.stream))
                .flat_map(|s| ds.lb_conns.list[s as usize].packets.iter().copied())
                .collect();
            want_l.sort_unstable();
            assert_eq!(
                c, ds.client_conns.list[f.client.stream as usize].packets,
                "{at}"
            );
            assert_eq!(l, want_l, "{at}");
            for e in f.events.iter().filter(|e| e.kind != EventKind::Modified) {
                events_seen += 1;
                if e.kind == EventKind::Duplicated {
                    // The rows of the extra copies: same sender frame.
                    let sent = match e.dir {
                        Dir::C2s => e.client_frame,
                        Dir::S2c => e.lb_frame,
                    };
                    let extra: Vec<u32> = rows
                        .iter()
                        .filter(|r| r.event == Some(EventKind::Duplicated))
                        .filter(|r| r.dir == e.dir && r.sender().map(|x| x.frame) == sent)
                        .filter_map(|r| r.receiver().map(|x| x.frame))
                        .collect();
                    assert_eq!(extra, e.extra_frames, "{at}: {e:?}");
                    continue;
                }
                let on = rows.iter().any(|r| {
                    r.dir == e.dir
                        && r.event == Some(e.kind)
                        && r.client.map(|x| x.frame) == e.client_frame
                        && r.lb.map(|x| x.frame) == e.lb_frame
                });
                assert!(on, "{at}: {e:?} on no row");
                if e.kind == EventKind::Reordered {
                    let r = rows.iter().find(|r| {
                        r.event == Some(e.kind) && r.client.map(|x| x.frame) == e.client_frame
                    });
                    assert!(r.unwrap().arrived_after.is_some(), "{at}: {e:?}");
                }
            }
            rows_seen += rows.len();
        }
    }
    println!("{rows_seen} rows, {events_seen} events placed");
    assert!(events_seen > 100);
}
