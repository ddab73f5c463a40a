//! Damaged frames against tshark: thousands of cut and corrupted copies of a
//! few valid Ethernet frames (IPv4 and IPv6 TCP with options, VLAN, PPPoE,
//! ICMP errors, tunnels) go into one pcap; each frame must be TCP for us
//! exactly when tshark gives it a `tcp.stream`, with the same stream number,
//! ports and flags. Skipped with a note when tshark is not installed.

use std::collections::HashMap;
use std::process::Command;
use twincap_parser::decode::defrag::Defragmenter;
use twincap_parser::decode::{decode_frame_with_orig_len, Decoded};
use twincap_parser::{conn, Capture};

/// A small deterministic generator (PCG-style LCG), so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n.max(1)
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Valid frames to start from (built with a script, checked with tshark:
/// every one is TCP, the fragments once reassembled).
fn seeds() -> Vec<Vec<u8>> {
    [
        // IPv4 SYN with MSS, SACK-permitted, timestamps, window scale.
        "02000000000102000000000208004500003c0001400040060000c0a80001c0a800029c400050000003e800000000a002040000000000020405b40402080a000000070000000001030307",
        // IPv4 data segment with Ethernet padding.
        "02000000000102000000000208004500002d0002400040060000c0a80001c0a800029c400050000003e9000007d0501804000000000048656c6c6f000000000000",
        // 802.1Q, IPv6 with hop-by-hop and atomic fragment headers.
        "0200000000010200000000028100006486dd600000000029004020010db800000000000000000000000120010db80000000000000000000000022c0001040000000006000000000000099c400050000003e9000007d0501804000000000048656c6c6f",
        // QinQ, PPPoE session, IPv4.
        "02000000000102000000000288a8000a81000014886411000001002f00214500002d00034000400600000a0000010a0000029c400050000003e9000007d0501804000000000048656c6c6f",
        // ICMP port unreachable quoting a whole IPv4 TCP header.
        "0200000000010200000000020800450000490004400040010000c0a800090a00000103030000000000004500002d00054000400600000a0000010a0000029c400050000003e9000007d0501804000000000048656c6c6f",
        // IPv4 in IPv4.
        "0200000000010200000000020800450000410006400040040000c0a80001c0a800024500002d00074000400600000a0000010a0000029c400050000003e9000007d0501804000000000048656c6c6f",
        // first IPv4 fragment of a 220-byte segment.
        "02000000000102000000000208004500007c00092000400600000a0100010a0100029c40005000001388000000015018040000000000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f50515253",
        // last IPv4 fragment of it.
        "0200000000010200000000020800450000880009000d400600000a0100010a0100025455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7",
    ]
    .iter()
    .map(|h| hex(h))
    .collect()
}

fn mutate(rng: &mut Lcg, seed: &[u8]) -> Vec<u8> {
    let mut f = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        match rng.below(4) {
            0 => f.truncate(rng.below(f.len() + 1)),
            1 | 2 if !f.is_empty() => {
                // Bias corruption to the headers, where the lengths live.
                let at = rng.below(f.len().min(80));
                f[at] = match rng.below(4) {
                    0 => 0,
                    1 => 0xff,
                    2 => f[at].wrapping_add(1 + rng.below(8) as u8),
                    _ => rng.next() as u8,
                };
            }
            _ => {}
        }
    }
    f
}

fn write_pcap(path: &std::path::Path, link_type: u32, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, link_type] {
        out.extend(v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        for v in [i as u32 + 1, 0, f.len() as u32, f.len() as u32] {
            out.extend(v.to_le_bytes());
        }
        out.extend(f);
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn damaged_frames_split_as_tshark_does() {
    // Another seed explores other damage: TWINCAP_MUTATION_SEED=<number>.
    let seed = std::env::var("TWINCAP_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let mut rng = Lcg(seed.unwrap_or(0x7c0f_fee5));
    let seeds = seeds();
    let mut frames = seeds.clone();
    for _ in 0..6000 {
        let seed = &seeds[rng.below(seeds.len())];
        frames.push(mutate(&mut rng, seed));
    }
    compare_with_tshark("mutations", 1, &frames);
}

/// Builds a frame of some link type from an ethertype and IP bytes.
type FrameOf = fn(u16, &[u8]) -> Vec<u8>;

/// The same damage on other link layers: the IP seeds behind a Linux SLL2
/// header, a BSD null header (either byte order) and no header (raw IP).
#[test]
fn damaged_frames_on_other_links_split_as_tshark_does() {
    let seed = std::env::var("TWINCAP_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let mut rng = Lcg(seed.unwrap_or(0x11c0_0002));
    // The seeds that are plain Ethernet II + IP: (ethertype, IP bytes).
    let ip_seeds: Vec<(u16, Vec<u8>)> = seeds()
        .into_iter()
        .filter(|f| f[12..14] == [0x08, 0x00] || f[12..14] == [0x86, 0xdd])
        .map(|f| (u16::from_be_bytes([f[12], f[13]]), f[14..].to_vec()))
        .collect();
    let links: [(u32, &str, FrameOf); 3] = [
        (276, "sll2", |kind, ip| {
            let mut f = kind.to_be_bytes().to_vec();
            f.extend([0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
            f.extend(ip);
            f
        }),
        (0, "null", |kind, ip| {
            let family: u32 = if kind == 0x0800 { 2 } else { 30 };
            let mut f = if kind == 0x0800 {
                family.to_le_bytes()
            } else {
                family.to_be_bytes()
            }
            .to_vec();
            f.extend(ip);
            f
        }),
        (101, "raw", |_, ip| ip.to_vec()),
    ];
    for (link_type, name, frame_of) in links {
        let seeds: Vec<Vec<u8>> = ip_seeds
            .iter()
            .map(|(kind, ip)| frame_of(*kind, ip))
            .collect();
        let mut frames = seeds.clone();
        for _ in 0..2000 {
            let seed = &seeds[rng.below(seeds.len())];
            frames.push(mutate(&mut rng, seed));
        }
        compare_with_tshark(name, link_type, &frames);
    }
}

/// An Ethernet/IPv4/TCP frame from `client` (0..3) or the server side,
/// with the given ports, flags, seq and ack.
fn tcp_frame(
    from_client: bool,
    client: u8,
    ports: (u16, u16),
    flags: u16,
    seq: u32,
    ack: u32,
) -> Vec<u8> {
    let (c, s) = ([10, 0, 0, client], [10, 0, 1, 1]);
    let (src, dst, sport, dport) = if from_client {
        (c, s, ports.0, ports.1)
    } else {
        (s, c, ports.1, ports.0)
    };
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend([0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend(src);
    f.extend(dst);
    f.extend(sport.to_be_bytes());
    f.extend(dport.to_be_bytes());
    f.extend(seq.to_be_bytes());
    f.extend(ack.to_be_bytes());
    f.extend((0x5000 | flags).to_be_bytes());
    f.extend([4, 0, 0, 0, 0, 0]);
    f
}

/// Random dialogues over a few address/port pairs, with SYNs that repeat or
/// change their ISN, SYN/ACKs, RSTs, mid-stream starts, both directions and
/// loopback: every frame's stream must be tshark's (the reused-port rule,
/// base_seq from the first segment and from ACKs, SYN/ACK base moves).
#[test]
fn random_dialogues_split_as_tshark_does() {
    let seed = std::env::var("TWINCAP_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let mut rng = Lcg(seed.unwrap_or(0x5eed_0001));
    const FLAGS: [u16; 8] = [0x002, 0x012, 0x010, 0x018, 0x011, 0x004, 0x014, 0x000];
    const SEQS: [u32; 5] = [100, 101, 5000, 5001, 0];
    let mut frames = Vec::new();
    for _ in 0..5000 {
        let client = 1 + rng.below(2) as u8;
        let ports = ([40000, 40001][rng.below(2)], [80, 443][rng.below(2)]);
        let flags = FLAGS[rng.below(FLAGS.len())];
        let seq = match rng.below(6) {
            5 => rng.next(),
            i => SEQS[i],
        };
        let ack = SEQS[rng.below(SEQS.len())];
        frames.push(tcp_frame(rng.below(2) == 0, client, ports, flags, seq, ack));
    }
    compare_with_tshark("dialogues", 1, &frames);
}

/// Write `frames` (of `link_type`) to a pcap, read it with tshark and with the
/// decoder, defragmenter and `conn::split`, and require the same stream,
/// source port and flags for every frame.
fn compare_with_tshark(what: &str, link_type: u32, frames: &[Vec<u8>]) {
    let path = std::env::temp_dir().join(format!("twincap-{what}-{}.pcap", std::process::id()));
    write_pcap(&path, link_type, frames);
    // To look at a failure with tshark: TWINCAP_KEEP_PCAP=/some/file.pcap
    if let Some(keep) = std::env::var_os("TWINCAP_KEEP_PCAP") {
        std::fs::copy(&path, keep).unwrap();
    }
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&path)
        .args(["-T", "fields", "-E", "occurrence=l"])
        .args([
            "-e",
            "frame.number",
            "-e",
            "tcp.stream",
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.flags",
        ])
        .env(
            "WIRESHARK_CONFIG_DIR",
            std::env::temp_dir().join("twincap-empty-wireshark-profile"),
        )
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        println!("tshark not found: skipping");
        let _ = std::fs::remove_file(&path);
        return;
    };
    let _ = std::fs::remove_file(&path);
    let mut want: HashMap<u32, (u32, u16, Option<u16>)> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() == 4 && !f[1].is_empty() {
            // No flags field when Wireshark gave up on a bogus header length.
            let flags = u16::from_str_radix(f[3].trim_start_matches("0x"), 16)
                .ok()
                .map(|f| f & 0x1ff);
            want.insert(
                f[0].parse().unwrap(),
                (f[1].parse().unwrap(), f[2].parse().unwrap(), flags),
            );
        }
    }
    // Our side, as a reader would do it.
    let mut cap = Capture::default();
    let mut ids: HashMap<std::net::IpAddr, u32> = HashMap::new();
    let mut defrag = Defragmenter::default();
    let mut datagram = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let decoded = match decode_frame_with_orig_len(link_type, f, f.len() as u32) {
            Decoded::Ipv4Fragment => defrag.push(link_type, f, f.len() as u32, &mut datagram),
            other => other,
        };
        if let Decoded::Tcp(t) = decoded {
            let mut p = t.packet;
            for (slot, addr) in [(&mut p.src, t.src), (&mut p.dst, t.dst)] {
                *slot = *ids.entry(addr).or_insert_with(|| {
                    cap.addrs.push(addr);
                    cap.addrs.len() as u32 - 1
                });
            }
            p.frame = i as u32 + 1;
            cap.packets.push(p);
        }
    }
    let conns = conn::split(&cap);
    let mut bad = Vec::new();
    let mut ours = HashMap::new();
    for (p, stream) in cap.packets.iter().zip(&conns.stream_of) {
        let flags = (p.tcp_hdr_len >= 20).then_some(p.flags);
        ours.insert(p.frame, (*stream, p.sport, flags));
    }
    for frame in 1..=frames.len() as u32 {
        if ours.get(&frame) != want.get(&frame) {
            bad.push(frame);
        }
    }
    for &frame in bad.iter().take(10) {
        let f = &frames[frame as usize - 1];
        println!(
            "frame {frame}: tshark {:?}, twincap {:?}, bytes {}",
            want.get(&frame),
            ours.get(&frame),
            f.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
    }
    println!(
        "{} frames, {} TCP in tshark, {} differ",
        frames.len(),
        want.len(),
        bad.len()
    );
    assert!(bad.is_empty());
}
