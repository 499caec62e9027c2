//! One target per parser of untrusted input, each with its seeds and token dictionary.
//! (The sshd and web log parsers of `crates/logs` get theirs where they are written.)

use std::io;
use std::path::{Path, PathBuf};

use rampart_lists::{ImportOptions, Skipped};
use rampart_ruleset::{ParseOptions, Parsed, Source};
use rampart_safeio::Limits;

/// One parser under test.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its name (`rampart-fuzz --target NAME`).
    pub name: &'static str,
    /// The inputs mutations start from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Tokens the mutator inserts.
    pub dictionary: &'static [&'static str],
    /// Runs one input as rampart reads such a file: `Ok(what is shown besides the
    /// result)` or `Err(the error as shown)`.
    pub run: fn(&[u8]) -> Result<String, String>,
}

/// Every target, in the order `rampart-fuzz all` runs them.
pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "iptables",
            seeds: script_seeds,
            dictionary: IPTABLES,
            run: |b| ruleset(b, false),
        },
        Target {
            name: "iptables-save",
            seeds: save_seeds,
            dictionary: IPTABLES,
            run: |b| ruleset(b, true),
        },
        Target {
            name: "ipset",
            seeds: ipset_seeds,
            dictionary: IPSET,
            run: |b| {
                let r = rampart_lists::read_ipset(b, "fuzz.ipset", list_options(b));
                r.map(|g| skipped(&g.skipped)).map_err(|e| e.to_string())
            },
        },
        Target {
            name: "lists",
            seeds: list_seeds,
            dictionary: LISTS,
            run: |b| {
                let r = rampart_lists::read_plain(b, "fuzz.list", list_options(b));
                r.map(|g| skipped(&g.skipped)).map_err(|e| e.to_string())
            },
        },
        Target {
            name: "zone",
            seeds: list_seeds,
            dictionary: LISTS,
            run: |b| {
                let r = rampart_lists::read_zone(b, "fuzz.zone", list_options(b));
                r.map(|g| skipped(&g.skipped)).map_err(|e| e.to_string())
            },
        },
        Target {
            name: "tor-geoip",
            seeds: geoip_seeds,
            dictionary: GEOIP,
            run: |b| {
                let r = rampart_lists::read_tor_geoip(b, "fuzz.geoip", list_options(b));
                r.map(|g| skipped(&g.skipped)).map_err(|e| e.to_string())
            },
        },
        Target {
            name: "rir",
            seeds: rir_seeds,
            dictionary: RIR,
            run: |b| {
                let r = rampart_lists::read_rir(b, "fuzz.rir", list_options(b));
                r.map(|g| skipped(&g.skipped)).map_err(|e| e.to_string())
            },
        },
        Target {
            name: "mmdb",
            seeds: mmdb_seeds,
            dictionary: MMDB,
            run: |b| {
                let r = rampart_lists::read_country_db(b, "fuzz.mmdb", list_options(b));
                r.map(|_| String::new()).map_err(|e| e.to_string())
            },
        },
        Target {
            name: "policy",
            seeds: policy_seeds,
            dictionary: POLICY,
            run: policy,
        },
    ]
}

/// Small limits, so the long-line and large-input paths are reached by small inputs.
const LIMITS: Limits = Limits {
    max_line_len: 4096,
    max_bytes: 1 << 20,
};

/// Import options that vary with the input (skip or not), within [`LIMITS`].
fn list_options(input: &[u8]) -> ImportOptions {
    ImportOptions {
        skip_invalid: input.len() % 2 == 1,
        unmap_v4: input.len() % 3 != 0,
        max_entries: 10_000,
        max_bytes: LIMITS.max_bytes,
        max_line_len: LIMITS.max_line_len,
    }
}

fn skipped(s: &Skipped) -> String {
    if s.count == 0 {
        String::new()
    } else {
        s.to_string()
    }
}

/// What the CLI shows besides a parsed ruleset: repairs and notes, at most 20 of each.
fn shown(parsed: &Parsed, source: &Source) -> String {
    let mut out = String::new();
    for r in parsed.repairs.iter().take(rampart_safeio::MAX_ERRORS) {
        out.push_str(&r.describe(source));
        out.push('\n');
    }
    for n in parsed.notes.iter().take(rampart_safeio::MAX_ERRORS) {
        out.push_str(n);
        out.push('\n');
    }
    out
}

/// Reads `input` as the CLI reads a ruleset file: bounded, then parsed.
fn source(input: &[u8], name: &str) -> Result<Source, String> {
    let text = rampart_safeio::read_text(input, LIMITS).map_err(|e| e.to_string())?;
    Ok(Source::new(name, text))
}

fn ruleset(input: &[u8], save: bool) -> Result<String, String> {
    let src = source(input, if save { "fuzz.rules" } else { "fuzz.sh" })?;
    let opts = ParseOptions {
        lenient: input.len() % 2 == 1,
        ..ParseOptions::default()
    };
    let parsed = if save {
        rampart_ruleset::parse_save(&src, opts)
    } else {
        rampart_ruleset::parse_script(&src, opts)
    };
    parsed.map(|p| shown(&p, &src)).map_err(|e| e.to_string())
}

fn policy(input: &[u8]) -> Result<String, String> {
    let src = source(input, "fuzz.toml")?;
    let policy = rampart_policy::Policy::parse(&src).map_err(|e| e.to_string())?;
    // An import reads a small save file (or fails, for names that say so).
    let compiled = policy
        .to_ruleset(|p| {
            if p.contains("missing") {
                Err(io::Error::other("no such file"))
            } else {
                Ok(IMPORT.to_string())
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(compiled.notes.join("\n"))
}

const IMPORT: &str = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 192.0.2.0/24 -j DROP\nCOMMIT\n";

/// The repository root (examples/, testdata/, dist/).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &str, ext: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(root().join(dir))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .filter_map(|p| std::fs::read(p).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn script_seeds() -> Vec<Vec<u8>> {
    let mut s = files("examples", "sh");
    s.extend(files("testdata", "sh"));
    s.push(b"IPT=iptables\n$IPT -A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --name ssh --set\n$IPT -N x\n$IPT -A INPUT -j x\n".to_vec());
    s
}

/// The examples printed as iptables-save text.
fn save_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for seed in script_seeds() {
        let src = Source::new("seed", String::from_utf8_lossy(&seed).into_owned());
        if let Ok(p) = rampart_ruleset::parse_script(&src, ParseOptions::default()) {
            out.push(rampart_ruleset::to_save_all(&p.ruleset, seed.len() % 2 == 0).into_bytes());
        }
    }
    out.push(IMPORT.as_bytes().to_vec());
    out
}

fn ipset_seeds() -> Vec<Vec<u8>> {
    let mut out = vec![b"create bad hash:net family inet hashsize 1024 maxelem 65536\nadd bad 192.0.2.0/24\nadd bad 198.51.100.7\ncreate b6 hash:ip family inet6 timeout 600\nadd b6 2001:db8::1 timeout 30\ncreate ports hash:ip,port family inet\nadd ports 192.0.2.1,tcp:22\ncreate bm bitmap:port range 0-1024\nadd bm 80\ncreate n hash:net counters comment\nadd n 203.0.113.0/24 nomatch packets 1 bytes 2 comment \"x\"\n".to_vec()];
    for seed in script_seeds() {
        let src = Source::new("seed", String::from_utf8_lossy(&seed).into_owned());
        if let Ok(p) = rampart_ruleset::parse_script(&src, ParseOptions::default()) {
            if !p.ruleset.sets.is_empty() {
                out.push(rampart_ruleset::print_sets(&p.ruleset).into_bytes());
            }
        }
    }
    out
}

fn list_seeds() -> Vec<Vec<u8>> {
    vec![
        b"# bad hosts\n192.0.2.1\n192.0.2.0/30 ; net\n198.51.100.1-198.51.100.9\n2001:db8::/32\n::ffff:203.0.113.7\n".to_vec(),
        b"192.0.2.0/24\n198.51.100.0/24\n203.0.113.0/25\n2001:db8:1::/48\n".to_vec(),
        b"; Spamhaus DROP\n192.0.2.0/24 ; SBL1\r\n".to_vec(),
    ]
}

fn geoip_seeds() -> Vec<Vec<u8>> {
    vec![
        b"# tor geoip\n16777216,16777471,AU\n3221225984,3221226239,??\n".to_vec(),
        b"2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP\n2001:db8::,2001:db8::ff,DE\n"
            .to_vec(),
    ]
}

fn rir_seeds() -> Vec<Vec<u8>> {
    vec![b"2|ripencc|20240101|3|19830705|20240101|+0100\nripencc|*|ipv4|*|2|summary\nripencc|DE|ipv4|192.0.2.0|256|20100101|allocated\nripencc|FR|ipv6|2001:db8::|32|20100101|assigned|x\nripencc|NL|asn|64496|1|20100101|allocated\n".to_vec()]
}

fn mmdb_seeds() -> Vec<Vec<u8>> {
    use rampart_lists::{write_country_mmdb, Country};
    use rampart_prefix::{Prefix, PrefixMap};
    let cc = |s: &str| Country::new(s).expect("a country code");
    let p = |s: &str| s.parse::<Prefix>().expect("a prefix");
    let map: PrefixMap<Country> = [
        (p("1.0.0.0/24"), cc("AU")),
        (p("192.0.2.0/24"), cc("DE")),
        (p("198.51.100.0/25"), cc("FR")),
        (p("203.0.113.0/24"), cc("CN")),
        (p("2001:200::/35"), cc("JP")),
        (p("2001:db8::/32"), cc("NL")),
    ]
    .into_iter()
    .collect();
    vec![write_country_mmdb(&map, 1_700_000_000)]
}

fn policy_seeds() -> Vec<Vec<u8>> {
    let mut s = vec![
        std::fs::read(root().join("dist/rampart.toml")).unwrap_or_default(),
        b"profile = \"router\"\n[router]\nlan = \"eth1\"\nwan = \"eth0\"\n[input]\ntcp = [22, { port = 8443, comment = \"admin\" }, \"60000-61000\"]\nallow_from = [\"192.0.2.0/24\", \"2001:db8::/32\"]\n".to_vec(),
        b"profile = \"none\"\n[import]\nfiles = [\"extra.rules\", \"missing.rules\"]\n".to_vec(),
        b"profile = \"hardened\"\n[output]\npolicy = \"reject\"\n[input]\nping = { rate = \"5/second\", burst = 10 }\n".to_vec(),
    ];
    s.retain(|v| !v.is_empty());
    s
}

const IPTABLES: &[&str] = &[
    "iptables ",
    "ip6tables ",
    "ipset ",
    "-A ",
    "-I ",
    "-D ",
    "-N ",
    "-X ",
    "-F ",
    "-P ",
    "-t ",
    "nat ",
    "raw ",
    "mangle ",
    "-j ",
    "-g ",
    "-m ",
    "--dport ",
    "--sport ",
    "multiport ",
    "--dports ",
    "conntrack ",
    "--ctstate ",
    "NEW,ESTABLISHED ",
    "-s ",
    "-d ",
    "! ",
    "-p ",
    "tcp ",
    "udp ",
    "icmp ",
    "DROP",
    "ACCEPT",
    "RETURN",
    "LOG",
    "REJECT",
    "DNAT ",
    "--to-destination ",
    "SNAT ",
    "--to-source ",
    "MASQUERADE",
    "limit ",
    "--limit ",
    "5/min ",
    "recent ",
    "--name ",
    "--set ",
    "--update ",
    "--seconds ",
    "set ",
    "--match-set ",
    "src ",
    "comment ",
    "--comment ",
    "\"a b\" ",
    "$IPT ",
    "IPT=iptables\n",
    "\\\n",
    "*filter\n",
    "*nat\n",
    ":INPUT ACCEPT [0:0]\n",
    ":X - [0:0]\n",
    "COMMIT\n",
    "# Generated by ip6tables-save\n",
    "-i eth0 ",
    "-o lo ",
    "--tcp-flags SYN,ACK SYN ",
    "--syn ",
    "hashlimit ",
    "connlimit ",
    "--connlimit-above ",
    "iprange ",
    "--src-range ",
    "mac ",
    "--mac-source ",
    "length ",
    "addrtype ",
    "--dst-type LOCAL ",
    "mark ",
    "--mark ",
    "0x1/0xff ",
    "state ",
    "--state ",
];

const IPSET: &[&str] = &[
    "create ",
    "add ",
    "hash:ip ",
    "hash:net ",
    "hash:ip,port ",
    "hash:net,port ",
    "bitmap:port ",
    "bitmap:ip ",
    "list:set ",
    "family inet ",
    "family inet6 ",
    "timeout ",
    "maxelem ",
    "hashsize ",
    "range ",
    "-exist ",
    "nomatch ",
    "counters ",
    "comment ",
    "packets ",
    "bytes ",
    "tcp:",
    "udp:",
    ",",
    "\n",
];

const LISTS: &[&str] = &[
    "192.0.2.1",
    "-",
    "/24",
    "# ",
    "; ",
    "2001:db8::",
    "::ffff:",
    " ",
    "\t",
    "\n",
    "0.0.0.0/0",
    "10.0.0.0/8",
    "::/0",
    "198.51.100.255",
];

const GEOIP: &[&str] = &[
    "16777216",
    ",",
    "AU",
    "??",
    "2001:200::",
    "4294967295",
    "\n",
    "# ",
    "ZZ",
    "-",
];

const RIR: &[&str] = &[
    "|",
    "ripencc",
    "ipv4",
    "ipv6",
    "asn",
    "allocated",
    "assigned",
    "*",
    "summary",
    "\n",
    "DE",
    "4294967296",
    "129",
];

const MMDB: &[&str] = &[
    "\u{ab}\u{cd}\u{ef}MaxMind.com",
    "node_count",
    "record_size",
    "ip_version",
    "database_type",
    "country",
    "iso_code",
    "GeoLite2-Country",
    "\u{0}\u{0}\u{0}\u{0}",
    "\u{ff}\u{ff}\u{ff}\u{ff}",
];

const POLICY: &[&str] = &[
    "profile = ",
    "\"webserver\"",
    "\"router\"",
    "\"hardened\"",
    "\"none\"",
    "[input]\n",
    "[output]\n",
    "[forward]\n",
    "[router]\n",
    "[import]\n",
    "tcp = ",
    "udp = ",
    "port = ",
    "ping = ",
    "rate = ",
    "burst = ",
    "allow_from = ",
    "deny_from = ",
    "policy = ",
    "files = ",
    "lan = ",
    "wan = ",
    "snat = ",
    "\"drop\"",
    "\"reject\"",
    "\"accept\"",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'''",
    "\"\"\"",
    "comment = ",
    "\"22\"",
    "\"1000-2000\"",
    "\"10/second\"",
    "true",
    "1979-05-27",
    "\n",
    ", ",
    "\"ssh\"",
    "\"192.0.2.0/24\"",
    "[[input.tcp]]\n",
];
