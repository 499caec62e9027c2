//! `rampart apply`, `rampart confirm` and the hidden `rampart confirm-watch`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use rampart_kernel::{ApplyOptions, Nft, Outcome, StateDir, DEFAULT_STATE_DIR, STATE_DIR_ENV};
use rampart_nft::NftScript;
use rampart_ruleset::Ruleset;

use crate::flags::{ApplyArgs, ConfirmWatchArgs, PolicyArgs, StateArgs};
use crate::input::load_ruleset_args;

/// The state directory from `--state-dir`, `$RAMPART_STATE_DIR` or the default, made
/// absolute (the rollback watcher gets it as an argument).
pub fn state_dir(args: &StateArgs) -> Result<StateDir> {
    let p = args
        .state_dir
        .clone()
        .or_else(|| std::env::var_os(STATE_DIR_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
    let p = if p.is_absolute() {
        p
    } else {
        std::env::current_dir()?.join(p)
    };
    Ok(StateDir::new(p))
}

/// A policy ready for the kernel.
pub enum PolicyScript {
    /// Compiled here ([`rampart_enforce::compile_for_apply`]): a line nft refuses maps
    /// back to the rule of `source` it came from.
    Compiled {
        /// The script and its provenance.
        script: NftScript,
        /// The name of the ruleset's source, for error messages.
        source: String,
    },
    /// An nft script given as is (`--nft FILE`).
    Given(String),
}

impl PolicyScript {
    /// Compiles `ruleset` for `up`/`apply`.
    pub fn compile(ruleset: &Ruleset, source: String) -> Result<PolicyScript> {
        let script =
            rampart_enforce::compile_for_apply(ruleset).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(PolicyScript::Compiled { script, source })
    }

    /// The script text for the kernel.
    pub fn text(&self) -> String {
        match self {
            PolicyScript::Compiled { script, .. } => script.text().to_string(),
            PolicyScript::Given(text) => rampart_kernel::without_replace_preamble(text),
        }
    }

    /// An nft refusal told at the policy's own lines, when it was compiled here.
    fn explain(&self, err: rampart_kernel::Error) -> anyhow::Error {
        let PolicyScript::Compiled { script, source } = self else {
            return err.into();
        };
        let rampart_kernel::Error::Rejected { lines, .. } = &err else {
            return err.into();
        };
        let places: Vec<String> = lines
            .iter()
            .filter_map(|l| script.origin_of_line(*l))
            .map(|o| match o.span {
                // The place without its span: the line is said once, in front.
                Some(span) => format!(
                    "{source}:{}:{}: {}",
                    span.line,
                    span.col,
                    rampart_nft::RulePlace {
                        span: None,
                        ..o.clone()
                    }
                ),
                None => format!("{source}: {o}"),
            })
            .collect();
        if places.is_empty() {
            return err.into();
        }
        anyhow::Error::new(err).context(format!(
            "the kernel refused the rule{} at:\n  {}",
            if places.len() == 1 { "" } else { "s" },
            places.join("\n  ")
        ))
    }
}

/// The policy named on the command line, or `None` when none is named; with the ruleset
/// it was compiled from (none for `--nft`).
pub fn compiled_policy(args: &PolicyArgs) -> Result<Option<(PolicyScript, Option<Ruleset>)>> {
    if let Some(path) = &args.nft {
        let text = crate::input::read_input(path, crate::input::Trust::Owner)?
            .text()
            .to_string();
        return Ok(Some((PolicyScript::Given(text), None)));
    }
    if args.ruleset.rules.is_none() && args.ruleset.script.is_none() {
        return Ok(None);
    }
    let (ruleset, source) = load_ruleset_args(&args.ruleset, crate::input::Trust::Owner)?;
    let script = PolicyScript::compile(&ruleset, source.name().to_string())?;
    Ok(Some((script, Some(ruleset))))
}

/// A digest of what `apply` compiles from: this binary's version, the flags that change
/// the result and every input file's bytes. The same digest and an unmoved ruleset
/// generation mean the kernel has this policy: a re-apply answers without parsing ten
/// thousand rules again.
fn input_digest(args: &PolicyArgs) -> Result<Option<String>> {
    let r = &args.ruleset;
    let files = [
        ("rules", &r.rules),
        ("script", &r.script),
        ("sets", &r.sets),
        ("nft", &args.nft),
    ];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(env!("CARGO_PKG_VERSION").as_bytes());
    eat(&[u8::from(r.lenient)]);
    let mut any = false;
    for (what, path) in files {
        eat(what.as_bytes());
        if let Some(p) = path {
            any = true;
            // Streamed, within the input limit the parse reads it with: neither memory nor
            // time grows past that (`/dev/zero` ends here).
            let limit = crate::input::limits().max_bytes;
            let f = std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
            let mut r = std::io::Read::take(f, limit + 1);
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0u64;
            loop {
                let n = std::io::Read::read(&mut r, &mut buf)
                    .with_context(|| format!("reading {}", p.display()))?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                eat(&buf[..n]);
            }
            if total > limit {
                anyhow::bail!(
                    "{}: input larger than {limit} bytes, the most rampart reads from one input\n  \
                     = hint: give --max-input-bytes N to read larger files",
                    rampart_safeio::escaped(&p.display().to_string())
                );
            }
        }
    }
    Ok(any.then(|| format!("{h:016x}")))
}

/// `rampart apply`.
pub fn run(args: ApplyArgs) -> Result<ExitCode> {
    let state = state_dir(&args.state)?;
    let input = input_digest(&args.policy)?;
    let nft = Nft::new();
    if let (false, None, Some(key), Some(prev)) =
        (args.force, args.confirm, &input, state.applied()?)
    {
        let unmoved =
            prev.generation.is_some() && prev.generation == rampart_kernel::generation(&nft).ok();
        if prev.input.as_ref() == Some(key)
            && unmoved
            && rampart_kernel::pending(&state)?.is_empty()
        {
            report(&Outcome::Unchanged)?;
            persist(&state, &nft)?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    let Some((script, ruleset)) = compiled_policy(&args.policy)? else {
        bail!("give the policy with --rules FILE, --script FILE or --nft FILE");
    };
    if let Some(r) = &ruleset {
        super::analyse::show_change(&state, r)?;
    }
    let code = apply_script(&state, &script, input, args.force, args.confirm)?;
    match (&ruleset, code == ExitCode::SUCCESS) {
        (Some(r), true) => super::analyse::record_applied(&state, r)?,
        // An nft script says nothing the analysis reads: forget the old record.
        (None, true) => super::analyse::forget_applied(&state)?,
        _ => {}
    }
    Ok(code)
}

/// Applies a compiled nft script (our table only) in one transaction; with `confirm`, arms
/// the detached rollback watcher first. Shared by `apply` and `up`.
/// `input` is the digest of what `script` was compiled from, when known
/// (see [`input_digest`]); it is kept with the record.
pub fn apply_script(
    state: &StateDir,
    script: &PolicyScript,
    input: Option<String>,
    force: bool,
    confirm: Option<u64>,
) -> Result<ExitCode> {
    clear_stale(state)?;
    if let Some(p) = rampart_kernel::pending(state)?.first() {
        bail!(rampart_kernel::Error::Pending {
            remaining_secs: p.remaining(SystemTime::now()).as_secs()
        });
    }
    let text = script.text();
    let nft = Nft::new();
    let opts = ApplyOptions {
        force,
        previous: state.applied()?,
    };
    let Some(secs) = confirm else {
        let (outcome, mut record) =
            rampart_kernel::apply(&nft, &text, &opts).map_err(|e| script.explain(e))?;
        record.input = input;
        if opts.previous.as_ref() != Some(&record) {
            state.set_applied(&record)?;
        }
        report(&outcome)?;
        if let Some(line) = super::block::load_after(state)? {
            say(&line)?;
        }
        persist(state, &nft)?;
        return Ok(ExitCode::SUCCESS);
    };
    let now = SystemTime::now();
    let pending = rampart_kernel::arm(state, &nft, now, Duration::from_secs(secs))?;
    let watcher_args = vec![
        "confirm-watch".to_string(),
        pending.id.clone(),
        "--state-dir".to_string(),
        state.root().display().to_string(),
    ];
    let started = watcher_program().and_then(|exe| {
        Ok(rampart_kernel::spawn_watcher(
            state,
            &pending.id,
            &exe,
            &watcher_args,
            rampart_kernel::WATCHER_START,
        )?)
    });
    if let Err(e) = started {
        rampart_kernel::disarm(state, &pending.id)?;
        return Err(e.context(
            "nothing was applied: --confirm needs a running rollback watcher (the rules in place stay)",
        ));
    }
    match rampart_kernel::apply(&nft, &text, &opts) {
        Ok((Outcome::Unchanged, mut record)) => {
            record.input = input;
            rampart_kernel::disarm(state, &pending.id)?;
            if opts.previous.as_ref() != Some(&record) {
                state.set_applied(&record)?;
            }
            report(&Outcome::Unchanged)?;
            say("nothing to confirm")?;
        }
        Ok((outcome, mut record)) => {
            record.input = input;
            state.set_applied(&record)?;
            report(&outcome)?;
            if let Some(line) = super::block::load_after(state)? {
                say(&line)?;
            }
            say(&format!(
                "rollback armed: the previous rules come back in {secs} s unless confirmed.\n\
                 Open a NEW SSH connection to this host now and run `rampart confirm` from it \
                 within {secs} seconds. If you cannot connect, do nothing.\n\
                 Until confirmed, a reboot also brings back the previous rules."
            ))?;
        }
        Err(e) => {
            rampart_kernel::disarm(state, &pending.id)?;
            return Err(script.explain(e));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The program the rollback watcher runs: this very binary through `/proc/PID/exe`, which
/// still opens it after a package upgrade has replaced the file (the caller lives until
/// the watcher runs, see [`rampart_kernel::spawn_watcher`]).
fn watcher_program() -> Result<PathBuf> {
    let own = PathBuf::from(format!("/proc/{}/exe", std::process::id()));
    if own.exists() {
        return Ok(own);
    }
    std::env::current_exe().context("finding the rampart binary for the watcher")
}

/// Clears the pending confirmations whose rollback watcher is gone, saying so; returns
/// how many there were.
fn clear_stale(state: &StateDir) -> Result<usize> {
    let stale = rampart_kernel::clear_stale(state)?;
    for p in &stale {
        say(&format!(
            "note: the apply {} waiting for confirmation has no rollback watcher (it was \
             killed or never started): its pending confirmation is cleared, and the rules \
             it applied stay in place",
            p.id
        ))?;
    }
    Ok(stale.len())
}

/// Saves what the kernel now holds (rules and set contents) for `rampart restore` at boot,
/// so an applied, confirmed policy survives a reboot without a separate `rampart save`.
fn persist(state: &StateDir, nft: &Nft) -> Result<()> {
    if rampart_kernel::save(nft, state)? {
        say(&format!(
            "saved for boot: {} (restored by rampart-restore.service)",
            state.path("saved.nft").display()
        ))?;
    }
    Ok(())
}

/// Writes a line to standard output; a closed pipe is an error (that `main` treats as
/// success), never a panic, so an apply whose reader went away still finishes.
pub fn say(line: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

fn report(outcome: &Outcome) -> Result<()> {
    match outcome {
        Outcome::Unchanged => say("unchanged: the kernel already has this policy"),
        Outcome::Applied { recreated_sets } => {
            say("applied: table inet rampart replaced in one transaction")?;
            if !recreated_sets.is_empty() {
                say(&format!(
                    "note: sets redeclared with a new type or flags were recreated empty: {}",
                    recreated_sets.join(", ")
                ))?;
            }
            Ok(())
        }
        _ => say(&format!("{outcome:?}")),
    }
}

/// `rampart confirm`.
pub fn confirm(args: StateArgs) -> Result<ExitCode> {
    let state = state_dir(&args)?;
    let stale = clear_stale(&state)?;
    match rampart_kernel::confirm(&state) {
        Ok(done) => {
            for p in done {
                let left = p.remaining(SystemTime::now()).as_secs();
                println!("confirmed: the new rules stay (rollback cancelled with {left} s left)");
            }
            persist(&state, &Nft::new())?;
            Ok(ExitCode::SUCCESS)
        }
        // The rules of a stale confirmation stay: that is what confirming means.
        Err(rampart_kernel::Error::NothingPending) if stale > 0 => {
            persist(&state, &Nft::new())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ rampart_kernel::Error::NothingPending) => {
            eprintln!("rampart: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// Test-only: when set, `confirm-watch` exits with an error before it runs, as a watcher
/// whose binary vanished would. It can only make `apply --confirm` refuse.
const WATCHER_FAULT_ENV: &str = "RAMPART_TEST_WATCHER_FAULT";

/// `rampart confirm-watch ID`: the detached watcher. Its output goes to
/// `rollback.log` in the state directory (its standard streams are /dev/null).
pub fn watch(args: ConfirmWatchArgs) -> Result<ExitCode> {
    if std::env::var_os(WATCHER_FAULT_ENV).is_some() {
        return Ok(ExitCode::from(3));
    }
    let state = state_dir(&args.state)?;
    let nft = Nft::new();
    match rampart_kernel::watch(&state, &nft, &args.id) {
        Ok(rampart_kernel::WatchOutcome::RolledBack) => {
            state.log(&format!(
                "{}: apply {} not confirmed in time: previous rules restored",
                super::unix_now(),
                args.id
            ));
        }
        Ok(rampart_kernel::WatchOutcome::Abandoned) => state.log(&format!(
            "{}: apply {} was given up before its watcher ran: nothing to do",
            super::unix_now(),
            args.id
        )),
        Ok(_) => state.log(&format!(
            "{}: apply {} confirmed",
            super::unix_now(),
            args.id
        )),
        Err(e) => {
            state.log(&format!(
                "{}: rollback of {} FAILED: {e}",
                super::unix_now(),
                args.id
            ));
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_ruleset::{parse_script, ParseOptions, Source};

    /// A line nft refuses is told as the user's file, line and rule (the kernel's own
    /// refusals, reported by line of the script, map back through the provenance).
    #[test]
    fn a_refused_script_line_is_told_at_the_source_line() {
        let src = Source::new(
            "fw.sh",
            "iptables -P INPUT DROP\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n\
             iptables -A INPUT -p tcp --dport 80 -j ACCEPT\n",
        );
        let ruleset = parse_script(&src, ParseOptions::default()).unwrap().ruleset;
        let script = PolicyScript::compile(&ruleset, "fw.sh".into()).unwrap();
        let PolicyScript::Compiled { script: nft, .. } = &script else {
            unreachable!()
        };
        let line = nft.provenance()[1].line;
        let err = script.explain(rampart_kernel::Error::Rejected {
            stage: "apply",
            stderr: format!("script line {line}:1-5: Error: Could not process rule\n"),
            lines: vec![line],
        });
        let text = format!("{err:#}");
        assert!(
            text.starts_with(
                "the kernel refused the rule at:\n  fw.sh:3:1: iptables -t filter INPUT rule 2: "
            ),
            "{text}"
        );
    }
}
