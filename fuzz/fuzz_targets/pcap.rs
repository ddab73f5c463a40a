//! The pcap reader on any bytes: the first four are made one of the four
//! pcap magics (microsecond/nanosecond, either byte order) so every input
//! exercises the pcap walker, then the capture is split into connections.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use twincap_parser::{conn, read_capture_bytes, ReadOptions};

const MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
];

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() >= 4 && !MAGICS.iter().any(|m| bytes.starts_with(m)) {
        let magic = MAGICS[usize::from(bytes[0]) % MAGICS.len()];
        bytes[..4].copy_from_slice(&magic);
    }
    let opts = ReadOptions {
        single_threaded: true,
        ..ReadOptions::default()
    };
    if let Ok(cap) = read_capture_bytes(Path::new("fuzz.pcap"), bytes, &opts) {
        let _ = conn::split(&cap);
    }
});
