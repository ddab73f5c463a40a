//! The pcapng reader on any bytes: the first four are made the Section
//! Header Block type so every input reaches the block walker, then the
//! capture is split into connections.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use twincap_parser::{conn, read_capture_bytes, ReadOptions};

const SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() >= 4 {
        bytes[..4].copy_from_slice(&SHB);
    }
    let opts = ReadOptions {
        single_threaded: true,
        ..ReadOptions::default()
    };
    if let Ok(cap) = read_capture_bytes(Path::new("fuzz.pcapng"), bytes, &opts) {
        let _ = conn::split(&cap);
    }
});
