//! `read_capture`: frame counts equal tshark's on every capture of the
//! corpus and the lab, and hand-built files, byte by byte, for every format
//! feature and every way a file can be broken.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use twincap_parser::decode::{decode_frame_with_orig_len, Decoded};
use twincap_parser::error::ReadErrorKind;
use twincap_parser::{read_capture, Capture, FileFormat, ReadError, ReadOptions, TcpPacket};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> Result<Capture, ReadError> {
    read_capture(path, &ReadOptions::default())
}

/// Write `bytes` to a fresh temporary file named after the test.
fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("twincap-reader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn read_bytes(name: &str, bytes: &[u8]) -> Result<Capture, ReadError> {
    read(&temp_file(name, bytes))
}

/// Every frame lands in exactly one statistics bucket.
fn assert_stats_add_up(cap: &Capture) {
    let s = &cap.stats;
    assert_eq!(
        s.tcp + s.non_tcp + s.ipv4_fragments + s.unsupported_link + s.malformed,
        s.frames,
        "{}: {s:?}",
        cap.path.display()
    );
    assert_eq!(s.tcp as usize, cap.packets.len());
    assert!(cap.packets.windows(2).all(|w| w[0].frame < w[1].frame));
}

// ---------------------------------------------------------------- corpus

/// tshark's frame count of each corpus file: the MANIFEST.tsv `packets`
/// column (`tshark -n -r F | wc -l`, checked again when this test was written).
fn manifest() -> Vec<(String, u32)> {
    let text = std::fs::read_to_string(workspace().join("fixtures/corpus/MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let packets = header.iter().position(|h| *h == "packets").unwrap();
    lines
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[0].to_string(), cols[packets].parse().unwrap())
        })
        .collect()
}

#[test]
fn corpus_frame_counts_equal_tshark() {
    let dir = workspace().join("fixtures/corpus");
    let manifest = manifest();
    assert!(manifest.len() >= 40);
    for (name, want) in &manifest {
        let cap = read(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cap.frames(), *want, "{name}: frames");
        assert!(cap.warnings.is_empty(), "{name}: {:?}", cap.warnings);
        assert_stats_add_up(&cap);
        assert_eq!(cap.gzip, name.ends_with(".gz"), "{name}");
    }
}

#[test]
fn corpus_formats_and_interfaces() {
    let dir = workspace().join("fixtures/corpus");
    let cases: [(&str, FileFormat, usize); 6] = [
        ("wswiki_FTPv6-2.cap", FileFormat::Netmon, 1),
        ("tcpdump_tcp-handshake-nano.pcap", FileFormat::PcapNano, 1),
        ("wswiki_c06-ldapv3-app-r1.pcap.gz", FileFormat::Pcap, 1),
        ("wswiki_pcapng-example.pcapng", FileFormat::Pcapng, 2),
        ("wswiki_dof-short-capture.pcapng", FileFormat::Pcapng, 2),
        ("zeek_ldap_gap-data-missing.pcapng", FileFormat::Pcapng, 126),
    ];
    for (name, format, interfaces) in cases {
        let cap = read(&dir.join(name)).unwrap();
        assert_eq!(cap.format, Some(format), "{name}");
        assert_eq!(cap.interfaces.len(), interfaces, "{name}");
    }
    let example = read(&dir.join("wswiki_pcapng-example.pcapng")).unwrap();
    let links: Vec<u32> = example.interfaces.iter().map(|i| i.link_type).collect();
    // Ethernet and Linux cooked (LINKTYPE_LINUX_SLL).
    assert_eq!(links, [113, 1]);
    assert!(
        !example.section_comments.is_empty(),
        "pcapng-example has a section comment"
    );
    assert!(
        !example.comments.is_empty(),
        "pcapng-example has packet comments"
    );
}

/// The lab captures: frame counts measured with tshark 4.0.17
/// (`tshark -n -r F | wc -l`), and tshark itself for any further lab folder.
#[test]
fn lab_frame_counts_equal_tshark() {
    let lab = workspace().join("fixtures/lab");
    let measured = [
        ("ex1-probe-seed7/client.pcap", 692),
        ("ex1-probe-seed7/lb.pcap", 699),
        ("ex2-http-isn-seed8/client.pcap", 413),
        ("ex2-http-isn-seed8/lb.pcap", 410),
    ];
    for (name, want) in measured {
        let cap = read(&lab.join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cap.frames(), want, "{name}");
        assert_stats_add_up(&cap);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&lab)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.ends_with(".pcap") || name.ends_with(".pcapng")
            })
            .collect();
        files.sort();
        for file in files {
            let Some(want) = tshark_frames(&file) else {
                println!("tshark not found: skipping the other lab captures");
                return;
            };
            let cap = read(&file).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cap.frames(), want, "{}", file.display());
        }
    }
}

fn tshark_frames(path: &Path) -> Option<u32> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).lines().count() as u32)
}

/// Timestamps equal tshark's `frame.time_epoch` on every TCP frame of
/// captures of each timestamp kind: microsecond and nanosecond pcap,
/// pcapng with if_tsresol 9, Network Monitor 2.x, gzip.
#[test]
fn corpus_timestamps_equal_tshark() {
    let dir = workspace().join("fixtures/corpus");
    for name in [
        "zeek_http_206_example_a.pcap",
        "tcpdump_tcp-handshake-nano.pcap",
        "wswiki_pcapng-example.pcapng",
        "wswiki_redundant_stream1.pcapng",
        "zeek_ldap_gap-data-missing.pcapng",
        "wswiki_FTPv6-2.cap",
        "wswiki_Manolito2.cap",
        "zeek_http_iso-download.pcap.gz",
    ] {
        let path = dir.join(name);
        let Ok(out) = Command::new("tshark")
            .env("TZ", "UTC")
            .args(["-n", "-r"])
            .arg(&path)
            .args([
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "frame.time_epoch",
            ])
            .output()
        else {
            println!("tshark not found: skipping");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let times: Vec<i64> = text
            .lines()
            .map(|l| {
                let (secs, frac) = l.split('\t').nth(1).unwrap().split_once('.').unwrap();
                let frac = format!("{frac:0<9}");
                secs.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
            })
            .collect();
        let cap = read(&path).unwrap();
        assert_eq!(times.len() as u32, cap.frames(), "{name}");
        for p in &cap.packets {
            assert_eq!(
                p.ts_ns,
                times[p.frame as usize - 1],
                "{name} frame {}",
                p.frame
            );
        }
    }
}

#[test]
fn parallel_and_single_threaded_reads_agree() {
    // 77285 frames: more than one chunk of records.
    let path = workspace().join("fixtures/corpus/wswiki_c06-ldapv3-app-r1.pcap.gz");
    let parallel = read(&path).unwrap();
    let single = read_capture(
        &path,
        &ReadOptions {
            single_threaded: true,
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(parallel.packets, single.packets);
    assert_eq!(parallel.addrs, single.addrs);
    assert_eq!(parallel.frames(), 77285);
    // Without payload hashes, the packets are the same but for the hash.
    let unhashed = read_capture(
        &path,
        &ReadOptions {
            skip_payload_hash: true,
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert!(parallel.packets.iter().any(|p| p.payload_hash != 0));
    let without_hash: Vec<_> = parallel
        .packets
        .iter()
        .map(|p| TcpPacket {
            payload_hash: 0,
            ..p.clone()
        })
        .collect();
    assert_eq!(unhashed.packets, without_hash);
}

/// Faulting a mapped file's pages in as the walk reaches them, instead of
/// mapping each chunk's pages ahead, reads the same packets: on a plain
/// (mapped) file of more than one chunk.
#[test]
fn pages_faulted_in_or_mapped_ahead_read_the_same() {
    // 10949 frames: more than one chunk of records.
    let path = workspace().join("fixtures/corpus/wswiki_Obsolete_Packets.cap");
    let ahead = read(&path).unwrap();
    let faulted = read_capture(
        &path,
        &ReadOptions {
            fault_pages_in: true,
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(ahead.frames(), 10949);
    assert_eq!(ahead.packets, faulted.packets);
    assert_eq!(ahead.addrs, faulted.addrs);
}

/// `read_records` gives back the very records the packets came from, in
/// pcap, pcapng and gzip files alike: decoded again, they are the packets.
#[test]
fn records_read_again_decode_to_the_same_packets() {
    for name in [
        "fixtures/corpus/wswiki_c06-ldapv3-app-r1.pcap.gz",
        "fixtures/corpus/sanders_tcp_dupack.pcapng",
        "fixtures/lab/probe-loss-dup-reorder-s11/client.pcap",
    ] {
        let path = workspace().join(name);
        let cap = read(&path).unwrap();
        // Every 97th packet, and the last.
        let mut pick: Vec<&twincap_parser::TcpPacket> = cap.packets.iter().step_by(97).collect();
        pick.push(cap.packets.last().unwrap());
        let offsets: Vec<u64> = pick.iter().map(|p| p.rec_offset).collect();
        let recs = twincap_parser::read_records(&path, &offsets).unwrap();
        assert_eq!(recs.len(), pick.len(), "{name}");
        for (p, r) in pick.iter().zip(&recs) {
            assert_eq!(
                (r.frame, r.ts_ns, r.offset),
                (p.frame, p.ts_ns, p.rec_offset),
                "{name}"
            );
            let again = match decode_frame_with_orig_len(r.link_type, &r.data, r.orig_len) {
                Decoded::Tcp(t) => t.packet,
                other => panic!("{name}: frame {}: {other:?}", p.frame),
            };
            assert_eq!(
                (
                    again.seq,
                    again.ack,
                    again.flags,
                    again.ip_id,
                    again.payload_hash
                ),
                (p.seq, p.ack, p.flags, p.ip_id, p.payload_hash),
                "{name}: frame {}",
                p.frame
            );
        }
    }
}

// ---------------------------------------------------------------- pcap

#[test]
fn pcap_both_magics_both_byte_orders() {
    for (nano, big_endian) in [(false, false), (false, true), (true, false), (true, true)] {
        let frac = if nano { 123_456_789 } else { 123_456 };
        let file = pcap(
            nano,
            big_endian,
            1,
            65535,
            &[
                Rec::new(1_700_000_000, frac, eth_tcp(1, 0)),
                Rec::new(1_700_000_001, 0, eth_tcp(2, 0)),
            ],
        );
        let name = format!("magic-{nano}-{big_endian}.pcap");
        let cap = read_bytes(&name, &file).unwrap();
        assert_eq!(
            cap.format,
            Some(if nano {
                FileFormat::PcapNano
            } else {
                FileFormat::Pcap
            })
        );
        assert_eq!((cap.frames(), cap.stats.tcp), (2, 2), "{name}");
        let want = 1_700_000_000_000_000_000 + if nano { 123_456_789 } else { 123_456_000 };
        assert_eq!(cap.packets[0].ts_ns, want, "{name}");
        assert_eq!(cap.packets[1].ts_ns, 1_700_000_001_000_000_000, "{name}");
        assert_eq!(cap.packets[0].seq, 1);
        assert_eq!(cap.packets[1].frame, 2);
        assert_eq!(cap.packets[1].rec_offset, 24 + 16 + 54);
        assert_eq!(cap.addr(cap.packets[0].src).to_string(), "10.0.0.1");
        assert_eq!(cap.interfaces[0].link_type, 1);
    }
}

/// pcap-file 2.0.0 loops forever on a record longer than the file's
/// snaplen; Wireshark reads such a record whole, and so do we.
#[test]
fn pcap_record_longer_than_snaplen_is_read() {
    let big = eth_tcp(7, 1400);
    assert!(big.len() > 96);
    let file = pcap(
        false,
        false,
        1,
        96,
        &[Rec::new(1, 0, big.clone()), Rec::new(2, 0, eth_tcp(8, 10))],
    );
    let started = std::time::Instant::now();
    let cap = read_bytes("over-snaplen.pcap", &file).unwrap();
    assert!(started.elapsed().as_secs() < 5);
    assert_eq!(cap.frames(), 2);
    assert_eq!(cap.packets[0].captured_len, 1400);
    assert_eq!(cap.packets[0].payload_len, 1400);
    assert_eq!(cap.packets[1].seq, 8);
}

/// Files written by pcap-file 2.0.0 (the crate users know) read back.
#[test]
fn pcap_written_by_pcap_file_reads_back() {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let mut out = Vec::new();
    let header = PcapHeader {
        snaplen: 65535,
        ..PcapHeader::default()
    };
    {
        let mut writer = PcapWriter::with_header(&mut out, header).unwrap();
        for i in 0..3u32 {
            let data = eth_tcp(i, 5);
            let ts = std::time::Duration::new(1_600_000_000 + i as u64, 250_000_000);
            writer
                .write_packet(&PcapPacket::new(ts, data.len() as u32, &data))
                .unwrap();
        }
    }
    let cap = read_bytes("pcap-file.pcap", &out).unwrap();
    assert_eq!(cap.frames(), 3);
    assert_eq!(cap.packets[2].ts_ns, 1_600_000_002_250_000_000);
}

#[test]
fn pcap_with_unsupported_link_type_is_an_error() {
    let file = pcap(false, false, 147, 65535, &[Rec::new(1, 0, vec![0; 40])]);
    let err = read_bytes("user0.pcap", &file).unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::UnsupportedLinkType);
    assert_eq!(
        err.message,
        "link type 147 is not one twincap decodes, so no frame can be read"
    );
    assert!(
        err.hint.as_deref().unwrap().contains("1 (Ethernet)"),
        "{err}"
    );
}

// ---------------------------------------------------------------- pcapng

#[test]
fn pcapng_sections_of_both_byte_orders() {
    let mut file = Vec::new();
    file.extend(shb(false, &["little"]));
    file.extend(idb(false, 1, 0, &[]));
    file.extend(epb(false, 0, 1_700_000_000_000_000, &eth_tcp(1, 0), &[]));
    file.extend(shb(true, &["big"]));
    file.extend(idb(true, 101, 0, &[]));
    file.extend(epb(true, 0, 1_700_000_001_000_000, &ip_tcp(2, 0), &[]));
    let cap = read_bytes("sections.pcapng", &file).unwrap();
    assert_eq!(cap.format, Some(FileFormat::Pcapng));
    assert_eq!((cap.frames(), cap.stats.tcp), (2, 2));
    assert_eq!(cap.section_comments, ["little", "big"]);
    let links: Vec<u32> = cap.interfaces.iter().map(|i| i.link_type).collect();
    assert_eq!(links, [1, 101]);
    assert_eq!(cap.packets[1].seq, 2);
    assert_eq!(cap.packets[1].ts_ns, 1_700_000_001_000_000_000);
    // The second packet's addresses are the first's: interned once.
    assert_eq!(cap.addrs.len(), 2);
}

#[test]
fn pcapng_interfaces_with_different_link_types() {
    let mut file = shb(false, &[]);
    file.extend(idb(false, 1, 0, &[opt_str(2, "eth0")]));
    file.extend(idb(false, 101, 0, &[opt_str(2, "tun0")]));
    file.extend(idb(false, 147, 0, &[]));
    file.extend(epb(false, 0, 0, &eth_tcp(1, 0), &[]));
    file.extend(epb(false, 1, 0, &ip_tcp(2, 0), &[]));
    file.extend(epb(false, 2, 0, &[0u8; 30], &[]));
    file.extend(epb(false, 0, 0, &eth_tcp(3, 0), &[]));
    let cap = read_bytes("interfaces.pcapng", &file).unwrap();
    assert_eq!(cap.frames(), 4);
    assert_eq!(cap.stats.tcp, 3);
    assert_eq!(cap.stats.unsupported_link, 1);
    let frames: Vec<u32> = cap.packets.iter().map(|p| p.frame).collect();
    assert_eq!(frames, [1, 2, 4]);
    assert_eq!(cap.interfaces[1].name.as_deref(), Some("tun0"));
}

#[test]
fn pcapng_where_no_interface_is_decodable_is_an_error() {
    let mut file = shb(false, &[]);
    file.extend(idb(false, 147, 0, &[]));
    file.extend(epb(false, 0, 0, &[0u8; 30], &[]));
    let err = read_bytes("all-user0.pcapng", &file).unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::UnsupportedLinkType);
    assert!(err.message.starts_with("link type 147 is not"), "{err}");
}

/// pcap-file 2.0.0 gets if_tsresol wrong; these are the timestamps
/// Wireshark shows.
#[test]
fn pcapng_timestamp_resolution_and_offset() {
    let mut file = shb(false, &[]);
    // Nanoseconds.
    file.extend(idb(false, 1, 0, &[opt_u8(9, 9)]));
    // 2^-20 seconds, and 100 s added.
    file.extend(idb(
        false,
        1,
        0,
        &[opt_u8(9, 0x80 | 20), opt_u64(false, 14, 100)],
    ));
    // Default microseconds, with a negative offset.
    file.extend(idb(false, 1, 0, &[opt_u64(false, 14, (-10i64) as u64)]));
    file.extend(epb(
        false,
        0,
        1_700_000_000_123_456_789,
        &eth_tcp(1, 0),
        &[],
    ));
    file.extend(epb(
        false,
        1,
        (1_700_000_000u64 << 20) | (1 << 19),
        &eth_tcp(2, 0),
        &[],
    ));
    file.extend(epb(false, 2, 1_700_000_000_654_321, &eth_tcp(3, 0), &[]));
    let cap = read_bytes("tsresol.pcapng", &file).unwrap();
    let ts: Vec<i64> = cap.packets.iter().map(|p| p.ts_ns).collect();
    assert_eq!(
        ts,
        [
            1_700_000_000_123_456_789,
            1_700_000_100_500_000_000,
            1_699_999_990_654_321_000
        ]
    );
}

#[test]
fn pcapng_simple_and_obsolete_packet_blocks() {
    let mut file = shb(false, &[]);
    // Interface 0 keeps 60 bytes of each frame: the SPB rule.
    file.extend(idb(false, 1, 60, &[]));
    file.extend(idb(false, 101, 0, &[]));
    let frame = eth_tcp(1, 100);
    file.extend(spb(false, frame.len() as u32, &frame[..60]));
    file.extend(opb(
        false,
        1,
        1_700_000_000_000_001,
        &ip_tcp(2, 0),
        &[opt_str(1, "old")],
    ));
    let cap = read_bytes("spb-opb.pcapng", &file).unwrap();
    assert_eq!((cap.frames(), cap.stats.tcp), (2, 2));
    let spb_packet = &cap.packets[0];
    assert_eq!(spb_packet.ts_ns, 0, "an SPB has no time");
    assert_eq!(spb_packet.payload_len, 100);
    assert_eq!(spb_packet.captured_len, 60 - 54);
    assert_eq!(cap.packets[1].ts_ns, 1_700_000_000_000_001_000);
    assert_eq!(cap.comments, [(2, "old".to_string())]);
}

#[test]
fn pcapng_comments_and_blocks_that_are_frames_or_not() {
    let mut file = shb(false, &["section one"]);
    file.extend(idb(false, 1, 0, &[]));
    file.extend(epb(false, 0, 0, &eth_tcp(1, 0), &[]));
    // Name resolution, interface statistics, an unknown block: skipped.
    file.extend(block(false, 4, &[0; 4]));
    file.extend(block(false, 5, &[0; 12]));
    file.extend(block(false, 0x1234, &[1, 2, 3, 4]));
    // A custom block: Wireshark shows it as a frame.
    file.extend(block(
        false,
        0x0000_0bad,
        &[0x00, 0x00, 0x7f, 0xff, 1, 2, 3, 4],
    ));
    file.extend(epb(
        false,
        0,
        0,
        &eth_tcp(2, 0),
        &[opt_str(1, "first"), opt_str(1, "second")],
    ));
    let cap = read_bytes("comments.pcapng", &file).unwrap();
    assert_eq!(cap.frames(), 3);
    assert_eq!(cap.stats.non_tcp, 1);
    assert_eq!(cap.packets[1].frame, 3);
    assert_eq!(cap.section_comments, ["section one"]);
    assert_eq!(
        cap.comments,
        [(3, "first".to_string()), (3, "second".to_string())]
    );
}

#[test]
fn pcapng_packet_on_a_missing_interface_names_the_frame() {
    let mut file = shb(false, &[]);
    file.extend(idb(false, 1, 0, &[]));
    file.extend(epb(false, 0, 0, &eth_tcp(1, 0), &[]));
    let at = file.len();
    file.extend(epb(false, 3, 0, &eth_tcp(2, 0), &[]));
    let err = read_bytes("bad-interface.pcapng", &file).unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::Corrupt);
    assert_eq!((err.frame, err.offset), (Some(2), Some(at as u64)));
    assert_eq!(
        err.message,
        "packet names interface 3, but its section describes 1 interface(s)"
    );
}

// ---------------------------------------------------------------- gzip

#[test]
fn gzip_of_each_format() {
    let plain_pcap = pcap(false, false, 1, 65535, &[Rec::new(5, 0, eth_tcp(1, 0))]);
    let mut plain_ng = shb(false, &[]);
    plain_ng.extend(idb(false, 1, 0, &[]));
    plain_ng.extend(epb(false, 0, 5_000_000, &eth_tcp(1, 0), &[]));
    let plain_netmon = netmon(1, &[NetmonRec::new(0, eth_tcp(1, 0), None)]);
    for (name, plain, format) in [
        ("gz.pcap", plain_pcap, FileFormat::Pcap),
        ("gz.pcapng", plain_ng, FileFormat::Pcapng),
        ("gz.cap", plain_netmon, FileFormat::Netmon),
    ] {
        // The name says nothing: the magic decides.
        let cap = read_bytes(&format!("{name}.bin"), &gzip(&plain)).unwrap();
        assert!(cap.gzip, "{name}");
        assert_eq!(cap.format, Some(format), "{name}");
        assert_eq!(cap.stats.tcp, 1, "{name}");
    }
}

#[test]
fn gzip_of_several_members_reads_them_all() {
    let file = pcap(
        false,
        false,
        1,
        65535,
        &[Rec::new(5, 0, eth_tcp(1, 0)), Rec::new(6, 0, eth_tcp(2, 0))],
    );
    let (head, tail) = file.split_at(24 + 16 + 20);
    let mut two = gzip(head);
    two.extend(gzip(tail));
    let cap = read_bytes("two-members.gz", &two).unwrap();
    assert_eq!(cap.stats.tcp, 2);
}

#[test]
fn gzip_cut_off_reads_what_it_holds() {
    let records: Vec<Rec> = (0..200).map(|i| Rec::new(i, 0, eth_tcp(i, 200))).collect();
    let file = gzip(&pcap(false, false, 1, 65535, &records));
    let cut = &file[..file.len() / 2];
    let cap = read_bytes("cut.pcap.gz", cut).unwrap();
    assert!(cap.frames() > 10 && cap.frames() < 200, "{}", cap.frames());
    assert!(
        cap.warnings[0].message.starts_with("gzip data stops after"),
        "{:?}",
        cap.warnings
    );
}

// ---------------------------------------------------------------- netmon

#[test]
fn netmon_2_0_frames_and_times() {
    let file = netmon(
        0,
        &[
            NetmonRec::new(0, eth_tcp(1, 0), None),
            NetmonRec::new(1_500_000, eth_tcp(2, 0), None),
        ],
    );
    let cap = read_bytes("v20.cap", &file).unwrap();
    assert_eq!(cap.format, Some(FileFormat::Netmon));
    assert_eq!((cap.frames(), cap.stats.tcp), (2, 2));
    // Start 2005-07-16 10:31:08.393 (UTC), then 1.5 s later.
    assert_eq!(cap.packets[0].ts_ns, 1_121_509_868_393_000_000);
    assert_eq!(cap.packets[1].ts_ns, 1_121_509_869_893_000_000);
    assert_eq!(cap.interfaces[0].link_type, 1);
}

/// Per-frame media types (2.1+): mapped to LINKTYPE_ values; metadata
/// frames Wireshark shows are frames, the ones it skips are not.
#[test]
fn netmon_2_1_media_types() {
    let file = netmon(
        1,
        &[
            NetmonRec::new(0, eth_tcp(1, 0), Some(1)),
            // "Raw IP frames".
            NetmonRec::new(1, ip_tcp(2, 0), Some(9)),
            // DNS cache: skipped by Wireshark.
            NetmonRec::new(2, vec![0; 20], Some(0xfffe)),
            // A converted pcap: LINKTYPE_RAW (101) under 0xE000.
            NetmonRec::new(3, ip_tcp(3, 0), Some(0xe000 | 101)),
            // NetMon filter frame: shown.
            NetmonRec::new(4, vec![0; 20], Some(0xffff)),
        ],
    );
    let cap = read_bytes("v21.cap", &file).unwrap();
    assert_eq!(cap.frames(), 4);
    assert_eq!((cap.stats.tcp, cap.stats.non_tcp), (3, 1));
    let frames: Vec<u32> = cap.packets.iter().map(|p| p.frame).collect();
    assert_eq!(frames, [1, 2, 3]);
    let links: Vec<u32> = cap.interfaces.iter().map(|i| i.link_type).collect();
    assert_eq!(links, [1, 101]);
}

#[test]
fn netmon_2_3_takes_the_utc_filetime() {
    // 2020-01-01 00:00:00.1234567 UTC as a FILETIME.
    let filetime = (1_577_836_800u64 + 11_644_473_600) * 10_000_000 + 1_234_567;
    let file = netmon(
        3,
        &[NetmonRec::new(0, eth_tcp(1, 0), Some(1)).filetime(filetime)],
    );
    let cap = read_bytes("v23.cap", &file).unwrap();
    assert_eq!(cap.packets[0].ts_ns, 1_577_836_800_123_456_700);
}

#[test]
fn netmon_frame_table_past_the_end_is_corrupt() {
    let mut file = netmon(0, &[NetmonRec::new(0, eth_tcp(1, 0), None)]);
    file.truncate(file.len() - 2);
    let err = read_bytes("cut.cap", &file).unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::Corrupt);
    assert!(
        err.message.starts_with("frame table (4 bytes at byte"),
        "{err}"
    );
    assert!(err.hint.unwrap().contains("frame table last"));
}

// ---------------------------------------------------------------- broken files

#[test]
fn truncated_pcap_keeps_whole_frames_and_warns() {
    let file = pcap(
        false,
        false,
        1,
        65535,
        &[
            Rec::new(1, 0, eth_tcp(1, 0)),
            Rec::new(2, 0, eth_tcp(2, 0)),
            Rec::new(3, 0, eth_tcp(3, 0)),
        ],
    );
    let third = 24 + 2 * (16 + 54);
    // Cut inside the third record's data, then inside its header.
    for (cut, needed, left) in [(file.len() - 10, 70, 60), (third + 7, 16, 7)] {
        let cap = read_bytes("truncated.pcap", &file[..cut]).unwrap();
        assert_eq!(cap.frames(), 2);
        assert_eq!(cap.warnings.len(), 1);
        let warning = &cap.warnings[0];
        assert_eq!(
            warning.message,
            format!(
                "file ends in the middle of frame 3 (its record needs {needed} bytes, \
                 {left} are left): read 2 whole frames"
            )
        );
        assert_eq!((warning.frame, warning.offset), (3, Some(third as u64)));
    }
}

#[test]
fn truncated_pcapng_keeps_whole_frames_and_warns() {
    let mut file = shb(false, &[]);
    file.extend(idb(false, 1, 0, &[]));
    file.extend(epb(false, 0, 0, &eth_tcp(1, 0), &[]));
    let second = file.len();
    file.extend(epb(false, 0, 0, &eth_tcp(2, 0), &[]));
    let block = file.len() - second;
    let cap = read_bytes("truncated.pcapng", &file[..file.len() - 1]).unwrap();
    assert_eq!(cap.frames(), 1);
    assert_eq!(
        cap.warnings[0].message,
        format!(
            "file ends in the middle of frame 2 (its record needs {block} bytes, {} are left): \
             read 1 whole frames",
            block - 1
        )
    );
    assert_eq!(cap.warnings[0].offset, Some(second as u64));
}

#[test]
fn absurd_record_length_is_an_error_naming_the_frame() {
    let mut file = pcap(
        false,
        false,
        1,
        65535,
        &[Rec::new(1, 0, eth_tcp(1, 0)), Rec::new(2, 0, eth_tcp(2, 0))],
    );
    let second = 24 + 16 + 54;
    file[second + 8..second + 12].copy_from_slice(&300_000u32.to_le_bytes());
    let err = read_bytes("absurd.pcap", &file).unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::Corrupt);
    assert_eq!((err.frame, err.offset), (Some(2), Some(second as u64)));
    assert_eq!(
        err.message,
        "the record header says 300000 bytes were captured, more than the 262144 bytes a \
         capture tool writes for one frame"
    );
    assert!(
        err.to_string()
            .contains(": frame 2 (byte offset 94): the record header says"),
        "{err}"
    );
    // Enormous lengths too, without trying to allocate them.
    file[second + 8..second + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = read_bytes("absurd.pcap", &file).unwrap_err();
    assert_eq!(err.frame, Some(2));
}

#[test]
fn absurd_pcapng_packet_length_is_an_error() {
    let mut file = shb(false, &[]);
    file.extend(idb(false, 1, 0, &[]));
    let at = file.len();
    let mut bad = epb(false, 0, 0, &eth_tcp(1, 0), &[]);
    bad[20..24].copy_from_slice(&400_000u32.to_le_bytes());
    file.extend(bad);
    let err = read_bytes("absurd.pcapng", &file).unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::Corrupt);
    assert_eq!((err.frame, err.offset), (Some(1), Some(at as u64)));
    assert!(
        err.message.contains("says 400000 bytes were captured"),
        "{err}"
    );
}

#[test]
fn empty_file() {
    let err = read_bytes("empty.pcap", &[]).unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::Empty);
    assert_eq!(err.message, "the file is empty (0 bytes)");
    assert!(err.to_string().ends_with(
        "empty.pcap: the file is empty (0 bytes) (nothing was captured into it; check that \
         the capture ran and was stopped cleanly)"
    ));
}

#[test]
fn not_a_capture() {
    let err = read_bytes("notes.pcap", b"<!DOCTYPE html>").unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::NotACapture);
    assert_eq!(
        err.message,
        "not a capture file twincap reads: it starts with bytes 3c 21 44 4f, which is the magic \
         number of none of pcap, pcapng or Microsoft Network Monitor 2.x (plain or gzip-compressed)"
    );
    let err = read_bytes("notes.gz", &gzip(b"hello world")).unwrap_err();
    assert!(
        err.message
            .contains("after gunzip, it starts with bytes 68 65 6c 6c"),
        "{err}"
    );
}

#[test]
fn missing_file() {
    let err = read(Path::new("/nonexistent/twincap/x.pcap")).unwrap_err();
    assert_eq!(err.kind, ReadErrorKind::Io);
    assert_eq!(
        err.message,
        "cannot read the file: No such file or directory (os error 2)"
    );
    assert_eq!(err.path, Path::new("/nonexistent/twincap/x.pcap"));
    let err = read(&std::env::temp_dir()).unwrap_err();
    assert_eq!(err.message, "is a directory, not a capture file");
}

/// No input makes the reader panic: every prefix of every hand-built file,
/// and every file with one byte changed.
#[test]
fn never_panics_on_damaged_files() {
    let mut ng = shb(false, &["c"]);
    ng.extend(idb(false, 1, 64, &[opt_u8(9, 9)]));
    ng.extend(epb(false, 0, 1, &eth_tcp(1, 3), &[opt_str(1, "x")]));
    ng.extend(spb(false, 54, &eth_tcp(2, 0)));
    ng.extend(opb(false, 0, 1, &eth_tcp(3, 0), &[]));
    let files = [
        pcap(
            false,
            true,
            1,
            65535,
            &[Rec::new(1, 2, eth_tcp(1, 4)), Rec::new(3, 4, eth_tcp(2, 0))],
        ),
        ng,
        netmon(3, &[NetmonRec::new(5, eth_tcp(1, 0), Some(1)).filetime(1)]),
        netmon(0, &[NetmonRec::new(5, eth_tcp(1, 0), None)]),
    ];
    for (n, file) in files.iter().enumerate() {
        let path = temp_file(&format!("damaged-{n}"), &[]);
        for cut in 0..file.len() {
            std::fs::write(&path, &file[..cut]).unwrap();
            let _ = read(&path);
        }
        for at in 0..file.len() {
            for value in [0x00, 0xff, 0x80, 0x01] {
                let mut damaged = file.clone();
                damaged[at] = value;
                std::fs::write(&path, &damaged).unwrap();
                let _ = read(&path);
            }
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

// ---------------------------------------------------------------- builders

/// A TCP segment (ACK|PSH, `payload` zero bytes) from 10.0.0.1:1234 to
/// 10.0.0.2:80 in an Ethernet frame.
fn eth_tcp(seq: u32, payload: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let ip_len = (40 + payload) as u16;
    f.extend([
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        1,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend([10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend(1234u16.to_be_bytes());
    f.extend(80u16.to_be_bytes());
    f.extend(seq.to_be_bytes());
    f.extend(0u32.to_be_bytes());
    f.extend([0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend(vec![0u8; payload]);
    f
}

/// The same segment without the Ethernet header (raw IP).
fn ip_tcp(seq: u32, payload: usize) -> Vec<u8> {
    eth_tcp(seq, payload)[14..].to_vec()
}

struct Rec {
    secs: u32,
    fraction: u32,
    data: Vec<u8>,
}

impl Rec {
    fn new(secs: u32, fraction: u32, data: Vec<u8>) -> Self {
        Rec {
            secs,
            fraction,
            data,
        }
    }
}

fn put32(out: &mut Vec<u8>, be: bool, v: u32) {
    out.extend(if be { v.to_be_bytes() } else { v.to_le_bytes() });
}

fn put16(out: &mut Vec<u8>, be: bool, v: u16) {
    out.extend(if be { v.to_be_bytes() } else { v.to_le_bytes() });
}

fn pcap(nano: bool, be: bool, link: u32, snaplen: u32, records: &[Rec]) -> Vec<u8> {
    let mut out = Vec::new();
    put32(&mut out, be, if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
    put16(&mut out, be, 2);
    put16(&mut out, be, 4);
    put32(&mut out, be, 0);
    put32(&mut out, be, 0);
    put32(&mut out, be, snaplen);
    put32(&mut out, be, link);
    for r in records {
        put32(&mut out, be, r.secs);
        put32(&mut out, be, r.fraction);
        put32(&mut out, be, r.data.len() as u32);
        put32(&mut out, be, r.data.len() as u32);
        out.extend(&r.data);
    }
    out
}

/// A pcapng option: code and value (encoded in the block's byte order by
/// the block builders; a number's value must already be).
type Opt = (u16, Vec<u8>);

fn opt_str(code: u16, s: &str) -> Opt {
    (code, s.as_bytes().to_vec())
}

fn opt_u8(code: u16, v: u8) -> Opt {
    (code, vec![v])
}

fn opt_u64(be: bool, code: u16, v: u64) -> Opt {
    (
        code,
        if be { v.to_be_bytes() } else { v.to_le_bytes() }.to_vec(),
    )
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

fn put_options(out: &mut Vec<u8>, be: bool, opts: &[Opt]) {
    if opts.is_empty() {
        return;
    }
    for (code, value) in opts {
        put16(out, be, *code);
        put16(out, be, value.len() as u16);
        out.extend(value);
        pad4(out);
    }
    put32(out, be, 0);
}

/// A whole block of `kind` around `body` (padded).
fn block(be: bool, kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    pad4(&mut body);
    let len = 12 + body.len() as u32;
    let mut out = Vec::new();
    put32(&mut out, be, kind);
    put32(&mut out, be, len);
    out.extend(body);
    put32(&mut out, be, len);
    out
}

fn shb(be: bool, comments: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    put32(&mut body, be, 0x1a2b_3c4d);
    put16(&mut body, be, 1);
    put16(&mut body, be, 0);
    body.extend([0xff; 8]);
    let opts: Vec<Opt> = comments.iter().map(|c| opt_str(1, c)).collect();
    put_options(&mut body, be, &opts);
    block(be, 0x0a0d_0d0a, &body)
}

fn idb(be: bool, link: u16, snaplen: u32, opts: &[Opt]) -> Vec<u8> {
    let mut body = Vec::new();
    put16(&mut body, be, link);
    put16(&mut body, be, 0);
    put32(&mut body, be, snaplen);
    put_options(&mut body, be, opts);
    block(be, 1, &body)
}

fn packet_body(be: bool, ts: u64, data: &[u8], opts: &[Opt], body: &mut Vec<u8>) {
    put32(body, be, (ts >> 32) as u32);
    put32(body, be, ts as u32);
    put32(body, be, data.len() as u32);
    put32(body, be, data.len() as u32);
    body.extend(data);
    pad4(body);
    put_options(body, be, opts);
}

fn epb(be: bool, interface: u32, ts: u64, data: &[u8], opts: &[Opt]) -> Vec<u8> {
    let mut body = Vec::new();
    put32(&mut body, be, interface);
    packet_body(be, ts, data, opts, &mut body);
    block(be, 6, &body)
}

/// Obsolete Packet Block: 16-bit interface id and drop count.
fn opb(be: bool, interface: u16, ts: u64, data: &[u8], opts: &[Opt]) -> Vec<u8> {
    let mut body = Vec::new();
    put16(&mut body, be, interface);
    put16(&mut body, be, 0);
    packet_body(be, ts, data, opts, &mut body);
    block(be, 2, &body)
}

fn spb(be: bool, orig_len: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put32(&mut body, be, orig_len);
    body.extend(data);
    block(be, 3, &body)
}

struct NetmonRec {
    delta_us: u64,
    data: Vec<u8>,
    media: Option<u16>,
    filetime: u64,
}

impl NetmonRec {
    fn new(delta_us: u64, data: Vec<u8>, media: Option<u16>) -> Self {
        NetmonRec {
            delta_us,
            data,
            media,
            filetime: 0,
        }
    }
    fn filetime(mut self, filetime: u64) -> Self {
        self.filetime = filetime;
        self
    }
}

/// A Network Monitor 2.`minor` file started 2005-07-16 10:31:08.393,
/// records in order, frame table last.
fn netmon(minor: u8, records: &[NetmonRec]) -> Vec<u8> {
    let mut out = b"GMBU".to_vec();
    out.extend([minor, 2, 1, 0]);
    for v in [2005u16, 7, 6, 16, 10, 31, 8, 393] {
        out.extend(v.to_le_bytes());
    }
    out.resize(128, 0);
    let mut table = Vec::new();
    for r in records {
        table.extend((out.len() as u32).to_le_bytes());
        out.extend(r.delta_us.to_le_bytes());
        out.extend((r.data.len() as u32).to_le_bytes());
        out.extend((r.data.len() as u32).to_le_bytes());
        out.extend(&r.data);
        if minor >= 1 {
            out.extend(r.media.unwrap_or(1).to_le_bytes());
        }
        if minor >= 2 {
            out.extend(0u32.to_le_bytes());
        }
        if minor >= 3 {
            out.extend(r.filetime.to_le_bytes());
            out.push(0);
        }
    }
    let table_at = out.len() as u32;
    out.extend(&table);
    out[24..28].copy_from_slice(&table_at.to_le_bytes());
    out[28..32].copy_from_slice(&(table.len() as u32).to_le_bytes());
    out
}

// ---------------------------------------------------------------- tshark on hand-built files

/// tshark's frame numbers, times and captured lengths of a file.
fn tshark_frames_and_times(path: &Path) -> Option<Vec<(i64, u32)>> {
    let out = Command::new("tshark")
        .env("TZ", "UTC")
        .args(["-n", "-r"])
        .arg(path)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.cap_len",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rows = text
        .lines()
        .map(|l| {
            let (time, cap_len) = l.split_once('\t').unwrap();
            // Frames without a time (SPB, custom blocks) show none.
            let ns = time.split_once('.').map_or(0, |(secs, frac)| {
                let frac = format!("{frac:0<9}");
                secs.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
            });
            (ns, cap_len.parse().unwrap_or(0))
        })
        .collect();
    Some(rows)
}

/// The hand-built files above, read by tshark: same frames (custom blocks
/// and Network Monitor filter frames counted, DNS-cache frames not), same
/// times (if_tsresol, if_tsoffset, 2^-n units, FILETIME), and a record past
/// the snaplen read whole.
#[test]
fn hand_built_files_read_as_tshark_reads_them() {
    let mut tsresol = shb(false, &[]);
    tsresol.extend(idb(false, 1, 0, &[opt_u8(9, 9)]));
    tsresol.extend(idb(
        false,
        1,
        0,
        &[opt_u8(9, 0x80 | 20), opt_u64(false, 14, 100)],
    ));
    tsresol.extend(epb(
        false,
        0,
        1_700_000_000_123_456_789,
        &eth_tcp(1, 0),
        &[],
    ));
    tsresol.extend(epb(
        false,
        1,
        (1_700_000_000u64 << 20) | 12345,
        &eth_tcp(2, 0),
        &[],
    ));
    let mut mixed = shb(true, &["x"]);
    mixed.extend(idb(true, 1, 60, &[]));
    let frame = eth_tcp(1, 100);
    mixed.extend(spb(true, frame.len() as u32, &frame[..60]));
    mixed.extend(block(true, 0x0000_0bad, &[0, 0, 0x7f, 0xff, 9, 9, 9, 9]));
    mixed.extend(block(true, 4, &[0; 4]));
    mixed.extend(opb(true, 0, 1_000_001, &eth_tcp(2, 0), &[]));
    mixed.extend(shb(false, &[]));
    mixed.extend(idb(false, 101, 0, &[]));
    mixed.extend(epb(false, 0, 5, &ip_tcp(3, 0), &[]));
    let netmon21 = netmon(
        1,
        &[
            NetmonRec::new(0, eth_tcp(1, 0), Some(1)),
            NetmonRec::new(2, vec![0; 20], Some(0xfffe)),
            NetmonRec::new(3, ip_tcp(3, 0), Some(0xe000 | 101)),
            NetmonRec::new(4, vec![0; 20], Some(0xffff)),
        ],
    );
    let netmon23 = netmon(
        3,
        &[NetmonRec::new(0, eth_tcp(1, 0), Some(1))
            .filetime((1_577_836_800u64 + 11_644_473_600) * 10_000_000 + 1_234_567)],
    );
    let over_snaplen = pcap(
        true,
        true,
        1,
        64,
        &[
            Rec::new(7, 999_999_999, eth_tcp(1, 1000)),
            Rec::new(8, 1, eth_tcp(2, 0)),
        ],
    );
    for (name, bytes) in [
        ("ts-tsresol.pcapng", tsresol),
        ("ts-mixed.pcapng", mixed),
        ("ts-netmon21.cap", netmon21),
        ("ts-netmon23.cap", netmon23),
        ("ts-over-snaplen.pcap", over_snaplen),
    ] {
        let path = temp_file(name, &bytes);
        let Some(want) = tshark_frames_and_times(&path) else {
            println!("tshark not found: skipping");
            return;
        };
        let cap = read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cap.frames() as usize, want.len(), "{name}");
        if name == "ts-over-snaplen.pcap" {
            // The whole 1054-byte record, past the 64-byte snaplen.
            assert_eq!(want[0].1, 1054);
            assert_eq!(cap.packets[0].captured_len, 1000);
        }
        for p in &cap.packets {
            assert_eq!(
                p.ts_ns,
                want[p.frame as usize - 1].0,
                "{name} frame {}",
                p.frame
            );
        }
    }
}
