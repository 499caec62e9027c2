//! The shared store against a real PostgreSQL (the Debian package's server, started in a
//! temporary directory by the test): schema, idempotent publication, the ordered change
//! feed, lifts, lists, row security between servers, status, TLS verification and the
//! password file's checks.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rampart_fleet::{Change, Fleet, FleetConfig};
use rampart_guard::{Decision, Evidence, Origin, Reason, Target};
use rampart_testkit::{pg_bin, require, Need, Netns, PgOptions, Pki, Postgres, PG_ADMIN};

fn have_pg() -> bool {
    require(&[
        Need::Root,
        Need::Tool("runuser"),
        Need::Check(
            "PostgreSQL (apt-get install postgresql)",
            pg_bin().is_some(),
        ),
    ])
}

/// A connection config over the server's Unix socket, as `role`.
fn unix_config(pg: &Postgres, role: &str) -> FleetConfig {
    let host: String = pg.socket_dir().display().to_string().replace('/', "%2F");
    FleetConfig {
        url: format!("postgresql://{role}@{host}:{}/rampart", pg.port),
        password_file: None,
        ca_file: None,
        min_prefix_v4: 16,
        min_prefix_v6: 48,
    }
}

fn server_role(pg: &Postgres, name: &str) {
    pg.psql(
        "rampart",
        &format!("CREATE ROLE {name} LOGIN PASSWORD 'pw-{name}' IN ROLE rampart_server"),
    );
}

fn decision(target: &str, start: u64, secs: u64) -> Decision {
    Decision {
        target: target.parse().unwrap(),
        reason: Reason {
            detector: "connections".into(),
            summary: "152 connections to port 80 (limit 150)".into(),
            offence: 0,
        },
        evidence: Evidence {
            count: 152,
            window_secs: 0,
            samples: vec!["tcp 192.0.2.31:40000 -> 203.0.113.10:80".into()],
        },
        origin: Origin::Detector,
        start,
        until: start + secs,
        fleet: None,
    }
}

fn decisions(c: &[Change]) -> Vec<(String, i64, String, bool)> {
    c.iter()
        .filter_map(|c| match c {
            Change::Decision(d) => Some((
                d.key().server.clone(),
                d.key().id,
                d.decision.target.to_string(),
                d.lifted.is_some(),
            )),
            Change::List { .. } => None,
        })
        .collect()
}

#[test]
fn publish_follow_lift_and_lists_between_two_servers() {
    if !have_pg() {
        return;
    }
    let pg = Postgres::start(PgOptions::default());
    let mut admin = Fleet::connect(&unix_config(&pg, PG_ADMIN)).unwrap();
    let applied = admin.init().unwrap();
    assert_eq!(applied.iter().map(|a| a.0).collect::<Vec<_>>(), vec![1]);
    assert!(
        admin.init().unwrap().is_empty(),
        "a second init applies nothing"
    );
    server_role(&pg, "web1");
    server_role(&pg, "web2");
    let mut web1 = Fleet::connect(&unix_config(&pg, "web1")).unwrap();
    let mut web2 = Fleet::connect(&unix_config(&pg, "web2")).unwrap();
    assert_eq!(web1.check_schema().unwrap(), 1);
    web2.listen().unwrap();
    let now = rampart_fleet::now();
    let a = decision("192.0.2.31", now, 600);
    let b = decision("192.0.2.0/24", now, 600);
    let old = decision("192.0.2.99", now - 7200, 600);
    assert_eq!(web1.publish(&[(1, &a), (2, &b), (3, &old)]).unwrap(), 3);
    // Published again (a retry after an outage): nothing new.
    assert_eq!(web1.publish(&[(1, &a), (2, &b)]).unwrap(), 0);
    assert!(
        web2.wait(Duration::from_secs(5)).unwrap(),
        "web2 was notified"
    );
    let got = web2.changes(0, now).unwrap();
    assert_eq!(
        decisions(&got.changes),
        vec![
            ("web1".into(), 1, "192.0.2.31".into(), false),
            ("web1".into(), 2, "192.0.2.0/24".into(), false),
        ],
        "the expired decision is passed over"
    );
    assert!(got.cursor >= 3 && !got.more, "{got:?}");
    let Change::Decision(first) = &got.changes[0] else {
        unreachable!()
    };
    assert_eq!(first.decision.evidence, a.evidence);
    assert_eq!(first.decision.reason, a.reason);
    assert_eq!(web2.changes(got.cursor, now).unwrap().changes, vec![]);
    // A server cannot speak for another (row security), even with SQL of its own.
    let forged = std::process::Command::new("timeout")
        .current_dir("/")
        .args(["30", "runuser", "-u", "postgres", "--"])
        .arg(pg_bin().unwrap().join("psql"))
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(pg.socket_dir())
        .args([
            "-p",
            &pg.port.to_string(),
            "-U",
            "web2",
            "-d",
            "rampart",
            "-c",
        ])
        .arg(
            "INSERT INTO rampart_decisions (origin_server, origin_id, target, detector, summary, \
             offence, origin, evidence, start_at, until_at) VALUES ('web1', 99, '0.0.0.0/1', 'x', \
             'x', 0, 'detector', '{}', 0, 9999999999)",
        )
        .output()
        .unwrap();
    assert!(!forged.status.success());
    let err = String::from_utf8_lossy(&forged.stderr);
    assert!(err.contains("row-level security"), "{err}");
    // A fleet-wide lift by web2 reaches web1's feed, in order, once.
    let lifted = web2
        .lift(&"192.0.2.31".parse().unwrap(), now)
        .unwrap()
        .decisions;
    assert_eq!(lifted.len(), 1);
    let after = web1.changes(got.cursor, now).unwrap();
    assert_eq!(
        decisions(&after.changes),
        vec![("web1".into(), 1, "192.0.2.31".into(), true)]
    );
    assert_eq!(
        after.changes[0],
        Change::Decision(lifted[0].clone()),
        "the feed and the lift agree"
    );
    assert_eq!(web2.active(now).unwrap().decisions.len(), 1);
    // A list for the whole fleet: 100,000 prefixes in one transaction.
    let prefixes: Vec<rampart_prefix::Prefix> = (0..100_000u32)
        .map(|i| {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i * 4);
            rampart_prefix::Prefix::new(IpAddr::V4(ip), 30).unwrap()
        })
        .collect();
    let seq = web1.import_list("spamhaus", &prefixes, "drop.txt").unwrap();
    let feed = web2.changes(after.cursor, now).unwrap();
    assert_eq!(
        feed.changes,
        vec![Change::List {
            name: "spamhaus".into(),
            seq
        }]
    );
    let (s, mut read) = web2.list("spamhaus").unwrap().unwrap();
    read.sort();
    let mut want = prefixes.clone();
    want.sort();
    assert_eq!((s, read.len()), (seq, want.len()));
    assert_eq!(read, want);
    web2.heartbeat(feed.cursor).unwrap();
    web1.heartbeat(0).unwrap();
    let status = admin.status(now).unwrap();
    let names: Vec<(&str, i64, i64)> = status
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.lag, s.running))
        .collect();
    assert_eq!(names, vec![("web1", status.head, 1), ("web2", 0, 0)]);
    assert_eq!(status.lists[0].entries, 100_000);
    // A refusal is reported under the refusing server's name.
    web2.report_refusal(
        first.key(),
        &Target::Prefix("0.0.0.0/1".parse().unwrap()),
        "wider than a /16",
    )
    .unwrap();
    let status = admin.status(now).unwrap();
    assert_eq!(status.refusals[0].server, "web2");
}

/// TLS as the URL asks it: the server's certificate must chain to `ca_file` and name the
/// host; a certificate from another CA is refused before any password is sent.
#[test]
fn tls_verifies_the_certificate_and_the_password_file_is_roots_only() {
    if !have_pg() || !require(&[Need::Tool("openssl"), Need::Tool("ip")]) {
        return;
    }
    let ns = Netns::fresh("fleet-tls");
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::for_names(dir.path(), "db", &["IP:127.0.0.1"]);
    let other = Pki::for_names(dir.path(), "other", &["IP:127.0.0.1"]);
    let pg = Postgres::start(PgOptions {
        netns: Some(ns.name().to_string()),
        listen: Some("127.0.0.1".parse().unwrap()),
        tls: Some((pki.cert.clone(), pki.key.clone())),
    });
    let mut admin = Fleet::connect(&unix_config(&pg, PG_ADMIN)).unwrap();
    admin.init().unwrap();
    server_role(&pg, "web1");
    let pw = dir.path().join("fleet.password");
    std::fs::write(&pw, "pw-web1\n").unwrap();
    set_mode(&pw, 0o600);
    let config = |ca: &Path| FleetConfig {
        url: format!("postgresql://web1@127.0.0.1:{}/rampart", pg.port),
        password_file: Some(pw.clone()),
        ca_file: Some(ca.to_path_buf()),
        min_prefix_v4: 16,
        min_prefix_v6: 48,
    };
    let good = config(&pki.ca);
    let ok = ns.run_in(move || Fleet::connect(&good).map(|mut f| f.check_schema().is_ok()));
    assert!(ok.unwrap(), "TLS with the right CA");
    let bad = config(&other.ca);
    let err = ns
        .run_in(move || Fleet::connect(&bad).map(drop))
        .unwrap_err()
        .to_string();
    assert!(err.contains("certificate verify failed"), "{err}");
    let mut wrong_pw: PathBuf = dir.path().join("wrong.password");
    std::fs::write(&wrong_pw, "nope\n").unwrap();
    set_mode(&wrong_pw, 0o600);
    let mut c = config(&pki.ca);
    c.password_file = Some(wrong_pw.clone());
    let err = ns
        .run_in(move || Fleet::connect(&c).map(drop))
        .unwrap_err()
        .to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    set_mode(&wrong_pw, 0o644);
    let err = rampart_fleet::read_password(&wrong_pw)
        .unwrap_err()
        .to_string();
    assert!(err.contains("chmod 600"), "{err}");
    wrong_pw.set_extension("missing");
    assert!(rampart_fleet::read_password(&wrong_pw).is_err());
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}
