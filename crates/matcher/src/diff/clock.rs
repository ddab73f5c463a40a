//! The offset and drift between the two capture clocks, from causality.
//!
//! For a packet matched on both sides, `D = lb_time - client_time`. A c2s
//! packet is seen by the client first, so `D = offset + delay >= offset`; an
//! s2c packet is seen by the LB first, so `D = offset - delay <= offset`.
//! The offset lies between the highest s2c `D` and the lowest c2s `D`; we
//! take the middle of that band. Done over time bins, a straight line
//! through the bin midpoints gives the drift.

use super::types::{ClockEstimate, ClockStep, Dir};
use twincap_parser::{Capture, TcpPacket};

/// One packet seen on both sides.
#[derive(Clone, Copy, Debug)]
pub struct ClockSample {
    pub dir: Dir,
    pub client_ns: i64,
    pub lb_ns: i64,
    /// Its frames in the client and the LB capture.
    pub client_frame: u32,
    pub lb_frame: u32,
}

/// Bins over the client's time axis.
const BINS: usize = 24;

/// The `q` quantile-ish extreme of a small set: the minimum, or the value
/// above the lowest `n/50` outliers when there are many.
fn low_extreme(v: &mut [i64]) -> i64 {
    v.sort_unstable();
    v[v.len() / 50]
}

/// Estimate offset and drift from samples. `reference_ns` is the client-clock
/// instant the offset refers to.
pub fn estimate(samples: &[ClockSample], reference_ns: i64) -> ClockEstimate {
    if samples.is_empty() {
        return ClockEstimate {
            reference_ns,
            ..ClockEstimate::none()
        };
    }
    let t0 = samples.iter().map(|s| s.client_ns).min().unwrap();
    let t1 = samples.iter().map(|s| s.client_ns).max().unwrap();
    let span = (t1 - t0).max(1);
    // Per bin: c2s D (upper bounds) and -s2c D (so that both are minima).
    let mut up: Vec<Vec<i64>> = vec![Vec::new(); BINS];
    let mut down: Vec<Vec<i64>> = vec![Vec::new(); BINS];
    for s in samples {
        let b = (((s.client_ns - t0) as i128 * BINS as i128) / (span as i128 + 1)) as usize;
        let d = s.lb_ns - s.client_ns;
        match s.dir {
            Dir::C2s => up[b].push(d),
            Dir::S2c => down[b].push(-d),
        }
    }
    // (bin centre time, midpoint, half width)
    let mut points: Vec<(f64, f64, f64)> = Vec::new();
    for b in 0..BINS {
        if up[b].is_empty() || down[b].is_empty() {
            continue;
        }
        let hi = low_extreme(&mut up[b]) as f64;
        let lo = -(low_extreme(&mut down[b]) as f64);
        let centre = (t0 - reference_ns) as f64 + (b as f64 + 0.5) * span as f64 / BINS as f64;
        points.push((centre, (hi + lo) / 2.0, ((hi - lo) / 2.0).abs()));
    }
    // A bin whose band is wide has only late packets (held, queued) on one
    // side: its midpoint says little. Keep the tight bins.
    if !points.is_empty() {
        let tightest = points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
        let limit = 3.0 * tightest + 200_000.0;
        points.retain(|p| p.2 <= limit);
    }
    if points.is_empty() {
        // One direction only: the offset is bounded on one side only; take
        // the extreme (zero delay).
        let mut all_up: Vec<i64> = up.concat();
        let mut all_down: Vec<i64> = down.concat();
        let off = if !all_up.is_empty() {
            low_extreme(&mut all_up) as f64
        } else {
            -(low_extreme(&mut all_down) as f64)
        };
        return ClockEstimate {
            offset_s: off / 1e9,
            drift_ppm: 0.0,
            reference_ns,
            uncertainty_s: 0.0,
            samples: samples.len(),
            source: "estimated",
        };
    }
    let n = points.len() as f64;
    let median = {
        let mut m: Vec<f64> = points.iter().map(|p| p.1).collect();
        m.sort_by(|a, b| a.total_cmp(b));
        m[m.len() / 2]
    };
    let (mut slope, mut icpt) = (0.0, median);
    if points.len() >= 3 {
        let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
        let my = points.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let base = points.last().unwrap().0 - points[0].0;
        let tightest = points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
        // Drift needs a time base long enough to say anything (10 s), and
        // must move the offset by more than the delays blur it.
        if sxx > 0.0 && base > 10e9 && (sxy / sxx * base).abs() > 4.0 * tightest {
            slope = sxy / sxx;
            icpt = my - slope * mx;
        }
    }
    let unc = points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
    ClockEstimate {
        offset_s: icpt / 1e9,
        drift_ppm: slope * 1e6,
        reference_ns,
        uncertainty_s: unc / 1e9,
        samples: samples.len(),
        source: "estimated",
    }
}

/// Samples on each side of a possible step: enough of both directions to
/// bound the offset from above and below.
const STEP_WINDOW: usize = 16;

/// Steps smaller than this are left to the offset's uncertainty.
const MIN_STEP_NS: i64 = 2_000_000;

/// Drift faster than this (parts per million) is taken for steps: quartz
/// oscillators stay within 100 ppm.
const MAX_DRIFT_PPM: i64 = 200;

/// The offset band of some samples: (highest s2c `D`, lowest c2s `D`), if
/// both directions are there and agree (the band is not empty).
fn band(samples: &[ClockSample]) -> Option<(i64, i64)> {
    let lo = samples
        .iter()
        .filter(|s| s.dir == Dir::S2c)
        .map(|s| s.lb_ns - s.client_ns)
        .max()?;
    let hi = samples
        .iter()
        .filter(|s| s.dir == Dir::C2s)
        .map(|s| s.lb_ns - s.client_ns)
        .min()?;
    (lo <= hi).then_some((lo, hi))
}

/// The sample allows an offset inside `band`: a c2s one bounds it from
/// above, an s2c one from below.
fn fits(s: &ClockSample, (lo, hi): (i64, i64)) -> bool {
    let d = s.lb_ns - s.client_ns;
    match s.dir {
        Dir::C2s => lo <= d,
        Dir::S2c => d <= hi,
    }
}

/// Where one capture clock was stepped against the other (an NTP step, a
/// VM resumed, an operator setting the time) while both captures ran.
///
/// Causality bounds the offset in every stretch of the captures: c2s
/// samples from above, s2c samples from below (see [`estimate`]). Taken in
/// LB frame order, a step shows as two neighbouring stretches whose bands
/// are each consistent but do not overlap, further apart than both bands
/// are wide and than drift moves them (held or queued packets only widen a
/// band, they never empty it). The step lies after every sample the later
/// band rules out and before every one the earlier band rules out. Which
/// clock was set: the client's where its own timestamps go back there (a
/// clock set back; by less than the step if the capture was quiet), else
/// the LB's (a clock set forward
/// looks like a quiet moment in its own capture, and correcting either
/// side compares the same). The step starts at the frame where that
/// capture's time moves most the step's way. Returns the steps in time
/// order, each measured after the ones before it are taken off.
pub fn steps(samples: &[ClockSample], client: &[TcpPacket], lb: &[TcpPacket]) -> Vec<ClockStep> {
    let mut v: Vec<ClockSample> = samples.to_vec();
    v.sort_unstable_by_key(|s| (s.lb_frame, s.client_ns));
    let mut out = Vec::new();
    let mut k = STEP_WINDOW;
    while k + STEP_WINDOW <= v.len() {
        let (Some(b), Some(a)) = (band(&v[k - STEP_WINDOW..k]), band(&v[k..k + STEP_WINDOW]))
        else {
            k += 1;
            continue;
        };
        let width = (b.1 - b.0) + (a.1 - a.0);
        // Time between the two stretches, over which drift moves the band.
        let span = v[k..k + STEP_WINDOW]
            .iter()
            .map(|s| s.client_ns)
            .max()
            .unwrap_or(0)
            - v[k - STEP_WINDOW..k]
                .iter()
                .map(|s| s.client_ns)
                .min()
                .unwrap_or(0);
        let drift = span.abs() / 1_000_000 * MAX_DRIFT_PPM;
        let gap = if a.0 > b.1 {
            a.0 - b.1
        } else if a.1 < b.0 {
            a.1 - b.0
        } else {
            0
        };
        if gap.abs() < MIN_STEP_NS.max(width).max(drift) {
            k += 1;
            continue;
        }
        // How far the LB clock moved against the client's.
        let lb_minus_client = (a.0 + a.1) / 2 - (b.0 + b.1) / 2;
        // A sample that only bounds the offset on the step's far side fits
        // either band: the step lies after the samples the later band rules
        // out and before those the earlier band rules out.
        let near = &v[k - STEP_WINDOW..k + STEP_WINDOW];
        let bounds = |frame: fn(&ClockSample) -> u32| {
            let pre = near.iter().filter(|s| !fits(s, a)).map(frame).max();
            let post = near.iter().filter(|s| !fits(s, b)).map(frame).min();
            match (pre, post) {
                (Some(p), Some(q)) if p < q => (p, q),
                _ => (frame(&v[k - 1]), frame(&v[k])),
            }
        };
        let (lb_from, lb_upto) = bounds(|s| s.lb_frame);
        let (c_from, c_upto) = bounds(|s| s.client_frame);
        // The client's clock set back shows as its own time going back
        // (by less than the step where the capture was quiet).
        let client_back = (lb_minus_client > 0)
            .then(|| step_frame(client, c_from, c_upto, -1))
            .flatten()
            .filter(|&(_, jump)| jump < -MIN_STEP_NS);
        let step = match client_back {
            Some((i, _)) => ClockStep {
                side: "client",
                frame: client[i].frame,
                time_ns: client[i].ts_ns,
                step_s: -lb_minus_client as f64 / 1e9,
            },
            None => {
                let i = step_frame(lb, lb_from, lb_upto, lb_minus_client.signum())
                    .map(|(i, _)| i)
                    .unwrap_or_else(|| lb.partition_point(|p| p.frame < lb_upto).min(lb.len() - 1));
                ClockStep {
                    side: "lb",
                    frame: lb[i].frame,
                    time_ns: lb[i].ts_ns,
                    step_s: lb_minus_client as f64 / 1e9,
                }
            }
        };
        out.push(step);
        // Measure what follows on the clocks as they ran before the step.
        for s in v.iter_mut() {
            if step.side == "lb" && s.lb_frame >= step.frame {
                s.lb_ns -= lb_minus_client;
            } else if step.side == "client" && s.client_frame >= step.frame {
                s.client_ns += lb_minus_client;
            }
        }
        let resume = v.partition_point(|s| s.lb_frame < lb_from.max(1));
        k = resume.max(k) + STEP_WINDOW;
    }
    out
}

/// The packet (index) in `packets` with a frame in `after + 1 ..= upto`
/// where the capture's own time moves most the `sign` way from the packet
/// before, and that move.
fn step_frame(packets: &[TcpPacket], after: u32, upto: u32, sign: i64) -> Option<(usize, i64)> {
    let from = packets.partition_point(|p| p.frame <= after).max(1);
    let to = packets.partition_point(|p| p.frame <= upto);
    (from..to)
        .map(|i| (i, packets[i].ts_ns - packets[i - 1].ts_ns))
        .max_by_key(|&(_, d)| d.saturating_mul(sign))
}

/// Put both captures back on one clock each: every packet from each step's
/// frame on, in the capture whose clock was set, moves back by the step, so
/// that times on either side of it compare (what the diff and the report
/// read afterwards).
pub fn apply_steps(client: &mut Capture, lb: &mut Capture, steps: &[ClockStep]) {
    for st in steps {
        let by = (st.step_s * 1e9).round() as i64;
        let cap = if st.side == "client" {
            &mut *client
        } else {
            &mut *lb
        };
        for p in cap.packets.iter_mut().filter(|p| p.frame >= st.frame) {
            p.ts_ns = p.ts_ns.saturating_sub(by);
        }
    }
}
