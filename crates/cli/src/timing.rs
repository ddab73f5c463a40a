//! `TWINCAP_TIMING=1`: the time, CPU and memory at the end of each stage of
//! a command, on stderr (what `benches/` and docs/performance.md quote).

use std::time::Instant;

/// Reports stages when `TWINCAP_TIMING` is set, and does nothing otherwise.
pub struct StageClock {
    start: Instant,
    on: bool,
}

impl StageClock {
    /// Started now; on when the environment has `TWINCAP_TIMING`.
    pub fn from_env() -> StageClock {
        StageClock {
            start: Instant::now(),
            on: std::env::var_os("TWINCAP_TIMING").is_some(),
        }
    }

    /// Whether stages are reported.
    pub fn on(&self) -> bool {
        self.on
    }

    /// `twincap: NAME: wall s, cpu s, rss, peak`: stage `name` just ended.
    pub fn stage(&self, name: &str) {
        if !self.on {
            return;
        }
        // Resident memory now and at its peak so far (Linux).
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find(|l| l.starts_with(k))
                .map(|l| l[k.len()..].trim().to_string())
                .unwrap_or_default()
        };
        // CPU so far (user + system): /proc/self/stat's utime and stime,
        // in clock ticks (100 a second on Linux).
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let after_name = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let ticks: u64 = after_name
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|t| t.parse::<u64>().ok())
            .sum();
        eprintln!(
            "twincap: {name}: {:.3}s, cpu {:.2}s, rss {}, peak {}",
            self.start.elapsed().as_secs_f64(),
            ticks as f64 / 100.0,
            field("VmRSS:"),
            field("VmHWM:")
        );
    }
}
