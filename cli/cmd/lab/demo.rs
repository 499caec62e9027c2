//! `rampart lab demo`: the main job end to end, on real traffic in the lab.
//!
//! Steps: build (or reuse) the lab → put the default webserver policy on the
//! server ([`apply_server_policy`]) → probe from a client, an attacker and
//! the server itself → report each check with ✔/✘ and its time → take the
//! lab down (unless it was up before, or `--keep`).
//!
//! The policy is the built-in `webserver` profile, what `rampart up` applies
//! when there is no policy file. [`apply_server_policy`] compiles it with
//! `rampart-nft` and applies it with `rampart-kernel` inside the server's
//! namespace (one transaction, table `inet rampart`); without `nft`
//! on the machine it falls back to rampart's iptables-save rendering through
//! `iptables-restore`. The report says which was used.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rampart_lab::topology::{self, Host};
use rampart_lab::{have_tool, Fate, Lab, Probe, Proto};
use rampart_policy::{Policy, Profile};
use rampart_ruleset::{to_save, Family, Ruleset};

/// Wait for an answer to a probe the policy should let through (it comes in
/// microseconds; this only bounds a failure).
const SERVED_TIMEOUT: Duration = Duration::from_secs(1);

/// Wait for an answer to a probe the policy should stop: a drop is seen as
/// silence, so this is how long a "closed" check takes.
const CLOSED_TIMEOUT: Duration = Duration::from_millis(500);

const SERVER: &str = "server";

/// How the policy went into the server's kernel.
#[derive(Debug, Clone, Copy)]
enum Backend {
    /// `rampart_nft::compile`, then `nft -f` in the server's namespace.
    Nft,
    /// rampart's iptables-save rendering, through `iptables-restore` / `ip6tables-restore`.
    IptablesRestore,
}

impl Backend {
    fn describe(self) -> &'static str {
        match self {
            Backend::Nft => "rampart apply (compiled to nft, one transaction, table inet rampart)",
            Backend::IptablesRestore => {
                "iptables-restore (rampart's iptables-save rendering; `nft` is not installed)"
            }
        }
    }
}

/// What a check expects of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Delivered to the listener.
    Served,
    /// Refused or dropped.
    Closed,
}

/// One line of the report.
struct Check {
    from: &'static str,
    to: &'static str,
    proto: Proto,
    port: u16,
    what: &'static str,
    expect: Expect,
}

const CHECKS: &[Check] = &[
    Check {
        from: "client1",
        to: SERVER,
        proto: Proto::Tcp,
        port: 22,
        what: "ssh",
        expect: Expect::Served,
    },
    Check {
        from: "client1",
        to: SERVER,
        proto: Proto::Tcp,
        port: 80,
        what: "http",
        expect: Expect::Served,
    },
    Check {
        from: "client2",
        to: SERVER,
        proto: Proto::Tcp,
        port: 443,
        what: "https",
        expect: Expect::Served,
    },
    Check {
        from: "client1",
        to: SERVER,
        proto: Proto::Icmp,
        port: 0,
        what: "ping",
        expect: Expect::Served,
    },
    Check {
        from: "client1",
        to: SERVER,
        proto: Proto::Tcp,
        port: 8080,
        what: "not in policy",
        expect: Expect::Closed,
    },
    Check {
        from: "attacker1",
        to: SERVER,
        proto: Proto::Tcp,
        port: 3306,
        what: "mysql",
        expect: Expect::Closed,
    },
    Check {
        from: SERVER,
        to: "client1",
        proto: Proto::Tcp,
        port: 443,
        what: "outbound",
        expect: Expect::Served,
    },
];

/// Runs the demo under `prefix`; exit code 0 when every check came out as expected.
pub fn run(prefix: &str, keep: bool) -> Result<ExitCode> {
    let colour = std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "rampart lab demo: a web server with the default policy, on real traffic in network namespaces"
    )?;

    // 1. The lab.
    let t = Instant::now();
    let status = topology::status(prefix)?;
    let (mut lab, reused) = if status.namespaces.is_empty() {
        (topology::up(prefix).context("building the lab")?, false)
    } else if status.complete {
        (Lab::attach(prefix)?, true)
    } else {
        bail!("a partial lab exists (left by a crash?): run `rampart lab down` first");
    };
    let hosts: Vec<String> = topology::HOSTS
        .iter()
        .map(|h| format!("{} {}", h.role, h.v4))
        .collect();
    writeln!(
        out,
        "  lab     {} {} namespaces {}-*  {}\n          {}",
        if reused { "reusing" } else { "built" },
        lab.namespaces().len(),
        prefix,
        ms(t.elapsed()),
        hosts.join(", ")
    )?;

    // 2. The policy.
    let t = Instant::now();
    let ruleset = webserver_ruleset()?;
    let backend = apply_server_policy(&lab, &ruleset)?;
    writeln!(
        out,
        "  policy  webserver profile (the default of `rampart up`) on {}  {}\n          \
         deny in; ssh, http, https, ping and replies in; all out\n          \
         loaded with {}",
        lab.ns(SERVER)?,
        ms(t.elapsed()),
        backend.describe()
    )?;

    // 3. The checks.
    let mut failed = 0;
    let mut served = false;
    let mut refused = false;
    for c in CHECKS {
        let line = check(&lab, c, colour)?;
        if line.ok {
            served |= c.expect == Expect::Served && c.port == 80;
            refused |= c.expect == Expect::Closed && c.port == 8080;
        } else {
            failed += 1;
        }
        writeln!(out, "{}", line.text)?;
    }

    // 4. The guard: attackers flood, are banned within a second, the client is served.
    let mut guarded = None;
    if have_tool("nft") {
        let exe = std::env::current_exe().context("finding the rampart binary")?;
        let step = super::guard_step::run(&lab, &exe)?;
        for l in &step.lines {
            writeln!(out, "{l}")?;
        }
        if !step.ok {
            failed += 1;
        }
        guarded = Some(step.ok);
    } else {
        writeln!(
            out,
            "  guard   skipped: it bans through nftables, and `nft` is not installed"
        )?;
    }

    // 5. Down.
    if reused || keep {
        lab.keep();
        writeln!(
            out,
            "  lab     left up ({}): `rampart lab down` removes it",
            if reused { "it was up before" } else { "--keep" }
        )?;
    } else {
        let t = Instant::now();
        let n = lab.namespaces().len();
        lab.remove_on_drop();
        drop(lab);
        writeln!(
            out,
            "  lab     down: {n} namespaces removed  {}",
            ms(t.elapsed())
        )?;
    }
    writeln!(
        out,
        "result: {} of {} checks as expected; client served: {}; closed port refused: {}; flooders banned within a second: {}  ({} in all)",
        CHECKS.len() + usize::from(guarded.is_some()) - failed,
        CHECKS.len() + usize::from(guarded.is_some()),
        yes_no(served),
        yes_no(refused),
        guarded.map(yes_no).unwrap_or("skipped"),
        ms(started.elapsed())
    )?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Put `ruleset` into the server's kernel, inside its namespace. The one
/// place that changes when the nft compiler and the kernel apply land.
fn apply_server_policy(lab: &Lab, ruleset: &Ruleset) -> Result<Backend> {
    if have_tool("nft") {
        let script = match rampart_enforce::compile_for_apply(ruleset) {
            Ok(s) => s,
            Err(e) => bail!("compiling the webserver policy to nft:\n{e}"),
        };
        // The same path as `rampart apply`: one transaction on our table only.
        let nft = rampart_kernel::Nft::in_netns(lab.ns(SERVER)?);
        rampart_kernel::apply(
            &nft,
            script.text(),
            &rampart_kernel::ApplyOptions::default(),
        )
        .context("applying the compiled policy in the server's namespace")?;
        return Ok(Backend::Nft);
    }
    let v4 = to_save(ruleset, Family::Ipv4, false);
    let v6 = to_save(ruleset, Family::Ipv6, false);
    lab.load_save(SERVER, &v4)
        .context("loading the policy with iptables-restore in the server's namespace (is iptables installed?)")?;
    if !v6.trim().is_empty() {
        lab.load_save6(SERVER, &v6).context(
            "loading the policy with ip6tables-restore in the server's namespace (is iptables installed?)",
        )?;
    }
    Ok(Backend::IptablesRestore)
}

/// The built-in webserver profile, as `rampart up` applies it without a policy file.
fn webserver_ruleset() -> Result<Ruleset> {
    let policy = Policy::builtin(Profile::Webserver);
    match policy.to_ruleset(|path| {
        Err(std::io::Error::other(format!(
            "the built-in profile imports nothing ({path})"
        )))
    }) {
        Ok(compiled) => Ok(compiled.ruleset),
        Err(e) => bail!("the built-in webserver profile does not compile:\n{e}"),
    }
}

struct Line {
    ok: bool,
    text: String,
}

fn check(lab: &Lab, c: &Check, colour: bool) -> Result<Line> {
    let from = host(c.from)?;
    let to = host(c.to)?;
    let probe = Probe {
        proto: c.proto,
        src: IpAddr::V4(from.v4),
        dst: IpAddr::V4(to.v4),
        port: c.port,
    };
    let timeout = match c.expect {
        Expect::Served => SERVED_TIMEOUT,
        Expect::Closed => CLOSED_TIMEOUT,
    };
    let t = Instant::now();
    let fate = lab
        .probe(c.from, &probe, timeout)
        .with_context(|| format!("probing {}", target(c, from, to)))?;
    let took = t.elapsed();
    let (ok, got) = match (c.expect, fate) {
        (Expect::Served, Fate::Delivered { .. }) => (true, served_word(c.proto).to_owned()),
        (Expect::Closed, Fate::Dropped) => (
            true,
            format!("closed (dropped: no answer in {})", ms(timeout)),
        ),
        (Expect::Closed, Fate::Rejected) => (true, "closed (rejected: RST/ICMP error)".into()),
        (Expect::Served, Fate::Dropped) => {
            (false, format!("NOT served (no answer in {})", ms(timeout)))
        }
        (Expect::Served, Fate::Rejected) => (false, "NOT served (rejected)".into()),
        (Expect::Closed, Fate::Delivered { .. }) => (false, "NOT closed (it got through)".into()),
    };
    let mark = match (ok, colour) {
        (true, true) => "\x1b[32m✔\x1b[0m",
        (true, false) => "✔",
        (false, true) => "\x1b[31m✘\x1b[0m",
        (false, false) => "✘",
    };
    let mut text = String::new();
    let _ = write!(
        text,
        "  {mark} {:<56} {:<38} {:>8}",
        target(c, from, to),
        got,
        ms(took)
    );
    Ok(Line { ok, text })
}

fn target(c: &Check, from: &Host, to: &Host) -> String {
    let what = match c.proto {
        Proto::Icmp => format!("({})", c.what),
        Proto::Tcp => format!("tcp/{} ({})", c.port, c.what),
        Proto::Udp | Proto::RawUdp | Proto::RawUdpExt(_) => format!("udp/{} ({})", c.port, c.what),
        Proto::Segment(_) => format!("tcp segment/{} ({})", c.port, c.what),
    };
    format!("{} {} → {} {what}", from.role, from.v4, to.role)
}

fn served_word(proto: Proto) -> &'static str {
    match proto {
        Proto::Icmp => "answered",
        _ => "served",
    }
}

fn host(role: &str) -> Result<&'static Host> {
    topology::host(role).with_context(|| format!("no host {role} in the lab topology"))
}

pub(super) fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
