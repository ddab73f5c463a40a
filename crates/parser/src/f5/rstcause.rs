//! Reset reasons carried in the payload of a TCP RST.
//!
//! RFC 9293 (3.5.3) lets a RST carry data, and some devices put their reason
//! there. A BIG-IP with the database variable `tm.rstcause.pkt` enabled
//! writes `BIG-IP: [0x2664c65:2574] No flow found for ACK`: the cause's
//! code value in hex, the TMM source line, an optional `{peer}` when the
//! reset was caused by the peer side, and the reason in words (F5 publishes
//! no fixed list; any text is accepted). Other devices write plain text;
//! some write binary (e.g. the experimental RST diagnostic payloads), which
//! is reported as binary, never shown as garbage characters.

use std::fmt;

use super::F5RstCause;

/// What a RST's payload says about why the connection was reset.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum RstCause {
    /// A BIG-IP reset cause (`tm.rstcause.pkt`).
    BigIp(F5RstCause),
    /// Printable text from some other device or stack, trimmed.
    Text(String),
    /// Bytes that are not text: their count and the first (up to 16) of
    /// them, for a hex dump.
    Binary { len: usize, head: Vec<u8> },
}

impl fmt::Display for RstCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RstCause::BigIp(c) => write!(f, "BIG-IP: {c}"),
            RstCause::Text(s) => f.write_str(s),
            RstCause::Binary { len, head } => {
                write!(f, "binary payload ({len} bytes:")?;
                for b in head {
                    write!(f, " {b:02x}")?;
                }
                if *len > head.len() {
                    f.write_str(" ...")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// How many leading bytes [`RstCause::Binary`] keeps.
const BINARY_HEAD: usize = 16;

/// Reads the reason a RST's payload gives, if any (`None` for an empty
/// payload, or one of only NUL bytes and whitespace).
///
/// Recognises, in order: the BIG-IP format (`BIG-IP: [0x<value>:<line>]
/// [{peer}] <text>`, tolerant of missing spaces and a missing `0x`); plain
/// text (printable ASCII or UTF-8, tabs and line breaks allowed, trailing
/// NUL padding ignored); anything else is binary.
pub fn parse_rst_cause(payload: &[u8]) -> Option<RstCause> {
    // Trailing NULs are padding, not part of the message.
    let end = payload.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let body = &payload[..end];
    if body.is_empty() {
        return None;
    }
    let text = match std::str::from_utf8(body) {
        Ok(s)
            if s.chars()
                .all(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n')) =>
        {
            s
        }
        _ => {
            return Some(RstCause::Binary {
                len: payload.len(),
                head: payload[..payload.len().min(BINARY_HEAD)].to_vec(),
            })
        }
    };
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match parse_bigip(text) {
        Some(c) => RstCause::BigIp(c),
        None => RstCause::Text(text.to_string()),
    })
}

/// `BIG-IP: [0x2664c65:2574] {peer} No flow found for ACK`.
fn parse_bigip(s: &str) -> Option<F5RstCause> {
    let rest = s.strip_prefix("BIG-IP:")?.trim_start();
    let rest = rest.strip_prefix('[')?;
    let close = rest.find(']')?;
    let (inside, after) = (&rest[..close], &rest[close + 1..]);
    let (value, line) = inside.split_once(':')?;
    let value = value.trim();
    let value = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
        .unwrap_or(value);
    let value = u64::from_str_radix(value, 16).ok()?;
    let line = line.trim().parse::<u32>().ok()?;
    let after = after.trim_start();
    let (peer, text) = match after.strip_prefix("{peer}") {
        Some(t) => (true, t.trim_start()),
        None => (false, after),
    };
    Some(F5RstCause {
        peer,
        value,
        line,
        text: text.trim_end().to_string(),
    })
}
