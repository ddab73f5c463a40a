//! Test helper, not a test: a minimal reader for pcap and pcapng (plain or
//! gzip) and Network Monitor 2.x, with the same per-frame steps as
//! `read_capture` (decode, reassemble IP fragments, intern addresses, number
//! frames), used while the real reader is not there.
#![allow(dead_code)]
use pcap_file::pcapng::{Block, PcapNgReader};
use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use twincap_parser::decode::defrag::Defragmenter;
use twincap_parser::decode::{decode_frame_with_orig_len, Decoded};
use twincap_parser::Capture;
/// Every record: link type, captured bytes, original length.
pub fn frames(path: &Path) -> Option<Vec<(u32, Vec<u8>, u32)>> {
    let mut bytes = std::fs::read(path).ok()?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .ok()?;
        bytes = plain;
    }
    let mut frames: Vec<(u32, Vec<u8>, u32)> = Vec::new();
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut reader = PcapNgReader::new(&bytes[..]).ok()?;
        let mut links = Vec::new();
        while let Some(block) = reader.next_block() {
            match block.ok()? {
                Block::SectionHeader(_) => links.clear(),
                Block::InterfaceDescription(i) => links.push(u32::from(i.linktype)),
                Block::EnhancedPacket(p) => frames.push((
                    *links.get(p.interface_id as usize)?,
                    p.data.to_vec(),
                    p.original_len,
                )),
                Block::SimplePacket(p) => {
                    frames.push((*links.first()?, p.data.to_vec(), p.original_len))
                }
                Block::Packet(p) => frames.push((
                    *links.get(p.interface_id as usize)?,
                    p.data.to_vec(),
                    p.original_len,
                )),
                _ => {}
            }
        }
    } else if bytes.starts_with(b"GMBU") {
        frames = netmon2(&bytes)?;
    } else {
        frames = pcap(&bytes)?;
    }
    Some(frames)
}

pub fn read(path: &Path) -> Option<Capture> {
    let frames = frames(path)?;
    let mut cap = Capture {
        path: path.to_path_buf(),
        ..Capture::default()
    };
    let mut ids: HashMap<IpAddr, u32> = HashMap::new();
    let mut defrag = Defragmenter::default();
    let mut datagram = Vec::new();
    for (i, (link, data, orig_len)) in frames.iter().enumerate() {
        cap.stats.frames += 1;
        let decoded = match decode_frame_with_orig_len(*link, data, *orig_len) {
            Decoded::Ipv4Fragment => defrag.push(*link, data, *orig_len, &mut datagram),
            other => other,
        };
        if let Decoded::Tcp(t) = decoded {
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
            p.sack_index = cap.sacks.len() as u32;
            cap.sacks
                .extend_from_slice(&t.sacks[..p.sack_count as usize]);
            cap.packets.push(p);
        }
    }
    Some(cap)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Classic pcap (either byte order), records as they stand: no snaplen checks.
fn pcap(bytes: &[u8]) -> Option<Vec<(u32, Vec<u8>, u32)>> {
    let swapped = match bytes.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => false,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => true,
        _ => return None,
    };
    let word = |at: usize| le32(bytes, at).map(|v| if swapped { v.swap_bytes() } else { v });
    let link = word(20)? & 0x0fff_ffff;
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = word(at + 8)? as usize;
        let orig = word(at + 12)?;
        let data = bytes.get(at + 16..at + 16 + incl)?;
        frames.push((link, data.to_vec(), orig));
        at += 16 + incl;
    }
    Some(frames)
}

/// Microsoft Network Monitor 2.x: a frame table of offsets to records of an
/// 8-byte time delta, original and included length, then the frame. Only
/// Ethernet (MAC type 1) files.
fn netmon2(bytes: &[u8]) -> Option<Vec<(u32, Vec<u8>, u32)>> {
    if bytes.get(6..8)? != [1, 0] {
        return None;
    }
    let table = le32(bytes, 24)? as usize;
    let table_len = le32(bytes, 28)? as usize;
    let mut frames = Vec::new();
    for i in 0..table_len / 4 {
        let at = le32(bytes, table + 4 * i)? as usize;
        let orig = le32(bytes, at + 8)?;
        let incl = le32(bytes, at + 12)? as usize;
        frames.push((1, bytes.get(at + 16..at + 16 + incl)?.to_vec(), orig));
    }
    Some(frames)
}
