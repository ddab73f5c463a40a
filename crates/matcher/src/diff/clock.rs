//! The offset and drift between the two capture clocks, from causality.
//!
//! For a packet matched on both sides, `D = lb_time - client_time`. A c2s
//! packet is seen by the client first, so `D = offset + delay >= offset`; an
//! s2c packet is seen by the LB first, so `D = offset - delay <= offset`.
//! The offset lies between the highest s2c `D` and the lowest c2s `D`; we
//! take the middle of that band. Done over time bins, a straight line
//! through the bin midpoints gives the drift.

use super::types::{ClockEstimate, Dir};

/// One packet seen on both sides.
#[derive(Clone, Copy, Debug)]
pub struct ClockSample {
    pub dir: Dir,
    pub client_ns: i64,
    pub lb_ns: i64,
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
