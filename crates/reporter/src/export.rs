//! `twincap diff --export FILE.pcapng`: the problem connections of both
//! captures in one pcapng file to open in Wireshark. The client capture and
//! the LB capture are two interfaces (`client side`, `LB side`, each with
//! its original link type), the LB side's times are moved onto the client's
//! clock (the diff's clock estimate), frames are the original bytes read
//! again from the input files, and every frame the path did something to
//! carries a packet comment saying what (`frame.comment` in Wireshark).
//!
//! Written by hand: three block kinds (section header, interface
//! description, enhanced packet) with a few options each.

use crate::conns::{row_comments, ConnView};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use twincap_matcher::diff::ClockEstimate;
use twincap_parser::{read_records, Capture, RawRecord};

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub connections: usize,
    pub frames: usize,
    pub comments: usize,
}

/// One frame to write.
struct Out {
    lb_side: bool,
    /// Index into the side's packets.
    packet: u32,
    /// Time on the client clock.
    at_ns: i64,
    comments: Vec<String>,
}

/// Write the frames of `views` (from [`crate::conns::views`]) to `out`.
pub fn write_pcapng(
    out: &Path,
    client: &Capture,
    lb: &Capture,
    clock: &ClockEstimate,
    views: &[ConnView],
) -> Result<ExportStats, String> {
    // Every frame once, with the comments of all its rows.
    let mut frames: BTreeMap<(bool, u32), Out> = BTreeMap::new();
    for v in views {
        for r in &v.rows {
            let (cc, lc) = row_comments(r);
            for (f, comment, lb_side) in [(r.client, cc, false), (r.lb, lc, true)] {
                let Some(f) = f else { continue };
                let e = frames.entry((lb_side, f.packet)).or_insert(Out {
                    lb_side,
                    packet: f.packet,
                    at_ns: f.at_ns,
                    comments: Vec::new(),
                });
                if let Some(c) = comment {
                    if !e.comments.contains(&c) {
                        e.comments.push(c);
                    }
                }
            }
        }
    }
    let mut frames: Vec<Out> = frames.into_values().collect();
    let records = |cap: &Capture, lb_side: bool| -> Result<BTreeMap<u64, RawRecord>, String> {
        let offsets: Vec<u64> = frames
            .iter()
            .filter(|f| f.lb_side == lb_side)
            .map(|f| cap.packets[f.packet as usize].rec_offset)
            .collect();
        Ok(read_records(&cap.path, &offsets)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| (r.offset, r))
            .collect())
    };
    let (client_recs, lb_recs) = (records(client, false)?, records(lb, true)?);
    frames.sort_by_key(|f| (f.at_ns, f.lb_side, f.packet));

    let fail = |e: std::io::Error| format!("{}: cannot write the export: {e}", out.display());
    let file = std::fs::File::create(out).map_err(fail)?;
    let mut w = std::io::BufWriter::new(file);
    w.write_all(&section_header(views.len())).map_err(fail)?;
    // One interface per capture and link type, in order of first use.
    let mut ifaces: Vec<(bool, u32)> = Vec::new();
    let mut stats = ExportStats {
        connections: views.len(),
        ..ExportStats::default()
    };
    for f in &frames {
        let (cap, recs) = if f.lb_side {
            (lb, &lb_recs)
        } else {
            (client, &client_recs)
        };
        let p = &cap.packets[f.packet as usize];
        let Some(rec) = recs.get(&p.rec_offset) else {
            return Err(format!(
                "{}: frame {} is no longer where it was read (byte offset {}): was the file changed?",
                cap.path.display(),
                p.frame,
                p.rec_offset
            ));
        };
        let key = (f.lb_side, rec.link_type);
        let iface = match ifaces.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                let name = if f.lb_side { "LB side" } else { "client side" };
                let desc = format!("{name}: {}", cap.path.display());
                w.write_all(&interface(rec.link_type, name, &desc))
                    .map_err(fail)?;
                ifaces.push(key);
                ifaces.len() - 1
            }
        };
        let comment = (!f.comments.is_empty()).then(|| f.comments.join("; "));
        stats.comments += comment.is_some() as usize;
        let ts = if f.lb_side {
            clock.to_client(rec.ts_ns)
        } else {
            rec.ts_ns
        };
        w.write_all(&packet(iface as u32, ts, rec, comment.as_deref()))
            .map_err(fail)?;
        stats.frames += 1;
    }
    w.flush().map_err(fail)?;
    Ok(stats)
}

/// A block: type, total length, body padded to 4 bytes, total length.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len().div_ceil(4) * 4) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(len as usize - 4, 0);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

/// An option: code, length, value padded to 4 bytes.
fn option(b: &mut Vec<u8>, code: u16, value: &[u8]) {
    b.extend_from_slice(&code.to_le_bytes());
    b.extend_from_slice(&(value.len() as u16).to_le_bytes());
    b.extend_from_slice(value);
    b.resize(b.len().div_ceil(4) * 4, 0);
}

/// Option values are at most 65535 bytes.
fn text(s: &str) -> &[u8] {
    let mut end = s.len().min(65_000);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s.as_bytes()[..end]
}

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;

fn section_header(connections: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
    let about = format!(
        "twincap diff --export: {connections} connections; interface 'client side' is the client capture, \
         'LB side' the load-balancer capture moved onto the client's clock; comments say what the path did"
    );
    option(&mut b, OPT_COMMENT, text(&about));
    option(
        &mut b,
        4,
        concat!("twincap ", env!("CARGO_PKG_VERSION")).as_bytes(),
    ); // shb_userappl
    option(&mut b, OPT_END, &[]);
    block(0x0a0d_0d0a, &b)
}

fn interface(link_type: u32, name: &str, description: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(link_type as u16).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // snaplen: no limit
    option(&mut b, 2, text(name)); // if_name
    option(&mut b, 3, text(description)); // if_description
    option(&mut b, 9, &[9]); // if_tsresol: nanoseconds
    option(&mut b, OPT_END, &[]);
    block(1, &b)
}

fn packet(iface: u32, ts_ns: i64, rec: &RawRecord, comment: Option<&str>) -> Vec<u8> {
    let ts = ts_ns.max(0) as u64;
    let mut b = Vec::with_capacity(32 + rec.data.len());
    b.extend_from_slice(&iface.to_le_bytes());
    b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    b.extend_from_slice(&(ts as u32).to_le_bytes());
    b.extend_from_slice(&(rec.data.len() as u32).to_le_bytes());
    b.extend_from_slice(&rec.orig_len.max(rec.data.len() as u32).to_le_bytes());
    b.extend_from_slice(&rec.data);
    b.resize(b.len().div_ceil(4) * 4, 0);
    if let Some(c) = comment {
        option(&mut b, OPT_COMMENT, text(c));
        option(&mut b, OPT_END, &[]);
    }
    block(6, &b)
}
