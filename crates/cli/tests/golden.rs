//! Golden files: `twincap diff` text and Markdown reports of lab datasets,
//! byte for byte (no colours: NO_COLOR, and stdout is a pipe).
//! `TWINCAP_BLESS=1 cargo test -p twincap --test golden` rewrites them
//! after a deliberate change; review the diff before committing.

use std::path::PathBuf;

mod support;

fn check(dataset: &str, format: &str, ext: &str) {
    let dir = support::lab(dataset);
    // Run inside the dataset's folder so the report names the files alone.
    let args = [
        "diff",
        "client.pcap",
        "lb.pcap",
        "--quiet",
        "--format",
        format,
    ];
    let got = support::twincap(&dir, &args.map(|a| a.as_ref()));
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{dataset}.{ext}"));
    if std::env::var_os("TWINCAP_BLESS").is_some() {
        std::fs::write(&golden, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (TWINCAP_BLESS=1 writes it)", golden.display()));
    if got != want {
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "{} differs from line {}:\n got: {:?}\nwant: {:?}\n(TWINCAP_BLESS=1 rewrites it after a deliberate change)",
            golden.display(),
            line + 1,
            got.lines().nth(line),
            want.lines().nth(line)
        );
    }
}

#[test]
fn text_report_of_the_example_pair() {
    check("ex1-probe-seed7", "text", "txt");
}

#[test]
fn markdown_report_of_the_example_pair() {
    check("ex1-probe-seed7", "md", "md");
}

#[test]
fn text_report_of_the_seed_story() {
    check("probe-late-reset-s41", "text", "txt");
}

#[test]
fn markdown_report_of_the_seed_story() {
    check("probe-late-reset-s41", "md", "md");
}
