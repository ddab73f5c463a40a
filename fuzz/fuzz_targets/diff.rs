//! The whole `diff` pipeline on two small captures: the input is a 4-byte
//! little-endian length, the client capture of that length (cut to what is
//! there), then the LB capture. Both are read, split into connections,
//! diffed and analyzed, and the diff report is written as text, Markdown
//! and JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use twincap_matcher::{analyze, diff};
use twincap_parser::{conn, read_capture_bytes, ReadOptions};
use twincap_reporter::diff as report;
use twincap_reporter::rows::Captures;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let cut = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (client, lb) = rest.split_at(cut);
    let opts = ReadOptions {
        single_threaded: true,
        ..ReadOptions::default()
    };
    let (Ok(mut client), Ok(mut lb)) = (
        read_capture_bytes(Path::new("client.pcap"), client.to_vec(), &opts),
        read_capture_bytes(Path::new("lb.pcap"), lb.to_vec(), &opts),
    ) else {
        return;
    };
    let client_conns = conn::split(&client);
    let lb_conns = conn::split(&lb);
    let result = diff::diff(
        diff::Side::new(&client, &client_conns),
        diff::Side::new(&lb, &lb_conns),
        &diff::DiffOptions::default(),
    );
    // The report reads both captures' expert flags (on the captures as
    // read) and, where a capture clock stepped, the captures put back on
    // one clock, as `twincap diff` does.
    let client_analysis = analyze::analyze(&client, &client_conns);
    let lb_analysis = analyze::analyze(&lb, &lb_conns);
    diff::clock::apply_steps(&mut client, &mut lb, &result.clock_steps);
    let caps = Captures {
        client: &client,
        client_conns: &client_conns,
        lb: &lb,
        lb_conns: &lb_conns,
    };
    let sources = report::Sources {
        caps,
        client_analysis: &client_analysis,
        lb_analysis: &lb_analysis,
    };
    let rep = report::DiffReport::build(&result, &sources);
    let _ = report::to_text(&rep, report::Style { color: true });
    let _ = report::to_md(&rep);
    let _ = report::write_json(&rep, std::io::sink());
});
