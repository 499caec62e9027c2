//! Commit-confirmed apply: roll back unless `rampart confirm` is run in time.
//!
//! Design: the rollback must not depend on the applying process or its terminal (an SSH
//! session that the new rules cut off takes both down). So, in this order:
//!
//! 1. [`arm`] snapshots the current table (or its absence) into
//!    `confirm/ID.snapshot` and writes the token `confirm/ID.pending` with the deadline
//!    and the arming process's pid;
//! 2. the caller starts a watcher with [`spawn_watcher`]: `setsid rampart confirm-watch
//!    ID`, a process in its own session, re-parented to init when the caller exits, with
//!    no terminal and no pipes to the caller, in the caller's network namespace (this is
//!    why `systemd-run` is not used: its unit would run in the host's namespace);
//! 3. the watcher ([`watch`]) first writes `confirm/ID.alive` with its pid; [`spawn_watcher`]
//!    waits for that sign of life ([`WATCHER_START`] at most, less when the watcher exits
//!    with an error) and fails otherwise: the caller then calls [`disarm`] and applies
//!    nothing;
//! 4. the caller applies the new table (on failure it calls [`disarm`]);
//! 5. the watcher sleeps until the deadline, polling the token; at the deadline it renames
//!    `ID.pending` to `ID.firing` and, if that rename succeeds, restores the snapshot. Any
//!    error while waiting ends the wait early in the same rollback: new rules are never
//!    left without a watcher that is still waiting;
//! 6. [`confirm`] renames `ID.pending` to `ID.confirmed`.
//!
//! The two renames of the same file arbitrate a confirm that races the deadline: exactly
//! one succeeds. A CLI killed between 3 and 4 leaves a watcher that "restores" the state
//! that is still in place: harmless. Set elements added during the window (bans) are
//! replaced by the snapshot's on rollback.
//!
//! A token whose watcher is gone (killed, or never started by an older version whose
//! `setsid -f` returned before the watcher existed) would refuse every later apply. So
//! [`pending`] tells each token's [`Watcher`]: running (the pid in `ID.alive`, or, when
//! there is no `ID.alive`, any process whose command line is `confirm-watch ID`),
//! starting (no `ID.alive` yet and the arming process, the pid in the token, still
//! runs), or gone; [`clear_stale`] removes the gone ones, and
//! the CLI says so at the next `apply`, `up` or `confirm`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::apply::{apply, Applied, ApplyOptions};
use crate::error::Error;
use crate::nft::Nft;
use crate::state::StateDir;

/// Snapshot content meaning "there was no table".
const ABSENT: &str = "# rampart: no table inet rampart existed\n";
/// How often the watcher looks at its token.
const POLL: Duration = Duration::from_millis(100);
/// How long [`spawn_watcher`] waits for the watcher's sign of life. Starting a process
/// takes milliseconds; seconds cover a loaded machine without keeping a failed apply
/// waiting long.
pub const WATCHER_START: Duration = Duration::from_secs(5);
/// How often [`spawn_watcher`] looks for the sign of life.
const START_POLL: Duration = Duration::from_millis(20);
/// Attempts at restoring the snapshot before the watcher reports failure.
const ROLLBACK_ATTEMPTS: u32 = 3;

/// Who watches a pending confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Watcher {
    /// The watcher runs (its pid).
    Running(u32),
    /// No watcher yet, and the process that armed the token still runs: it is starting one.
    Starting,
    /// No watcher and no arming process: nothing will roll back or clean up this token.
    Gone,
}

/// A commit-confirmed apply waiting for confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its id (names the files under `confirm/`).
    pub id: String,
    /// When the rollback happens.
    pub deadline: SystemTime,
    /// Whether a watcher will roll it back.
    pub watcher: Watcher,
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
    /// The deadline passed (or waiting for it failed); the snapshot was restored.
    RolledBack,
    /// The token was gone when the watcher started: its caller gave up waiting for it
    /// and applied nothing.
    Abandoned,
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
        let deadline = field(&text, "deadline")
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
            .unwrap_or(UNIX_EPOCH);
        let watcher = if state.path(&format!("confirm/{id}.alive")).exists() {
            // It ran: only it counts.
            watcher_pid_from_alive(state, id)?.map_or(Watcher::Gone, Watcher::Running)
        } else if let Some(pid) = watcher_by_cmdline(id) {
            Watcher::Running(pid)
        } else if field(&text, "armer").is_some_and(is_running) {
            Watcher::Starting
        } else {
            Watcher::Gone
        };
        out.push(Pending {
            id: id.to_string(),
            deadline,
            watcher,
        });
    }
    out.sort_by_key(|p| p.deadline);
    Ok(out)
}

/// The number after `key=` in a token.
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether process `pid` is the watcher of `id`: its command line holds `confirm-watch ID`.
/// A zombie has an empty command line and is not.
fn is_watcher(pid: u32, id: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.windows(2)
        .any(|w| w[0] == b"confirm-watch" && w[1] == id.as_bytes())
}

/// Whether process `pid` runs (a zombie, with its empty command line, does not).
fn is_running(pid: u64) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

/// The pid of a process that is the watcher of `id` (one started by a version that
/// wrote no `ID.alive`, or one about to write it).
fn watcher_by_cmdline(id: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| is_watcher(*pid, id))
}

/// Removes the pending confirmations whose watcher is [`Watcher::Gone`] and returns them:
/// the rules they applied stay, and nothing would ever roll them back or clear them.
pub fn clear_stale(state: &StateDir) -> Result<Vec<Pending>, Error> {
    let stale: Vec<Pending> = pending(state)?
        .into_iter()
        .filter(|p| p.watcher == Watcher::Gone)
        .collect();
    for p in &stale {
        disarm(state, &p.id)?;
        state.remove(&format!("confirm/{}.confirmed", p.id))?;
    }
    Ok(stale)
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
        &format!(
            "deadline={}\narmer={}\n",
            secs(deadline),
            std::process::id()
        ),
    )?;
    Ok(Pending {
        id,
        deadline,
        watcher: Watcher::Starting,
    })
}

/// Undoes [`arm`] after a failed apply: removes the token and the snapshot.
pub fn disarm(state: &StateDir, id: &str) -> Result<(), Error> {
    for ext in ["pending", "snapshot", "applied", "alive"] {
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

/// Step 3 and 5, the watcher's body: signals that it runs (`ID.alive`), waits for the
/// deadline of `id` (reading the clock), then rolls back unless confirmed. Returns early
/// when the token disappears. An error before the sign of life is returned (the caller
/// applies nothing); any error after it ends in the rollback.
pub fn watch(state: &StateDir, nft: &Nft, id: &str) -> Result<WatchOutcome, Error> {
    let token = format!("confirm/{id}.pending");
    if state.read(&token)?.is_none() {
        // The caller gave up waiting for us and disarmed: nothing was applied.
        state.remove(&format!("confirm/{id}.alive"))?;
        return Ok(WatchOutcome::Abandoned);
    }
    state.write(
        &format!("confirm/{id}.alive"),
        &format!("pid={}\n", std::process::id()),
    )?;
    if let Err(e) = wait_deadline(state, &token) {
        state.log(&format!(
            "{}: watcher of {id}: {e}: rolling back now",
            secs(SystemTime::now())
        ));
    }
    let firing = state.path(&format!("confirm/{id}.firing"));
    let outcome = match std::fs::rename(state.path(&token), &firing) {
        Ok(()) => {
            rollback_retrying(state, nft, id)?;
            WatchOutcome::RolledBack
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => WatchOutcome::Confirmed,
        Err(e) => {
            // Whether a confirm came first cannot be told: the previous rules are the
            // safe side.
            state.log(&format!(
                "{}: watcher of {id}: {}: {e}: rolling back anyway",
                secs(SystemTime::now()),
                firing.display()
            ));
            rollback_retrying(state, nft, id)?;
            WatchOutcome::RolledBack
        }
    };
    // The outcome stands whatever the bookkeeping does.
    let cleanup = ["firing", "confirmed"]
        .iter()
        .try_for_each(|ext| state.remove(&format!("confirm/{id}.{ext}")))
        .and_then(|()| disarm(state, id));
    if let Err(e) = cleanup {
        state.log(&format!(
            "{}: watcher of {id}: cleaning up: {e}",
            secs(SystemTime::now())
        ));
    }
    Ok(outcome)
}

/// Sleeps until the deadline in `token`; returns when it has passed or the token is gone.
fn wait_deadline(state: &StateDir, token: &str) -> Result<(), Error> {
    while let Some(text) = state.read(token)? {
        let deadline = field(&text, "deadline")
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
            .unwrap_or(UNIX_EPOCH);
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(POLL));
    }
    Ok(())
}

/// [`rollback`], tried again after a second when it fails (nft busy, a transient error).
fn rollback_retrying(state: &StateDir, nft: &Nft, id: &str) -> Result<(), Error> {
    let mut attempt = 1;
    loop {
        match rollback(state, nft, id) {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= ROLLBACK_ATTEMPTS => return Err(e),
            Err(e) => {
                state.log(&format!(
                    "{}: rollback of {id}, attempt {attempt}: {e}: trying again",
                    secs(SystemTime::now())
                ));
                attempt += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
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

/// Step 2 and 3: starts the watcher of `id`, `program args...`, with util-linux `setsid`
/// (a new session, no controlling terminal, standard streams on /dev/null, same network
/// namespace), then waits until it has written its sign of life (`ID.alive`). Returns
/// the watcher's pid. Fails when `setsid` cannot be started, when it or the watcher
/// exits with an error first, or when `limit` passes without a sign of life; the caller
/// then applies nothing and calls [`disarm`].
pub fn spawn_watcher(
    state: &StateDir,
    id: &str,
    program: &Path,
    args: &[String],
    limit: Duration,
) -> Result<u32, Error> {
    // Without -f, setsid (not a process group leader here) execs in place: the child is
    // the watcher, and its exit status tells a failed start at once.
    let mut child = Command::new("setsid")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: "setsid".to_string(),
            source,
        })?;
    let started = Instant::now();
    loop {
        if let Some(pid) = watcher_pid_from_alive(state, id)? {
            return Ok(pid);
        }
        let exited = match child.try_wait() {
            Ok(Some(status)) if !status.success() => Some(status.to_string()),
            _ => None,
        };
        if let Some(status) = exited {
            return Err(Error::WatcherNotStarted {
                why: format!("it exited with {status} before it was running"),
            });
        }
        if started.elapsed() >= limit {
            let _ = child.kill();
            return Err(Error::WatcherNotStarted {
                why: format!("no sign of life within {} s", limit.as_secs()),
            });
        }
        std::thread::sleep(START_POLL);
    }
}

/// The pid `ID.alive` names, when that process is the watcher of `id`.
fn watcher_pid_from_alive(state: &StateDir, id: &str) -> Result<Option<u32>, Error> {
    let Some(text) = state.read(&format!("confirm/{id}.alive"))? else {
        return Ok(None);
    };
    Ok(field(&text, "pid")
        .and_then(|p| u32::try_from(p).ok())
        .filter(|pid| is_watcher(*pid, id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(state: &StateDir, id: &str, armer: u32) {
        state
            .write(
                &format!("confirm/{id}.pending"),
                &format!("deadline=4000000000\narmer={armer}\n"),
            )
            .unwrap();
        state
            .write(&format!("confirm/{id}.snapshot"), ABSENT)
            .unwrap();
    }

    fn watcher_of(state: &StateDir, id: &str) -> Watcher {
        pending(state)
            .unwrap()
            .into_iter()
            .find(|p| p.id == id)
            .unwrap()
            .watcher
    }

    #[test]
    fn a_token_without_a_watcher_is_told_and_cleared() {
        let dir = std::env::temp_dir().join(format!("rampart-confirm-{}", std::process::id()));
        let state = StateDir::new(&dir);
        let mut exited = Command::new("true").spawn().unwrap();
        exited.wait().unwrap();

        // Being armed by a running process (this one): starting.
        token(&state, "1-starting", std::process::id());
        assert_eq!(watcher_of(&state, "1-starting"), Watcher::Starting);
        // Armed by a process that is gone, no watcher ever ran: gone.
        token(&state, "2-never", exited.id());
        assert_eq!(watcher_of(&state, "2-never"), Watcher::Gone);
        // A watcher ran (ID.alive) but its pid is not a watcher any more: gone, even
        // while the arming process runs.
        token(&state, "3-killed", std::process::id());
        state
            .write("confirm/3-killed.alive", &format!("pid={}\n", exited.id()))
            .unwrap();
        assert_eq!(watcher_of(&state, "3-killed"), Watcher::Gone);

        let mut cleared: Vec<String> = clear_stale(&state)
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        cleared.sort();
        assert_eq!(cleared, ["2-never", "3-killed"]);
        let left: Vec<String> = pending(&state).unwrap().into_iter().map(|p| p.id).collect();
        assert_eq!(left, ["1-starting"]);
        assert_eq!(state.read("confirm/3-killed.alive").unwrap(), None);
        assert_eq!(state.read("confirm/2-never.snapshot").unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
