//! `decode::defrag::Defragmenter`: the frame that completes a fragmented
//! datagram carries its TCP segment, as in Wireshark 4.0. The expectations
//! were read from tshark on the same frames (built by hand here).

use twincap_parser::decode::defrag::Defragmenter;
use twincap_parser::decode::{decode_frame, Decoded};
use twincap_parser::info;

const ETHERNET: u32 = 1;

/// A TCP header (ACK|PSH, seq 100) and 512 payload bytes.
fn segment() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend(40000u16.to_be_bytes());
    s.extend(80u16.to_be_bytes());
    s.extend(100u32.to_be_bytes());
    s.extend(0u32.to_be_bytes());
    s.extend([0x50, 0x18, 0x04, 0x00, 0, 0, 0, 0]);
    s.extend((0..512).map(|i| i as u8));
    s
}

fn ipv4_fragment(data: &[u8], id: u16, more: bool, offset_words: u16, ttl: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend([0x45, 0]);
    f.extend(((20 + data.len()) as u16).to_be_bytes());
    f.extend(id.to_be_bytes());
    f.extend(((more as u16) << 13 | offset_words).to_be_bytes());
    f.extend([ttl, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend(data);
    f
}

fn ipv6_fragment(data: &[u8], id: u32, more: bool, offset_words: u16, hop_limit: u8) -> Vec<u8> {
    let mut f = vec![
        2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd, 0x60, 0, 0, 0,
    ];
    f.extend(((8 + data.len()) as u16).to_be_bytes());
    f.extend([44, hop_limit]);
    f.extend([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend([6, 0]);
    f.extend((offset_words << 3 | more as u16).to_be_bytes());
    f.extend(id.to_be_bytes());
    f.extend(data);
    f
}

/// Run frames through `decode_frame` and, for fragments, the defragmenter:
/// (frame number, payload_len, ttl) of every TCP packet.
fn tcp_frames(frames: &[Vec<u8>]) -> Vec<(usize, u16, u8)> {
    let mut defrag = Defragmenter::default();
    let mut datagram = Vec::new();
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let decoded = match decode_frame(ETHERNET, frame) {
            Decoded::Ipv4Fragment => {
                defrag.push(ETHERNET, frame, frame.len() as u32, &mut datagram)
            }
            other => other,
        };
        if let Decoded::Tcp(t) = decoded {
            assert!(!t.packet.is(info::TRUNCATED));
            out.push((i + 1, t.packet.payload_len, t.packet.ttl));
        }
    }
    out
}

#[test]
fn ipv4_datagram_is_tcp_at_the_completing_frame() {
    let seg = segment();
    let (head, tail) = seg.split_at(264);
    let frames = vec![
        ipv4_fragment(head, 7, true, 0, 60),
        ipv4_fragment(tail, 7, false, 33, 61),
        // Last fragment first.
        ipv4_fragment(tail, 8, false, 33, 62),
        ipv4_fragment(head, 8, true, 0, 63),
        // A duplicate after completion starts over, and never completes.
        ipv4_fragment(head, 8, true, 0, 63),
    ];
    // tshark: frames 2 and 4 are TCP (tcp.len 512, their own TTL).
    assert_eq!(tcp_frames(&frames), vec![(2, 512, 61), (4, 512, 63)]);
}

#[test]
fn ipv6_datagram_is_tcp_at_the_completing_frame() {
    let seg = segment();
    let (head, tail) = seg.split_at(264);
    let frames = vec![
        ipv6_fragment(head, 9, true, 0, 50),
        ipv6_fragment(tail, 9, false, 33, 51),
    ];
    assert_eq!(tcp_frames(&frames), vec![(2, 512, 51)]);
}

#[test]
fn holes_ids_and_cut_fragments_keep_datagrams_apart() {
    let seg = segment();
    let frames = vec![
        ipv4_fragment(&seg[..264], 1, true, 0, 64),
        // Another id: not part of datagram 1.
        ipv4_fragment(&seg[264..], 2, false, 33, 64),
        // A hole: 264..400 missing.
        ipv4_fragment(&seg[400..], 1, false, 50, 64),
    ];
    assert_eq!(tcp_frames(&frames), vec![]);
    // A fragment cut by the snaplen does not join.
    let mut defrag = Defragmenter::default();
    let mut datagram = Vec::new();
    let first = ipv4_fragment(&seg[..264], 3, true, 0, 64);
    let last = ipv4_fragment(&seg[264..], 3, false, 33, 64);
    let cut = &first[..100];
    assert!(matches!(
        defrag.push(ETHERNET, cut, first.len() as u32, &mut datagram),
        Decoded::Ipv4Fragment
    ));
    assert!(matches!(
        defrag.push(ETHERNET, &last, last.len() as u32, &mut datagram),
        Decoded::Ipv4Fragment
    ));
    // Garbage is never a panic.
    for n in 0..first.len() {
        let _ = defrag.push(ETHERNET, &first[..n], 2000, &mut datagram);
    }
}

#[test]
fn memory_stays_bounded_with_lone_fragments() {
    let mut defrag = Defragmenter::default();
    let mut datagram = Vec::new();
    let seg = segment();
    for id in 0..20_000u16 {
        let f = ipv4_fragment(&seg[..64], id, true, 0, 64);
        let _ = defrag.push(ETHERNET, &f, f.len() as u32, &mut datagram);
    }
    // Still completes a datagram afterwards.
    let frames = [
        ipv4_fragment(&seg[..264], 1, true, 0, 9),
        ipv4_fragment(&seg[264..], 1, false, 33, 9),
    ];
    let _ = defrag.push(ETHERNET, &frames[0], frames[0].len() as u32, &mut datagram);
    assert!(matches!(
        defrag.push(ETHERNET, &frames[1], frames[1].len() as u32, &mut datagram),
        Decoded::Tcp(_)
    ));
}
