//! `twincap diff --format html` in a real headless Chromium: the page of a
//! lab dataset with problems is self-contained, loads with no console error,
//! every ladder arrow survives the HTML parser, and a screenshot shows the
//! diagrams (pixels of the arrow colours). `TWINCAP_BLESS=1` also rewrites
//! `docs/ladder.png`, the screenshot the docs show.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{diff_out, lab, tool_present};
use twincap_matcher::analyze::analyze;
use twincap_matcher::diff::frames::FramePair;
use twincap_matcher::diff::{self, DiffOptions, Side};
use twincap_parser::{conn, read_capture, Capture, Connections};
use twincap_reporter::rows::Captures;
use twincap_reporter::{conns, diff as report, html};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    tool_present("chromium", found.is_some()).then(|| found.unwrap())
}

/// Both captures of a dataset, read and split into connections.
fn open(dir: &Path) -> (Capture, Connections, Capture, Connections) {
    let cap = |s: &str| read_capture(&dir.join(s), &Default::default()).unwrap();
    let (client, lb) = (cap("client.pcap"), cap("lb.pcap"));
    let (cc, lc) = (conn::split(&client), conn::split(&lb));
    (client, cc, lb, lc)
}

/// Headless Chromium on `page` with `args`, in a fresh profile.
fn run_chromium(bin: &Path, tmp: &Path, page: &Path, args: &[&str]) -> Output {
    let profile = tmp.join(format!("profile-{}", args.len()));
    let _ = std::fs::remove_dir_all(&profile);
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

/// Width, height and RGB pixels of an 8-bit RGB or RGBA PNG.
fn decode_png(bytes: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    use std::io::Read;
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (mut at, mut w, mut h, mut channels, mut idat) = (8, 0, 0, 0, Vec::new());
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let (kind, data) = (&bytes[at + 4..at + 8], &bytes[at + 8..at + 8 + len]);
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "bit depth");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("PNG colour type {t}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = w * channels;
    let mut img = vec![0u8; h * stride];
    for y in 0..h {
        let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                img[y * stride + x - channels] as i32
            } else {
                0
            };
            let b = if y > 0 {
                img[(y - 1) * stride + x] as i32
            } else {
                0
            };
            let c = if x >= channels && y > 0 {
                img[(y - 1) * stride + x - channels] as i32
            } else {
                0
            };
            let pred = match line[0] {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            img[y * stride + x] = (line[1 + x] as i32 + pred) as u8;
        }
    }
    let px = img.chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    (w, h, px)
}

/// Pixels within a small distance of a colour.
fn near(px: &[[u8; 3]], c: [u8; 3]) -> usize {
    px.iter()
        .filter(|p| (0..3).all(|i| (p[i] as i32 - c[i] as i32).abs() <= 24))
        .count()
}

/// Screenshot `page`; (width, height, pixels of c2s blue, s2c green, lost red).
fn screenshot(
    bin: &Path,
    tmp: &Path,
    page: &Path,
    png: &Path,
    size: &str,
) -> (usize, usize, [usize; 3]) {
    let out = run_chromium(
        bin,
        tmp,
        page,
        &[
            &format!("--screenshot={}", png.display()),
            &format!("--window-size={size}"),
        ],
    );
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h, px) = decode_png(&std::fs::read(png).unwrap());
    let white = near(&px, [255, 255, 255]);
    assert!(white < px.len(), "blank screenshot");
    (
        w,
        h,
        [
            near(&px, [0x2b, 0x6c, 0xb0]),
            near(&px, [0x2f, 0x85, 0x5a]),
            near(&px, [0xc5, 0x30, 0x30]),
        ],
    )
}

#[test]
fn html_report_loads_cleanly_in_chromium_and_shows_the_ladders() {
    let Some(bin) = chromium() else {
        return;
    };
    let tmp = std::env::temp_dir().join(format!("twincap-html-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let dir = lab("probe-loss-dup-reorder-s11");
    let page = tmp.join("report.html");
    diff_out(&dir, &["--format", "html", "-o", page.to_str().unwrap()]);
    let text = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch.
    for outside in [
        "<script", "<link", "<img", "<iframe", "url(", "http:", "https:", "@import",
    ] {
        assert!(!text.contains(outside), "the page refers to {outside}");
    }
    let arrows = text.matches("<g class=\"pkt ").count();
    let ladders = text.matches("<svg class=\"ladder\"").count();
    assert!(
        ladders >= 10 && arrows > 300,
        "{ladders} ladders, {arrows} arrows"
    );

    // Loaded: the DOM Chromium built holds every ladder and arrow, and the
    // log has no console message and no uncaught error.
    let out = run_chromium(
        &bin,
        &tmp,
        &page,
        &["--enable-logging=stderr", "--v=0", "--dump-dom"],
    );
    let (dom, log) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{log}");
    assert_eq!(dom.matches("<g class=\"pkt ").count(), arrows);
    assert_eq!(dom.matches("<svg class=\"ladder\"").count(), ladders);
    for bad in ["Uncaught", "CONSOLE", "console"] {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(bad)).collect();
        assert!(lines.is_empty(), "{}", lines.join("\n"));
    }

    // Seen: a tall screenshot reaches the first diagrams.
    let (w, h, [blue, green, red]) =
        screenshot(&bin, &tmp, &page, &tmp.join("page.png"), "1000,4000");
    println!("page: {w}x{h}, pixels: {blue} c2s blue, {green} s2c green, {red} lost red");
    assert_eq!((w, h), (1000, 4000));
    assert!(
        blue > 500 && green > 500 && red > 50,
        "{blue} {green} {red}"
    );

    // The docs' picture: the legend and one connection with a loss, a
    // reordering and a duplicate, drawn by the same writer.
    let (client, cc, lb, lc) = open(&dir);
    let (cs, ls) = (Side::new(&client, &cc), Side::new(&lb, &lc));
    let res = diff::diff(cs, ls, &DiffOptions::default());
    let views = conns::views(&cs, &ls, &res, false);
    let kinds = |v: &conns::ConnView| {
        let mut k: Vec<_> = v.rows.iter().filter_map(|r| r.event).collect();
        k.sort();
        k.dedup();
        (k.len(), std::cmp::Reverse(v.rows.len()))
    };
    let best = views.iter().max_by_key(|v| kinds(v)).unwrap().clone();
    let (ca, la) = (analyze(&client, &cc), analyze(&lb, &lc));
    let sources = report::Sources {
        caps: Captures {
            client: &client,
            client_conns: &cc,
            lb: &lb,
            lb_conns: &lc,
        },
        client_analysis: &ca,
        lb_analysis: &la,
    };
    let mut rep = report::DiffReport::build(&res, &sources);
    rep.files.client.path = "client.pcap".into();
    rep.files.lb.path = "lb.pcap".into();
    // The findings whose evidence includes a frame of this connection.
    let frames = |lb_side: bool| -> Vec<u32> {
        let side = |r: &FramePair| if lb_side { r.lb } else { r.client };
        best.rows
            .iter()
            .filter_map(|r| side(r).map(|f| f.frame))
            .collect()
    };
    let (cf, lf) = (frames(false), frames(true));
    rep.diagnoses.retain(|d| {
        d.client_frames.iter().any(|f| cf.contains(f)) || d.lb_frames.iter().any(|f| lf.contains(f))
    });
    let one = html::to_html(
        &rep,
        std::slice::from_ref(&best),
        &[],
        &html::findings(&rep),
        &client,
        &lb,
    );
    let one_page = tmp.join("one.html");
    std::fs::write(&one_page, one).unwrap();
    let png = tmp.join("one.png");
    let (_, _, [blue, _, red]) = screenshot(&bin, &tmp, &one_page, &png, "960,1650");
    assert!(blue > 100 && red > 10, "{blue} {red}");
    if std::env::var_os("TWINCAP_BLESS").is_some() {
        std::fs::copy(&png, workspace().join("docs/ladder.png")).unwrap();
    }
    std::fs::remove_dir_all(&tmp).ok();
}

/// A page draws the connections with the most events and lists the others:
/// rows are worked out for the drawn ones only.
#[test]
fn page_draws_the_worst_connections_and_lists_the_rest() {
    let dir = lab("probe-loss-dup-reorder-s11");
    let (client, cc, lb, lc) = open(&dir);
    let (cs, ls) = (Side::new(&client, &cc), Side::new(&lb, &lc));
    let res = diff::diff(cs, ls, &DiffOptions::default());
    let all = conns::views(&cs, &ls, &res, false);
    let (shown, rest) = conns::worst_views(&cs, &ls, &res, 5);
    assert_eq!((shown.len(), shown.len() + rest.len()), (5, all.len()));
    let events = |v: &conns::ConnView| v.rows.iter().filter(|r| r.event.is_some()).count();
    let least_shown = shown.iter().map(events).min().unwrap();
    assert!(rest.iter().all(|(_, n)| *n <= least_shown), "{rest:?}");
    // The drawn ones are the same as in the full list, rows and all.
    for v in &shown {
        let same = all.iter().find(|a| a.title == v.title).unwrap();
        assert_eq!(same.rows, v.rows);
    }
}
