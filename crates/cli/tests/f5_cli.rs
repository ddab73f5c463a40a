//! F5 BIG-IP captures through the binary:
//!
//! - `twincap flows` and `twincap analyze` on `f5adc_hackazon2.pcap`: per
//!   connection the virtual server, leg, slot/TMM, frames in and out, flow
//!   IDs, peer connections and RST causes, equal to what tshark's
//!   f5ethtrailer shows frame by frame (`fixtures/f5/*.tsv`, grouped by
//!   `tcp.stream`);
//! - `twincap diff` on `fixtures/f5/full-proxy` (client capture and a BIG-IP
//!   capture with both legs, made by `twincap-synth f5`): the BIG-IP's RST
//!   cause in the pair's findings (JSON and text), the server-side leg
//!   joined and compared as a byte stream;
//! - a capture without trailers gains no F5 field.

use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

mod support;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `twincap ARGS` from the checkout's root: its stdout.
fn twincap(args: &[&str]) -> String {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    support::twincap(&root(), &args)
}

fn json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    serde_json::from_str(&twincap(&a)).unwrap()
}

/// Rows of a TSV in fixtures/f5 as column name -> value.
fn tsv(name: &str) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(root().join("fixtures/f5").join(name)).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .map(|l| {
            head.iter()
                .zip(l.split('\t'))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// What tshark's fields say about one connection, in twincap's terms.
#[derive(Clone, Default, Debug, PartialEq)]
struct Expected {
    virtual_server: Option<String>,
    role: Option<&'static str>,
    slot_tmm: Option<(u64, u64)>,
    tmm_moved: bool,
    frames_in: u64,
    frames_out: u64,
    flow_ids: Vec<String>,
    peer_ids: Vec<String>,
    peers: Vec<String>,
    rst_causes: Vec<String>,
}

/// The most common value, the first seen among equals.
fn most<T: Clone + PartialEq>(values: &[T]) -> Option<T> {
    let count = |v: &T| values.iter().filter(|x| *x == v).count();
    let best = values.iter().map(count).max()?;
    values.iter().find(|v| count(v) == best).cloned()
}

fn push_new(list: &mut Vec<String>, v: String) {
    if !list.contains(&v) {
        list.push(v);
    }
}

/// Per tcp.stream, from the trailer and stream TSVs.
fn expected_from_tshark() -> BTreeMap<u64, Expected> {
    let trailers = tsv("f5adc_hackazon2.trailers.tsv");
    let streams = tsv("f5adc_hackazon2.streams.tsv");
    let mut vs: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut tmm: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    let mut out: BTreeMap<u64, Expected> = BTreeMap::new();
    for (t, s) in trailers.iter().zip(&streams) {
        assert_eq!(t["frame.number"], s["frame.number"]);
        let Ok(stream) = s["tcp.stream"].parse::<u64>() else {
            continue;
        };
        let e = out.entry(stream).or_default();
        let f = |k: &str| t[&format!("f5ethtrailer.{k}")].clone();
        match f("ingress").as_str() {
            "1" => e.frames_in += 1,
            "0" => e.frames_out += 1,
            _ => continue,
        }
        if s["tcp.flags.syn"] == "1" && s["tcp.flags.ack"] == "0" && e.role.is_none() {
            e.role = Some(if f("ingress") == "1" {
                "client_side"
            } else {
                "server_side"
            });
        }
        tmm.entry(stream)
            .or_default()
            .push((f("slot").parse().unwrap(), f("tmm").parse().unwrap()));
        if !f("vip").is_empty() {
            vs.entry(stream).or_default().push(f("vip"));
        }
        for (k, list) in [("flowid", &mut e.flow_ids), ("peerid", &mut e.peer_ids)] {
            if f(k) != "0x0000000000000000" {
                push_new(list, f(k));
            }
        }
        if !f("peerremoteaddr").is_empty() {
            let peer = format!(
                "{}:{} {}:{}",
                f("peerremoteaddr"),
                f("peerremoteport"),
                f("peerlocaladdr"),
                f("peerlocalport")
            );
            push_new(&mut e.peers, peer);
        }
        if !f("rstcausetxt").is_empty() {
            let value = u64::from_str_radix(f("rstcauseval").trim_start_matches("0x"), 16).unwrap();
            e.rst_causes.push(format!(
                "BIG-IP: [{value:#x}:{}] {}",
                f("rstcauseline"),
                f("rstcausetxt")
            ));
        }
    }
    for (s, e) in out.iter_mut() {
        e.virtual_server = vs.get(s).and_then(|v| most(v));
        let t = &tmm[s];
        e.slot_tmm = most(t);
        e.tmm_moved = t.iter().any(|x| *x != t[0]);
    }
    out
}

/// The same facts from a `flows[]` or `streams[]` row's `f5` and causes.
fn ours(f5: &Value, causes: &[String]) -> Expected {
    let strs = |k: &str| -> Vec<String> {
        f5[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    Expected {
        virtual_server: f5["virtual_server"].as_str().map(String::from),
        role: match f5["role"].as_str() {
            Some("client_side") => Some("client_side"),
            Some("server_side") => Some("server_side"),
            _ => None,
        },
        slot_tmm: f5["slot"].as_u64().zip(f5["tmm"].as_u64()),
        tmm_moved: f5["tmm_moved"].as_bool().unwrap(),
        frames_in: f5["frames_in"].as_u64().unwrap(),
        frames_out: f5["frames_out"].as_u64().unwrap(),
        flow_ids: strs("flow_ids"),
        peer_ids: strs("peer_ids"),
        peers: f5["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p["remote"].as_str().unwrap(),
                    p["local"].as_str().unwrap()
                )
            })
            .collect(),
        rst_causes: causes.to_vec(),
    }
}

fn displays(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["display"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn flows_on_hackazon_name_what_tshark_shows_per_connection() {
    let want = expected_from_tshark();
    let r = json(&["flows", "fixtures/corpus/f5adc_hackazon2.pcap"]);
    let flows = r["flows"].as_array().unwrap();
    assert_eq!(flows.len(), want.len());
    for f in flows {
        let s = f["stream"].as_u64().unwrap();
        let got = ours(&f["f5"], &displays(&f["rst_causes"]));
        assert_eq!(got, want[&s], "stream {s}");
        // Only client-side legs are in the file (no `p`): no peer leg joined.
        assert_eq!(f["f5"]["peer_legs"].as_array().unwrap().len(), 0);
    }
    let with_cause = flows.iter().filter(|f| f["rst_causes"].is_array()).count();
    assert_eq!(with_cause, 7);
    let c = &r["f5"];
    assert_eq!(c["hostname"], "bigip01.f5demo.com");
    assert_eq!(c["noise_level"], 3);
    assert_eq!(c["peer_flows_captured"], false);
    assert_eq!(c["frames_with_trailer"], 1721);

    let text = twincap(&["flows", "fixtures/corpus/f5adc_hackazon2.pcap"]);
    assert!(
        text.contains("F5 BIG-IP capture: 1721 frames with a trailer"),
        "{text}"
    );
    assert_eq!(text.matches("No local listener").count(), 7);
}

#[test]
fn analyze_on_hackazon_lists_rst_causes_and_f5_per_stream() {
    let want = expected_from_tshark();
    let r = json(&["analyze", "fixtures/corpus/f5adc_hackazon2.pcap"]);
    let causes = r["rst_causes"].as_array().unwrap();
    let frames: Vec<u64> = causes
        .iter()
        .map(|c| c["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(frames, [1682, 1684, 1686, 1688, 1690, 1692, 1694]);
    for c in causes {
        let s = c["stream"].as_u64().unwrap();
        assert_eq!(want[&s].rst_causes, [c["display"].as_str().unwrap()]);
        assert_eq!(c["source"], "trailer");
        assert_eq!(c["text"], "No local listener");
    }
    let streams = r["streams"].as_array().unwrap();
    assert!(!streams.is_empty());
    for s in streams {
        let n = s["stream"].as_u64().unwrap();
        let mut want = want[&n].clone();
        want.rst_causes.clear();
        assert_eq!(ours(&s["f5"], &[]), want, "stream {n}");
    }
    let text = twincap(&["analyze", "fixtures/corpus/f5adc_hackazon2.pcap"]);
    assert_eq!(text.matches("No local listener").count(), 7, "{text}");
}

const CLIENT: &str = "fixtures/f5/full-proxy/client.pcap";
const LB: &str = "fixtures/f5/full-proxy/lb.pcap";
const CAUSE: &str = "BIG-IP: [0x2664c65:2574] No flow found for ACK";

/// The two-sided fixture: the BIG-IP's reset cause reaches the diff's
/// findings per pair (both captures' RSTs), per event (the RST the client
/// never got), and in the text; the server-side leg is joined.
#[test]
fn diff_shows_the_bigips_rst_cause_and_the_server_side_leg() {
    let r = json(&["diff", CLIENT, LB]);
    let flows = r["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 3);
    for (i, f) in flows.iter().enumerate() {
        let f5 = &f["f5"];
        assert_eq!(f5["virtual_server"], "/Common/app_vs");
        assert_eq!(f5["role"], "client_side");
        assert_eq!(f5["tmm"], (i % 2) as u64);
        let legs = f5["peer_leg_streams"].as_array().unwrap();
        assert_eq!(legs.len(), 1, "flow {i}");
        let leg = &legs[0];
        assert_eq!(leg["role"], "server_side");
        assert_eq!(leg["conn"]["dst"], "10.1.20.20:80");
        assert_eq!(
            leg["joined_by"],
            serde_json::json!(["flow_id", "peer_address"])
        );
        // The full proxy re-segments (two request segments become one,
        // 1448-byte response segments become 1000-byte ones), and the
        // streams carry the same bytes: 420 of request, 3000 of response.
        let b = &leg["bytes"];
        assert_eq!(b["server_leg_c2s_bytes"], 420);
        assert_eq!(b["server_leg_s2c_bytes"], 3000);
        assert_eq!(b["client_leg_s2c_bytes"], 3000);
        // The generator's delays: the request leaves 1.6 ms after its first
        // byte arrived (handshake to the pool member), the response 0.4 ms.
        let ms = |k: &str| (b[k].as_f64().unwrap() * 1e3 * 10.0).round() / 10.0;
        assert_eq!(ms("c2s_first_byte_delay_s"), 1.6);
        assert_eq!(ms("s2c_first_byte_delay_s"), 0.4);
        assert_eq!(ms("s2c_last_byte_delay_s"), 0.4);
        let causes = f["rst_causes"].as_array().map(Vec::len).unwrap_or(0);
        match i {
            0 => assert_eq!(causes, 0),
            1 => assert_eq!(causes, 2, "client payload and lb trailer"),
            _ => assert_eq!(causes, 3, "one RST lost on the way to the client"),
        }
        for c in f["rst_causes"].as_array().into_iter().flatten() {
            assert_eq!(c["display"], CAUSE);
            assert_eq!(c["value"], "0x2664c65");
            assert_eq!(c["line"], 2574);
            assert_eq!(c["text"], "No flow found for ACK");
            assert_eq!(c["dir"], "s2c");
            let source = if c["side"] == "lb" {
                "trailer"
            } else {
                "payload"
            };
            assert_eq!(c["source"], source);
        }
    }
    // The RST lost between the BIG-IP and the client: a `lost` event that
    // names the cause.
    let lost: Vec<&Value> = flows[2]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "lost")
        .collect();
    assert_eq!(lost.len(), 1, "{:#}", flows[2]["events"]);
    assert_eq!(lost[0]["dir"], "s2c");
    assert_eq!(lost[0]["rst_cause"], CAUSE);
    // The server-side legs have no twin in the client capture, and say why.
    let unmatched = r["unmatched"]["lb"].as_array().unwrap();
    assert_eq!(unmatched.len(), 3);
    for u in unmatched {
        assert!(u["reason"].as_str().unwrap().contains("other leg"), "{u}");
    }

    let text = twincap(&["diff", CLIENT, LB]);
    assert!(
        text.contains("RST cause: lb frame") && text.contains(CAUSE),
        "{text}"
    );
    assert!(
        text.contains("F5: /Common/app_vs, client-side leg"),
        "{text}"
    );
    // Every cause of pairs 1 and 2, the one without problems included.
    assert_eq!(text.matches(&format!("): {CAUSE}")).count(), 5, "{text}");
    assert!(text.contains("F5 other leg: lb stream 3"), "{text}");

    // The page to attach to a ticket says the same, drawn connections and
    // the one without problems alike.
    let html = twincap(&["diff", CLIENT, LB, "--format", "html"]);
    assert!(
        html.contains("F5: /Common/app_vs, client-side leg"),
        "{html}"
    );
    assert!(html.contains("F5 other leg: lb stream 3"), "{html}");
    assert_eq!(html.matches(&format!("): {CAUSE}")).count(), 5, "{html}");
    assert!(html.contains("Resets with a stated cause on other connections"));
}

/// The BIG-IP's resets summed up by cause: one `reset_cause` finding for
/// "No flow found for ACK", its two connections and the three resets the
/// LB capture holds (one of them lost on the way to the client), with what
/// the cause means.
#[test]
fn the_bigips_resets_are_summed_up_by_cause() {
    let r = json(&["diff", CLIENT, LB]);
    let found: Vec<&Value> = r["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"] == "reset_cause")
        .collect();
    assert_eq!(found.len(), 1, "{found:#?}");
    let d = found[0];
    assert_eq!(d["severity"], "warning");
    assert_eq!(d["figures"]["cause"], "No flow found for ACK");
    assert_eq!(d["figures"]["connections"], 2);
    assert_eq!(d["figures"]["resets"], 3);
    assert_eq!(d["lb_frames"], serde_json::json!([63, 65, 67]));
    assert_eq!(d["lb_filter"], "frame.number in {63 65 67}");
    assert!(
        d["summary"]
            .as_str()
            .unwrap()
            .contains("a connection it no longer had"),
        "{d}"
    );
}

/// A capture without trailers or reset causes gains no field.
#[test]
fn captures_without_trailers_gain_no_f5_fields() {
    let dir = "fixtures/lab/ex1-probe-seed7";
    let client = format!("{dir}/client.pcap");
    let lb = format!("{dir}/lb.pcap");
    for args in [
        vec!["flows", client.as_str()],
        vec!["analyze", client.as_str()],
        vec!["diff", client.as_str(), lb.as_str()],
    ] {
        let out = twincap(&[&args[..], &["--format", "json"]].concat());
        for field in ["\"f5\"", "\"rst_causes\"", "\"rst_cause\""] {
            assert!(!out.contains(field), "{args:?}: {field}");
        }
    }
}
