//! [`SqliteStore`]: decisions and observer positions in one SQLite file (WAL), shared by
//! the guard and the CLI.
//!
//! Durability: one transaction per [`DecisionStore::record`] (or per
//! [`SqliteStore::record_batch`]), `synchronous = FULL`: once a call returns, its rows are
//! in the write-ahead log on disk; a `kill -9` (or a power cut) loses nothing committed.
//! WAL lets `rampart bans list` read while the guard writes; a writer waits up to
//! [`BUSY_TIMEOUT`] for the other.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};

use super::{DecisionStore, StoreError, StoredDecision};
use crate::decision::{Decision, Evidence, Origin, Reason, Target};

/// The guard's database file, in the state directory (/var/lib/rampart/guard.db).
pub const DB_FILE: &str = "guard.db";

/// How long one process waits for the other's write to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema's version (`PRAGMA user_version`). 2: the fleet's key of a decision
/// received from another server (`fleet_server`, `fleet_id`).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    is_prefix INTEGER NOT NULL,
    detector TEXT NOT NULL,
    summary TEXT NOT NULL,
    offence INTEGER NOT NULL,
    origin TEXT NOT NULL,
    start INTEGER NOT NULL,
    until INTEGER NOT NULL,
    lifted INTEGER,
    evidence TEXT NOT NULL,
    fleet_server TEXT,
    fleet_id INTEGER
);
CREATE INDEX IF NOT EXISTS decisions_until ON decisions (until);
CREATE INDEX IF NOT EXISTS decisions_target ON decisions (target);
CREATE INDEX IF NOT EXISTS decisions_lifted ON decisions (lifted) WHERE lifted IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS decisions_fleet ON decisions (fleet_server, fleet_id)
    WHERE fleet_server IS NOT NULL;
CREATE TABLE IF NOT EXISTS positions (
    observer TEXT PRIMARY KEY,
    position TEXT NOT NULL
);
";

const COLUMNS: &str =
    "id, target, detector, summary, offence, origin, start, until, lifted, evidence, fleet_server, fleet_id";

/// Schema 1 to 2: the fleet's key columns (the index comes with [`SCHEMA`]).
const MIGRATE_1_TO_2: &str = "
ALTER TABLE decisions ADD COLUMN fleet_server TEXT;
ALTER TABLE decisions ADD COLUMN fleet_id INTEGER;
";

/// The embedded store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: String,
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (mode 0600, its directory 0700, as every
    /// state file) when missing. An existing one is refused when another user could have
    /// changed it (its bans become the firewall at the guard's restart), and a symbolic
    /// link at `path` is never followed.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let name = path.display().to_string();
        let fail = |message: String| StoreError {
            path: name.clone(),
            message,
        };
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                rampart_safeio::open_private(path, rampart_safeio::Private::Lock)
                    .map_err(|e| fail(e.to_string()))?;
            }
            Err(e) => return Err(fail(e.to_string())),
            Ok(md) if md.file_type().is_symlink() => {
                return Err(fail(
                    "is a symbolic link, never followed: name the database file itself".into(),
                ))
            }
            Ok(_) => rampart_safeio::check_trusted(path).map_err(|e| fail(e.to_string()))?,
        }
        // SQLite makes its -wal and -shm files with the database's mode.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| err(&name, e))?;
        let store = SqliteStore { conn, path: name };
        store.init()?;
        Ok(store)
    }

    fn init(&self) -> Result<(), StoreError> {
        let c = &self.conn;
        c.busy_timeout(BUSY_TIMEOUT).map_err(|e| self.err(e))?;
        let mode: String = c
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError {
                path: self.path.clone(),
                message: format!("cannot use write-ahead logging (journal mode {mode})"),
            });
        }
        c.execute_batch("PRAGMA synchronous = FULL;")
            .map_err(|e| self.err(e))?;
        let version: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError {
                path: self.path.clone(),
                message: format!(
                    "written by a newer rampart (schema {version}, this one knows {SCHEMA_VERSION}): upgrade rampart"
                ),
            });
        }
        if version == 1 {
            c.execute_batch(MIGRATE_1_TO_2).map_err(|e| self.err(e))?;
        }
        c.execute_batch(SCHEMA).map_err(|e| self.err(e))?;
        c.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The database's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Records every decision of `ds` in one transaction; their ids, in order.
    pub fn record_batch(&mut self, ds: &[Decision]) -> Result<Vec<i64>, StoreError> {
        let tx = self.conn.transaction().map_err(|e| err(&self.path, e))?;
        let mut ids = Vec::with_capacity(ds.len());
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO decisions (target, is_prefix, detector, summary, offence, origin, start, until, evidence, fleet_server, fleet_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(|e| err(&self.path, e))?;
            for d in ds {
                let evidence = serde_json::to_string(&d.evidence).map_err(|e| StoreError {
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
                stmt.execute(params![
                    target_text(&d.target),
                    matches!(d.target, Target::Prefix(_)),
                    d.reason.detector,
                    d.reason.summary,
                    d.reason.offence,
                    origin_text(d.origin),
                    to_i64(d.start),
                    to_i64(d.until),
                    evidence,
                    d.fleet.as_ref().map(|f| f.server.as_str()),
                    d.fleet.as_ref().map(|f| f.id),
                ])
                .map_err(|e| err(&self.path, e))?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit().map_err(|e| err(&self.path, e))?;
        Ok(ids)
    }

    /// The running decisions whose target is `target` or lies inside it (an unban of a
    /// prefix lifts the addresses in it too), at `now`.
    pub fn active_within(
        &self,
        target: &Target,
        now: u64,
    ) -> Result<Vec<StoredDecision>, StoreError> {
        Ok(self
            .active(now)?
            .into_iter()
            .filter(|s| within(&s.decision.target, target))
            .collect())
    }

    fn query(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<StoredDecision>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(args, row_to_stored)
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            match r.map_err(|e| self.err(e))? {
                Ok(s) => out.push(s),
                Err(message) => {
                    return Err(StoreError {
                        path: self.path.clone(),
                        message,
                    })
                }
            }
        }
        Ok(out)
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        err(&self.path, e)
    }
}

impl DecisionStore for SqliteStore {
    fn record(&mut self, d: &Decision) -> Result<i64, StoreError> {
        Ok(self.record_batch(std::slice::from_ref(d))?[0])
    }

    fn active(&self, now: u64) -> Result<Vec<StoredDecision>, StoreError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM decisions WHERE start <= ?1 AND until > ?1 AND lifted IS NULL ORDER BY start, id"),
            params![to_i64(now)],
        )
    }

    fn since(&self, time: u64) -> Result<Vec<StoredDecision>, StoreError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM decisions WHERE until > ?1 ORDER BY start, id"),
            params![to_i64(time)],
        )
    }

    fn lifted_since(&self, time: u64) -> Result<Vec<StoredDecision>, StoreError> {
        self.query(
            &format!("SELECT {COLUMNS} FROM decisions WHERE lifted >= ?1 ORDER BY lifted, id"),
            params![to_i64(time)],
        )
    }

    fn history(&self, target: &Target, limit: usize) -> Result<Vec<StoredDecision>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // The target's own rows, and prefix rows (few) filtered here for containment.
        let mut rows = self.query(
            &format!("SELECT {COLUMNS} FROM decisions WHERE target = ?1 OR is_prefix = 1 ORDER BY start DESC, id DESC"),
            params![target_text(target)],
        )?;
        rows.retain(|s| s.decision.target == *target || within(target, &s.decision.target));
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    fn lift(&mut self, ids: &[i64], now: u64) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(|e| err(&self.path, e))?;
        {
            let mut stmt = tx
                .prepare_cached("UPDATE decisions SET lifted = ?1 WHERE id = ?2 AND lifted IS NULL")
                .map_err(|e| err(&self.path, e))?;
            for id in ids {
                stmt.execute(params![to_i64(now), id])
                    .map_err(|e| err(&self.path, e))?;
            }
        }
        tx.commit().map_err(|e| err(&self.path, e))
    }

    fn position(&self, observer: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT position FROM positions WHERE observer = ?1",
                params![observer],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn set_position(&mut self, observer: &str, position: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO positions (observer, position) VALUES (?1, ?2)
                 ON CONFLICT (observer) DO UPDATE SET position = excluded.position",
                params![observer, position],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

fn within(inner: &Target, outer: &Target) -> bool {
    inner.within(outer)
}

fn err(path: &str, e: rusqlite::Error) -> StoreError {
    StoreError {
        path: path.to_string(),
        message: e.to_string(),
    }
}

fn to_i64(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn target_text(t: &Target) -> String {
    match t {
        Target::Addr(a) => a.to_string(),
        Target::Prefix(p) => p.to_string(),
    }
}

fn origin_text(o: Origin) -> &'static str {
    o.name()
}

/// A row, or why it does not read back (a row another program wrote badly).
fn row_to_stored(r: &Row<'_>) -> rusqlite::Result<Result<StoredDecision, String>> {
    let id: i64 = r.get(0)?;
    let target: String = r.get(1)?;
    let origin: String = r.get(5)?;
    let evidence: String = r.get(9)?;
    let lifted: Option<i64> = r.get(8)?;
    let fleet_server: Option<String> = r.get(10)?;
    let fleet_id: Option<i64> = r.get(11)?;
    let bad = |what: &str| format!("row {id}: bad {what}");
    let target = if target.contains('/') {
        match target.parse() {
            Ok(p) => Target::Prefix(p),
            Err(_) => return Ok(Err(bad("target"))),
        }
    } else {
        match target.parse() {
            Ok(a) => Target::Addr(a),
            Err(_) => return Ok(Err(bad("target"))),
        }
    };
    let origin = match origin.as_str() {
        "detector" => Origin::Detector,
        "kernel" => Origin::Kernel,
        "manual" => Origin::Manual,
        "fleet" => Origin::Fleet,
        _ => return Ok(Err(bad("origin"))),
    };
    let evidence: Evidence = match serde_json::from_str(&evidence) {
        Ok(e) => e,
        Err(_) => return Ok(Err(bad("evidence"))),
    };
    let u = |i: i64| u64::try_from(i).unwrap_or(0);
    Ok(Ok(StoredDecision {
        id,
        decision: Decision {
            target,
            reason: Reason {
                detector: r.get(2)?,
                summary: r.get(3)?,
                offence: r.get(4)?,
            },
            evidence,
            origin,
            start: u(r.get(6)?),
            until: u(r.get(7)?),
            fleet: fleet_server
                .zip(fleet_id)
                .map(|(server, id)| crate::decision::FleetRef { server, id }),
        },
        lifted: lifted.map(u),
    }))
}
