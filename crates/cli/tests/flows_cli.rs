//! `twincap flows --format json` on the corpus: the fixed fields of
//! `twincap.flows/1`, and retransmission counts per connection equal to the
//! frames tshark flags `tcp.analysis.retransmission` (oracle files).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn corpus() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/corpus")
}

/// stream -> frames tshark flags as retransmission.
fn oracle_retransmissions(name: &str) -> BTreeMap<u64, u32> {
    let tsv = std::fs::read_to_string(corpus().join("oracle").join(format!("{name}.tcpflags.tsv")))
        .unwrap();
    let mut m = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() >= 3
            && cols[2]
                .split(',')
                .any(|f| f == "tcp.analysis.retransmission")
        {
            *m.entry(cols[1].parse().unwrap()).or_default() += 1;
        }
    }
    m
}

#[test]
fn flows_json_counts_retransmissions_as_tshark_flags_them() {
    let mut files = 0;
    for e in std::fs::read_dir(corpus()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if !corpus()
            .join("oracle")
            .join(format!("{name}.tcpflags.tsv"))
            .exists()
        {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_twincap"))
            .args(["flows", p.to_str().unwrap(), "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["schema"], "twincap.flows/1");
        assert!(v["frames"].as_u64().unwrap() >= v["tcp_frames"].as_u64().unwrap());
        let mut got = BTreeMap::new();
        for f in v["flows"].as_array().unwrap() {
            for key in ["stream", "src", "dst", "packets"] {
                assert!(!f[key].is_null(), "{name}: flow lacks {key}");
            }
            let n = f["src_to_dst"]["retransmitted_packets"].as_u64().unwrap()
                + f["dst_to_src"]["retransmitted_packets"].as_u64().unwrap();
            if n > 0 {
                got.insert(f["stream"].as_u64().unwrap(), n as u32);
            }
        }
        assert_eq!(
            got,
            oracle_retransmissions(&name),
            "{name}: retransmissions per stream"
        );
        files += 1;
    }
    assert!(files >= 40, "corpus missing: {files} files");
}
