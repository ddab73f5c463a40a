//! Two-capture alignment across SNAT: `twincap diff CLIENT LB`.
//!
//! The steps, each in its own module:
//!
//! 1. [`pairing`]: tie client-side connections to LB-side connections by the
//!    evidence the middle leaves alone (timestamps, seq/ack per direction, IP
//!    IDs, payload fingerprints), one-to-one, strongest first.
//! 2. [`align`]: per pair, the middle's sequence offsets, then the sure
//!    matches (anchors) that give the clock samples and what the middle keeps.
//! 3. [`clock`]: offset and drift between the capture clocks, from causality.
//!    The pairing is then redone with times that must agree.
//! 4. [`align`] again, now with the clock: every packet of every pair, per
//!    direction; [`events`] names what the path did.
//! 5. [`f5`]: the reset causes of each pair's RSTs, and with an F5 BIG-IP's
//!    trailers in the LB capture, its view of the pair and its other leg.
//!
//! The result ([`types::DiffResult`]) is plain data for the reporter.

pub mod align;
pub mod clock;
pub mod events;
pub mod f5;
pub mod frames;
pub mod gather;
pub mod pairing;
pub mod side;
pub mod types;
pub mod window;

pub use side::{Side, SideKind};
pub use types::*;

use align::{DirPackets, SeqOffsets};
use clock::ClockSample;
use rayon::prelude::*;

/// What the user can impose.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiffOptions {
    /// LB clock minus client clock, seconds (skips the estimate).
    pub clock_offset_s: Option<f64>,
    /// LB clock drift, ppm (with `clock_offset_s`).
    pub clock_drift_ppm: Option<f64>,
    /// Do not look for clock steps (the captures have had them taken off).
    pub clock_steps_taken_off: bool,
}

/// What [`diff_with_rows`] returns: the result, what `alongside` returned,
/// and `each`'s answers by index into the result's `flows`.
pub type Diffed<W, T> = (DiffResult, W, Vec<(usize, T)>);

/// One capture clock stepped against the other while both ran
/// ([`clock::steps`]): what [`diff_with_rows`] returns instead of a result,
/// so that the caller puts the captures back on one clock each
/// ([`clock::apply_steps`]) and diffs again (with
/// [`DiffOptions::clock_steps_taken_off`]), and the report reads the same
/// corrected times as the diff.
pub struct ClockStepped<W> {
    pub steps: Vec<ClockStep>,
    /// What `alongside` returned (it read the captures as they were).
    pub side_work: W,
}

/// Pairs the clock is estimated from, at most (evenly spread).
const CLOCK_PAIRS: usize = 300;

/// Clock samples kept per pair and direction (evenly spread).
const SAMPLES_PER_DIR: usize = 64;

/// A pair with its packets gathered and its sure matches found.
pub struct Prepared {
    pub client_stream: u32,
    pub lb_streams: Vec<u32>,
    pub offsets: Vec<SeqOffsets>,
    pub dirs: [DirPackets; 2],
    /// (sender position, receiver position) per direction.
    pub anchors: [Vec<(u32, u32)>; 2],
}

impl Prepared {
    pub fn new(client: &Side, lb: &Side, client_stream: u32, lb_streams: Vec<u32>) -> Prepared {
        let (dirs, offsets) = gather::gather(client, client_stream, lb, &lb_streams);
        let anchors = [align::anchors(&dirs[0]), align::anchors(&dirs[1])];
        Prepared {
            client_stream,
            lb_streams,
            offsets,
            dirs,
            anchors,
        }
    }

    /// Clock samples from the anchors, at most `SAMPLES_PER_DIR` per direction.
    pub fn clock_samples(&self, client: &Side, lb: &Side, out: &mut Vec<ClockSample>) {
        for d in Dir::BOTH {
            let a = &self.anchors[d.index()];
            let step = a.len().div_ceil(SAMPLES_PER_DIR).max(1);
            for &(s, r) in a.iter().step_by(step) {
                let (sp, rp) = (
                    &self.dirs[d.index()].sender[s as usize],
                    &self.dirs[d.index()].receiver[r as usize],
                );
                let (c, l) = match d {
                    Dir::C2s => (client.packet(sp.index), lb.packet(rp.index)),
                    Dir::S2c => (client.packet(rp.index), lb.packet(sp.index)),
                };
                out.push(ClockSample {
                    dir: d,
                    client_ns: c.ts_ns,
                    lb_ns: l.ts_ns,
                    client_frame: c.frame,
                    lb_frame: l.frame,
                });
            }
        }
    }
}

/// Median one-way delay per direction over all samples, on the estimated clock.
fn global_delays(samples: &[ClockSample], clock: &ClockEstimate) -> [i64; 2] {
    let mut out = [0i64; 2];
    for d in Dir::BOTH {
        let mut v: Vec<i64> = samples
            .iter()
            .filter(|s| s.dir == d)
            .map(|s| match d {
                Dir::C2s => clock.to_client(s.lb_ns) - s.client_ns,
                Dir::S2c => s.client_ns - clock.to_client(s.lb_ns),
            })
            .collect();
        if !v.is_empty() {
            v.sort_unstable();
            out[d.index()] = v[v.len() / 2];
        }
    }
    out
}

/// Pair, align and judge two captures. Where a capture clock stepped, the
/// result is that of the captures put back on one clock each (copies: the
/// captures given are left as they are), with `clock_steps` saying where.
pub fn diff(client: Side, lb: Side, opts: &DiffOptions) -> DiffResult {
    match diff_with_rows(client, lb, opts, || (), |_, _| false, |_, _, _, _| ()) {
        Ok((res, _, _)) => res,
        Err(stepped) => {
            let (mut c, mut l) = (client.cap.clone(), lb.cap.clone());
            clock::apply_steps(&mut c, &mut l, &stepped.steps);
            let again = DiffOptions {
                clock_steps_taken_off: true,
                ..*opts
            };
            let Ok((mut res, _, _)) = diff_with_rows(
                Side::new(&c, client.conns),
                Side::new(&l, lb.conns),
                &again,
                || (),
                |_, _| false,
                |_, _, _, _| (),
            ) else {
                unreachable!("no steps are looked for once taken off");
            };
            res.clock_steps = stepped.steps;
            res
        }
    }
}

/// [`diff`] for a caller that reads pairs packet by packet: `alongside`
/// runs before the pairs are found (work that does not need them, beside
/// the first step), and for
/// each pair that `wants` (given what `alongside` returned), `each` gets
/// its rows ([`frames::frame_pairs`]) straight from the alignment the pair
/// was judged on (with the diff's clock and capture windows in the
/// context), so nothing is aligned twice and the rows of one pair are
/// dropped before the next. Returns the result, what `alongside` returned,
/// and `each`'s answers by index into the result's `flows`; or, where a
/// capture clock stepped against the other ([`ClockStepped`]), the steps.
pub fn diff_with_rows<W, T, A, P, E>(
    client: Side,
    lb: Side,
    opts: &DiffOptions,
    alongside: A,
    wants: P,
    each: E,
) -> Result<Diffed<W, T>, ClockStepped<W>>
where
    W: Send + Sync,
    T: Send,
    A: FnOnce() -> W + Send,
    P: Fn(&W, &FlowPair) -> bool + Sync,
    E: Fn(&W, &events::Context, &FlowPair, &[frames::FramePair]) -> T + Sync,
{
    let ((client_init, client_window), (lb_init, lb_window)) = rayon::join(
        || (client.initiators(), client.window()),
        || (lb.initiators(), lb.window()),
    );
    let client = client.with_initiators(&client_init);
    let lb = lb.with_initiators(&lb_init);
    let (n_client, n_lb) = (client.conns.list.len(), lb.conns.list.len());
    // `alongside` (the callers' expert-flag analysis of both sides) fills
    // the cores where the pairing runs on one thread (the index's runs,
    // merging votes, assigning pairs, the clock). Its state, held while
    // the pairing index is built, used to raise the peak memory; since the
    // index is a directory over sorted entries, not a hash table, the
    // peak is reached after the pairing (docs/performance.md).
    let (paired, side_work) = rayon::join(
        || pair_up(&client, &lb, opts, client_window, lb_window),
        alongside,
    );
    // A clock stepped while both captures ran breaks every time compared
    // across the step: the caller takes the steps off and diffs again.
    let paired = match paired {
        Ok(paired) => paired,
        Err(steps) => return Err(ClockStepped { steps, side_work }),
    };
    let Paired {
        chosen,
        extras,
        clock,
        typical,
        client_bounds,
        lb_bounds,
    } = paired;

    // 4. Align every pair.
    let ctx = events::Context {
        client_bounds,
        lb_bounds,
        client,
        lb,
        clock,
        typical_delay_ns: typical,
        client_window,
        lb_window,
    };
    let mut judged: Vec<(FlowPair, Option<T>)> = chosen
        .par_iter()
        .zip(extras.par_iter())
        .map(|((c, conf), extra)| {
            let mut streams = vec![c.lb];
            streams.extend(extra.iter().copied());
            let prep = Prepared::new(&client, &lb, c.client, streams);
            let (flow, aligned) = events::judge_pair_aligned(&ctx, &prep, *conf, &c.votes);
            let rows = wants(&side_work, &flow).then(|| {
                let frames =
                    frames::frame_pairs_from(&client, &lb, &ctx.clock, &prep, &aligned, &flow);
                each(&side_work, &ctx, &flow, &frames)
            });
            (flow, rows)
        })
        .collect();
    judged.sort_by_key(|(f, _)| f.client.stream);
    let mut answers = Vec::new();
    let flows: Vec<FlowPair> = judged
        .into_iter()
        .enumerate()
        .map(|(i, (f, t))| {
            answers.extend(t.map(|t| (i, t)));
            f
        })
        .collect();

    let mut client_paired = vec![false; n_client];
    let mut lb_paired = vec![false; n_lb];
    for f in &flows {
        client_paired[f.client.stream as usize] = true;
        lb_paired[f.lb.stream as usize] = true;
        for e in &f.lb_extra {
            lb_paired[e.stream as usize] = true;
        }
    }
    let unmatched_client = (0..n_client as u32)
        .filter(|&s| !client_paired[s as usize])
        .map(|s| events::judge_unmatched_client(&ctx, s))
        .collect();
    let unmatched_lb = (0..n_lb as u32)
        .filter(|&s| !lb_paired[s as usize])
        .map(|s| events::judge_unmatched_lb(&ctx, s))
        .collect();
    let mut res = DiffResult {
        clock,
        client_window,
        lb_window,
        flows,
        unmatched_client,
        unmatched_lb,
        clock_steps: Vec::new(),
        typical_delay_ns: typical,
    };
    f5::annotate(&mut res, &ctx.client, &ctx.lb);
    Ok((res, side_work, answers))
}

/// The pairs, the clock and the capture windows: steps 1-3 of [`diff`].
struct Paired {
    /// One-to-one pairs with their confidence.
    chosen: Vec<(pairing::Candidate, f64)>,
    /// Per pair, further LB connections of the same client connection.
    extras: Vec<Vec<u32>>,
    clock: ClockEstimate,
    typical: [i64; 2],
    client_bounds: window::Bounds,
    lb_bounds: window::Bounds,
}

/// Pair the connections on evidence, estimate the clock from the sure
/// matches of those pairs, pair again with times that must agree, and
/// find when each capture ran; or the clock steps found on the way.
fn pair_up(
    client: &Side,
    lb: &Side,
    opts: &DiffOptions,
    client_window: Window,
    lb_window: Window,
) -> Result<Paired, Vec<ClockStep>> {
    let (client, lb) = (*client, *lb);
    let (n_client, n_lb) = (client.conns.list.len(), lb.conns.list.len());
    // 1. Pairs on evidence alone.
    let cands = pairing::candidates(&client, &lb);
    let first = pairing::assign(&cands, n_client, n_lb);

    // 2-3. Clock from the sure matches of those pairs.
    // (A few hundred pairs spread over the capture are plenty for the clock.)
    let step = first.len().div_ceil(CLOCK_PAIRS).max(1);
    let mut samples: Vec<ClockSample> = first
        .par_iter()
        .step_by(step)
        .map(|(c, _)| {
            let mut v = Vec::new();
            Prepared::new(&client, &lb, c.client, vec![c.lb]).clock_samples(&client, &lb, &mut v);
            v
        })
        .flatten()
        .collect();
    if opts.clock_offset_s.is_none() && !opts.clock_steps_taken_off {
        let steps = clock::steps(&samples, &client.cap.packets, &lb.cap.packets);
        if !steps.is_empty() {
            return Err(steps);
        }
    }
    samples.sort_unstable_by_key(|s| s.client_ns);
    let clock = match opts.clock_offset_s {
        Some(off) => ClockEstimate {
            offset_s: off,
            drift_ppm: opts.clock_drift_ppm.unwrap_or(0.0),
            reference_ns: client_window.first_ns,
            uncertainty_s: 0.0,
            samples: samples.len(),
            source: "given",
        },
        None => clock::estimate(&samples, client_window.first_ns),
    };
    let typical = global_delays(&samples, &clock);
    drop(samples);

    // Pairs again, now that times must agree.
    let slack = 2_000_000_000 + (clock.uncertainty_s * 2e9) as i64;
    let cands: Vec<_> = cands
        .into_iter()
        .filter(|c| {
            c.score >= pairing::SURE_SCORE || pairing::times_agree(&client, &lb, c, &clock, slack)
        })
        .collect();
    let chosen = pairing::assign(&cands, n_client, n_lb);
    let mut lb_of_client: Vec<Option<usize>> = vec![None; n_client];
    let mut lb_taken = vec![false; n_lb];
    for (i, (c, _)) in chosen.iter().enumerate() {
        lb_of_client[c.client as usize] = Some(i);
        lb_taken[c.lb as usize] = true;
    }
    // LB connections left over whose strongest candidate is a paired client
    // connection: the same client connection seen through another NAT mapping.
    let mut extras: Vec<Vec<u32>> = vec![Vec::new(); chosen.len()];
    for c in &cands {
        if lb_taken[c.lb as usize] {
            continue;
        }
        lb_taken[c.lb as usize] = true;
        if !pairing::is_same_connection(&c.votes)
            || !pairing::same_syn(&client, c.client, &lb, c.lb)
        {
            continue;
        }
        if let Some(i) = lb_of_client[c.client as usize] {
            extras[i].push(c.lb);
        } else {
            // Its strongest candidate is unpaired: leave it unmatched.
        }
    }

    // When each capture ran: from the pairs, and from client connections to
    // the same servers that found no twin (an LB capture that started late).
    let mut spans: Vec<(u32, Vec<u32>)> = chosen
        .iter()
        .zip(&extras)
        .map(|((c, _), x)| {
            let mut v = vec![c.lb];
            v.extend(x.iter().copied());
            (c.client, v)
        })
        .collect();
    let servers: rustc_hash::FxHashSet<String> = chosen
        .iter()
        .map(|(c, _)| client.conn_ref(client.conn(c.client)).dst)
        .collect();
    for s in 0..n_client as u32 {
        if lb_of_client[s as usize].is_none()
            && servers.contains(&client.conn_ref(client.conn(s)).dst)
        {
            spans.push((s, Vec::new()));
        }
    }
    let (client_bounds, lb_bounds) = window::bounds(
        (&client, client_window),
        (&lb, lb_window),
        &spans,
        &clock,
        typical,
    );
    drop(spans);

    Ok(Paired {
        chosen,
        extras,
        clock,
        typical,
        client_bounds,
        lb_bounds,
    })
}
