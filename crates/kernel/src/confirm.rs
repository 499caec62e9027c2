//! Commit-confirmed apply: roll back unless `rampart confirm` is run in time.
//!
//! Design: the rollback must not depend on the applying process or its terminal (an SSH
//! session that the new rules cut off takes both down). So, in this order:
//!
//! 1. [`arm`] snapshots the current table (or its absence) into
//!    `confirm/ID.snapshot` and writes the token `confirm/ID.pending` with the deadline;
//! 2. the caller starts a watcher with [`spawn_detached`]: `setsid -f rampart
//!    confirm-watch ID`, a process in its own session, re-parented to init, with no
//!    terminal and no pipes to the caller, in the caller's network namespace (this is why
//!    `systemd-run` is not used: its unit would run in the host's namespace);
//! 3. the caller applies the new table (on failure it calls [`disarm`]);
//! 4. the watcher ([`watch`]) sleeps until the deadline, polling the token; at the
//!    deadline it renames `ID.pending` to `ID.firing` and, if that rename succeeds,
//!    restores the snapshot;
//! 5. [`confirm`] renames `ID.pending` to `ID.confirmed`.
//!
//! The two renames of the same file arbitrate a confirm that races the deadline: exactly
//! one succeeds. A CLI killed between 2 and 3 leaves a watcher that "restores" the state
//! that is still in place: harmless. Set elements added during the window (bans) are
//! replaced by the snapshot's on rollback.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::apply::{apply, Applied, ApplyOptions};
use crate::error::Error;
use crate::nft::Nft;
use crate::state::StateDir;

/// Snapshot content meaning "there was no table".
const ABSENT: &str = "# rampart: no table inet rampart existed\n";
/// How often the watcher looks at its token.
const POLL: Duration = Duration::from_millis(100);

/// A commit-confirmed apply waiting for confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its id (names the files under `confirm/`).
    pub id: String,
    /// When the rollback happens.
    pub deadline: SystemTime,
}

impl Pending {
    /// Seconds left at `now` (0 when past).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.deadline.duration_since(now).unwrap_or_default()
    }
}

/// What the watcher did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchOutcome {
    /// `rampart confirm` came first; the new table stays.
    Confirmed,
    /// The deadline passed; the snapshot was restored.
    RolledBack,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        .ceil() as u64
}

/// The pending confirmations (normally zero or one).
pub fn pending(state: &StateDir) -> Result<Vec<Pending>, Error> {
    let dir = state.path("confirm");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::State { path: dir, source }),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".pending") else {
            continue;
        };
        let text = state.read(&format!("confirm/{name}"))?.unwrap_or_default();
        let deadline = text
            .lines()
            .find_map(|l| l.strip_prefix("deadline="))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
            .unwrap_or(UNIX_EPOCH);
        out.push(Pending {
            id: id.to_string(),
            deadline,
        });
    }
    out.sort_by_key(|p| p.deadline);
    Ok(out)
}

/// Step 1: refuses when a confirmation is already pending, else snapshots the current
/// table and writes the token. `now` is the current time.
pub fn arm(
    state: &StateDir,
    nft: &Nft,
    now: SystemTime,
    window: Duration,
) -> Result<Pending, Error> {
    if let Some(p) = pending(state)?.first() {
        return Err(Error::Pending {
            remaining_secs: p.remaining(now).as_secs(),
        });
    }
    let snapshot = nft.list_table()?;
    let id = format!(
        "{}-{}",
        now.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
        std::process::id()
    );
    state.write(
        &format!("confirm/{id}.snapshot"),
        snapshot.as_deref().unwrap_or(ABSENT),
    )?;
    if let Some(prev) = state.read("applied.nft")? {
        state.write(&format!("confirm/{id}.applied"), &prev)?;
    }

    let deadline = now + window;
    state.write(
        &format!("confirm/{id}.pending"),
        &format!("deadline={}\n", secs(deadline)),
    )?;
    Ok(Pending { id, deadline })
}

/// Undoes [`arm`] after a failed apply: removes the token and the snapshot.
pub fn disarm(state: &StateDir, id: &str) -> Result<(), Error> {
    for ext in ["pending", "snapshot", "applied"] {
        state.remove(&format!("confirm/{id}.{ext}"))?;
    }
    Ok(())
}

/// `rampart confirm`: keeps the new table. Returns the confirmations it closed.
pub fn confirm(state: &StateDir) -> Result<Vec<Pending>, Error> {
    let mut done = Vec::new();
    for p in pending(state)? {
        let from = state.path(&format!("confirm/{}.pending", p.id));
        let to = state.path(&format!("confirm/{}.confirmed", p.id));
        match std::fs::rename(&from, &to) {
            Ok(()) => {
                done.push(p);
                // The watcher cleans up the rest when it wakes.
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::State { path: from, source }),
        }
    }
    if done.is_empty() {
        return Err(Error::NothingPending);
    }
    Ok(done)
}

/// Step 4, the watcher's body: waits for the deadline of `id` (reading the clock), then
/// rolls back unless confirmed. Returns early when the token disappears.
pub fn watch(state: &StateDir, nft: &Nft, id: &str) -> Result<WatchOutcome, Error> {
    let token = format!("confirm/{id}.pending");
    while let Some(p) = pending(state)?.into_iter().find(|p| p.id == id) {
        let left = p.remaining(SystemTime::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(POLL));
    }
    let firing = state.path(&format!("confirm/{id}.firing"));
    let outcome = match std::fs::rename(state.path(&token), &firing) {
        Ok(()) => {
            rollback(state, nft, id)?;
            state.remove(&format!("confirm/{id}.firing"))?;
            WatchOutcome::RolledBack
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => WatchOutcome::Confirmed,
        Err(source) => {
            return Err(Error::State {
                path: firing,
                source,
            })
        }
    };
    state.remove(&format!("confirm/{id}.confirmed"))?;
    disarm(state, id)?;
    Ok(outcome)
}

fn rollback(state: &StateDir, nft: &Nft, id: &str) -> Result<(), Error> {
    let snapshot = state.read(&format!("confirm/{id}.snapshot"))?;
    let prev = state.read(&format!("confirm/{id}.applied"))?;
    match snapshot.as_deref() {
        None | Some(ABSENT) => {
            nft.delete_table()?;
            state.clear_applied()?;
        }
        Some(text) => {
            let opts = ApplyOptions {
                force: true,
                previous: None,
            };
            apply(nft, text, &opts)?;
            match prev {
                Some(script) => {
                    let after = crate::netlink::snapshot(nft)?;
                    state.set_applied(&Applied {
                        script,
                        shape: after.digest(),
                        generation: Some(after.generation),
                        input: None,
                    })?;
                }
                None => state.clear_applied()?,
            }
        }
    }
    Ok(())
}

/// Step 2: starts `program args...` detached with util-linux `setsid -f`: a new session,
/// no controlling terminal, standard streams on /dev/null, same network namespace.
pub fn spawn_detached(program: &Path, args: &[String]) -> std::io::Result<()> {
    let status = Command::new("setsid")
        .arg("-f")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "setsid -f exited with {status}"
        )))
    }
}
