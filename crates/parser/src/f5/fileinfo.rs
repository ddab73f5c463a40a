//! The F5 capture information pseudo-packet: the first frame of a capture
//! taken on a BIG-IP (11.2 and later). Follows `dissect_f5fileinfo()` of
//! Wireshark 4.0.17's `packet-f5ethtrailer.c`.
//!
//! The frame is an Ethernet header with zero addresses and EtherType
//! 0x05ff, the NUL-terminated string `F5-Pseudo-pkt`, then NUL-terminated
//! strings `CMD: <tcpdump command line>`, `VER: <BIG-IP version>`,
//! `HOST: <hostname>`, `PLAT: <platform ID>` and `PROD: <product>`.

/// The capture information of a BIG-IP capture.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct F5FileInfo {
    /// The tcpdump command line (`f5fileinfo.cmdline`).
    pub command: Option<String>,
    /// The BIG-IP version, e.g. `13.1.0.3 0.0.5` (`f5fileinfo.version`).
    pub version: Option<String>,
    /// The BIG-IP's hostname (`f5fileinfo.hostname`).
    pub hostname: Option<String>,
    /// The platform ID, e.g. `Z100` (`f5fileinfo.platform`); see
    /// [`platform_name`].
    pub platform: Option<String>,
    /// The product, e.g. `BIG-IP` (`f5fileinfo.product`).
    pub product: Option<String>,
}

impl F5FileInfo {
    /// The version's numbers, as Wireshark's fileinfo tap reads them: from
    /// the first digit on, six numbers, each non-digit character moving on
    /// to the next (`13.1.0.3 0.0.5` gives `[13, 1, 0, 3, 0, 0]`; the `5`
    /// would be a seventh).
    pub fn version_numbers(&self) -> [u32; 6] {
        let mut ver = [0u32; 6];
        let Some(v) = self.version.as_deref() else {
            return ver;
        };
        let digits = v.trim_start_matches(|c: char| !c.is_ascii_digit());
        let mut i = 0;
        for c in digits.chars() {
            if i >= 6 {
                break;
            }
            match c.to_digit(10) {
                Some(d) => ver[i] = ver[i].wrapping_mul(10).wrapping_add(d),
                None => i += 1,
            }
        }
        ver
    }

    /// The platform's marketing name (`f5fileinfo.platformname`).
    pub fn platform_name(&self) -> Option<&'static str> {
        platform_name(self.platform.as_deref()?)
    }

    /// The noise level and peer option the capture was taken with, read
    /// from the tcpdump command line's `-i <interface>:<options>`.
    pub fn noise(&self) -> Option<CaptureNoise> {
        CaptureNoise::from_command(self.command.as_deref()?)
    }
}

/// The F5 options of a capture's interface (`-i 0.0:nnnp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureNoise {
    /// Number of `n`s: 0 none, 1 low, 2 medium, 3 high.
    pub level: u8,
    /// `p`: the peer flows of matching flows were captured too.
    pub peer: bool,
}

impl CaptureNoise {
    /// Reads `-i <interface>[:<options>]` from a tcpdump command line, with
    /// getopt's rules for clustered flags (`-nni 0.0:nnn`, `-i0.0:nn`).
    pub fn from_command(command: &str) -> Option<CaptureNoise> {
        // tcpdump options that take an argument.
        const WITH_ARG: &str = "BcCDEFGijmMQrsTVwWyzZ";
        let mut words = command.split_whitespace();
        while let Some(w) = words.next() {
            let Some(flags) = w.strip_prefix('-') else {
                continue;
            };
            if flags.starts_with('-') {
                continue;
            }
            for (k, c) in flags.char_indices() {
                if !WITH_ARG.contains(c) {
                    continue;
                }
                let rest = &flags[k + c.len_utf8()..];
                let arg = if rest.is_empty() {
                    words.next()
                } else {
                    Some(rest)
                };
                if c == 'i' {
                    return Some(CaptureNoise::from_interface(arg?));
                }
                break;
            }
        }
        None
    }

    /// Reads the options after the last `:` of an interface name.
    pub fn from_interface(interface: &str) -> CaptureNoise {
        let Some((_, opts)) = interface.rsplit_once(':') else {
            return CaptureNoise::default();
        };
        let n = opts.chars().filter(|&c| c == 'n').count();
        CaptureNoise {
            level: n.min(3) as u8,
            peer: opts.contains('p'),
        }
    }
}

/// `fileinfomagic1`: zero MAC addresses, EtherType 0x05ff, `F5-Pseudo-pkt\0`.
const MAGIC: [u8; 28] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0xff, b'F', b'5', b'-', b'P', b's', b'e', b'u', b'd',
    b'o', b'-', b'p', b'k', b't', 0,
];

/// Decodes the F5 capture information pseudo-packet from a whole Ethernet
/// frame, or `None` if `frame` is not one. Wireshark looks for it only in
/// the first frame of a capture; callers should too.
///
/// Unknown strings are skipped, as in Wireshark. Where Wireshark would stop
/// with an exception on a last string without its NUL, twincap takes the
/// string to the end of the frame.
pub fn decode_fileinfo(frame: &[u8]) -> Option<F5FileInfo> {
    let mut rest = frame.strip_prefix(&MAGIC[..])?;
    let mut info = F5FileInfo::default();
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == 0);
        let object = &rest[..end.unwrap_or(rest.len())];
        rest = &rest[end.map_or(rest.len(), |e| e + 1)..];
        let text = super::ascii_text(object);
        let field = if let Some(v) = text.strip_prefix("CMD: ") {
            Some((&mut info.command, v))
        } else if let Some(v) = text.strip_prefix("VER: ") {
            Some((&mut info.version, v))
        } else if let Some(v) = text.strip_prefix("HOST: ") {
            Some((&mut info.hostname, v))
        } else if let Some(v) = text.strip_prefix("PLAT: ") {
            Some((&mut info.platform, v))
        } else if let Some(v) = text.strip_prefix("PROD: ") {
            Some((&mut info.product, v))
        } else {
            None
        };
        if let Some((slot, v)) = field {
            *slot = Some(v.to_string());
        }
    }
    Some(info)
}

/// The name of a BIG-IP platform ID, from Wireshark's
/// `f5info_platform_strings` (F5 articles K9476 and K86001294).
pub fn platform_name(platform: &str) -> Option<&'static str> {
    Some(match platform {
        // rSeries
        "C128" => "F5 r10000 Series (r10600, r10800, r10900)",
        "C129" => "F5 r5000 Series (r5600, r5800, r5900)",
        "C130" => "F5 r2000 Series (r2600, r2800)",
        "C131" => "F5 r4000 Series (r4600, r4800)",
        // iSeries
        "C115" => "BIG-IP i4000 Series (i4600, i4800)",
        "C116" => "BIG-IP i10000 Series (i10600, i10800)",
        "C117" => "BIG-IP i2000 Series (i2600, i2800), BIG-IP i850)",
        "C118" => "BIG-IP i7000 Series (i7600, i7800)",
        "C119" => "BIG-IP i5000 Series (i5600, i5800)",
        "C123" => "BIG-IP i11600, i11800",
        "C124" => "BIG-IP i11400-DS, i11600-DS, i11800-DS",
        "C125" => "BIG-IP i5820-DF",
        "C126" => "BIG-IP i7820-DF",
        "D116" => "BIG-IP i15000 Series (i15600, i15800)",
        "D120" => "BIG-IP i15820-DF",
        // Standard series
        "C102" => "BIG-IP 1600",
        "C103" => "BIG-IP 3600",
        "C106" => "BIG-IP 3900, Enterprise Manager 4000",
        "C109" => "BIG-IP 5000s, 5050s, 5200v, 5250v, 5250v-F",
        "C112" => "BIG-IP 2000 Series (2000s, 2200s)",
        "C113" => "BIG-IP 4000 Series (4000s, 4200v)",
        "C114" => "BIG-IP 800 (LTM only)",
        "D104" => "BIG-IP 6900 Series (6900, 6900S, 6900F, 6900N)",
        "D106" => "BIG-IP 8900",
        "D107" => "BIG-IP 8950",
        "D110" => "BIG-IP 7000 Series (7000s, 7050s, 7055s, 7200v, 7250v, 7255v), BIG-IQ 7000",
        "D111" => "BIG-IP 12000 Series (12250v)",
        "D112" => "BIG-IP 10050 Series (10150s-NEBS, 10350v (AC), 10350v-NEBS, 10350v-FIPS)",
        "D113" => "BIG-IP 10000 Series (10000s, 10050s, 10055, 10200v, 10250v, 10255)",
        "E101" => "BIG-IP 11000, BIG-IP 11000 FIPS",
        "E102" => "BIG-IP 11050, 11050 NEBS",
        "E103" => "BIG-IP 11050N",
        // VIPRION
        "A100" => "VIPRION B4100 Blade",
        "A105" => "VIPRION B4100N Blade",
        "A107" => "VIPRION B4200 Blade",
        "A108" => "VIPRION B4300 Blade",
        "A109" => "VIPRION B2100 Blade",
        "A110" => "VIPRION B4340N Blade",
        "A111" => "VIPRION B4200N Blade",
        "A112" => "VIPRION B2250 Blade",
        "A113" => "VIPRION B2150 Blade",
        "A114" => "VIPRION B4450 Blade",
        // Herculon
        "C120" => "Herculon i2800",
        "C121" => "Herculon i5800",
        "C122" => "Herculon i10800",
        // Virtualized platforms
        "Z100" => "BIG-IP Virtual Edition (VE)",
        "Z101" => "BIG-IP vCMP Guest",
        _ => return None,
    })
}
