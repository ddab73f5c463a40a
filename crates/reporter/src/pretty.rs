//! JSON written in parts, in parallel, with the bytes serde_json's pretty
//! printer writes for the whole document: [`PrettyAt`] prints a value at
//! its depth, [`write_array`] a long array of them a block at a time.

use rayon::prelude::*;
use serde::Serialize;
use std::io::{self, Write};
use std::ops::Range;

/// serde_json's pretty printer (two spaces per level) for a value that
/// sits `depth` levels deep in a document: the same bytes the whole
/// document's pretty printer writes for it there.
pub(crate) struct PrettyAt {
    depth: usize,
    has_value: bool,
}

impl PrettyAt {
    pub(crate) fn new(depth: usize) -> PrettyAt {
        PrettyAt {
            depth,
            has_value: false,
        }
    }
    fn indent<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }
    fn open<W: ?Sized + std::io::Write>(&mut self, w: &mut W, b: &[u8]) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b)
    }
    fn close<W: ?Sized + std::io::Write>(&mut self, w: &mut W, b: &[u8]) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(b)
    }
    fn item<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }
}

impl serde_json::ser::Formatter for PrettyAt {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Items made one after the other into one text by [`write_in_blocks`].
pub(crate) const ITEMS_PER_TEXT: usize = 2048;

/// Texts made at once by [`write_in_blocks`]: enough to keep every core
/// busy, few enough that they stay a few MB.
const TEXTS_AT_ONCE: usize = 16;

/// The text of `count` items, made in parallel a block of
/// [`ITEMS_PER_TEXT`] at a time (`make` gives the text of the items in a
/// range) and written to `w` in order, a batch of blocks at a time: a
/// report of hundreds of thousands of items is never all in memory.
pub(crate) fn write_in_blocks<W: Write>(
    w: &mut W,
    count: usize,
    make: impl Fn(Range<usize>) -> Vec<u8> + Sync,
) -> io::Result<()> {
    let blocks: Vec<Range<usize>> = (0..count)
        .step_by(ITEMS_PER_TEXT)
        .map(|from| from..(from + ITEMS_PER_TEXT).min(count))
        .collect();
    for batch in blocks.chunks(TEXTS_AT_ONCE) {
        let made: Vec<Vec<u8>> = batch.par_iter().map(|range| make(range.clone())).collect();
        for text in made {
            w.write_all(&text)?;
        }
    }
    Ok(())
}

/// `"key": [ ... ]` as a field of the top-level object (after its first
/// field, so with the comma before it), the items made in parallel, a
/// block of texts at a time, and written in order: the same bytes as the
/// pretty printer of the whole document.
pub(crate) fn write_array<W: Write, T: Serialize + Sync>(
    w: &mut W,
    key: &str,
    items: &[T],
) -> io::Result<()> {
    write!(w, ",\n  \"{key}\": [")?;
    write_in_blocks(w, items.len(), |range| {
        let mut buf = Vec::with_capacity(range.len() * 256);
        for i in range {
            buf.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, PrettyAt::new(2));
            items[i]
                .serialize(&mut ser)
                .expect("serializes into memory");
        }
        buf
    })?;
    if !items.is_empty() {
        w.write_all(b"\n  ")?;
    }
    w.write_all(b"]")
}

/// `"key": value` as a field of the top-level object (after its first
/// field), the value at depth 1.
pub(crate) fn write_field<W: Write>(
    w: &mut W,
    key: &str,
    value: &impl Serialize,
) -> io::Result<()> {
    write!(w, ",\n  \"{key}\": ")?;
    value.serialize(&mut serde_json::Serializer::with_formatter(
        w,
        PrettyAt::new(1),
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(depth: usize, v: &serde_json::Value) -> String {
        let mut buf = Vec::new();
        v.serialize(&mut serde_json::Serializer::with_formatter(
            &mut buf,
            PrettyAt::new(depth),
        ))
        .unwrap();
        String::from_utf8(buf).unwrap()
    }

    /// A value printed at depth 2 is what serde_json's pretty printer
    /// writes for it inside two levels (nested, empty arrays and objects).
    #[test]
    fn a_value_at_depth_is_the_pretty_printers_bytes_there() {
        let v = serde_json::json!({
            "a": [1, {"b": [], "c": {}}, [[2], "x\ny"]],
            "d": {"e": null, "f": [true]},
            "g": []
        });
        assert_eq!(at(0, &v), serde_json::to_string_pretty(&v).unwrap());
        let doc = serde_json::json!({"flows": [v.clone(), v.clone()]});
        let inner = at(2, &v);
        assert_eq!(
            serde_json::to_string_pretty(&doc).unwrap(),
            format!("{{\n  \"flows\": [\n    {inner},\n    {inner}\n  ]\n}}")
        );
        for empty in [serde_json::json!([]), serde_json::json!({})] {
            assert_eq!(at(3, &empty), serde_json::to_string(&empty).unwrap());
        }
    }

    /// An array written in parallel blocks is the pretty printer's array,
    /// empty, short, and across several texts and batches.
    #[test]
    fn an_array_in_blocks_is_the_pretty_printers_array() {
        for n in [
            0,
            1,
            3,
            ITEMS_PER_TEXT + 1,
            ITEMS_PER_TEXT * TEXTS_AT_ONCE + 5,
        ] {
            let items: Vec<serde_json::Value> = (0..n)
                .map(|i| serde_json::json!({"frame": i, "flags": ["a", "b"], "x": {"y": []}}))
                .collect();
            // (json! objects keep their keys sorted: "a" before "items".)
            let doc = serde_json::json!({"a": "s", "items": items.clone()});
            let mut out = Vec::new();
            out.extend_from_slice(b"{\n  \"a\": \"s\"");
            write_array(&mut out, "items", &items).unwrap();
            out.extend_from_slice(b"\n}");
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string_pretty(&doc).unwrap(),
                "{n} items"
            );
        }
    }
}
