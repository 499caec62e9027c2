//! [`Fleet`]: one server's connection to the shared store: publish its decisions, read
//! every change since its cursor, wait for the next, lift, import lists, report.

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres::config::{Host, SslMode};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};
use postgres_openssl::MakeTlsConnector;
use rampart_guard::{Decision, Evidence, FleetRef, Origin, Reason, Target};
use rampart_prefix::Prefix;
use serde::Serialize;

use crate::config::{FleetConfig, CONNECT_TIMEOUT_SECS};
use crate::schema::{CHANNEL, MIGRATIONS, SCHEMA_TABLE, SCHEMA_VERSION, WRITE_LOCK};

/// A fleet failure: what was being done and why.
#[derive(Debug, thiserror::Error)]
#[error("fleet: {doing}: {why}")]
pub struct FleetError {
    /// What rampart was doing ("connecting to db.example.net", "publishing 3 bans").
    pub doing: String,
    /// Why it failed.
    pub why: String,
}

fn fail(doing: impl Into<String>) -> impl FnOnce(postgres::Error) -> FleetError {
    let doing = doing.into();
    move |e| FleetError {
        why: pg_why(&e),
        doing,
    }
}

/// The server's message (with its detail) rather than the client's "db error".
fn pg_why(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.hint() {
            Some(h) => format!("{} ({h})", db.message()),
            None => db.message().to_string(),
        },
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}

/// A decision as the fleet holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetDecision {
    /// Its place in the order of changes.
    pub seq: i64,
    /// The decision, its `fleet` naming the deciding server and its id there.
    #[serde(flatten)]
    pub decision: Decision,
    /// When it was lifted fleet-wide (seconds since the epoch), and by which server.
    pub lifted: Option<(u64, String)>,
}

impl FleetDecision {
    /// The fleet-wide key.
    pub fn key(&self) -> &FleetRef {
        self.decision
            .fleet
            .as_ref()
            .expect("a fleet decision carries its key")
    }
}

/// One change to enforce, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A decision published or lifted.
    Decision(FleetDecision),
    /// A shared block list was replaced: its name and place in the order.
    List {
        /// The list's name.
        name: String,
        /// Its place in the order of changes.
        seq: i64,
    },
}

/// What [`Fleet::changes`] read: the changes in order, and the cursor that covers them
/// (and every expired decision skipped on the way).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The changes, by `seq`.
    pub changes: Vec<Change>,
    /// The highest `seq` read past.
    pub cursor: i64,
    /// Whether more may follow at once (the limit was reached).
    pub more: bool,
    /// Rows that do not read as decisions (written by something else than rampart), with
    /// why: passed over, never enforced, never blocking the feed.
    pub unreadable: Vec<String>,
}

/// A server of the fleet, as `rampart fleet status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerStatus {
    /// Its role name.
    pub name: String,
    /// When it first and last reported (seconds since the epoch).
    pub first_seen: u64,
    /// When it last reported.
    pub last_seen: u64,
    /// The last change it enforced.
    pub cursor: i64,
    /// Changes it has not enforced yet.
    pub lag: i64,
    /// Its rampart version.
    pub version: String,
    /// Decisions it published that are running now.
    pub running: i64,
    /// Decisions it ever published.
    pub published: i64,
}

/// A shared list, as `fleet status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListStatus {
    /// Its name.
    pub name: String,
    /// Its prefixes.
    pub entries: i64,
    /// Where it was imported from.
    pub source: String,
    /// Who imported it.
    pub imported_by: String,
    /// When (seconds since the epoch).
    pub imported_at: u64,
}

/// A fleet decision some server refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The refusing server.
    pub server: String,
    /// The decision's server and id.
    pub origin_server: String,
    /// The decision's id there.
    pub origin_id: i64,
    /// Its target.
    pub target: String,
    /// Why it was refused.
    pub why: String,
    /// When (seconds since the epoch).
    pub at: u64,
}

/// The whole fleet at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The schema version of the store.
    pub schema: i32,
    /// The last change number.
    pub head: i64,
    /// The servers, by name.
    pub servers: Vec<ServerStatus>,
    /// The shared lists, by name.
    pub lists: Vec<ListStatus>,
    /// The latest refusals, newest first.
    pub refusals: Vec<Refusal>,
}

/// One server's connection to the shared store.
pub struct Fleet {
    client: Client,
    server: String,
    endpoint: String,
}

/// The most changes read at once.
pub const MAX_CHANGES: i64 = 20_000;

/// The password in `path`: owned by root (or this user), writable by nobody else and
/// readable by nobody else; its first line.
pub fn read_password(path: &Path) -> Result<String, FleetError> {
    let doing = format!("reading the password file {}", path.display());
    let bad = |why: String| FleetError {
        doing: doing.clone(),
        why,
    };
    let file = rampart_safeio::open_trusted(path)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("it does not exist".into()))?;
    let mode =
        std::os::unix::fs::MetadataExt::mode(&file.metadata().map_err(|e| bad(e.to_string()))?);
    if mode & 0o077 != 0 {
        return Err(bad(format!(
            "mode {:o}: others may read it; chmod 600 {}",
            mode & 0o7777,
            path.display()
        )));
    }
    let mut text = String::new();
    file.take(4096)
        .read_to_string(&mut text)
        .map_err(|e| bad(e.to_string()))?;
    let pw = text.lines().next().unwrap_or("").to_string();
    if pw.is_empty() {
        return Err(bad("its first line is empty".into()));
    }
    Ok(pw)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn to_i64(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn to_u64(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0)
}

fn origin_from(name: &str) -> Option<Origin> {
    Some(match name {
        "detector" => Origin::Detector,
        "kernel" => Origin::Kernel,
        "manual" => Origin::Manual,
        "fleet" => Origin::Fleet,
        _ => return None,
    })
}

/// `cidr` text as PostgreSQL prints it (`192.0.2.7/32`) to a target.
fn target_from(text: &str) -> Option<Target> {
    Target::from_str(text).ok()
}

fn cidr_text(t: &Target) -> String {
    match t {
        Target::Addr(a) => Prefix::host(*a).to_string(),
        Target::Prefix(p) => p.to_string(),
    }
}

const DECISION_COLUMNS: &str = "seq, origin_server, origin_id, target::text, detector, summary, \
     offence, origin, evidence::text, start_at, until_at, lifted_at, lifted_by";

/// Decisions read from the store, and the rows that do not read as one (written by
/// something else than rampart), with why: passed over, never failing the whole read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    /// The decisions, in the order read.
    pub decisions: Vec<FleetDecision>,
    /// Why each unreadable row was passed over.
    pub unreadable: Vec<String>,
}

fn read_decisions(rows: &[postgres::Row]) -> Decisions {
    let mut out = Decisions::default();
    for r in rows {
        match row_decision(r) {
            Ok(d) => out.decisions.push(d),
            Err(e) => out.unreadable.push(e),
        }
    }
    out
}

fn row_decision(r: &postgres::Row) -> Result<FleetDecision, String> {
    let seq: i64 = r.get(0);
    let bad = |what: &str| format!("fleet decision #{seq}: bad {what}");
    let target: String = r.get(3);
    let target = target_from(&target).ok_or_else(|| bad("target"))?;
    let origin: String = r.get(7);
    let origin = origin_from(&origin).ok_or_else(|| bad("origin"))?;
    let evidence: String = r.get(8);
    let evidence: Evidence = serde_json::from_str(&evidence).map_err(|_| bad("evidence"))?;
    let offence: i32 = r.get(6);
    let lifted_at: Option<i64> = r.get(11);
    let lifted_by: Option<String> = r.get(12);
    Ok(FleetDecision {
        seq,
        decision: Decision {
            target,
            reason: Reason {
                detector: r.get(4),
                summary: r.get(5),
                offence: u32::try_from(offence).unwrap_or(0),
            },
            evidence,
            origin,
            start: to_u64(r.get(9)),
            until: to_u64(r.get(10)),
            fleet: Some(FleetRef {
                server: r.get(1),
                id: r.get(2),
            }),
        },
        lifted: lifted_at.map(|t| (to_u64(t), lifted_by.unwrap_or_default())),
    })
}

impl Fleet {
    /// Connects as the URL's role, with the password file's password, over TLS verifying
    /// the server's certificate against `ca_file` (or the system's roots) and its name
    /// (or address) against the URL's host; a Unix socket needs no TLS.
    pub fn connect(config: &FleetConfig) -> Result<Fleet, FleetError> {
        let mut pg: postgres::Config = config.url.parse().map_err(fail("reading [fleet] url"))?;
        let endpoint = endpoint(&pg);
        let doing = format!("connecting to {endpoint}");
        let server = pg
            .get_user()
            .ok_or_else(|| FleetError {
                doing: doing.clone(),
                why: "the URL names no role".into(),
            })?
            .to_string();
        pg.connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_SECS));
        pg.application_name("rampart");
        if let Some(p) = config.password_path() {
            pg.password(read_password(&p)?);
        }
        let unix = pg.get_hosts().iter().all(|h| matches!(h, Host::Unix(_)));
        let client = if unix {
            pg.connect(NoTls).map_err(fail(doing))?
        } else {
            let tls_fail = |e: openssl::error::ErrorStack| FleetError {
                doing: doing.clone(),
                why: format!("setting up TLS: {e}"),
            };
            let mut b = SslConnector::builder(SslMethod::tls()).map_err(tls_fail)?;
            b.set_verify(SslVerifyMode::PEER);
            match &config.ca_file {
                Some(f) => b.set_ca_file(f).map_err(|e| FleetError {
                    doing: doing.clone(),
                    why: format!("reading ca_file {}: {e}", f.display()),
                })?,
                None => b.set_default_verify_paths().map_err(tls_fail)?,
            }
            pg.ssl_mode(SslMode::Require);
            pg.connect(MakeTlsConnector::new(b.build()))
                .map_err(fail(doing))?
        };
        Ok(Fleet {
            client,
            server,
            endpoint,
        })
    }

    /// This server's name in the fleet (its role).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Where the store is (`host:port/database`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether the connection is lost.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Applies the migrations not yet applied, in one transaction; the versions applied
    /// with what each did. Needs a role that may create tables and roles.
    pub fn init(&mut self) -> Result<Vec<(i32, &'static str)>, FleetError> {
        let doing = "applying the schema (rampart fleet init)";
        let mut tx = self.client.transaction().map_err(fail(doing))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .map_err(fail(doing))?;
        tx.batch_execute(SCHEMA_TABLE).map_err(fail(doing))?;
        let current: i32 = tx
            .query_one("SELECT coalesce(max(version), 0) FROM rampart_schema", &[])
            .map_err(fail(doing))?
            .get(0);
        if current > SCHEMA_VERSION {
            return Err(FleetError {
                doing: doing.into(),
                why: format!(
                    "the store has schema {current}, this rampart knows {SCHEMA_VERSION}: upgrade rampart"
                ),
            });
        }
        let mut applied = Vec::new();
        for (version, what, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(sql)
                .map_err(fail(format!("{doing}: migration {version}")))?;
            tx.execute(
                "INSERT INTO rampart_schema (version) VALUES ($1)",
                &[version],
            )
            .map_err(fail(doing))?;
            applied.push((*version, *what));
        }
        tx.commit().map_err(fail(doing))?;
        Ok(applied)
    }

    /// Checks that the store has this rampart's schema.
    pub fn check_schema(&mut self) -> Result<i32, FleetError> {
        let doing = "reading the schema version";
        let row = self
            .client
            .query_one(
                "SELECT CASE WHEN to_regclass('rampart_schema') IS NULL THEN 0
                        ELSE (SELECT coalesce(max(version), 0) FROM rampart_schema) END",
                &[],
            )
            .map_err(fail(doing))?;
        let v: i32 = row.get(0);
        match v {
            0 => Err(FleetError {
                doing: doing.into(),
                why: "the store has no schema: run `rampart fleet init` once, as the database's owner".into(),
            }),
            v if v == SCHEMA_VERSION => Ok(v),
            v if v < SCHEMA_VERSION => Err(FleetError {
                doing: doing.into(),
                why: format!("the store has schema {v}, this rampart needs {SCHEMA_VERSION}: run `rampart fleet init`"),
            }),
            v => Err(FleetError {
                doing: doing.into(),
                why: format!("the store has schema {v}, newer than this rampart's {SCHEMA_VERSION}: upgrade rampart"),
            }),
        }
    }

    /// Subscribes to the fleet's notifications.
    pub fn listen(&mut self) -> Result<(), FleetError> {
        self.client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(fail("subscribing (LISTEN)"))
    }

    /// Waits up to `timeout` for a notification; true when one came (all waiting are
    /// taken). An error when the connection is lost.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, FleetError> {
        let mut n = self.client.notifications();
        let got = match n.timeout_iter(timeout).next() {
            Ok(Some(_)) => true,
            Ok(None) => false,
            Err(e) => return Err(fail("waiting for notifications")(e)),
        };
        if got {
            while let Ok(Some(_)) = n.iter().next() {}
        }
        Ok(got)
    }

    /// Publishes this server's decisions (`(local id, decision)`), idempotently: those
    /// already published are left as they are. Returns how many were new.
    pub fn publish(&mut self, ds: &[(i64, &Decision)]) -> Result<u64, FleetError> {
        if ds.is_empty() {
            return Ok(0);
        }
        let doing = format!("publishing {} decisions", ds.len());
        let ids: Vec<i64> = ds.iter().map(|(id, _)| *id).collect();
        let targets: Vec<String> = ds.iter().map(|(_, d)| cidr_text(&d.target)).collect();
        let detectors: Vec<&str> = ds.iter().map(|(_, d)| d.reason.detector.as_str()).collect();
        let summaries: Vec<&str> = ds.iter().map(|(_, d)| d.reason.summary.as_str()).collect();
        let offences: Vec<i32> = ds
            .iter()
            .map(|(_, d)| i32::try_from(d.reason.offence).unwrap_or(i32::MAX))
            .collect();
        let origins: Vec<&str> = ds.iter().map(|(_, d)| d.origin.name()).collect();
        let evidence: Vec<String> = ds
            .iter()
            .map(|(_, d)| serde_json::to_string(&d.evidence).unwrap_or_else(|_| "{}".into()))
            .collect();
        let starts: Vec<i64> = ds.iter().map(|(_, d)| to_i64(d.start)).collect();
        let untils: Vec<i64> = ds.iter().map(|(_, d)| to_i64(d.until)).collect();
        let mut tx = self.client.transaction().map_err(fail(&doing))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .map_err(fail(&doing))?;
        let n = tx
            .execute(
                "INSERT INTO rampart_decisions (origin_server, origin_id, target, detector, summary,
                     offence, origin, evidence, start_at, until_at)
                 SELECT current_user, i, t::cidr, d, s, o, g, e::jsonb, st, u
                 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[],
                             $6::text[], $7::text[], $8::bigint[], $9::bigint[])
                      AS x(i, t, d, s, o, g, e, st, u)
                 ON CONFLICT (origin_server, origin_id) DO NOTHING",
                &[
                    &ids, &targets, &detectors, &summaries, &offences, &origins, &evidence,
                    &starts, &untils,
                ],
            )
            .map_err(fail(&doing))?;
        tx.commit().map_err(fail(&doing))?;
        Ok(n)
    }

    /// The changes after `cursor`, in order, at most [`MAX_CHANGES`]: decisions still
    /// running at `now` (or lifted), and lists replaced. Read in one snapshot, so the
    /// cursor returned covers exactly what was read past.
    pub fn changes(&mut self, cursor: i64, now: u64) -> Result<Changes, FleetError> {
        let doing = "reading the fleet's changes";
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(fail(doing))?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {DECISION_COLUMNS} FROM rampart_decisions
                     WHERE seq > $1 AND (until_at > $2 OR lifted_at IS NOT NULL)
                     ORDER BY seq LIMIT $3"
                ),
                &[&cursor, &to_i64(now), &MAX_CHANGES],
            )
            .map_err(fail(doing))?;
        let more = rows.len() as i64 >= MAX_CHANGES;
        let read = read_decisions(&rows);
        let bad = read.unreadable;
        let mut changes: Vec<Change> = read.decisions.into_iter().map(Change::Decision).collect();
        // How far this read covers: the last row read when the limit cut it, else the
        // newest number in the snapshot (expired decisions after the last running one
        // are passed over, not read again).
        let covered: i64 = if more {
            rows.last().map(|r| r.get(0)).unwrap_or(cursor)
        } else {
            tx.query_one(
                "SELECT greatest($1::bigint,
                    (SELECT coalesce(max(seq), 0) FROM rampart_decisions),
                    (SELECT coalesce(max(seq), 0) FROM rampart_lists))",
                &[&cursor],
            )
            .map_err(fail(doing))?
            .get(0)
        };
        let lists = tx
            .query(
                "SELECT name, seq FROM rampart_lists WHERE seq > $1 AND seq <= $2 ORDER BY seq",
                &[&cursor, &covered],
            )
            .map_err(fail(doing))?;
        tx.commit().map_err(fail(doing))?;
        for r in lists {
            changes.push(Change::List {
                name: r.get(0),
                seq: r.get(1),
            });
        }
        changes.sort_by_key(|c| match c {
            Change::Decision(d) => d.seq,
            Change::List { seq, .. } => *seq,
        });
        Ok(Changes {
            changes,
            cursor: covered,
            more,
            unreadable: bad,
        })
    }

    /// The prefixes of the shared list `name`, and its change number (read together).
    pub fn list(&mut self, name: &str) -> Result<Option<(i64, Vec<Prefix>)>, FleetError> {
        let doing = format!("reading the fleet's list {name}");
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(fail(&doing))?;
        let Some(row) = tx
            .query_opt("SELECT seq FROM rampart_lists WHERE name = $1", &[&name])
            .map_err(fail(&doing))?
        else {
            return Ok(None);
        };
        let seq: i64 = row.get(0);
        let mut out = Vec::new();
        {
            let quoted = name.replace('\'', "''");
            let reader = tx
                .copy_out(&format!(
                    "COPY (SELECT prefix FROM rampart_list_entries WHERE list = '{quoted}') TO STDOUT"
                ))
                .map_err(fail(&doing))?;
            for line in std::io::BufReader::new(reader).lines() {
                let line = line.map_err(|e| FleetError {
                    doing: doing.clone(),
                    why: e.to_string(),
                })?;
                let p: Prefix = line.trim().parse().map_err(|_| FleetError {
                    doing: doing.clone(),
                    why: format!("a bad prefix `{}`", rampart_safeio::excerpt(&line, 80)),
                })?;
                out.push(p);
            }
        }
        tx.commit().map_err(fail(&doing))?;
        Ok(Some((seq, out)))
    }

    /// Replaces the shared list `name` with `prefixes`, in one transaction.
    pub fn import_list(
        &mut self,
        name: &str,
        prefixes: &[Prefix],
        source: &str,
    ) -> Result<i64, FleetError> {
        let doing = format!("importing the fleet's list {name}");
        let mut tx = self.client.transaction().map_err(fail(&doing))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .map_err(fail(&doing))?;
        let n = i64::try_from(prefixes.len()).unwrap_or(i64::MAX);
        let seq: i64 = tx
            .query_one(
                "INSERT INTO rampart_lists (name, entries, source) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET entries = excluded.entries,
                     source = excluded.source, imported_by = current_user,
                     imported_at = now(), seq = nextval('rampart_fleet_seq')
                 RETURNING seq",
                &[&name, &n, &source],
            )
            .map_err(fail(&doing))?
            .get(0);
        tx.execute("DELETE FROM rampart_list_entries WHERE list = $1", &[&name])
            .map_err(fail(&doing))?;
        {
            let mut w = tx
                .copy_in("COPY rampart_list_entries (list, prefix) FROM STDIN")
                .map_err(fail(&doing))?;
            let escaped = name
                .replace('\\', "\\\\")
                .replace('\t', "\\t")
                .replace('\n', "\\n");
            let io = |e: std::io::Error| FleetError {
                doing: doing.clone(),
                why: e.to_string(),
            };
            let mut buf = Vec::with_capacity(64 * 1024);
            for p in prefixes {
                writeln!(buf, "{escaped}\t{p}").map_err(io)?;
                if buf.len() >= 60 * 1024 {
                    w.write_all(&buf).map_err(io)?;
                    buf.clear();
                }
            }
            w.write_all(&buf).map_err(io)?;
            w.finish().map_err(fail(&doing))?;
        }
        tx.commit().map_err(fail(&doing))?;
        Ok(seq)
    }

    /// Lifts, fleet-wide, every running decision about `target` or inside it; the
    /// decisions lifted.
    pub fn lift(&mut self, target: &Target, now: u64) -> Result<Decisions, FleetError> {
        let doing = format!("lifting the fleet's bans on {target}");
        let mut tx = self.client.transaction().map_err(fail(&doing))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .map_err(fail(&doing))?;
        let rows = tx
            .query(
                &format!(
                    "UPDATE rampart_decisions SET lifted_at = $2, lifted_by = current_user,
                         seq = nextval('rampart_fleet_seq')
                     WHERE target <<= $1::text::cidr AND lifted_at IS NULL AND until_at > $2
                     RETURNING {DECISION_COLUMNS}"
                ),
                &[&cidr_text(target), &to_i64(now)],
            )
            .map_err(fail(&doing))?;
        tx.commit().map_err(fail(&doing))?;
        Ok(read_decisions(&rows))
    }

    /// The decisions running fleet-wide at `now`, oldest first.
    pub fn active(&mut self, now: u64) -> Result<Decisions, FleetError> {
        let doing = "reading the fleet's running bans";
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT {DECISION_COLUMNS} FROM rampart_decisions
                     WHERE lifted_at IS NULL AND until_at > $1 AND start_at <= $1
                     ORDER BY start_at, seq"
                ),
                &[&to_i64(now)],
            )
            .map_err(fail(doing))?;
        Ok(read_decisions(&rows))
    }

    /// Says this server is alive and how far it has enforced.
    pub fn heartbeat(&mut self, cursor: i64) -> Result<(), FleetError> {
        self.client
            .execute(
                "INSERT INTO rampart_servers (name, cursor, version) VALUES (current_user, $1, $2)
                 ON CONFLICT (name) DO UPDATE SET last_seen = now(), cursor = excluded.cursor,
                     version = excluded.version",
                &[&cursor, &env!("CARGO_PKG_VERSION")],
            )
            .map(drop)
            .map_err(fail("reporting to the fleet (heartbeat)"))
    }

    /// Reports that this server refused a fleet decision, and why.
    pub fn report_refusal(
        &mut self,
        key: &FleetRef,
        target: &Target,
        why: &str,
    ) -> Result<(), FleetError> {
        self.client
            .execute(
                "INSERT INTO rampart_refusals (server, origin_server, origin_id, target, why)
                 VALUES (current_user, $1, $2, $3::text::cidr, $4)
                 ON CONFLICT (server, origin_server, origin_id)
                 DO UPDATE SET why = excluded.why, at = now(), target = excluded.target",
                &[&key.server, &key.id, &cidr_text(target), &why],
            )
            .map(drop)
            .map_err(fail("reporting a refused decision"))
    }

    /// The fleet at a glance: servers, lists, the latest refusals.
    pub fn status(&mut self, now: u64) -> Result<Status, FleetError> {
        let doing = "reading the fleet's status";
        let schema = self.check_schema()?;
        let head: i64 = self
            .client
            .query_one(
                "SELECT greatest((SELECT coalesce(max(seq), 0) FROM rampart_decisions),
                                 (SELECT coalesce(max(seq), 0) FROM rampart_lists))",
                &[],
            )
            .map_err(fail(doing))?
            .get(0);
        let servers = self
            .client
            .query(
                "WITH d AS (SELECT origin_server AS name,
                        count(*) FILTER (WHERE lifted_at IS NULL AND until_at > $1) AS running,
                        count(*) AS published
                    FROM rampart_decisions GROUP BY origin_server)
                 SELECT coalesce(s.name, d.name),
                        coalesce(extract(epoch FROM s.first_seen)::bigint, 0),
                        coalesce(extract(epoch FROM s.last_seen)::bigint, 0),
                        coalesce(s.cursor, 0), coalesce(s.version, ''),
                        coalesce(d.running, 0), coalesce(d.published, 0)
                 FROM rampart_servers s FULL JOIN d ON d.name = s.name ORDER BY 1",
                &[&to_i64(now)],
            )
            .map_err(fail(doing))?
            .iter()
            .map(|r| ServerStatus {
                name: r.get(0),
                first_seen: to_u64(r.get(1)),
                last_seen: to_u64(r.get(2)),
                cursor: r.get(3),
                lag: (head - r.get::<_, i64>(3)).max(0),
                version: r.get(4),
                running: r.get(5),
                published: r.get(6),
            })
            .collect();
        let lists = self
            .client
            .query(
                "SELECT name, entries, source, imported_by, extract(epoch FROM imported_at)::bigint
                 FROM rampart_lists ORDER BY name",
                &[],
            )
            .map_err(fail(doing))?
            .iter()
            .map(|r| ListStatus {
                name: r.get(0),
                entries: r.get(1),
                source: r.get(2),
                imported_by: r.get(3),
                imported_at: to_u64(r.get(4)),
            })
            .collect();
        let refusals = self
            .client
            .query(
                "SELECT server, origin_server, origin_id, target::text, why,
                        extract(epoch FROM at)::bigint
                 FROM rampart_refusals ORDER BY at DESC LIMIT 20",
                &[],
            )
            .map_err(fail(doing))?
            .iter()
            .map(|r| Refusal {
                server: r.get(0),
                origin_server: r.get(1),
                origin_id: r.get(2),
                target: r.get(3),
                why: r.get(4),
                at: to_u64(r.get(5)),
            })
            .collect();
        Ok(Status {
            schema,
            head,
            servers,
            lists,
            refusals,
        })
    }
}

/// `host:port/database` of a connection's settings, for messages.
fn endpoint(pg: &postgres::Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{}",
        pg.get_dbname().unwrap_or("(the role's)")
    )
}

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    now_secs()
}
