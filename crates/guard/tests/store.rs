//! The SQLite store: what is recorded reads back, survives a reopen and a `kill -9`.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use rampart_guard::{
    Decision, DecisionStore, Evidence, Origin, Reason, SqliteStore, StoredDecision, Target,
};

const T0: u64 = 1_800_000_000;

fn decision(target: &str, start: u64, secs: u64) -> Decision {
    let target = if target.contains('/') {
        Target::Prefix(target.parse().unwrap())
    } else {
        Target::Addr(target.parse().unwrap())
    };
    Decision {
        target,
        reason: Reason {
            detector: "sshd".into(),
            summary: "5 sshd failures in 10m (limit 5)".into(),
            offence: 0,
        },
        evidence: Evidence {
            count: 5,
            window_secs: 600,
            samples: vec![
                "Dec  6 18:00:00 web1 sshd[812]: Failed password for root from 198.51.100.9 port 4711 ssh2".into(),
                "with \\x1b escapes".into(),
            ],
        },
        origin: Origin::Detector,
        start,
        until: start + secs,
        fleet: None,
    }
}

fn targets(v: &[StoredDecision]) -> Vec<String> {
    v.iter()
        .map(|s| match s.decision.target {
            Target::Addr(a) => a.to_string(),
            Target::Prefix(p) => p.to_string(),
        })
        .collect()
}

#[test]
fn record_active_history_lift() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("guard.db")).unwrap();
    let a = store.record(&decision("198.51.100.9", T0, 600)).unwrap();
    let b = store.record(&decision("2001:db8::9", T0 + 1, 60)).unwrap();
    let c = store
        .record(&decision("198.51.100.0/24", T0 + 2, 600))
        .unwrap();
    let d = store
        .record(&decision("198.51.100.9", T0 + 700, 2400))
        .unwrap();
    assert!(a < b && b < c && c < d);

    // Read back whole.
    let active = store.active(T0 + 10).unwrap();
    assert_eq!(
        targets(&active),
        ["198.51.100.9", "2001:db8::9", "198.51.100.0/24"]
    );
    assert_eq!(active[0].decision, decision("198.51.100.9", T0, 600));
    assert_eq!(active[0].id, a);
    assert_eq!(active[0].lifted, None);
    // Expiry: `until` is exclusive.
    assert_eq!(
        targets(&store.active(T0 + 61).unwrap()),
        ["198.51.100.9", "198.51.100.0/24"]
    );
    assert_eq!(
        targets(&store.active(T0 + 600).unwrap()),
        ["198.51.100.0/24"]
    );

    // History of an address: its own decisions and the prefixes holding it, newest first.
    let ip: IpAddr = "198.51.100.9".parse().unwrap();
    let h = store.history(&Target::Addr(ip), 10).unwrap();
    assert_eq!(h.iter().map(|s| s.id).collect::<Vec<_>>(), [d, c, a]);
    assert_eq!(store.history(&Target::Addr(ip), 1).unwrap().len(), 1);
    let other: IpAddr = "203.0.113.1".parse().unwrap();
    assert!(store.history(&Target::Addr(other), 10).unwrap().is_empty());

    // since: running and recently ended ones, for restore.
    assert_eq!(store.since(T0 + 100).unwrap().len(), 3);

    // Lift: no longer active, kept in history with its time; lifting twice keeps the first.
    store.lift(&[a, c], T0 + 20).unwrap();
    store.lift(&[a], T0 + 30).unwrap();
    assert_eq!(targets(&store.active(T0 + 21).unwrap()), ["2001:db8::9"]);
    let h = store.history(&Target::Addr(ip), 10).unwrap();
    assert_eq!(h[2].lifted, Some(T0 + 20));
    let lifted = store.lifted_since(T0 + 20).unwrap();
    assert_eq!(lifted.iter().map(|s| s.id).collect::<Vec<_>>(), [a, c]);
    assert!(store.lifted_since(T0 + 21).unwrap().is_empty());
    // Prefix unban finds the addresses inside it.
    let within = store
        .active_within(&Target::Prefix("2001:db8::/32".parse().unwrap()), T0 + 21)
        .unwrap();
    assert_eq!(targets(&within), ["2001:db8::9"]);
}

#[test]
fn positions() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("guard.db")).unwrap();
    assert_eq!(store.position("file:/var/log/auth.log").unwrap(), None);
    store
        .set_position("file:/var/log/auth.log", "{\"inode\":5,\"offset\":10}")
        .unwrap();
    store
        .set_position("file:/var/log/auth.log", "{\"inode\":5,\"offset\":99}")
        .unwrap();
    store.set_position("journal:ssh.service", "s=abc").unwrap();
    assert_eq!(
        store.position("file:/var/log/auth.log").unwrap().as_deref(),
        Some("{\"inode\":5,\"offset\":99}")
    );
    drop(store);
    let store = SqliteStore::open(&dir.path().join("guard.db")).unwrap();
    assert_eq!(
        store.position("journal:ssh.service").unwrap().as_deref(),
        Some("s=abc")
    );
}

#[test]
fn reopen_after_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let ids = store
        .record_batch(&[
            decision("198.51.100.1", T0, 600),
            decision("198.51.100.2", T0, 600),
        ])
        .unwrap();
    assert_eq!(ids.len(), 2);
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        targets(&store.active(T0).unwrap()),
        ["198.51.100.1", "198.51.100.2"]
    );
    // Two handles at once (the guard and the CLI): each sees the other's writes.
    let mut other = SqliteStore::open(&path).unwrap();
    other.record(&decision("198.51.100.3", T0, 600)).unwrap();
    assert_eq!(store.active(T0).unwrap().len(), 3);
}

/// Created private; refused when another user could have changed it, or behind a link.
#[test]
fn private_and_trusted() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("guard.db");
    let mut store = SqliteStore::open(&path).unwrap();
    store.record(&decision("198.51.100.1", T0, 600)).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&path.with_extension("db-wal")), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    drop(store);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).unwrap();
    let e = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(
        e.contains("writable by its group") && e.contains("chmod go-w"),
        "{e}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("state").join("link.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let e = SqliteStore::open(&link).unwrap_err().to_string();
    assert!(e.contains("link.db: is a symbolic link"), "{e}");
}

#[test]
fn open_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A file that is no database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let e = SqliteStore::open(&junk).unwrap_err();
    assert!(e.to_string().contains("junk.db"), "{e}");
}

/// The child half of `kill_9_loses_nothing_committed`: records, says so, then waits to be
/// killed. Does nothing unless run by it.
#[test]
fn child_records_then_waits() {
    let Ok(path) = std::env::var("RAMPART_GUARD_STORE_CHILD") else {
        return;
    };
    let mut store = SqliteStore::open(Path::new(&path)).unwrap();
    for i in 0..20u64 {
        let id = store
            .record(&decision(&format!("198.51.100.{i}"), T0 + i, 600))
            .unwrap();
        println!("recorded {id}");
    }
    store
        .set_position("file:/var/log/auth.log", "after-20")
        .unwrap();
    println!("done");
    // Killed here; bounded in case the parent died first.
    std::thread::sleep(std::time::Duration::from_secs(30));
}

/// A guard process killed with SIGKILL right after its records returned: every one of
/// them is there when the database is opened again.
#[test]
fn kill_9_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_records_then_waits",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RAMPART_GUARD_STORE_CHILD", &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ids = Vec::new();
    let mut line = String::new();
    // The child's harness prints its own text before ours on the first line.
    while out.read_line(&mut line).unwrap() > 0 {
        if let Some((_, id)) = line.trim_end().split_once("recorded ") {
            ids.push(id.parse::<i64>().unwrap());
        }
        if line.trim_end().ends_with("done") {
            break;
        }
        line.clear();
    }
    assert_eq!(ids.len(), 20, "the child recorded");
    // SIGKILL: no destructor, no checkpoint, the WAL as it is.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        path.with_extension("db-wal").exists(),
        "the write-ahead log is left behind"
    );
    let store = SqliteStore::open(&path).unwrap();
    let active = store.active(T0 + 20).unwrap();
    assert_eq!(active.iter().map(|s| s.id).collect::<Vec<_>>(), ids);
    assert_eq!(
        store.position("file:/var/log/auth.log").unwrap().as_deref(),
        Some("after-20")
    );
}

/// A database written by the first schema (before fleets) opens, keeps its rows, and then
/// records decisions received from the fleet with their key.
#[test]
fn a_schema_1_database_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE decisions (id INTEGER PRIMARY KEY, target TEXT NOT NULL,
                 is_prefix INTEGER NOT NULL, detector TEXT NOT NULL, summary TEXT NOT NULL,
                 offence INTEGER NOT NULL, origin TEXT NOT NULL, start INTEGER NOT NULL,
                 until INTEGER NOT NULL, lifted INTEGER, evidence TEXT NOT NULL);
             CREATE TABLE positions (observer TEXT PRIMARY KEY, position TEXT NOT NULL);
             INSERT INTO decisions VALUES (1, '198.51.100.9', 0, 'sshd', 's', 0, 'detector',
                 1800000000, 1800000600, NULL, '{\"count\":5,\"window_secs\":600,\"samples\":[]}');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut store = SqliteStore::open(&path).unwrap();
    let old = store.active(T0 + 1).unwrap();
    assert_eq!(targets(&old), vec!["198.51.100.9"]);
    assert_eq!(old[0].decision.fleet, None);
    let mut d = decision("192.0.2.31", T0, 600);
    d.origin = Origin::Fleet;
    d.fleet = Some(rampart_guard::FleetRef {
        server: "web2".into(),
        id: 41,
    });
    store.record(&d).unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    let got = store.active(T0 + 1).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].decision, d, "the fleet's key reads back");
}
