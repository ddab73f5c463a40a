//! `twincap diff CLIENT LB`: read both captures, pair and align them across
//! the SNAT (`twincap_matcher::diff`), write the report.

use crate::timing::StageClock;
use crate::{cannot_write, emit, require_tcp, warn_if_same_file, Failure, Format};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use twincap_matcher::analyze::Analysis;
use twincap_matcher::diff::{self, DiffOptions, Side};
use twincap_reporter::diff as report;
use twincap_reporter::rows::Captures;
use twincap_reporter::{conns, export, html};

/// A bar on stderr through the stages of a run, when stderr is a terminal
/// and `--quiet` is not given; nothing otherwise.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(quiet: bool, stages: u64) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(stages),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(st) =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({elapsed})")
        {
            bar.set_style(st);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress(Some(bar))
    }
    /// Start a stage (the previous one is done).
    fn stage(&self, msg: &str) {
        if let Some(b) = &self.0 {
            if b.message().is_empty() {
                b.set_position(0);
            } else {
                b.inc(1);
            }
            b.set_message(msg.to_string());
        }
    }
    fn done(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

#[derive(clap::Args)]
pub struct DiffArgs {
    /// Capture taken on the client side (before the NAT).
    pub client: PathBuf,
    /// Capture taken on the load-balancer side (after the NAT).
    pub lb: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// How many seconds the LB capture's clock is ahead of the client's
    /// (negative: behind). Overrides the estimate; the same quantity as the
    /// reported clock.offset_s.
    #[arg(long, allow_hyphen_values = true)]
    pub clock_offset: Option<f64>,
    /// Drift of the LB clock against the client's, ppm (with --clock-offset).
    #[arg(long, allow_hyphen_values = true, requires = "clock_offset")]
    pub clock_drift_ppm: Option<f64>,
    /// Also write the problem connections of both captures to one pcapng
    /// (two interfaces, client side and LB side on the client's clock, a
    /// comment on every frame the path did something to).
    #[arg(long, value_name = "FILE.pcapng")]
    pub export: Option<PathBuf>,
    /// With --export: every connection, not only the problem ones.
    #[arg(long, requires = "export")]
    pub export_all: bool,
    /// No progress bar on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn run(args: &DiffArgs) -> Result<ExitCode, Failure> {
    // TWINCAP_TIMING=1: time of each stage on stderr.
    let clock = StageClock::from_env();
    let progress = Progress::new(args.quiet, 5 + args.export.is_some() as u64);
    progress.stage(&format!(
        "reading {} and {}",
        args.client.display(),
        args.lb.display()
    ));
    // Both captures at once, each split into connections as it is read
    // (the two cores share the reading and splitting of both).
    let read = |path: &std::path::Path| {
        let read = twincap_parser::read_capture_split(path, &Default::default());
        Ok::<_, Failure>(read?)
    };
    let (client, lb) = rayon::join(|| read(&args.client), || read(&args.lb));
    // Errors and warnings in the order the files were named.
    // A side without TCP is one error line, which says why (no warning
    // before it repeats the frames left out).
    let (client, client_conns) = client?;
    require_tcp(&client, "client", &args.lb)?;
    crate::warn(&client);
    let (lb, lb_conns) = lb?;
    require_tcp(&lb, "LB", &args.client)?;
    crate::warn(&lb);
    warn_if_same_file(&args.client, &args.lb);
    clock.stage("read and split");
    if clock.on() {
        for (name, c) in [("client", &client), ("lb", &lb)] {
            eprintln!(
                "twincap: {name}: {} packets, {} allocated ({} bytes each)",
                c.packets.len(),
                c.packets.capacity(),
                std::mem::size_of_val(&c.packets[..]) / c.packets.len().max(1)
            );
        }
    }
    let mut opts = DiffOptions {
        clock_offset_s: args.clock_offset,
        clock_drift_ppm: args.clock_drift_ppm,
        clock_steps_taken_off: false,
    };
    progress.stage("pairing and aligning the two captures, expert flags");
    // Only text and Markdown print the frame tables.
    let with_tables = matches!(args.format, Format::Text | Format::Md);
    fn sources<'a>(caps: Captures<'a>, (c, l): &'a (Analysis, Analysis)) -> report::Sources<'a> {
        report::Sources {
            caps,
            client_analysis: c,
            lb_analysis: l,
        }
    }
    // Each side's expert flags, computed once on the captures as read
    // (what Wireshark shows for each file).
    let mut analyses_read = None;
    let (mut client, mut lb) = (client, lb);
    let mut clock_steps = Vec::new();
    let (mut result, analyses, per_flow) = loop {
        let caps = Captures {
            client: &client,
            client_conns: &client_conns,
            lb: &lb,
            lb_conns: &lb_conns,
        };
        let done = analyses_read.take();
        // Each side's expert flags (the host-side diagnoses read them) while
        // the pairs are found; then each pair's rows are read for the report
        // as the diff judges it.
        let diffed = diff::diff_with_rows(
            Side::new(&client, &client_conns),
            Side::new(&lb, &lb_conns),
            &opts,
            || {
                done.unwrap_or_else(|| {
                    rayon::join(
                        || twincap_matcher::analyze::analyze(&client, &client_conns),
                        || twincap_matcher::analyze::analyze(&lb, &lb_conns),
                    )
                })
            },
            |an, f| report::wants_rows(f, &sources(caps, an)),
            |an, ctx, f, frames| {
                let windows = report::Windows {
                    client_first_ns: ctx.client_window.first_ns,
                    lb_first_ns: ctx.lb_window.first_ns,
                };
                report::read_rows(
                    &sources(caps, an),
                    &ctx.clock,
                    windows,
                    f,
                    frames,
                    with_tables,
                )
            },
        );
        match diffed {
            Ok(done) => break done,
            // A capture clock stepped against the other: put the captures
            // back on one clock each, so that the diff and the report read
            // the same times, and diff again.
            Err(stepped) => {
                analyses_read = Some(stepped.side_work);
                diff::clock::apply_steps(&mut client, &mut lb, &stepped.steps);
                clock_steps = stepped.steps;
                opts.clock_steps_taken_off = true;
            }
        }
    };
    result.clock_steps = clock_steps;
    let (client_side, lb_side) = (Side::new(&client, &client_conns), Side::new(&lb, &lb_conns));
    let caps = Captures {
        client: &client,
        client_conns: &client_conns,
        lb: &lb,
        lb_conns: &lb_conns,
    };
    clock.stage("diff and analyze");
    if let Some(out) = &args.export {
        progress.stage("writing the pcapng export");
        let views = conns::views(&client_side, &lb_side, &result, args.export_all);
        export::write_pcapng(out, &client, &lb, &result.clock, &views).map_err(Failure)?;
        clock.stage("export");
    }
    progress.stage("diagnoses");
    // JSON makes each flow as it writes it.
    let json = args.format == Format::Json;
    let rep = report::DiffReport::build_from(
        &result,
        &sources(caps, &analyses),
        per_flow,
        with_tables,
        !json,
    );
    clock.stage("diagnoses");
    progress.stage("writing the report");
    if json {
        // Streamed: a report of millions of packets is never one string.
        let write = |w: &mut dyn std::io::Write| report::write_json_flows(&rep, &result, &caps, w);
        let written = match &args.output {
            Some(p) => std::fs::File::create(p)
                .and_then(|f| write(&mut std::io::BufWriter::new(f)))
                .map_err(|e| cannot_write(p, e)),
            None => {
                // A closed pipe (`| head`) is not an error worth a message.
                let _ = write(&mut std::io::BufWriter::new(std::io::stdout().lock()));
                Ok(())
            }
        };
        progress.done();
        clock.stage("report");
        leave_to_exit((client, lb, result, rep, client_conns, lb_conns, analyses));
        return written.map(|_| ExitCode::SUCCESS);
    }
    let text = match args.format {
        Format::Text => report::to_text(&rep, text_style(args.output.is_some())),
        Format::Md => report::to_md(&rep),
        Format::Yaml => report::to_yaml(&rep),
        Format::Html => {
            let (views, rest) =
                conns::worst_views(&client_side, &lb_side, &result, html::MAX_DIAGRAMS);
            html::to_html(&rep, &views, &rest, &html::findings(&rep), &client, &lb)
        }
        Format::Json => unreachable!("handled above"),
    };
    progress.done();
    emit(&text, args.output.as_deref())?;
    clock.stage("report");
    leave_to_exit((
        client,
        lb,
        result,
        rep,
        text,
        client_conns,
        lb_conns,
        analyses,
    ));
    Ok(ExitCode::SUCCESS)
}

/// The end of a run, the report written: the process exits next, and the
/// kernel takes its memory back whole, so what the run holds (the
/// captures, the result, the report, the connection lists: hundreds of
/// thousands of allocations) is not freed piece by piece (~20 ms on one
/// core after the report on the 4 M-packet bench pair).
fn leave_to_exit(held: impl Sized) {
    std::mem::forget(held);
}

/// Colours only for a terminal, and never with `NO_COLOR` set (no-color.org).
fn text_style(to_file: bool) -> report::Style {
    report::Style {
        color: !to_file
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty()),
    }
}
