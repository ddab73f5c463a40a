//! twincap's analysis: packets and connections in, findings out.
//!
//! - [`analyze`]: Wireshark's TCP expert flags on one capture, one named rule
//!   per flag, each following `epan/dissectors/packet-tcp.c`.
//! - [`diff`]: pairs the connections of a client-side and a load-balancer-side
//!   capture across SNAT, aligns their packets, and names what the path in
//!   between lost, reordered, duplicated, injected or modified.
//! - [`f5`]: what F5 BIG-IP trailers say per connection, and the two legs of
//!   a full-proxy virtual server joined and compared as byte streams.

pub mod analyze;
pub mod diff;
pub mod f5;
