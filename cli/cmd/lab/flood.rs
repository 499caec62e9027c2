//! `rampart lab flood|probe|serve`: flags to a `FloodSpec` / `HttpLoad`, results rendered.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rampart_lab::flood::{FloodKind, FloodReport, FloodSpec, Spoof, MAX_DURATION};
use rampart_lab::http::{HttpLoad, HttpReport};
use rampart_lab::{topology, Lab};

use super::{FloodArgs, FloodKindArg, ProbeArgs, ServeArgs};

/// Longest `rampart lab serve`.
const MAX_SERVE: u64 = 3600;

fn attach(prefix: &str, role: &str) -> Result<Lab> {
    let lab = Lab::attach(prefix)?;
    if lab.roles().is_empty() {
        bail!("the lab is not up: run `rampart lab up` first");
    }
    if !lab.roles().iter().any(|r| r == role) {
        bail!(
            "the lab has no role {role:?}; its roles are {}",
            lab.roles().join(", ")
        );
    }
    Ok(lab)
}

fn seconds(flag: &str, s: f64) -> Result<Duration> {
    if !(s > 0.0 && s <= MAX_DURATION.as_secs_f64()) {
        bail!(
            "{flag} {s}: give more than 0 and at most {} seconds",
            MAX_DURATION.as_secs()
        );
    }
    Ok(Duration::from_secs_f64(s))
}

pub fn flood(prefix: &str, a: &FloodArgs) -> Result<ExitCode> {
    let kind = match a.kind {
        FloodKindArg::Syn => FloodKind::Syn,
        FloodKindArg::Connect => FloodKind::Connect,
        FloodKindArg::Udp => FloodKind::Udp,
        FloodKindArg::Http => FloodKind::Http,
    };
    let spoof = if a.spoof.is_empty() && a.sources.is_none() {
        None
    } else {
        let prefixes = a
            .spoof
            .iter()
            .map(|t| {
                t.parse()
                    .with_context(|| format!("--spoof {t:?}: not an address or CIDR prefix"))
            })
            .collect::<Result<_>>()?;
        Some(Spoof {
            prefixes,
            count: a.sources,
        })
    };
    let spec = FloodSpec {
        kind,
        dst: topology::target(&a.to, a.ipv6)?,
        rate: a.rate,
        duration: seconds("--duration", a.duration)?,
        count: a.count,
        spoof,
        seed: a.seed,
    };
    spec.check()?;
    let lab = attach(prefix, &a.from)?;
    let report = lab
        .flood(&a.from, &spec)
        .with_context(|| format!("flooding {} from {}", spec.dst, a.from))?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        render_flood(&mut out, &a.from, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn render_flood(out: &mut impl Write, from: &str, r: &FloodReport) -> Result<()> {
    let kind = format!("{:?}", r.kind).to_lowercase();
    let unit = match r.kind {
        FloodKind::Connect => "connections",
        FloodKind::Http => "requests",
        _ => "packets",
    };
    writeln!(
        out,
        "{kind} flood {from} → {}: {} {unit} sent in {:.2} s ({:.0}/s achieved, {}/s asked), \
         {} errors",
        r.target, r.sent, r.elapsed_secs, r.rate_achieved, r.rate_requested, r.errors
    )?;
    if r.spoofed {
        writeln!(out, "  sources: {} spoofed addresses", r.sources)?;
    }
    if let Some(c) = r.connections {
        writeln!(
            out,
            "  connections at the end: {} established (held), {} refused, {} still connecting",
            c.established, c.refused, c.pending
        )?;
    }
    if let Some(h) = &r.http {
        render_http(out, h)?;
    }
    if let Some(e) = &r.first_error {
        writeln!(out, "  first error: {e}")?;
    }
    Ok(())
}

fn render_http(out: &mut impl Write, h: &HttpReport) -> Result<()> {
    writeln!(
        out,
        "  {} of {} requests succeeded ({:.2} %); latency ms p50 {:.1} p90 {:.1} p99 {:.1} \
         max {:.1}",
        h.ok,
        h.requests,
        h.success_rate * 100.0,
        h.latency_ms.p50,
        h.latency_ms.p90,
        h.latency_ms.p99,
        h.latency_ms.max
    )?;
    for (kind, n) in &h.failures {
        writeln!(out, "  failed: {n} × {kind}")?;
    }
    Ok(())
}

pub fn probe(prefix: &str, a: &ProbeArgs) -> Result<ExitCode> {
    let load = HttpLoad {
        dst: topology::target(&a.to, a.ipv6)?,
        rate: a.rate,
        duration: seconds("--duration", a.duration)?,
        count: a.count,
        timeout: Duration::from_millis(a.timeout),
    };
    load.check()?;
    let lab = attach(prefix, &a.from)?;
    let report = lab
        .http_load(&a.from, &load)
        .with_context(|| format!("HTTP requests from {} to {}", a.from, load.dst))?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "HTTP {} → {}: {} requests in {:.2} s ({:.1}/s)",
            a.from, report.target, report.requests, report.elapsed_secs, report.rate_achieved
        )?;
        render_http(&mut out, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn serve(prefix: &str, a: &ServeArgs) -> Result<ExitCode> {
    if a.duration == 0 || a.duration > MAX_SERVE {
        bail!("--duration {}: give 1 to {MAX_SERVE} seconds", a.duration);
    }
    let lab = attach(prefix, &a.on)?;
    let server = lab
        .serve_http(&a.on, a.port)
        .with_context(|| format!("serving HTTP on port {} in {}", a.port, a.on))?;
    println!(
        "serving HTTP in {} on port {} for {} s",
        a.on, a.port, a.duration
    );
    std::thread::sleep(Duration::from_secs(a.duration));
    println!("served {} requests", server.served());
    Ok(ExitCode::SUCCESS)
}
