//! The whole `diff` pipeline on two small captures: the input is a 4-byte
//! little-endian length, the client capture of that length (cut to what is
//! there), then the LB capture. Both are read, split into connections,
//! analyzed and diffed, and the diff report is written as text and JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use twincap_matcher::{analyze, diff};
use twincap_parser::{conn, read_capture_bytes, ReadOptions};
use twincap_reporter::diff as report;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let cut = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (client, lb) = rest.split_at(cut);
    let opts = ReadOptions {
        single_threaded: true,
    };
    let (Ok(client), Ok(lb)) = (
        read_capture_bytes(Path::new("client.pcap"), client.to_vec(), &opts),
        read_capture_bytes(Path::new("lb.pcap"), lb.to_vec(), &opts),
    ) else {
        return;
    };
    let client_conns = conn::split(&client);
    let lb_conns = conn::split(&lb);
    let _ = analyze::analyze(&client, &client_conns);
    let result = diff::diff(
        diff::Side::new(&client, &client_conns),
        diff::Side::new(&lb, &lb_conns),
        &diff::DiffOptions::default(),
    );
    let rep = report::DiffReport::build(
        &result,
        &client,
        client_conns.list.len(),
        &lb,
        lb_conns.list.len(),
    );
    let _ = report::to_text(&rep);
    let _ = report::write_json(&rep, std::io::sink());
});
