//! Random TCP dialogues, written as a pcap, flagged by twincap and by
//! tshark 4.0: every frame must carry the same flags. The dialogues mix
//! what the rules look at: handshakes with and without window scaling,
//! in-order data, losses, retransmissions early and late, keep-alives,
//! zero windows and probes, duplicate ACKs, window updates, ACKs of unseen
//! data, FIN and RST, ISNs near 0 and near the 2^32 wrap, and gaps around
//! the 3 ms and 20 ms thresholds, ports used again by a later dialogue.
//! Skipped (with a message) when tshark is
//! not installed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use twincap_matcher::analyze::analyze;
use twincap_parser::{conn, read_capture, ReadOptions};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// One segment to write.
struct Seg {
    ts_us: u64,
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    len: u16,
    wscale: Option<u8>,
}

/// Ethernet + IPv4 + TCP bytes of a segment.
fn frame(s: &Seg, cport: u16) -> Vec<u8> {
    let (src, dst, sport, dport) = if s.from_client {
        ([10, 0, 0, 1], [10, 0, 0, 2], cport, 80)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 80, cport)
    };
    let mut opts = Vec::new();
    if let Some(ws) = s.wscale {
        opts.extend_from_slice(&[1, 3, 3, ws]);
    }
    let tcp_len = 20 + opts.len();
    let total = 20 + tcp_len + s.len as usize;
    let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&s.seq.to_be_bytes());
    f.extend_from_slice(&s.ack.to_be_bytes());
    f.push(((tcp_len / 4) as u8) << 4);
    f.push(s.flags);
    f.extend_from_slice(&s.win.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(&opts);
    f.resize(f.len() + s.len as usize, 0x61);
    f
}

/// One side's sending state in the generator.
struct Side {
    isn: u32,
    /// Next new byte to send (offset from isn).
    next: u32,
    /// Highest offset of the other side received (what we ACK).
    acked_other: u32,
    win: u16,
}

/// A random dialogue between a client and a server.
fn dialogue(rng: &mut Rng, start_us: u64) -> Vec<Seg> {
    let isn = |rng: &mut Rng| match rng.below(4) {
        0 => 0u32,
        1 => 0xFFFF_FF00u32.wrapping_add(rng.below(200) as u32),
        _ => rng.next() as u32,
    };
    let mut c = Side {
        isn: isn(rng),
        next: 1,
        acked_other: 1,
        win: rng.pick(&[1000, 8192, 29200]),
    };
    let mut s = Side {
        isn: isn(rng),
        next: 1,
        acked_other: 1,
        win: rng.pick(&[1000, 8192, 28960]),
    };
    let mut t = start_us;
    let mut out = Vec::new();
    let gaps = [
        50u64, 500, 1_000, 2_000, 2_900, 3_100, 5_000, 15_000, 25_000, 100_000,
    ];
    if rng.chance(80) {
        let ws_c = rng.chance(60).then(|| rng.pick(&[0u8, 2, 7, 8]));
        let ws_s = rng.chance(60).then(|| rng.pick(&[0u8, 2, 7, 8]));
        for _ in 0..1 + rng.chance(10) as usize {
            out.push(Seg {
                ts_us: t,
                from_client: true,
                seq: c.isn,
                ack: 0,
                flags: SYN,
                win: 64240,
                len: 0,
                wscale: ws_c,
            });
            t += rng.pick(&gaps);
        }
        out.push(Seg {
            ts_us: t,
            from_client: false,
            seq: s.isn,
            ack: c.isn.wrapping_add(1),
            flags: SYN | ACK,
            win: 65160,
            len: 0,
            wscale: ws_s,
        });
        t += rng.pick(&gaps);
        out.push(Seg {
            ts_us: t,
            from_client: true,
            seq: c.isn.wrapping_add(1),
            ack: s.isn.wrapping_add(1),
            flags: ACK,
            win: c.win,
            len: 0,
            wscale: None,
        });
    }
    let steps = 10 + rng.below(40);
    for _ in 0..steps {
        t += rng.pick(&gaps);
        let from_client = rng.chance(60);
        let (me, other) = if from_client {
            (&mut c, &mut s)
        } else {
            (&mut s, &mut c)
        };
        let ack_of = |side: &Side, off: u32| side.isn.wrapping_add(off);
        let mut seg = Seg {
            ts_us: t,
            from_client,
            seq: me.isn.wrapping_add(me.next),
            ack: ack_of(other, me.acked_other),
            flags: ACK,
            win: me.win,
            len: 0,
            wscale: None,
        };
        match rng.below(14) {
            // New data.
            0..=4 => {
                seg.len = rng.pick(&[1, 10, 100, 500, 1000]);
                seg.flags |= PSH;
                me.next += seg.len as u32;
                // The other side receives it (mostly).
                if rng.chance(70) {
                    other.acked_other = me.next;
                }
            }
            // Loss: skip some bytes.
            5 => {
                let skip = rng.pick(&[1u32, 100, 1000]);
                seg.seq = me.isn.wrapping_add(me.next + skip);
                seg.len = 100;
                me.next += skip + 100;
            }
            // Retransmit something older.
            6 => {
                let back = rng.below(me.next.min(1500) as u64 + 1) as u32;
                seg.seq = me.isn.wrapping_add(me.next - back);
                seg.len = rng.pick(&[1, 50, 100]);
            }
            // Pure ACK, maybe a duplicate, maybe a new window.
            7..=9 => {
                if rng.chance(30) {
                    me.win = rng.pick(&[0, 0, 500, 1000, 8192]);
                    seg.win = me.win;
                }
                if rng.chance(20) {
                    me.acked_other = other.next;
                }
                seg.ack = ack_of(other, me.acked_other);
            }
            // Keep-alive, with 0 or 1 byte.
            10 => {
                seg.seq = me.isn.wrapping_add(me.next.wrapping_sub(1));
                seg.len = rng.pick(&[0, 1]);
            }
            // One byte at next: a zero window probe if the window is shut.
            11 => {
                seg.len = 1;
                if rng.chance(50) {
                    me.next += 1;
                }
            }
            // ACK of data never sent.
            12 => {
                seg.ack = ack_of(other, other.next + rng.pick(&[1u32, 100]));
            }
            // FIN or RST.
            _ => {
                seg.flags = if rng.chance(50) { FIN | ACK } else { RST | ACK };
                if seg.flags & FIN != 0 {
                    me.next += 1;
                }
            }
        }
        out.push(seg);
    }
    out
}

/// frame -> flag names from tshark.
fn tshark_flags(path: &Path) -> Option<BTreeMap<u32, Vec<String>>> {
    const FLAGS: [&str; 18] = [
        "retransmission",
        "fast_retransmission",
        "spurious_retransmission",
        "out_of_order",
        "lost_segment",
        "ack_lost_segment",
        "duplicate_ack",
        "zero_window",
        "zero_window_probe",
        "zero_window_probe_ack",
        "window_full",
        "window_update",
        "keep_alive",
        "keep_alive_ack",
        "reused_ports",
        "tfo_syn",
        "tfo_ack",
        "tfo_ignored",
    ];
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(path);
    cmd.args(["-T", "fields", "-E", "separator=/t", "-e", "frame.number"]);
    for f in FLAGS {
        cmd.args(["-e", &format!("tcp.analysis.{f}")]);
    }
    let out = cmd
        .env("WIRESHARK_CONFIG_DIR", std::env::temp_dir())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut map = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let frame: u32 = cols[0].parse().ok()?;
        let names: Vec<String> = FLAGS
            .iter()
            .enumerate()
            .filter(|(i, _)| cols.get(i + 1).is_some_and(|v| !v.is_empty()))
            .map(|(_, f)| f.to_string())
            .collect();
        if !names.is_empty() {
            map.insert(frame, names);
        }
    }
    Some(map)
}

#[test]
fn random_dialogues_flag_as_tshark_does() {
    // Another seed: TWINCAP_ANALYZE_SEED=<u64>.
    let seed = std::env::var("TWINCAP_ANALYZE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7c0f_fee5_eed5_0001u64);
    let mut rng = Rng(seed | 1);
    let mut pcap = Vec::new();
    pcap.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    pcap.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    pcap.extend_from_slice(&1u32.to_le_bytes());
    let mut t = 1_700_000_000_000_000u64;
    let mut frames = 0;
    let mut port = 20_000u16;
    for _ in 0..400 {
        // Now and then the same ports again: a new connection on them when
        // it opens with a new ISN (`reused_ports`).
        if !rng.chance(15) {
            port += 1;
        }
        let segs = dialogue(&mut rng, t);
        for s in &segs {
            let f = frame(s, port);
            pcap.extend_from_slice(&((s.ts_us / 1_000_000) as u32).to_le_bytes());
            pcap.extend_from_slice(&((s.ts_us % 1_000_000) as u32).to_le_bytes());
            pcap.extend_from_slice(&(f.len() as u32).to_le_bytes());
            pcap.extend_from_slice(&(f.len() as u32).to_le_bytes());
            pcap.extend_from_slice(&f);
            t = t.max(s.ts_us);
            frames += 1;
        }
        t += 1_000_000;
    }
    let dir = std::env::temp_dir().join(format!("twincap-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("random.pcap");
    std::fs::write(&path, &pcap).unwrap();

    let Some(want) = tshark_flags(&path) else {
        println!("tshark not found: skipping the comparison");
        return;
    };
    let cap = read_capture(&path, &ReadOptions::default()).unwrap();
    let conns = conn::split(&cap);
    let analysis = analyze(&cap, &conns);
    let mut got: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for f in analysis.flagged() {
        got.entry(f.frame)
            .or_default()
            .extend(f.flags.names().into_iter().map(String::from));
    }
    let mut differ = 0;
    let mut total = 0;
    for frame in want
        .keys()
        .chain(got.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        total += 1;
        let (w, g) = (want.get(frame), got.get(frame));
        if w != g {
            differ += 1;
            if differ <= 30 {
                println!("frame {frame}: tshark {w:?} twincap {g:?}");
            }
        }
    }
    println!("{frames} frames, {total} flagged by either, {differ} differ");
    let mut per_flag: BTreeMap<&str, usize> = BTreeMap::new();
    for names in want.values() {
        for n in names {
            *per_flag.entry(n).or_default() += 1;
        }
    }
    println!("tshark's flags: {per_flag:?}");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(differ, 0, "twincap and tshark differ on {differ} frames");
}
