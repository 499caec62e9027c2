//! Hostile log lines through the guard: whatever a client puts in its user name (another
//! address, `from`, `port`, control bytes), the guard bans the address sshd logged, or
//! nothing; never one the client wrote.

use std::net::IpAddr;

use proptest::prelude::*;
use rampart_guard::{Guard, GuardConfig, Observation, Target};

const REAL: &str = "198.51.100.9";

/// User names built from pieces an attacker would use to smuggle an address in.
fn user() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"from ".to_vec()),
        Just(b" port 22".to_vec()),
        Just(b"192.0.2.1".to_vec()),
        Just(b"2001:db8::1".to_vec()),
        Just(b" ssh2".to_vec()),
        Just(b"invalid user ".to_vec()),
        Just(b"\x1b]0;".to_vec()),
        proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..6),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

fn lines(user: &[u8]) -> Vec<Vec<u8>> {
    let wrap = |pre: &str, post: &str| {
        let mut l = format!("Dec  6 18:00:00 web1 sshd[812]: {pre}").into_bytes();
        l.extend_from_slice(user);
        l.extend_from_slice(post.as_bytes());
        l
    };
    vec![
        wrap(
            "Failed password for invalid user ",
            &format!(" from {REAL} port 4711 ssh2"),
        ),
        wrap(
            "Failed password for ",
            &format!(" from {REAL} port 4711 ssh2"),
        ),
        wrap("Invalid user ", &format!(" from {REAL} port 4711")),
        wrap(
            "Failed keyboard-interactive/pam for invalid user ",
            &format!(" from {REAL} port 4711 ssh2"),
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_guard_bans_only_the_address_sshd_logged(user in user()) {
        let real: IpAddr = REAL.parse().unwrap();
        let mut config = GuardConfig::default();
        config.sshd.window.limit = 2;
        let mut guard = Guard::new(config, vec![]);
        for line in lines(&user) {
            let Some(obs) = Observation::from_log(rampart_logs::Source::Sshd, &line) else {
                continue;
            };
            let Observation::Log { addr, line: evidence, .. } = &obs else {
                panic!("{obs:?}");
            };
            prop_assert_eq!(*addr, real);
            prop_assert!(!evidence.contains('\x1b'), "evidence escaped: {}", evidence);
            for d in guard.observe(&obs, 1_800_000_000) {
                prop_assert_eq!(d.target, Target::Addr(real));
            }
        }
    }
}

/// Not vacuous: a smuggled address in each form still gives an observation of the real
/// one, and the guard bans it.
#[test]
fn each_form_is_understood() {
    let real: IpAddr = REAL.parse().unwrap();
    let mut config = GuardConfig::default();
    config.sshd.window.limit = 4;
    let mut guard = Guard::new(config, vec![]);
    let mut bans = Vec::new();
    for line in lines(b"x from 192.0.2.1 port 22") {
        let obs = Observation::from_log(rampart_logs::Source::Sshd, &line)
            .unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(&line)));
        bans.extend(guard.observe(&obs, 1_800_000_000));
    }
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].target, Target::Addr(real));
}
