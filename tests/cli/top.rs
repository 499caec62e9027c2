//! `rampart top` as a user runs it, in the machine's own namespace: it only reads (a
//! sock_diag dump), so these check the flags, the JSON shape and the errors; the counts
//! are checked exactly in tests/netns/top.rs.

use crate::util::rampart;

#[test]
fn top_json_has_every_table_of_every_direction() {
    let out = rampart(&["top", "--json", "--no-geo", "--top", "3"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["source"], "sockets");
    for dir in ["incoming", "outgoing", "forwarded"] {
        for table in [
            "addresses",
            "nets24",
            "nets16",
            "nets64",
            "nets48",
            "countries",
            "ports",
            "states",
        ] {
            let rows = v[dir][table]["rows"].as_array();
            assert!(rows.is_some_and(|r| r.len() <= 3), "{dir}.{table}: {v}");
        }
        assert!(v[dir]["total"]["syn_recv"].is_u64(), "{v}");
    }
}

#[test]
fn top_refuses_an_interval_out_of_bounds_and_a_missing_database() {
    let out = rampart(&["top", "--watch", "--interval", "0"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--interval"), "{}", out.stderr);
    let out = rampart(&["top", "--db", "/nonexistent/geoip.mmdb"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("/nonexistent/geoip.mmdb"),
        "{}",
        out.stderr
    );
    let out = rampart(&["top", "--db", "x", "--no-geo"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
}
