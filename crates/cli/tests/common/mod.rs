//! Helpers the CLI tests share: run the binary, write scratch captures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn twincap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twincap"))
        .args(args)
        .output()
        .expect("twincap runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A file of `bytes` in this test binary's scratch folder.
pub fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch_dir().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

pub fn scratch_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let test = exe.file_stem().unwrap().to_string_lossy().into_owned();
    let dir = std::env::temp_dir().join(format!("twincap-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// pcap global header, little-endian microseconds, with a given link type.
pub fn pcap_header(link_type: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(0xa1b2_c3d4u32.to_le_bytes());
    h.extend(2u16.to_le_bytes());
    h.extend(4u16.to_le_bytes());
    h.extend(0i32.to_le_bytes());
    h.extend(0u32.to_le_bytes());
    h.extend(65535u32.to_le_bytes());
    h.extend(link_type.to_le_bytes());
    h
}

/// A pcap record header (little-endian microseconds).
pub fn pcap_record_header(secs: u32, usecs: u32, captured: u32, original: u32) -> Vec<u8> {
    [secs, usecs, captured, original]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect()
}
