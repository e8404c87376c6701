//! Classify: what a flow is, from more than its port.
//!
//! What I own: the stage between the flow table and the stats rows that decides a flow's label:
//! the port rule ([`crate::services::decide`]), and the payload evidence of a flow's first
//! packets ([`evidence`]). For now the evidence checks stand alone (pure functions over the
//! first payload bytes, tested on real and hostile bytes); wiring them into the flow's label,
//! with the opening window whose counts are committed once the label is settled, is the next
//! step (issue 15).
//!
//! What I must not do: keep per-flow state (the flow table does), read past the captured
//! bytes, allocate, or print.

pub mod evidence;
