//! Errors that stop a read. Each names the file, the frame or byte offset
//! where it happened, and what the user can do next.

use std::fmt;
use std::path::PathBuf;

/// What went wrong, in a form tests and the CLI can match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// The file could not be opened or read (missing, permissions, I/O).
    Io,
    /// The file is empty.
    Empty,
    /// The magic number is not one of a capture format twincap reads.
    NotACapture,
    /// The file is a capture, but its link type is one twincap cannot decode.
    UnsupportedLinkType,
    /// A header or record is broken beyond reading on (e.g. absurd length).
    Corrupt,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    pub path: PathBuf,
    pub kind: ReadErrorKind,
    /// Frame number (1-based) the error is about, if any.
    pub frame: Option<u32>,
    /// Byte offset in the (decompressed) file, if any.
    pub offset: Option<u64>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
}

impl ReadError {
    pub fn new(path: impl Into<PathBuf>, kind: ReadErrorKind, message: impl Into<String>) -> Self {
        ReadError {
            path: path.into(),
            kind,
            frame: None,
            offset: None,
            message: message.into(),
            hint: None,
        }
    }
    pub fn at_frame(mut self, frame: u32) -> Self {
        self.frame = Some(frame);
        self
    }
    pub fn at_offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ReadError {
    /// `FILE: frame N (byte offset X): message (hint)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        match (self.frame, self.offset) {
            (Some(n), Some(o)) => write!(f, ": frame {n} (byte offset {o})")?,
            (Some(n), None) => write!(f, ": frame {n}")?,
            (None, Some(o)) => write!(f, ": byte offset {o}")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ReadError {}
