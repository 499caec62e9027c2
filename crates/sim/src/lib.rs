//! Netfilter packet-path simulator.
#![forbid(unsafe_code)]
