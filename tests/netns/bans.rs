//! `rampart bans unban` against the real kernel: bans put in place as the guard puts them
//! (an address in the timed ban set, a neighbourhood in the `guard-rollup` list, each
//! recorded in STATE_DIR/guard.db), then lifted by the CLI run inside the host's
//! namespace; real TCP probes from the client show each lifted and nothing else.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_block::{Allowlist, ListName};
use rampart_enforce::{Enforcer, Kernel, Silent};
use rampart_guard::{
    Decision, Evidence, Origin, Reason, SqliteStore, Target, DB_FILE, ROLLUP_LIST,
};

use crate::block::Setup;
use crate::lab::Fate;

const PORT: u16 = 8080;
/// Banned alone by a detector.
const SSH_ABUSER: &str = "192.0.2.3";
/// Banned with its neighbourhood (192.0.2.64/26) by a roll-up.
const NEIGHBOUR: &str = "192.0.2.66";
const ROLLUP: &str = "192.0.2.64/26";
/// Never banned.
const GOOD: &str = "192.0.2.2";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn decision(target: &str, detector: &str, start: u64) -> Decision {
    Decision {
        target: target.parse::<Target>().unwrap(),
        reason: Reason {
            detector: detector.into(),
            summary: format!("{detector} (test)"),
            offence: 0,
        },
        evidence: Evidence::default(),
        origin: Origin::Detector,
        start,
        until: start + 3600,
        fleet: None,
    }
}

fn delivered(s: &Setup, src: &str) -> bool {
    let src: IpAddr = src.parse().unwrap();
    matches!(s.probe(src, PORT), Fate::Delivered { .. })
}

#[test]
fn unban_lifts_in_the_kernel_and_in_the_record() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = Setup::with_sources(&[GOOD, SSH_ABUSER, NEIGHBOUR]);
    let t = now();
    // As the guard does: the kernel first, then the record.
    let ns = s.lab.ns("host").unwrap().to_string();
    let state = s.state.clone();
    rampart_testkit::run_in_named(&ns.clone(), move || {
        let mut e = Enforcer::new(
            rampart_kernel::StateDir::new(state.clone()),
            Kernel::new(rampart_kernel::Nft::in_netns(&ns)),
        );
        let allow = Allowlist::loopback();
        e.ban(
            &[SSH_ABUSER.parse().unwrap()],
            Duration::from_secs(3600),
            &ListName::new(rampart_guard::BAN_LIST).unwrap(),
            Some("sshd"),
            &allow,
            false,
            t,
        )
        .unwrap();
        e.block(
            &ListName::new(ROLLUP_LIST).unwrap(),
            &[ROLLUP.parse().unwrap()],
            Some("rollup"),
            &allow,
            false,
            &Silent,
        )
        .unwrap();
        let mut store = SqliteStore::open(&state.join(DB_FILE)).unwrap();
        store
            .record_batch(&[
                decision(SSH_ABUSER, "sshd", t),
                decision(ROLLUP, "rollup", t),
            ])
            .unwrap();
    });
    assert!(delivered(&s, GOOD));
    assert!(!delivered(&s, SSH_ABUSER));
    assert!(!delivered(&s, NEIGHBOUR));

    let list = s.ok(&["bans", "list"]);
    assert!(list.contains("2 bans running"), "{list}");

    // The address: lifted in the kernel and the record; the network stays.
    let out = s.ok(&["bans", "unban", SSH_ABUSER]);
    assert!(out.contains("lifted 192.0.2.3 (sshd)"), "{out}");
    assert!(delivered(&s, SSH_ABUSER));
    assert!(!delivered(&s, NEIGHBOUR));
    let explain = s.ok(&["bans", "explain", SSH_ABUSER]);
    assert!(
        explain.starts_with("192.0.2.3: not banned now"),
        "{explain}"
    );
    assert!(explain.contains(": lifted "), "{explain}");

    // An address inside the network: the network's ban is named, not lifted.
    let out = s.run(&["bans", "unban", NEIGHBOUR]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running ban matches `192.0.2.66`"));

    // The network, by reason.
    let out = s.ok(&["bans", "unban", "--reason", "rollup", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["lifted"][0]["target"], ROLLUP);
    assert!(delivered(&s, NEIGHBOUR));
    assert!(delivered(&s, GOOD));
    let list = s.ok(&["bans", "list"]);
    assert_eq!(list, "no bans running\n");
}
