//! An F5 BIG-IP in a diff: the reset causes of each pair's RSTs on both
//! sides, and, when the LB capture was taken on a BIG-IP with trailers, the
//! LB connection's virtual server, TMM and flow IDs and the BIG-IP's other
//! leg of the same full-proxy connection (the server-side leg to the pool
//! member), compared with the client-side leg as byte streams. A full proxy
//! gives the server-side leg its own sequence numbers and segmentation, so
//! it is never aligned packet by packet; [`crate::f5`] joins it by the
//! trailer's flow IDs or peer addresses.

use super::{DiffResult, Dir, F5Pair, F5PeerLeg, Side, SideRstCause};
use crate::f5::{self, F5Conn, LegRole};
use rustc_hash::FxHashSet;

/// Why an LB connection joined to a pair as its BIG-IP peer leg has no twin.
pub const PEER_LEG_REASON: &str =
    "the BIG-IP's other leg of a paired connection (joined by its F5 trailer): see that flow's f5.peer_leg_streams";

/// Fill in `rst_causes` of every pair and unmatched connection, and `f5`
/// of pairs whose LB connection has F5 trailers.
pub fn annotate(res: &mut DiffResult, client: &Side, lb: &Side) {
    let lb_f5 = f5::connections(lb.cap, lb.conns);
    let mut joined: FxHashSet<u32> = FxHashSet::default();
    for fl in &mut res.flows {
        fl.rst_causes = side_causes(client, "client", fl.client.stream);
        for s in std::iter::once(fl.lb.stream).chain(fl.lb_extra.iter().map(|x| x.stream)) {
            fl.rst_causes.extend(side_causes(lb, "lb", s));
        }
        if let Some(Some(c)) = lb_f5.get(fl.lb.stream as usize) {
            let p = pair(lb, fl.lb.stream, c, &lb_f5);
            joined.extend(p.peer_leg_streams.iter().map(|l| l.conn.stream));
            fl.f5 = Some(p);
        }
    }
    for u in &mut res.unmatched_client {
        u.rst_causes = side_causes(client, "client", u.stream);
    }
    for u in &mut res.unmatched_lb {
        u.rst_causes = side_causes(lb, "lb", u.stream);
        if joined.contains(&u.stream) {
            u.reason = PEER_LEG_REASON;
        }
    }
}

/// The reset causes of one connection's RSTs, with their direction.
fn side_causes(side: &Side, name: &'static str, stream: u32) -> Vec<SideRstCause> {
    let c = side.conn(stream);
    let causes = f5::rst_causes_of(side.cap, c);
    if causes.is_empty() {
        return Vec::new();
    }
    let init = side.initiator_of(stream);
    causes
        .into_iter()
        .map(|(i, cause)| {
            let p = side.packet(i);
            SideRstCause {
                side: name,
                stream,
                dir: if (p.src, p.sport) == init {
                    Dir::C2s
                } else {
                    Dir::S2c
                },
                cause,
            }
        })
        .collect()
}

/// The F5 view of the LB connection `stream` and its peer legs.
fn pair(lb: &Side, stream: u32, c: &F5Conn, all: &[Option<F5Conn>]) -> F5Pair {
    let conn = lb.conn(stream);
    let init = lb.initiator_of(stream);
    let [c2s, s2c] = f5::leg_bytes(lb.cap, conn, init);
    let peer_leg_streams = c
        .peer_legs
        .iter()
        .map(|l| {
            let oc = lb.conn(l.stream);
            let other = all.get(l.stream as usize).and_then(Option::as_ref);
            let role = other.and_then(|o| o.role);
            let this = (conn, init);
            let that = (oc, lb.initiator_of(l.stream));
            let bytes = match (c.role, role) {
                (Some(LegRole::ClientSide), Some(LegRole::ServerSide)) => {
                    Some(f5::compare_legs(lb.cap, this, that))
                }
                (Some(LegRole::ServerSide), Some(LegRole::ClientSide)) => {
                    Some(f5::compare_legs(lb.cap, that, this))
                }
                _ => None,
            };
            F5PeerLeg {
                conn: lb.conn_ref(oc),
                joined_by: l.joined_by.clone(),
                role,
                virtual_server: other.and_then(|o| o.virtual_server.clone()),
                bytes,
                rst_causes: side_causes(lb, "lb", l.stream),
            }
        })
        .collect();
    F5Pair {
        leg: c.clone(),
        c2s_bytes: c2s.bytes,
        s2c_bytes: s2c.bytes,
        peer_leg_streams,
    }
}
