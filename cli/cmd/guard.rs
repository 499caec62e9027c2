//! `rampart guard check-log`: reads a log with rampart_logs and renders what it found.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rampart_logs::{
    escape, Journal, JournalEntry, Line, LineReader, Origin, Parsed, Source, Tally, MAX_JSON_LINE,
};
use serde::Serialize;

use crate::flags::{CheckLogArgs, GuardCommand, GuardRunArgs, LogSource};

/// How much of a line not understood is shown.
const EXCERPT: usize = 80;

/// Runs a `rampart guard` subcommand.
pub fn run(command: GuardCommand) -> Result<ExitCode> {
    match command {
        GuardCommand::Run(args) => daemon(args),
        GuardCommand::CheckLog(args) => check_log(args),
    }
}

/// `rampart guard run`: the policy's [guard] table and what the daemon needs from the
/// rest of the policy (`allow_from`, the `[flood]` bans), then rampart_guardd::serve.
fn daemon(args: GuardRunArgs) -> Result<ExitCode> {
    // First, before any thread exists: SIGTERM and SIGINT become a flag.
    let stop = rampart_guardd::stop_flag().context("blocking SIGTERM")?;
    let state = super::apply::state_dir(&args.state)?;
    let path = args
        .policy
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(rampart_policy::DEFAULT_PATH));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read policy file {}", path.display()))?;
    let file = path.display().to_string();
    let config = match rampart_guard::GuardConfig::from_policy(&file, &text) {
        Ok(Some(c)) if c.enabled => c,
        Ok(_) => {
            eprintln!(
                "rampart: {file} has no [guard] table (or enabled = false): nothing to guard"
            );
            // Under systemd: started, and done.
            if let Some(n) = rampart_guardd::Notify::from_env() {
                n.send("READY=1\nSTATUS=[guard] is not enabled");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("the guard was not started");
            return Ok(ExitCode::FAILURE);
        }
    };
    let fleet = match rampart_fleet::FleetConfig::from_policy(&file, &text) {
        Ok(f) => f,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("the guard was not started");
            return Ok(ExitCode::FAILURE);
        }
    };
    let policy = rampart_policy::Policy::parse(&rampart_ruleset::Source::new(file.clone(), text))?;
    let allow_from = policy
        .allow_from
        .iter()
        .map(|a| (a.prefix, format!("policy allow_from ({file})")))
        .collect();
    let kernel_bans = policy.flood.as_ref().map(|f| rampart_guardd::KernelBans {
        log_group: f.log_group,
        ban_secs: Default::default(),
        default_secs: f.ban_time,
    });
    let setup = rampart_guardd::Setup {
        config,
        state,
        allow_from,
        kernel_bans,
        ssh_connection: std::env::var("SSH_CONNECTION").ok(),
        from_start: args.from_start,
        fleet,
    };
    rampart_guardd::serve(setup, &stop)?;
    Ok(ExitCode::SUCCESS)
}

fn source(s: LogSource) -> Source {
    match s {
        LogSource::Sshd => Source::Sshd,
        LogSource::NginxAccess => Source::NginxAccess,
        LogSource::NginxError => Source::NginxError,
        LogSource::ApacheAccess => Source::ApacheAccess,
        LogSource::ApacheError => Source::ApacheError,
    }
}

#[derive(Serialize)]
struct EventJson<'a> {
    line: u64,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
}

#[derive(Serialize)]
struct SummaryJson {
    source: &'static str,
    lines: u64,
    events: u64,
    not_events: u64,
    not_understood: u64,
    overlong: u64,
    unattributed: u64,
    kinds: Vec<(String, u64)>,
    top: Vec<(String, u64)>,
    seconds: f64,
}

struct Out<W: Write> {
    w: W,
    args: CheckLogArgs,
    tally: Tally,
}

impl<W: Write> Out<W> {
    fn line(
        &mut self,
        n: u64,
        line: Line<'_>,
        parse: impl FnOnce(&[u8]) -> Parsed<'_>,
    ) -> io::Result<()> {
        let text = match line {
            Line::Overlong(bytes) => {
                self.tally.add_overlong();
                if !self.args.quiet && !self.args.json {
                    writeln!(self.w, "{n}: overlong line ({bytes} bytes), skipped")?;
                }
                return Ok(());
            }
            Line::Text(t) => t,
        };
        let parsed = parse(text);
        self.tally.add(&parsed);
        if self.args.quiet {
            return Ok(());
        }
        match &parsed {
            Parsed::Event(e) if self.args.json => {
                let (addr, name) = match e.origin {
                    Origin::Addr(a) => (Some(a.to_string()), None),
                    Origin::Name(h) => (None, Some(h)),
                    Origin::Unknown => (None, None),
                };
                let j = EventJson {
                    line: n,
                    kind: e.kind.name(),
                    addr,
                    name,
                    user: e.user.map(|u| escape(u, 200)),
                    port: e.port,
                    status: e.status,
                };
                serde_json::to_writer(&mut self.w, &j)?;
                self.w.write_all(b"\n")?;
            }
            _ if self.args.json => {}
            Parsed::Event(e) => {
                write!(self.w, "{n}: {} {}", e.kind, e.origin)?;
                if let Some(u) = e.user {
                    // Quoted: a client's name may hold spaces and look like more fields.
                    write!(
                        self.w,
                        " user=\"{}\"",
                        escape(u, EXCERPT).replace('"', "\\\"")
                    )?;
                }
                if let Some(s) = e.status {
                    write!(self.w, " status={s}")?;
                }
                self.w.write_all(b"\n")?;
            }
            Parsed::NotUnderstood(why) => {
                writeln!(
                    self.w,
                    "{n}: not understood ({why}): {}",
                    escape(text, EXCERPT)
                )?;
            }
            Parsed::NotEvent if self.args.all => writeln!(self.w, "{n}: -")?,
            Parsed::NotEvent => {}
        }
        Ok(())
    }

    fn summary(&mut self, source: Source, seconds: f64, bytes: u64) -> io::Result<()> {
        let t = &self.tally;
        let top = t.top(self.args.top);
        if self.args.json {
            let s = SummaryJson {
                source: source.name(),
                lines: t.lines,
                events: t.events,
                not_events: t.not_events,
                not_understood: t.not_understood,
                overlong: t.overlong,
                unattributed: t.unattributed,
                kinds: t
                    .kinds
                    .iter()
                    .map(|(k, c)| (k.name().to_string(), *c))
                    .collect(),
                top: top.iter().map(|(o, c)| (o.to_string(), *c)).collect(),
                seconds,
            };
            serde_json::to_writer(&mut self.w, &serde_json::json!({ "summary": s }))?;
            return self.w.write_all(b"\n");
        }
        let w = &mut self.w;
        writeln!(
            w,
            "{source}: {} lines: {} events, {} not events, {} not understood, {} overlong",
            t.lines, t.events, t.not_events, t.not_understood, t.overlong
        )?;
        if !t.kinds.is_empty() {
            let kinds: Vec<String> = t.kinds.iter().map(|(k, c)| format!("{k} {c}")).collect();
            writeln!(w, "kinds: {}", kinds.join(", "))?;
        }
        if t.unattributed > 0 {
            writeln!(w, "events without an address: {}", t.unattributed)?;
        }
        if !top.is_empty() {
            writeln!(w, "top origins ({} distinct):", t.origins())?;
            for (o, c) in &top {
                writeln!(w, "  {c:>9}  {o}")?;
            }
        }
        let rate = if seconds > 0.0 {
            t.lines as f64 / seconds
        } else {
            0.0
        };
        writeln!(
            w,
            "read in {seconds:.3} s: {:.0} lines/s, {:.1} MB/s",
            rate,
            if seconds > 0.0 {
                bytes as f64 / seconds / 1e6
            } else {
                0.0
            }
        )
    }
}

fn check_log(args: CheckLogArgs) -> Result<ExitCode> {
    let src = source(args.source);
    let stdout = io::stdout();
    let mut out = Out {
        w: BufWriter::with_capacity(1 << 16, stdout.lock()),
        args,
        tally: Tally::default(),
    };
    let start = Instant::now();
    let bytes;
    if let Some(unit) = out.args.journal.clone() {
        let journal = Journal {
            unit,
            after: None,
            follow: false,
        };
        let mut child = journal
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running journalctl (is systemd's journalctl installed?)")?;
        let mut reader = LineReader::with_max(child.stdout.take().expect("piped"), MAX_JSON_LINE);
        let mut n = 0;
        while let Some(line) = reader.next_line()? {
            n += 1;
            match line {
                Line::Text(t) => match JournalEntry::parse(t) {
                    Ok(e) => out.line(n, Line::Text(&e.message), |m| src.parse(m))?,
                    Err(_) => {
                        out.line(n, line, |_| Parsed::NotUnderstood("not a journal entry"))?
                    }
                },
                Line::Overlong(_) => out.line(n, line, |_| Parsed::NotEvent)?,
            }
        }
        bytes = reader.consumed();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = child.wait()?;
        if !status.success() {
            bail!(
                "journalctl -u {} failed ({status}): {}",
                journal.unit,
                escape(err.trim().as_bytes(), 300)
            );
        }
    } else {
        let path = out
            .args
            .file
            .clone()
            .expect("clap requires FILE or --journal");
        let input: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(
                File::open(&path)
                    .with_context(|| format!("cannot open the log {}", path.display()))?,
            )
        };
        let mut reader = LineReader::new(input);
        let mut n = 0;
        while let Some(line) = reader
            .next_line()
            .with_context(|| format!("reading {}", path.display()))?
        {
            n += 1;
            out.line(n, line, |t| src.parse(t))?;
        }
        if let Some(line) = reader.finish() {
            n += 1;
            out.line(n, line, |t| src.parse(t))?;
        }
        bytes = reader.consumed();
    }
    let seconds = start.elapsed().as_secs_f64();
    out.summary(src, seconds, bytes)?;
    out.w.flush()?;
    Ok(ExitCode::SUCCESS)
}
