//! twincap's writers: the matcher's results in, text / Markdown / JSON /
//! YAML out. Never recomputes anything; the JSON shapes are versioned
//! contracts documented in `docs/`.

pub mod analyze;
pub mod conns;
pub mod diagnose;
pub mod diff;
pub mod export;
pub mod flows;
pub mod html;
mod pretty;
pub mod rows;
