//! Opening a capture file and turning its records into TCP packets. (Placeholder.)

use crate::error::{ReadError, ReadErrorKind};
use crate::packet::Capture;
use std::path::Path;

/// Options for [`read_capture`].
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Decode frames on one thread only (tests, tiny files).
    pub single_threaded: bool,
}

/// Read a whole capture file.
pub fn read_capture(path: &Path, _opts: &ReadOptions) -> Result<Capture, ReadError> {
    Err(ReadError::new(path, ReadErrorKind::NotACapture, "reader not written yet"))
}
