//! Shared by the diff tests: reading captures (the parser's `read_capture`,
//! or a small stand-in for pcap/pcapng while the real reader is not there),
//! and scoring a diff against a lab dataset's `truth.json` exactly as
//! `shared/tools/score_diff.py` does.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use twincap_matcher::diff::{self, DiffOptions, DiffResult, EventKind, Side};
use twincap_parser::decode::{decode_frame_with_orig_len, Decoded};
use twincap_parser::{conn, read_capture, Capture, Connections, ReadOptions};

/// Read a capture with the parser, or with the stand-in if the parser's
/// reader is not there yet.
pub fn load(path: &Path) -> Capture {
    match read_capture(path, &ReadOptions::default()) {
        Ok(c) => c,
        Err(_) => stand_in(path).unwrap_or_else(|| panic!("{}: cannot read", path.display())),
    }
}

fn u32_at(b: &[u8], at: usize, swapped: bool) -> Option<u32> {
    let v = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?);
    Some(if swapped { v.swap_bytes() } else { v })
}

/// (link type, ts_ns, data, orig_len) of every record.
type Record = (u32, i64, Vec<u8>, u32);

fn pcap_records(b: &[u8]) -> Option<Vec<Record>> {
    let (swapped, nano) = match b.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
        _ => return None,
    };
    let link = u32_at(b, 20, swapped)? & 0x0fff_ffff;
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= b.len() {
        let sec = u32_at(b, at, swapped)? as i64;
        let frac = u32_at(b, at + 4, swapped)? as i64;
        let incl = u32_at(b, at + 8, swapped)? as usize;
        let orig = u32_at(b, at + 12, swapped)?;
        let data = b.get(at + 16..at + 16 + incl)?;
        let ts = sec * 1_000_000_000 + if nano { frac } else { frac * 1000 };
        out.push((link, ts, data.to_vec(), orig));
        at += 16 + incl;
    }
    Some(out)
}

fn pcapng_records(b: &[u8]) -> Option<Vec<Record>> {
    let mut out = Vec::new();
    let mut ifaces: Vec<(u32, u64)> = Vec::new(); // (link, units per second)
    let mut at = 0;
    let mut swapped = false;
    while at + 12 <= b.len() {
        let raw_type = u32::from_le_bytes(b[at..at + 4].try_into().ok()?);
        if raw_type == 0x0a0d0d0a {
            let bom = u32::from_le_bytes(b[at + 8..at + 12].try_into().ok()?);
            swapped = bom != 0x1a2b3c4d;
            ifaces.clear();
        }
        let btype = u32_at(b, at, swapped)?;
        let blen = u32_at(b, at + 4, swapped)? as usize;
        if blen < 12 || at + blen > b.len() {
            break;
        }
        let body = &b[at + 8..at + blen - 4];
        match btype {
            1 => {
                let link = u32_at(body, 0, swapped)? & 0xffff;
                let mut units = 1_000_000u64;
                let mut o = 8;
                while o + 4 <= body.len() {
                    let code = u32_at(body, o, swapped)? & 0xffff;
                    let code = if swapped {
                        (u32_at(body, o, swapped)? >> 16) & 0xffff
                    } else {
                        code
                    };
                    let olen = if swapped {
                        u32_at(body, o, swapped)? & 0xffff
                    } else {
                        (u32_at(body, o, false)? >> 16) & 0xffff
                    } as usize;
                    if code == 0 {
                        break;
                    }
                    if code == 9 && olen >= 1 {
                        let v = body[o + 4];
                        units = if v & 0x80 != 0 {
                            1u64 << (v & 0x7f)
                        } else {
                            10u64.pow(v as u32)
                        };
                    }
                    o += 4 + olen.div_ceil(4) * 4;
                }
                ifaces.push((link, units));
            }
            6 => {
                let iface = u32_at(body, 0, swapped)? as usize;
                let hi = u32_at(body, 4, swapped)? as u64;
                let lo = u32_at(body, 8, swapped)? as u64;
                let cap = u32_at(body, 12, swapped)? as usize;
                let orig = u32_at(body, 16, swapped)?;
                let (link, units) = *ifaces.get(iface)?;
                let t = (hi << 32) | lo;
                let ts = (t / units) as i64 * 1_000_000_000
                    + ((t % units) * 1_000_000_000 / units) as i64;
                out.push((link, ts, body.get(20..20 + cap)?.to_vec(), orig));
            }
            3 => {
                let orig = u32_at(body, 0, swapped)?;
                let (link, _) = *ifaces.first()?;
                out.push((link, 0, body[4..].to_vec(), orig));
            }
            _ => {}
        }
        at += blen;
    }
    Some(out)
}

/// A minimal reader: pcap and pcapng, decode with the parser's decoder.
pub fn stand_in(path: &Path) -> Option<Capture> {
    let bytes = std::fs::read(path).ok()?;
    let recs = if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        pcapng_records(&bytes)?
    } else {
        pcap_records(&bytes)?
    };
    let mut cap = Capture {
        path: path.to_path_buf(),
        ..Capture::default()
    };
    let mut ids: HashMap<IpAddr, u32> = HashMap::new();
    for (i, (link, ts, data, orig)) in recs.iter().enumerate() {
        cap.stats.frames += 1;
        if let Decoded::Tcp(t) = decode_frame_with_orig_len(*link, data, *orig) {
            let mut intern = |a: IpAddr| {
                *ids.entry(a).or_insert_with(|| {
                    cap.addrs.push(a);
                    cap.addrs.len() as u32 - 1
                })
            };
            let mut p = t.packet;
            p.src = intern(t.src);
            p.dst = intern(t.dst);
            p.frame = i as u32 + 1;
            p.ts_ns = *ts;
            p.attrs = cap.attr_table.intern(p.frame, t.attrs);
            if p.sack_count > 0 {
                cap.sack_starts.push((p.frame, cap.sacks.len() as u32));
            }
            cap.sacks
                .extend_from_slice(&t.sacks[..p.sack_count as usize]);
            cap.packets.push(p);
        }
    }
    cap.stats.tcp = cap.packets.len() as u32;
    Some(cap)
}

/// Both captures of a dataset directory, read and split into connections.
pub struct Dataset {
    pub dir: PathBuf,
    pub client: Capture,
    pub client_conns: Connections,
    pub lb: Capture,
    pub lb_conns: Connections,
}

pub fn find(dir: &Path, side: &str) -> PathBuf {
    for ext in ["pcap", "pcapng"] {
        let p = dir.join(format!("{side}.{ext}"));
        if p.exists() {
            return p;
        }
    }
    panic!("{}: no {side}.pcap(ng)", dir.display());
}

impl Dataset {
    pub fn open(dir: &Path) -> Dataset {
        let client = load(&find(dir, "client"));
        let lb = load(&find(dir, "lb"));
        let client_conns = conn::split(&client);
        let lb_conns = conn::split(&lb);
        Dataset {
            dir: dir.to_path_buf(),
            client,
            client_conns,
            lb,
            lb_conns,
        }
    }
    /// Diff the two captures. Where a capture clock stepped, the dataset's
    /// captures are then put back on one clock each, as the command does,
    /// so that what is read from them afterwards (rows, delays) agrees with
    /// the result.
    pub fn diff(&mut self) -> DiffResult {
        let res = diff::diff(
            Side::new(&self.client, &self.client_conns),
            Side::new(&self.lb, &self.lb_conns),
            &DiffOptions::default(),
        );
        diff::clock::apply_steps(&mut self.client, &mut self.lb, &res.clock_steps);
        res
    }
}

/// The lab datasets under `fixtures/lab/*/` (or `TWINCAP_LAB_ROOT`), sorted.
pub fn datasets() -> Vec<PathBuf> {
    // TWINCAP_LAB_ROOT: score another directory of datasets (e.g. fresh lab runs).
    let root = std::env::var("TWINCAP_LAB_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lab"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("truth.json").exists())
        .collect();
    v.sort();
    v
}

pub type EventKey = (String, String, u32);

/// Scores of one dataset, as `score_diff.py` computes them.
#[derive(Debug, Default)]
pub struct Score {
    pub pairs_want: usize,
    pub pairs_ok: usize,
    pub pairs_got: usize,
    pub pairs_right: usize,
    pub lb_only_want: usize,
    pub lb_only_ok: usize,
    /// kind -> (right, output, wanted)
    pub kinds: BTreeMap<&'static str, (usize, usize, usize)>,
    pub missed: BTreeMap<&'static str, Vec<EventKey>>,
    pub extra: BTreeMap<&'static str, Vec<EventKey>>,
}

pub const KINDS: [&str; 4] = ["lost", "reordered", "duplicated", "injected"];

fn key_of(
    kind: &str,
    dir: &str,
    client_frame: Option<u64>,
    lb_frame: Option<u64>,
) -> Option<EventKey> {
    if !KINDS.contains(&kind) || !(dir == "c2s" || dir == "s2c") {
        return None;
    }
    let frame = if kind == "injected" {
        if dir == "s2c" {
            client_frame
        } else {
            lb_frame
        }
    } else if dir == "c2s" {
        client_frame
    } else {
        lb_frame
    }?;
    Some((kind.to_string(), dir.to_string(), frame as u32))
}

fn jkey(e: &serde_json::Value) -> Option<EventKey> {
    key_of(
        e.get("kind")?.as_str()?,
        e.get("dir")?.as_str()?,
        e.get("client_frame").and_then(|v| v.as_u64()),
        e.get("lb_frame").and_then(|v| v.as_u64()),
    )
}

pub fn score(ds: &Dataset, res: &DiffResult) -> Score {
    score_without(ds, res, &[])
}

/// [`score`], with some events counting neither way (like the truth's
/// `undecidable_events`).
pub fn score_without(ds: &Dataset, res: &DiffResult, undecidable: &[EventKey]) -> Score {
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ds.dir.join("truth.json")).unwrap()).unwrap();
    let stream_of = |cap: &Capture, conns: &Connections| -> HashMap<u32, u32> {
        cap.packets
            .iter()
            .zip(&conns.stream_of)
            .map(|(p, &s)| (p.frame, s))
            .collect()
    };
    let cs = stream_of(&ds.client, &ds.client_conns);
    let ls = stream_of(&ds.lb, &ds.lb_conns);
    let mut want: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let mut lb_only = BTreeSet::new();
    for f in truth["flows"].as_array().unwrap() {
        if f.get("outside_overlap")
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
        {
            continue;
        }
        let pk = f["packets"].as_array().unwrap();
        let c_st: BTreeSet<u32> = pk
            .iter()
            .filter_map(|p| p["client_frame"].as_u64())
            .filter_map(|x| cs.get(&(x as u32)).copied())
            .collect();
        let l_st: BTreeSet<u32> = pk
            .iter()
            .filter_map(|p| p["lb_frame"].as_u64())
            .filter_map(|x| ls.get(&(x as u32)).copied())
            .collect();
        if !f
            .get("client_captured")
            .and_then(|v| v.as_bool())
            .unwrap_or(true)
        {
            lb_only.extend(l_st);
            continue;
        }
        if let Some(&c) = c_st.iter().next() {
            if !l_st.is_empty() {
                want.entry(c).or_default().extend(l_st);
            }
        }
    }
    let got: BTreeSet<(u32, u32)> = res
        .flows
        .iter()
        .map(|f| (f.client.stream, f.lb.stream))
        .collect();
    let good: BTreeSet<(u32, u32)> = got
        .iter()
        .filter(|(c, l)| want.get(c).is_some_and(|s| s.contains(l)))
        .copied()
        .collect();
    let unmatched_lb: BTreeSet<u32> = res.unmatched_lb.iter().map(|u| u.stream).collect();
    let mut ignore: BTreeSet<EventKey> = undecidable.iter().cloned().collect();
    if let Some(u) = truth.get("undecidable_events").and_then(|v| v.as_array()) {
        ignore.extend(u.iter().filter_map(jkey));
    }
    for f in truth["flows"].as_array().unwrap() {
        for p in f["packets"].as_array().unwrap() {
            if let Some(kinds) = p.get("undecidable_event").and_then(|v| v.as_array()) {
                for k in kinds {
                    if let Some(k) = key_of(
                        k.as_str().unwrap_or(""),
                        p["dir"].as_str().unwrap_or(""),
                        p["client_frame"].as_u64(),
                        p["lb_frame"].as_u64(),
                    ) {
                        ignore.insert(k);
                    }
                }
            }
        }
    }
    let want_ev: BTreeSet<EventKey> = truth["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(jkey)
        .filter(|k| !ignore.contains(k))
        .collect();
    let got_ev: BTreeSet<EventKey> = res
        .all_events()
        .filter(|e| e.kind != EventKind::Modified && e.kind != EventKind::OutsideWindow)
        .filter_map(|e| {
            key_of(
                e.kind.word(),
                e.dir.word(),
                e.client_frame.map(|x| x as u64),
                e.lb_frame.map(|x| x as u64),
            )
        })
        .filter(|k| !ignore.contains(k))
        .collect();
    let mut sc = Score {
        pairs_want: want.len(),
        pairs_ok: good.iter().map(|p| p.0).collect::<BTreeSet<_>>().len(),
        pairs_got: got.len(),
        pairs_right: good.len(),
        lb_only_want: lb_only.len(),
        lb_only_ok: lb_only.intersection(&unmatched_lb).count(),
        ..Score::default()
    };
    for k in KINDS {
        let w: BTreeSet<&EventKey> = want_ev.iter().filter(|e| e.0 == k).collect();
        let g: BTreeSet<&EventKey> = got_ev.iter().filter(|e| e.0 == k).collect();
        sc.kinds
            .insert(k, (w.intersection(&g).count(), g.len(), w.len()));
        sc.missed
            .insert(k, w.difference(&g).map(|e| (*e).clone()).collect());
        sc.extra
            .insert(k, g.difference(&w).map(|e| (*e).clone()).collect());
    }
    sc
}

pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Events the two captures cannot decide, found from the truth and the
/// captures alone (never from twincap's output): sender frames of one
/// truth flow and direction whose copies the receiver cannot tell apart.
///
/// Two sender frames are receiver twins when every TCP field and the
/// payload are the same (sequence and acknowledgement numbers, flags,
/// window, header length, timestamps, SACK blocks, TTL, length, payload),
/// their IP IDs
/// are the same or the middle rewrites IP IDs on that flow and direction
/// (the receiver then sees zero or a random number for both), and they were
/// sent closer together than the path's delay varies (max minus min of the
/// one-way delays of the dataset's packets in that direction the relay
/// forwarded at once), so arrival times cannot say which copy is which
/// either. The truth (from the relay's log) knows which of the twins was
/// lost, held or duplicated; the two files hold both stories equally. Where
/// twins carry different truth events, every event of the kinds lost,
/// reordered and duplicated on any of them counts neither way, as
/// `score_diff.py` treats a truth's `undecidable_events`.
pub fn receiver_twins(ds: &Dataset) -> Vec<EventKey> {
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ds.dir.join("truth.json")).unwrap()).unwrap();
    let by_frame = |cap: &Capture| -> HashMap<u32, usize> {
        cap.packets
            .iter()
            .enumerate()
            .map(|(i, p)| (p.frame, i))
            .collect()
    };
    let (ci, li) = (by_frame(&ds.client), by_frame(&ds.lb));
    // (sender, receiver) packets of a truth packet in direction `dir`.
    let ends = |p: &serde_json::Value| {
        let c = p["client_frame"]
            .as_u64()
            .and_then(|f| ci.get(&(f as u32)))
            .map(|&i| &ds.client.packets[i]);
        let l = p["lb_frame"]
            .as_u64()
            .and_then(|f| li.get(&(f as u32)))
            .map(|&i| &ds.lb.packets[i]);
        if p["dir"] == "c2s" {
            (c, l)
        } else {
            (l, c)
        }
    };
    let flows = truth["flows"].as_array().unwrap();
    // The path's delay spread per direction, over packets forwarded at once.
    let mut spread: HashMap<String, (i64, i64)> = HashMap::new();
    for p in flows.iter().flat_map(|f| f["packets"].as_array().unwrap()) {
        let relay = p["relay"].as_str().unwrap_or("");
        if !relay.starts_with("forwarded") {
            continue;
        }
        if let (Some(s), Some(r)) = ends(p) {
            let d = r.ts_ns - s.ts_ns;
            let e = spread
                .entry(p["dir"].as_str().unwrap_or("").to_string())
                .or_insert((d, d));
            e.0 = e.0.min(d);
            e.1 = e.1.max(d);
        }
    }
    let events: BTreeSet<EventKey> = truth["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(jkey)
        .collect();
    let mut out = Vec::new();
    for f in flows {
        for dir in ["c2s", "s2c"] {
            let Some(&(lo, hi)) = spread.get(dir) else {
                continue;
            };
            let packets: Vec<&serde_json::Value> = f["packets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["dir"] == dir)
                .collect();
            // The middle rewrites IP IDs here: some packet arrived with another.
            let ip_id_rewritten = packets.iter().any(|p| match ends(p) {
                (Some(s), Some(r)) => s.ip_id != r.ip_id,
                _ => false,
            });
            let senders: Vec<&twincap_parser::TcpPacket> =
                packets.iter().filter_map(|p| ends(p).0).collect();
            let sender_cap = if dir == "c2s" { &ds.client } else { &ds.lb };
            let twins = |a: &twincap_parser::TcpPacket, b: &twincap_parser::TcpPacket| {
                sender_cap.sacks_of(a) == sender_cap.sacks_of(b)
                    && a.seq == b.seq
                    && a.ack == b.ack
                    && a.flags == b.flags
                    && a.win == b.win
                    && a.tcp_hdr_len == b.tcp_hdr_len
                    && a.ts_val == b.ts_val
                    && a.ts_ecr == b.ts_ecr
                    && a.ttl == b.ttl
                    && a.ip_len == b.ip_len
                    && a.payload_hash == b.payload_hash
                    && (a.ip_id == b.ip_id || ip_id_rewritten)
                    && (a.ts_ns - b.ts_ns).abs() <= hi - lo
            };
            let key = |kind: &str, s: &twincap_parser::TcpPacket| {
                (kind.to_string(), dir.to_string(), s.frame)
            };
            let kinds = |s: &twincap_parser::TcpPacket| -> Vec<&str> {
                ["lost", "reordered", "duplicated"]
                    .into_iter()
                    .filter(|k| events.contains(&key(k, s)))
                    .collect()
            };
            // Twins share seq and ack: compare within those groups only.
            let mut groups: HashMap<(u32, u32), Vec<&twincap_parser::TcpPacket>> = HashMap::new();
            for s in senders {
                groups.entry((s.seq, s.ack)).or_default().push(s);
            }
            for g in groups.values() {
                for (i, a) in g.iter().enumerate() {
                    for b in &g[i + 1..] {
                        if !twins(a, b) || kinds(a) == kinds(b) {
                            continue;
                        }
                        for k in kinds(a).into_iter().chain(kinds(b)) {
                            out.push(key(k, a));
                            out.push(key(k, b));
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Write a copy of the dataset under `out` (its captures linked, not
/// copied) whose `truth.json` lists `undecidable` as `undecidable_events`,
/// so that `shared/tools/score_diff.py` scores exactly what this test
/// asserts.
pub fn write_with_undecidable(ds: &Dataset, undecidable: &[EventKey], out: &Path) {
    let name = ds.dir.file_name().unwrap();
    let dir = out.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ds.dir.join("truth.json")).unwrap()).unwrap();
    let events: Vec<serde_json::Value> = undecidable
        .iter()
        .map(|(kind, d, frame)| {
            let side = if d == "c2s" {
                "client_frame"
            } else {
                "lb_frame"
            };
            serde_json::json!({"kind": kind, "dir": d, side: frame})
        })
        .collect();
    truth["undecidable_events"] = serde_json::Value::Array(events);
    std::fs::write(dir.join("truth.json"), truth.to_string()).unwrap();
    for side in ["client", "lb"] {
        let from = std::fs::canonicalize(find(&ds.dir, side)).unwrap();
        let to = dir.join(from.file_name().unwrap());
        let _ = std::fs::remove_file(&to);
        #[cfg(unix)]
        std::os::unix::fs::symlink(&from, &to).unwrap();
        #[cfg(not(unix))]
        std::fs::copy(&from, &to).unwrap();
    }
}
