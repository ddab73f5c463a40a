//! Test helper, not a test: a minimal reader for pcap and pcapng (plain or
//! gzip) with the same per-frame steps as `read_capture` (decode, intern
//! addresses, number frames), used while the real reader is not there.
#![allow(dead_code)]
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use twincap_parser::decode::{decode_frame_with_orig_len, Decoded};
use twincap_parser::Capture;
pub fn read(path: &Path) -> Option<Capture> {
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
    } else {
        let mut reader = PcapReader::new(&bytes[..]).ok()?;
        let link = u32::from(reader.header().datalink);
        while let Some(p) = reader.next_packet() {
            let p = p.ok()?;
            frames.push((link, p.data.to_vec(), p.orig_len));
        }
    }
    let mut cap = Capture {
        path: path.to_path_buf(),
        ..Capture::default()
    };
    let mut ids: HashMap<IpAddr, u32> = HashMap::new();
    for (i, (link, data, orig_len)) in frames.iter().enumerate() {
        cap.stats.frames += 1;
        if let Decoded::Tcp(t) = decode_frame_with_orig_len(*link, data, *orig_len) {
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
