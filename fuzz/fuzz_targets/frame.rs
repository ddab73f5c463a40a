//! One frame's link, IP and TCP decode. The first byte picks a link type
//! twincap decodes, the next four the frame's length on the wire, the rest
//! is the frame. An IPv4 fragment is also offered to the reassembler (a
//! fresh one per input, with the same bytes twice so that a first
//! fragment can meet a second copy of itself).
#![no_main]
use libfuzzer_sys::fuzz_target;
use twincap_parser::decode::defrag::Defragmenter;
use twincap_parser::decode::{decode_frame_with_orig_len, Decoded};

/// LINKTYPE_* values the decoder knows, and a few it does not.
const LINK_TYPES: [u32; 20] = [
    0, 1, 6, 9, 10, 12, 14, 50, 101, 104, 105, 108, 109, 113, 117, 127, 228, 229, 276, 147,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let link_type = LINK_TYPES[usize::from(pick) % LINK_TYPES.len()];
    let (orig_len, frame) = match rest.split_first_chunk::<4>() {
        Some((len, frame)) if pick & 0x80 != 0 => (u32::from_le_bytes(*len), frame),
        _ => (rest.len() as u32, rest),
    };
    if let Decoded::Ipv4Fragment = decode_frame_with_orig_len(link_type, frame, orig_len) {
        let mut defrag = Defragmenter::default();
        let mut datagram = Vec::new();
        let _ = defrag.push(link_type, frame, orig_len, &mut datagram);
        let _ = defrag.push(link_type, frame, orig_len, &mut datagram);
    }
});
