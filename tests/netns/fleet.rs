//! A fleet of three lab servers, each with its own guard, sharing bans through a real
//! PostgreSQL (the Debian package's server, started by the test in a temporary directory
//! inside the lab's `db` namespace, TLS with a test CA, one role and password per
//! server): a ban on one reaches the others before the attacker's next probe; an outage
//! leaves every ban in force and the banning server banning; the others catch up on
//! reconnect without duplicates; forged decisions are refused by the server they target;
//! a fleet unban and a fleet list reach every server.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rampart_lab::flood::{FloodKind, FloodSpec};
use rampart_lab::topology::{self, Host, Kind};
use rampart_lab::Lab;
use rampart_testkit::{pg_bin, require, run_in_named, Need, PgOptions, Pki, Postgres};

use crate::guard::{guard_in, kernel_ban, Files, GuardProc};
use crate::lab;

const SERVERS: [&str; 3] = ["server-a", "server-b", "server-c"];
const DB: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 5));
const ATTACKER1: &str = "192.0.2.31";
const ATTACKER2: &str = "192.0.2.32";
/// How long a test waits for what should happen within a second or two.
const PATIENCE: Duration = Duration::from_secs(15);
/// The attacker probes each server once a second: the ban must be there first.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

const fn v6(net: u16, host: u16) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, net, 0, 0, 0, host)
}

const HOSTS: &[Host] = &[
    Host {
        role: "server-a",
        kind: Kind::Server,
        v4: std::net::Ipv4Addr::new(203, 0, 113, 11),
        v6: v6(0x113, 0x11),
    },
    Host {
        role: "server-b",
        kind: Kind::Server,
        v4: std::net::Ipv4Addr::new(203, 0, 113, 12),
        v6: v6(0x113, 0x12),
    },
    Host {
        role: "server-c",
        kind: Kind::Server,
        v4: std::net::Ipv4Addr::new(203, 0, 113, 13),
        v6: v6(0x113, 0x13),
    },
    Host {
        role: "db",
        kind: Kind::Server,
        v4: std::net::Ipv4Addr::new(203, 0, 113, 5),
        v6: v6(0x113, 0x5),
    },
    Host {
        role: "attacker1",
        kind: Kind::Attacker,
        v4: std::net::Ipv4Addr::new(192, 0, 2, 31),
        v6: v6(0x2, 0x31),
    },
    Host {
        role: "attacker2",
        kind: Kind::Attacker,
        v4: std::net::Ipv4Addr::new(192, 0, 2, 32),
        v6: v6(0x2, 0x32),
    },
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn role_of(server: &str) -> String {
    server.replace('-', "_")
}

fn addr_of(role: &str) -> IpAddr {
    IpAddr::V4(HOSTS.iter().find(|h| h.role == role).unwrap().v4)
}

/// The fleet: the lab, its database, each server's files and guard.
struct Fleet {
    guards: Vec<GuardProc>,
    files: Vec<Files>,
    pg: Postgres,
    _pki_dir: tempfile::TempDir,
    lab: Lab,
}

impl Fleet {
    fn up(tag: &str) -> Fleet {
        let prefix = format!("{}{}-{tag}", lab::NS_PREFIX, std::process::id());
        let _ = lab::remove_lab(&prefix);
        let lab = topology::build(&prefix, HOSTS).unwrap();
        let pki_dir = tempfile::tempdir().unwrap();
        let pki = Pki::for_names(pki_dir.path(), "db", &["IP:203.0.113.5"]);
        let pg = Postgres::start(PgOptions {
            netns: Some(lab.ns("db").unwrap().to_string()),
            listen: Some(DB),
            tls: Some((pki.cert.clone(), pki.key.clone())),
        });
        // The schema, by `rampart fleet init` as the database's owner (over its socket).
        let socket = pg.socket_dir().display().to_string().replace('/', "%2F");
        let init = lab
            .command(
                "server-a",
                env!("CARGO_BIN_EXE_rampart"),
                &[
                    "fleet".into(),
                    "init".into(),
                    "--url".into(),
                    format!("postgresql://admin@{socket}:{}/rampart", pg.port),
                    "--policy".into(),
                    "/nonexistent".into(),
                ],
            )
            .unwrap()
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "fleet init: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let said = String::from_utf8_lossy(&init.stdout);
        assert!(said.contains("applied migration 1"), "{said}");
        let mut files = Vec::new();
        for s in SERVERS {
            let role = role_of(s);
            pg.psql(
                "rampart",
                &format!("CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}' IN ROLE rampart_server"),
            );
            let state = std::env::temp_dir().join(format!("{}-{s}-guard-state", lab.id()));
            let policy = format!(
                "[guard]\nconntrack = false\n[guard.connections]\nlimit = 50\n\
                 [guard.new_rate]\nenabled = false\n\
                 [fleet]\nurl = \"postgresql://{role}@203.0.113.5:{}/rampart\"\n\
                 password_file = \"{}\"\nca_file = \"{}\"\n",
                pg.port,
                state.join("fleet.password").display(),
                pki.ca.display()
            );
            let f = Files::new(&format!("{}-{s}", lab.id()), &policy);
            let pw = f.state.join("fleet.password");
            std::fs::write(&pw, format!("pw-{role}\n")).unwrap();
            std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            files.push(f);
        }
        let mut fleet = Fleet {
            guards: Vec::new(),
            files,
            pg,
            _pki_dir: pki_dir,
            lab,
        };
        for (i, s) in SERVERS.iter().enumerate() {
            let g = guard_in(&fleet.lab, s, &fleet.files[i]);
            g.wait_log("the fleet connected", |l| l.contains("fleet: connected"));
            fleet.guards.push(g);
        }
        fleet
    }

    /// `rampart ARGS` on server `i`, with its state directory, and its policy for what
    /// reaches the fleet; panics unless it succeeds.
    fn rampart(&self, i: usize, args: &[&str]) -> String {
        let (ok, out, err) = self.try_rampart(i, args);
        assert!(ok, "{}: rampart {}: {err}", SERVERS[i], args.join(" "));
        out
    }

    /// The same, its success, standard output and standard error.
    fn try_rampart(&self, i: usize, args: &[&str]) -> (bool, String, String) {
        let mut argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if args[0] == "fleet" || args.contains(&"--fleet") {
            argv.push("--policy".into());
            argv.push(self.files[i].policy.display().to_string());
        }
        if args[0] != "fleet" {
            argv.push("--state-dir".into());
            argv.push(self.files[i].state.display().to_string());
        }
        let out = self
            .lab
            .command(SERVERS[i], env!("CARGO_BIN_EXE_rampart"), &argv)
            .unwrap()
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ns(&self, i: usize) -> String {
        self.lab.ns(SERVERS[i]).unwrap().to_string()
    }

    /// Waits until `ip`'s ban on server `i` is `want` (in the kernel); the time it took.
    fn wait_ban(&self, i: usize, ip: IpAddr, want: bool) -> Duration {
        let ns = self.ns(i);
        let start = Instant::now();
        loop {
            if kernel_ban(&ns, ip).is_some() == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{}: the ban of {ip} is not {} after {PATIENCE:?}:\n{}",
                SERVERS[i],
                if want { "there" } else { "gone" },
                self.guards[i].log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn logs(&self) -> String {
        self.guards
            .iter()
            .zip(SERVERS)
            .map(|(g, s)| format!("--- {s}\n{}", g.log()))
            .collect()
    }
}

/// A flood of connections from `from` to server `to`'s port 80 (100/s, held).
fn flood(lab: &Lab, from: &str, to: &str) {
    let spec = FloodSpec {
        kind: FloodKind::Connect,
        dst: SocketAddr::new(addr_of(to), 80),
        rate: 100,
        duration: Duration::from_secs(2),
        count: Some(200),
        spoof: None,
        seed: 11,
    };
    lab.flood(from, &spec).unwrap();
}

/// Whether `from` can open a connection to server `to`'s port 80 (the probe).
fn probe(lab: &Lab, from: &str, to: &str) -> bool {
    let dst = SocketAddr::new(addr_of(to), 80);
    run_in_named(lab.ns(from).unwrap(), move || {
        TcpStream::connect_timeout(&dst, Duration::from_millis(300)).is_ok()
    })
}

#[test]
fn a_ban_on_one_server_reaches_the_fleet_and_an_outage_opens_nothing() {
    if !require(&[
        Need::Root,
        Need::Tool("nft"),
        Need::Tool("openssl"),
        Need::Tool("runuser"),
        Need::Check(
            "PostgreSQL (apt-get install postgresql)",
            pg_bin().is_some(),
        ),
    ]) {
        return;
    }
    let fleet = Fleet::up("fleet");
    let _http: Vec<_> = SERVERS
        .iter()
        .map(|s| fleet.lab.serve_http(s, 80).unwrap())
        .collect();
    let (a1, a2) = (ip(ATTACKER1), ip(ATTACKER2));
    for s in SERVERS {
        assert!(
            probe(&fleet.lab, "attacker1", s),
            "{s} serves before the attack"
        );
    }

    // 1. attacker1 floods server A; A's guard bans it; B and C have the ban before the
    //    attacker's next probe (one second later).
    flood(&fleet.lab, "attacker1", "server-a");
    fleet.wait_ban(0, a1, true);
    let banned_on_a = Instant::now();
    let on_b = fleet.wait_ban(1, a1, true);
    let on_c = fleet.wait_ban(2, a1, true);
    eprintln!("propagation A -> B {on_b:?}, A -> C {on_c:?} (measured from A's kernel ban)");
    std::thread::sleep(PROBE_INTERVAL.saturating_sub(banned_on_a.elapsed()));
    for s in ["server-b", "server-c"] {
        assert!(
            !probe(&fleet.lab, "attacker1", s),
            "attacker1 reached {s} at its next probe:\n{}",
            fleet.logs()
        );
    }
    assert!(
        probe(&fleet.lab, "attacker2", "server-b"),
        "attacker2 is not banned"
    );
    fleet.guards[1].wait_log("the fleet's ban, with its server", |l| {
        l.contains("from=server_a")
    });

    // 2. PostgreSQL stops mid-attack: every ban stays; A bans attacker2 by itself.
    fleet.pg.stop();
    for g in &fleet.guards {
        g.wait_log("the connection lost", |l| {
            l.contains("fleet: connection lost") || l.contains("fleet: connecting")
        });
    }
    flood(&fleet.lab, "attacker2", "server-a");
    fleet.wait_ban(0, a2, true);
    for (i, s) in SERVERS.iter().enumerate() {
        assert!(kernel_ban(&fleet.ns(i), a1).is_some(), "{s}: lost a1's ban");
    }
    assert!(kernel_ban(&fleet.ns(1), a2).is_none() && kernel_ban(&fleet.ns(2), a2).is_none());

    // 3. PostgreSQL back: B and C catch up, nothing doubled.
    fleet.pg.run();
    fleet.wait_ban(1, a2, true);
    fleet.wait_ban(2, a2, true);
    let count = fleet
        .pg
        .psql("rampart", "SELECT count(*) FROM rampart_decisions");
    assert_eq!(count.trim(), "2", "one row per decision:\n{}", fleet.logs());
    for (i, s) in SERVERS.iter().enumerate().skip(1) {
        let bans = fleet.rampart(i, &["bans", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&bans).unwrap();
        let targets: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["target"].as_str().unwrap())
            .collect();
        assert_eq!(targets.len(), 2, "{s}: {bans}");
        assert!(
            targets.contains(&ATTACKER1) && targets.contains(&ATTACKER2),
            "{bans}"
        );
    }

    // 4. Forged decisions naming B's own address, 0.0.0.0/1 and loopback, published under
    //    server A's name (as a compromised A could): B refuses them and says so. A row
    //    that is no decision at all is passed over, and the feed goes on.
    fleet.pg.psql(
        "rampart",
        "SET ROLE server_a; INSERT INTO rampart_decisions (origin_server, origin_id, target, \
         detector, summary, offence, origin, evidence, start_at, until_at) VALUES \
         ('server_a', 9000, '198.51.100.99/32', 'forged', 'forged', 0, 'detector', '{}', \
          extract(epoch from now())::bigint, extract(epoch from now())::bigint + 600), \
         ('server_a', 9001, '203.0.113.12/32', 'forged', 'forged', 0, 'detector', \
          '{\"count\": 1, \"window_secs\": 0, \"samples\": []}', \
          extract(epoch from now())::bigint, extract(epoch from now())::bigint + 600), \
         ('server_a', 9002, '0.0.0.0/1', 'forged', 'forged', 0, 'detector', \
          '{\"count\": 1, \"window_secs\": 0, \"samples\": []}', \
          extract(epoch from now())::bigint, extract(epoch from now())::bigint + 600), \
         ('server_a', 9003, '127.0.0.1/32', 'forged', 'forged', 0, 'detector', \
          '{\"count\": 1, \"window_secs\": 0, \"samples\": []}', \
          extract(epoch from now())::bigint, extract(epoch from now())::bigint + 600)",
    );
    fleet.guards[1].wait_log("the refusals", |l| {
        l.contains("server_a#9001 refused")
            && l.contains("server_a#9002 refused")
            && l.contains("server_a#9003 refused")
    });
    let log_b = fleet.guards[1].log();
    assert!(
        log_b.contains("passed over an unreadable change: fleet decision #"),
        "{log_b}"
    );
    assert!(kernel_ban(&fleet.ns(1), ip("198.51.100.99")).is_none());
    // Reported to the fleet by B's publisher, a moment after B's log says it.
    let start = Instant::now();
    let (status, v) = loop {
        let status = fleet.rampart(1, &["fleet", "status", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&status).unwrap();
        let refused: Vec<(String, i64)> = v["refusals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["server"] == "server_b")
            .map(|r| {
                let target = r["target"].as_str().unwrap().to_string();
                (target, r["origin_id"].as_i64().unwrap())
            })
            .collect();
        if refused.contains(&("203.0.113.12/32".into(), 9001))
            && refused.contains(&("0.0.0.0/1".into(), 9002))
        {
            break (status, v);
        }
        assert!(
            start.elapsed() < PATIENCE,
            "refusals not reported: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // The same, as an administrator reads it.
    let text = fleet.rampart(1, &["fleet", "status"]);
    assert!(text.contains("this server: server_b"), "{text}");
    assert!(text.contains("refused decisions (latest first):"), "{text}");
    assert!(
        text.contains("server_b refused server_a#9001 (203.0.113.12/32)"),
        "{text}"
    );
    let bans = fleet.rampart(1, &["bans", "list", "--fleet"]);
    assert!(
        bans.lines()
            .any(|l| l.starts_with(ATTACKER2) && l.contains("server_a")),
        "{bans}"
    );
    assert!(!probe(&fleet.lab, "attacker2", "server-b"));
    assert!(kernel_ban(&fleet.ns(1), addr_of("server-b")).is_none());
    let servers: Vec<&str> = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        servers,
        vec!["server_a", "server_b", "server_c"],
        "{status}"
    );

    // 5. A fleet unban on C lifts attacker1 everywhere.
    let said = fleet.rampart(2, &["bans", "unban", ATTACKER1, "--fleet"]);
    assert!(
        said.contains("lifted fleet-wide: 1 ban decided by server_a"),
        "{said}"
    );
    for i in 0..3 {
        fleet.wait_ban(i, a1, false);
    }
    assert!(
        kernel_ban(&fleet.ns(1), a2).is_some(),
        "only attacker1 was lifted"
    );

    // 6. One list for the fleet (FireHOL's format), imported on A, loaded everywhere.
    let list = fleet.files[0].state.join("firehol_level1.netset");
    std::fs::write(
        &list,
        "#\n# firehol_level1\n#\n# Maintainer: FireHOL\n#\n100.64.0.0/10\n198.18.0.0/15\n\
         192.0.2.128/25\n",
    )
    .unwrap();
    let said = fleet.rampart(
        0,
        &[
            "block",
            "import",
            list.to_str().unwrap(),
            "--list",
            "firehol",
            "--fleet",
        ],
    );
    assert!(said.contains("stored in the fleet"), "{said}");
    for (i, s) in SERVERS.iter().enumerate().skip(1) {
        let start = Instant::now();
        loop {
            // Exit status 0: blocked.
            let (blocked, out, _) = fleet.try_rampart(i, &["block", "test", "100.64.1.1"]);
            if blocked && out.contains("firehol") {
                break;
            }
            assert!(start.elapsed() < PATIENCE, "{s}: {out}\n{}", fleet.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let lists = fleet.rampart(1, &["block", "lists", "--json"]);
    assert!(lists.contains("firehol"), "{lists}");
}
