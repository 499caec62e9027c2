//! `rampart geo`: which country is each address in, and how many addresses per country.

use std::io::{BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use rampart_lists::{Country, CountryDb, ImportOptions};
use rampart_prefix::{PrefixMap, PrefixMapBuilder};
use serde::Serialize;

/// The country databases Debian's tor-geoipdb installs.
pub(crate) const DEFAULT_DBS: [&str; 2] = ["/usr/share/tor/geoip", "/usr/share/tor/geoip6"];

/// `rampart geo`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rampart geo 1.1.1.1 2001:200::1
  rampart geo --file attackers.txt            counts per country
  rampart geo --file - --each --json < log-addresses.txt
  rampart geo --db GeoLite2-Country.mmdb 203.0.113.7")]
pub struct GeoArgs {
    /// Addresses to look up (IPv4-mapped IPv6 addresses are looked up as IPv4).
    #[arg(value_name = "ADDR", required_unless_present = "file")]
    pub addrs: Vec<String>,
    /// A file of addresses, one per line, `#` comments allowed (`-` for standard input):
    /// prints the number of addresses per country.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// With --file, also print each address with its country.
    #[arg(long)]
    pub each: bool,
    /// Skip lines of --file that are not addresses (reporting how many) instead of failing.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Country database: a MaxMind/DB-IP .mmdb file or a tor geoip/geoip6 file; repeat for
    /// several. Default: /usr/share/tor/geoip and /usr/share/tor/geoip6 (tor-geoipdb).
    #[arg(long, value_name = "FILE")]
    pub db: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<Entry>,
    /// Countries by descending count.
    countries: Vec<CountryCount>,
    unknown: usize,
    total: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<Skipped<'a>>,
}

#[derive(Serialize)]
struct Entry {
    address: IpAddr,
    country: Option<Country>,
}

#[derive(Serialize)]
struct CountryCount {
    country: Country,
    count: usize,
}

#[derive(Serialize)]
struct Skipped<'a> {
    count: usize,
    first: Vec<&'a str>,
}

/// Looks the addresses up and prints them and/or the counts per country.
pub fn run(args: GeoArgs) -> Result<ExitCode> {
    let mut addrs = Vec::with_capacity(args.addrs.len());
    for a in &args.addrs {
        let ip: IpAddr = a
            .parse()
            .map_err(|_| anyhow::anyhow!("`{a}` is not an IP address"))?;
        addrs.push(rampart_prefix::unmap_addr(ip));
    }
    let mut skipped_lines = Vec::new();
    let mut skipped = 0;
    if let Some(path) = &args.file {
        let opts = crate::input::import_options(ImportOptions {
            skip_invalid: args.skip_invalid,
            ..ImportOptions::default()
        });
        let read = if path == Path::new("-") {
            rampart_lists::read_addresses(std::io::stdin().lock(), "<stdin>", opts)
        } else {
            let f = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            rampart_lists::read_addresses(BufReader::new(f), &path.display().to_string(), opts)
        };
        let got = read.map_err(|e| anyhow::anyhow!("{e}"))?;
        skipped = got.skipped.count;
        skipped_lines = got.skipped.first.iter().map(|e| e.to_string()).collect();
        addrs.extend(got.items);
    }
    let db = load(&args.db)?;

    let mut counts = vec![0usize; db.values().len()];
    let mut unknown = 0;
    let each = args.file.is_none() || args.each;
    let mut entries = Vec::with_capacity(if each { addrs.len() } else { 0 });
    for &a in &addrs {
        let i = db.get_index(a);
        match i {
            Some(i) => counts[i] += 1,
            None => unknown += 1,
        }
        if each {
            entries.push(Entry {
                address: a,
                country: i.map(|i| db.values()[i]),
            });
        }
    }
    let mut countries: Vec<CountryCount> = counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, &count)| CountryCount {
            country: db.values()[i],
            count,
        })
        .collect();
    countries.sort_by(|a, b| b.count.cmp(&a.count).then(a.country.cmp(&b.country)));
    let report = Report {
        addresses: entries,
        countries,
        unknown,
        total: addrs.len(),
        skipped: (skipped > 0).then(|| Skipped {
            count: skipped,
            first: skipped_lines.iter().map(String::as_str).collect(),
        }),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_text(&mut out, &report, args.file.is_some())?;
        if skipped > 0 {
            let s = if skipped == 1 { "" } else { "s" };
            eprintln!("rampart: skipped {skipped} invalid line{s}; the first:");
            for l in &skipped_lines {
                eprintln!("{l}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(out: &mut impl Write, r: &Report, summary: bool) -> Result<()> {
    let width = r
        .addresses
        .iter()
        .map(|e| e.address.to_string().len())
        .max()
        .unwrap_or(0);
    for e in &r.addresses {
        let cc = e
            .country
            .map_or_else(|| "--".to_string(), |c| c.to_string());
        writeln!(out, "{:width$}  {cc}", e.address.to_string())?;
    }
    if !summary {
        return Ok(());
    }
    if !r.addresses.is_empty() {
        writeln!(out)?;
    }
    let pct = |n: usize| 100.0 * n as f64 / r.total.max(1) as f64;
    let nw = r.total.to_string().len();
    for c in &r.countries {
        writeln!(
            out,
            "{}  {:>nw$}  {:5.1}%",
            c.country,
            c.count,
            pct(c.count)
        )?;
    }
    if r.unknown > 0 {
        writeln!(
            out,
            "--  {:>nw$}  {:5.1}%  (no country)",
            r.unknown,
            pct(r.unknown)
        )?;
    }
    let s = if r.countries.len() == 1 { "y" } else { "ies" };
    writeln!(
        out,
        "{} addresses, {} countr{s}",
        r.total,
        r.countries.len()
    )?;
    Ok(())
}

/// The country databases to read: those given with `--db`, else tor-geoipdb's two files
/// (with the apt command when they are missing). Shared with `rampart block country`.
pub(crate) fn country_databases(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let defaults: Vec<PathBuf> = DEFAULT_DBS.iter().map(PathBuf::from).collect();
    if let Some(missing) = defaults.iter().find(|p| !p.exists()) {
        bail!(
            "no country database: {} is missing\n  install it with: apt-get install \
             tor-geoipdb\n  or name one with --db FILE (a .mmdb file or a tor geoip file)",
            missing.display()
        );
    }
    Ok(defaults)
}

/// Reads one country database (either kind) within the limits of `opts` and of
/// `--max-input-bytes`/`--max-line-bytes`. Shared with `rampart block country`.
pub(crate) fn read_db(path: &Path, opts: ImportOptions) -> Result<CountryDb> {
    let name = path.display().to_string();
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {name}"))?;
    Ok(rampart_lists::read_country_db(
        BufReader::new(f),
        &name,
        crate::input::import_options(opts),
    )?)
}

/// Reads the databases into one map; without `--db`, tor-geoipdb's two files. Shared
/// with `rampart top`.
pub(crate) fn load(paths: &[PathBuf]) -> Result<PrefixMap<Country>> {
    let paths = &country_databases(paths)?;
    let mut b = PrefixMapBuilder::new();
    for path in paths {
        match read_db(path, ImportOptions::default())? {
            CountryDb::Mmdb(got) => {
                for (p, c) in got.items {
                    b.insert(p, c);
                }
            }
            CountryDb::TorGeoip(got) => {
                for (r, c) in got.items {
                    b.insert_range(r, c);
                }
            }
        }
    }
    Ok(b.build())
}
