//! The F5 decoders: Ethernet trailer (DPT and legacy TLVs), the capture
//! information pseudo-packet, and the cause text of a RST's payload.
//! Every decoded value is also formatted, as the reports format them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use twincap_parser::f5::{decode_fileinfo, decode_trailer, parse_rst_cause};

fuzz_target!(|data: &[u8]| {
    match decode_trailer(data) {
        Ok(trailer) => {
            let _ = format!("{trailer:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Some(info) = decode_fileinfo(data) {
        let _ = (info.version_numbers(), info.platform_name(), info.noise());
        let _ = format!("{info:?}");
    }
    if let Some(cause) = parse_rst_cause(data) {
        let _ = cause.to_string();
    }
});
