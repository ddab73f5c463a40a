//! Ethernet/IPv4/TCP frames with real checksums, and a classic pcap writer.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// One TCP segment's headers; the payload is made from `payload_seed`.
#[derive(Clone, Debug)]
pub struct Segment {
    /// Connection it belongs to (for the truth).
    pub conn: u32,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u16,
    pub ip_id: u16,
    pub ttl: u8,
    /// MSS option (SYNs), with SACK-permitted and window scale.
    pub mss: Option<u16>,
    /// TSval, TSecr.
    pub ts: Option<(u32, u32)>,
    pub len: u16,
    pub payload_seed: u64,
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [b] = chunks.remainder() {
        acc += (*b as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

impl Segment {
    /// The whole Ethernet frame.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_payload(out, None)
    }

    /// The whole Ethernet frame, with `payload` as the TCP payload (its
    /// length overrides `len`) instead of bytes made from `payload_seed`.
    pub fn encode_payload(&self, out: &mut Vec<u8>, payload: Option<&[u8]>) {
        let len = payload.map_or(self.len as usize, <[u8]>::len);
        out.clear();
        out.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut opts: Vec<u8> = Vec::new();
        if let Some(m) = self.mss {
            opts.extend_from_slice(&[2, 4]);
            opts.extend_from_slice(&m.to_be_bytes());
            opts.extend_from_slice(&[4, 2]);
        }
        if let Some((v, e)) = self.ts {
            if self.mss.is_none() {
                opts.extend_from_slice(&[1, 1]);
            }
            opts.extend_from_slice(&[8, 10]);
            opts.extend_from_slice(&v.to_be_bytes());
            opts.extend_from_slice(&e.to_be_bytes());
        }
        if self.mss.is_some() {
            opts.extend_from_slice(&[1, 3, 3, 7]);
        }
        while opts.len() % 4 != 0 {
            opts.push(0);
        }
        let tcp_len = 20 + opts.len();
        let total = 20 + tcp_len + len;
        let ip_at = out.len();
        out.extend_from_slice(&[0x45, 0]);
        out.extend_from_slice(&(total as u16).to_be_bytes());
        out.extend_from_slice(&self.ip_id.to_be_bytes());
        out.extend_from_slice(&[0x40, 0, self.ttl, 6, 0, 0]);
        out.extend_from_slice(&self.src);
        out.extend_from_slice(&self.dst);
        let c = fold(sum16(&out[ip_at..ip_at + 20], 0));
        out[ip_at + 10..ip_at + 12].copy_from_slice(&c.to_be_bytes());
        let tcp_at = out.len();
        out.extend_from_slice(&self.sport.to_be_bytes());
        out.extend_from_slice(&self.dport.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ack.to_be_bytes());
        out.push(((tcp_len / 4) as u8) << 4);
        out.push(self.flags as u8);
        out.extend_from_slice(&502u16.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&opts);
        match payload {
            Some(bytes) => out.extend_from_slice(bytes),
            None => {
                let mut x = self.payload_seed | 1;
                for _ in 0..self.len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    out.push(x as u8);
                }
            }
        }
        let mut pseudo = [0u8; 12];
        pseudo[..4].copy_from_slice(&self.src);
        pseudo[4..8].copy_from_slice(&self.dst);
        pseudo[9] = 6;
        pseudo[10..12].copy_from_slice(&((tcp_len + len) as u16).to_be_bytes());
        let c = fold(sum16(&out[tcp_at..], sum16(&pseudo, 0)));
        out[tcp_at + 16..tcp_at + 18].copy_from_slice(&c.to_be_bytes());
    }
}

/// Writes classic pcap (Ethernet), microsecond or nanosecond.
pub struct PcapWriter {
    out: BufWriter<File>,
    nano: bool,
    frames: u32,
    buf: Vec<u8>,
}

impl PcapWriter {
    pub fn create(path: &Path, nano: bool) -> io::Result<PcapWriter> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let magic: u32 = if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        out.write_all(&magic.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&65535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        Ok(PcapWriter {
            out,
            nano,
            frames: 0,
            buf: Vec::with_capacity(2048),
        })
    }

    /// Write one frame; returns its 1-based frame number.
    pub fn write(&mut self, ts_ns: i64, seg: &Segment) -> io::Result<u32> {
        let mut buf = std::mem::take(&mut self.buf);
        seg.encode(&mut buf);
        let frame = self.write_raw(ts_ns, &buf);
        self.buf = buf;
        frame
    }

    /// Write one frame given as bytes; returns its 1-based frame number.
    pub fn write_raw(&mut self, ts_ns: i64, frame: &[u8]) -> io::Result<u32> {
        let sec = ts_ns.div_euclid(1_000_000_000) as u32;
        let ns = ts_ns.rem_euclid(1_000_000_000) as u32;
        let frac = if self.nano { ns } else { ns / 1000 };
        let n = frame.len() as u32;
        self.out.write_all(&sec.to_le_bytes())?;
        self.out.write_all(&frac.to_le_bytes())?;
        self.out.write_all(&n.to_le_bytes())?;
        self.out.write_all(&n.to_le_bytes())?;
        self.out.write_all(frame)?;
        self.frames += 1;
        Ok(self.frames)
    }

    pub fn frames(&self) -> u32 {
        self.frames
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }
}
