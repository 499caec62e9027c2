//! `rampart block` against the real kernel: the binary runs inside a lab namespace
//! (`ip netns exec NS rampart block ...`) and real TCP probes come from a client namespace
//! holding several documentation addresses.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::lab::{Fate, Lab, Probe, Proto};

pub(crate) const HOST_IP: &str = "192.0.2.1";
pub(crate) const HOST_IP6: &str = "2001:db8::1";
/// The client's ordinary address.
const GOOD: &str = "192.0.2.2";
/// Addresses the tests block.
const BAD: &str = "192.0.2.3";
const BAD6: &str = "2001:db8::3";
const GOOD6: &str = "2001:db8::2";
const CN: &str = "192.0.2.66";
const CN_EXCEPTION: &str = "192.0.2.70";
const PORT: u16 = 8080;

/// Accept everything: a policy to apply after `down`.
const OPEN: &str = "table inet rampart {
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t}
}
";

/// A host (eth0: 192.0.2.1, 2001:db8::1) and a client holding the source addresses the
/// tests send from, a temporary directory with `open.nft`, and rampart run inside the
/// host's namespace with its state there. Shared by the block tests (here and in
/// `block_trace`).
pub(crate) struct Setup {
    pub(crate) lab: Lab,
    pub(crate) state: PathBuf,
    pub(crate) dir: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn setup() -> Setup {
    Setup::with_sources(&[GOOD, BAD, CN, CN_EXCEPTION, GOOD6, BAD6])
}

impl Setup {
    /// The lab with the client holding `sources` (IPv4 in 192.0.2.0/24, IPv6 in
    /// 2001:db8::/64).
    pub(crate) fn with_sources(sources: &[&str]) -> Setup {
        let mut lab = Lab::new().unwrap();
        lab.add_ns("host").unwrap();
        lab.add_ns("client").unwrap();
        lab.veth("host", "eth0", "client", "link0").unwrap();
        lab.addr("host", "eth0", &format!("{HOST_IP}/24")).unwrap();
        lab.addr("host", "eth0", &format!("{HOST_IP6}/64")).unwrap();
        let mut sources = sources.to_vec();
        sources.sort_unstable();
        sources.dedup();
        for a in sources {
            let len = if a.contains(':') { 64 } else { 24 };
            lab.addr("client", "link0", &format!("{a}/{len}")).unwrap();
        }
        let dir = std::env::temp_dir().join(format!("{}-block", lab.id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("open.nft"), OPEN).unwrap();
        Setup {
            state: dir.join("state"),
            lab,
            dir,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args(["60", "ip", "netns", "exec", self.lab.ns("host").unwrap()])
            .arg(env!("CARGO_BIN_EXE_rampart"))
            .args(args)
            .env("RAMPART_STATE_DIR", &self.state)
            .env_remove("SSH_CONNECTION")
            .current_dir(&self.dir);
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// `rampart ARGS` as an admin connected from `ssh` (an `SSH_CONNECTION` value).
    pub(crate) fn run_as_admin(&self, args: &[&str], ssh: &str) -> Output {
        self.cmd(args).env("SSH_CONNECTION", ssh).output().unwrap()
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rampart {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "rampart {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn nft(&self, args: &[&str]) -> String {
        let mut a = vec!["nft"];
        a.extend_from_slice(args);
        self.lab.exec("host", &a).unwrap_or_default()
    }

    fn set(&self, name: &str) -> String {
        // ban_4 lives in the bans' table; bl_NAME_4 in list NAME's own table.
        let table = match name.strip_prefix("bl_") {
            Some(rest) => format!(
                "rampart_bl_{}",
                rest.trim_end_matches('h')
                    .trim_end_matches(['4', '6'])
                    .trim_end_matches('_')
            ),
            None => "rampart_bans".to_string(),
        };
        self.nft(&["list", "set", "inet", &table, name])
    }

    /// List `name`'s IPv4 sets as nft lists them: single addresses, then networks.
    fn list4(&self, name: &str) -> String {
        self.set(&format!("bl_{name}_4h")) + &self.set(&format!("bl_{name}_4"))
    }

    fn from(&self, src: &str) -> Fate {
        self.probe(src.parse().unwrap(), PORT)
    }

    /// A TCP connection from `src` (a client address) to the host's `port`.
    pub(crate) fn probe(&self, src: IpAddr, port: u16) -> Fate {
        let dst: IpAddr = if src.is_ipv4() { HOST_IP } else { HOST_IP6 }
            .parse()
            .unwrap();
        let probe = Probe {
            proto: Proto::Tcp,
            src,
            dst,
            port,
        };
        self.lab
            .probe("client", &probe, Duration::from_millis(400))
            .unwrap()
    }

    fn stored(&self, list: &str) -> String {
        std::fs::read_to_string(self.state.join("lists").join(format!("{list}.list")))
            .unwrap_or_default()
    }
}

fn delivered(f: Fate) -> bool {
    matches!(f, Fate::Delivered { .. })
}

#[test]
fn block_add_drops_that_source_and_serves_the_others() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    // Neighbour discovery first: once the client's solicitations come from a blocked
    // address (the first packet queued picks the source), its other addresses cannot
    // resolve the host either; that is the kernel doing as told, not what this tests.
    assert!(delivered(s.from(GOOD6)));
    assert!(delivered(s.from(BAD)));
    let out = s.ok(&["block", "add", BAD, BAD6, "--comment", "scanner"]);
    assert!(out.contains("blocked 192.0.2.3/32 (list manual)"), "{out}");
    assert!(delivered(s.from(GOOD)));
    assert!(delivered(s.from(GOOD6)));
    assert_eq!(s.from(BAD), Fate::Dropped);
    assert_eq!(s.from(BAD6), Fate::Dropped);
    // Where is it blocked: the store and the kernel agree.
    let t = s.ok(&["block", "test", BAD]);
    assert!(t.contains("list manual: 192.0.2.3/32  # scanner"), "{t}");
    assert!(
        t.contains("kernel: set bl_manual_4h holds 192.0.2.3"),
        "{t}"
    );
    let json = s.ok(&["block", "test", BAD6, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["blocked"], true);
    assert_eq!(v[0]["lists"][0]["set"], "bl_manual_6h");
    assert_eq!(v[0]["lists"][0]["kernel_element"], format!("{BAD6}"));
    assert_eq!(s.run(&["block", "test", GOOD]).status.code(), Some(1));
    // A network containing the first entry: the list is reloaded as one prefix.
    s.ok(&["block", "add", "192.0.2.0/30", "--force"]);
    assert!(s.stored("manual").contains("192.0.2.0/30\n"));
    s.ok(&["block", "del", "192.0.2.0/30"]);
    assert!(delivered(s.from(BAD)) && delivered(s.from(GOOD)));
    assert_eq!(s.from(BAD6), Fate::Dropped);
    s.ok(&["block", "del", BAD6]);
    assert!(delivered(s.from(BAD6)));
    let lists = s.ok(&["block", "lists", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&lists).unwrap();
    assert_eq!(v["lists"][0]["name"], "manual");
    assert_eq!(v["lists"][0]["prefixes"], 0);
    assert_eq!(v["lists"][0]["loaded"], true);
}

#[test]
fn timed_ban_expires_in_the_kernel() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    let out = s.ok(&["block", "add", BAD, "--timeout", "2s"]);
    assert!(out.contains("banned 192.0.2.3 for 2s (set ban_4"), "{out}");
    assert_eq!(s.from(BAD), Fate::Dropped);
    assert!(delivered(s.from(GOOD)));
    assert!(s.set("ban_4").contains("192.0.2.3 timeout 2s"));
    let t = Instant::now();
    while s.set("ban_4").contains("192.0.2.3") {
        assert!(t.elapsed() < Duration::from_secs(10), "ban did not expire");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(delivered(s.from(BAD)));
    let err = s.fails(&["block", "add", "192.0.2.0/28", "--timeout", "1h"]);
    assert!(
        err.contains("a timed ban takes single addresses; 192.0.2.0/28 is a network"),
        "{err}"
    );
}

#[test]
fn import_with_a_bad_line_changes_nothing_unless_skip_invalid() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    let good = s.write("good.txt", "# first version\n198.51.100.0/24\n");
    s.ok(&["block", "import", &good, "--list", "drop"]);
    let before_set = s.list4("drop");
    let before_file = s.stored("drop");
    assert!(before_set.contains("198.51.100.0/24"), "{before_set}");
    let bad = s.write(
        "bad.txt",
        "192.0.2.3\n203.0.113.0/24\n192.0.2.300\n203.0.113.5-203.0.113.1\n",
    );
    let err = s.fails(&["block", "import", &bad, "--list", "drop"]);
    assert!(err.contains("bad.txt:3: `192.0.2.300`"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(s.list4("drop"), before_set);
    assert_eq!(s.stored("drop"), before_file);
    assert!(delivered(s.from(BAD)));
    let out = s.run(&["block", "import", &bad, "--list", "drop", "--skip-invalid"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skipped 2 invalid lines; the first:"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.txt:3:"), "{stderr}");
    let after = s.list4("drop");
    assert!(
        after.contains("192.0.2.3") && after.contains("203.0.113.0/24"),
        "{after}"
    );
    assert!(
        !after.contains("198.51.100.0/24"),
        "import replaces the list: {after}"
    );
    assert_eq!(s.from(BAD), Fate::Dropped);
}

#[test]
fn refuses_to_block_the_admin_this_host_and_allow_from() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    let ssh = format!("{GOOD} 40000 {HOST_IP} 22");
    let run = |args: &[&str]| s.cmd(args).env("SSH_CONNECTION", &ssh).output().unwrap();
    let out = run(&["block", "add", GOOD]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("192.0.2.2/32 is allowlisted: 192.0.2.2/32 (admin SSH session"),
        "{err}"
    );
    let out = run(&["block", "add", HOST_IP]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(this host's address on eth0)"), "{err}");
    // Nothing reached the kernel or the store.
    assert!(delivered(s.from(GOOD)));
    assert!(!s.state.join("lists/manual.list").exists());
    // A neighbourhood is blocked less the allowlisted addresses, each said.
    let out = run(&["block", "neighbours", GOOD, "--prefix", "24"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("kept open: 192.0.2.2/32 (192.0.2.2/32: admin SSH session"),
        "{said}"
    );
    assert!(
        said.contains("kept open: 192.0.2.1/32 (192.0.2.1/32: this host's address on eth0)"),
        "{said}"
    );
    assert!(delivered(s.from(GOOD)));
    assert_eq!(s.from(BAD), Fate::Dropped);
    s.ok(&["block", "del", "192.0.2.0/24"]);
    // The policy's allow_from.
    let policy = s.write(
        "rampart.toml",
        "profile = \"webserver\"\n[input]\nallow_from = [\"198.51.100.0/24\"]\n",
    );
    let out = run(&["block", "add", "198.51.100.7", "--policy", &policy]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("198.51.100.7/32 is allowlisted: 198.51.100.0/24 (policy allow_from"),
        "{err}"
    );
    // --force blocks it all the same.
    let out = run(&["block", "add", GOOD, "--force"]);
    assert!(out.status.success());
    assert_eq!(s.from(GOOD), Fate::Dropped);
}

#[test]
fn country_block_from_a_generated_mmdb_with_an_exception() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    use rampart_lists::{write_country_mmdb, Country};
    use rampart_prefix::{Prefix, PrefixMap};
    let s = setup();
    let p = |t: &str| t.parse::<Prefix>().unwrap();
    let map: PrefixMap<Country> = [
        (p("192.0.2.64/26"), Country::new("CN").unwrap()),
        (p("198.51.100.0/24"), Country::new("RU").unwrap()),
        (p("2001:db8::/33"), Country::new("AU").unwrap()),
    ]
    .into_iter()
    .collect();
    let db = s.dir.join("country.mmdb");
    std::fs::write(&db, write_country_mmdb(&map, 0)).unwrap();
    let db = db.display().to_string();
    let out = s.ok(&[
        "block",
        "country",
        "cn",
        "RU",
        "--db",
        &db,
        "--allow",
        &format!("{CN_EXCEPTION}/32"),
    ]);
    assert!(
        out.contains("blocked CN: list country-cn, 6 prefixes"),
        "{out}"
    );
    assert!(
        out.contains("blocked RU: list country-ru, 1 prefix"),
        "{out}"
    );
    assert_eq!(s.from(CN), Fate::Dropped);
    assert!(delivered(s.from(CN_EXCEPTION)));
    assert!(delivered(s.from(GOOD)));
    let t = s.ok(&["block", "test", CN]);
    assert!(t.contains("list country-cn: 192.0.2.64/30"), "{t}");
    // A country holding this host's address is loaded without it, and says so.
    let map: PrefixMap<Country> = [(p("192.0.2.0/24"), Country::new("AU").unwrap())]
        .into_iter()
        .collect();
    std::fs::write(s.dir.join("au.mmdb"), write_country_mmdb(&map, 0)).unwrap();
    let out = s.ok(&["block", "country", "AU", "--db", "au.mmdb"]);
    assert!(
        out.contains("kept open (allowlisted, not loaded): 192.0.2.1/32 (192.0.2.1/32: this host's address on eth0)"),
        "{out}"
    );
    assert!(
        out.contains("blocked AU: list country-au, 8 prefixes (255 IPv4 addresses"),
        "{out}"
    );
}

#[test]
fn list_reload_swaps_contents_in_one_transaction() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    // Set contents are data: any addresses will do; traffic stays in the lab.
    let list = |base: u32| -> String {
        (0..4000u32)
            .map(|i| format!("{}/32\n", std::net::Ipv4Addr::from(base + i * 2)))
            .collect()
    };
    let a = s.write("a.txt", &list(0x0a00_0000));
    let b = s.write("b.txt", &list(0x0b00_0000));
    s.ok(&["block", "import", &a, "--list", "big"]);
    assert!(s.set("bl_big_4h").contains("10.0.0.0,"));
    let stop = Arc::new(AtomicBool::new(false));
    let ns = s.lab.ns("host").unwrap().to_string();
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut looks = 0;
            let mut empty = 0;
            while !stop.load(Ordering::Relaxed) || looks == 0 {
                let out = Command::new("ip")
                    .args([
                        "netns",
                        "exec",
                        &ns,
                        "nft",
                        "list",
                        "set",
                        "inet",
                        "rampart_bl_big",
                        "bl_big_4h",
                    ])
                    .output()
                    .unwrap();
                if !out.status.success() {
                    continue;
                }
                let text = String::from_utf8_lossy(&out.stdout);
                looks += 1;
                if !text.contains("elements = {") {
                    empty += 1;
                }
            }
            (looks, empty)
        })
    };
    for f in [&b, &a, &b] {
        s.ok(&["block", "import", f, "--list", "big"]);
    }
    stop.store(true, Ordering::Relaxed);
    let (looks, empty) = watcher.join().unwrap();
    assert_eq!(
        empty, 0,
        "the list was seen empty in {empty} of {looks} listings"
    );
    let after = s.set("bl_big_4h");
    assert!(
        after.contains("11.0.0.0,") && !after.contains("10.0.0.0,"),
        "{after}"
    );
    assert!(s
        .stored("big")
        .starts_with("# rampart block list big: 4000 prefixes"));
}

#[test]
fn save_down_restore_and_apply_bring_the_lists_back() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    s.ok(&["block", "add", BAD]);
    s.ok(&["block", "add", BAD6, "--timeout", "1h"]);
    s.ok(&["save"]);
    // Changed after the save: comes back from the store.
    let later = s.write("later.txt", &format!("{CN}\n"));
    s.ok(&["block", "import", &later, "--list", "later"]);
    s.ok(&["down"]);
    assert!(delivered(s.from(BAD)) && delivered(s.from(CN)) && delivered(s.from(BAD6)));
    let out = s.ok(&["restore"]);
    assert!(out.contains("block lists loaded"), "{out}");
    assert_eq!(s.from(BAD), Fate::Dropped);
    assert_eq!(s.from(CN), Fate::Dropped);
    assert_eq!(s.from(BAD6), Fate::Dropped);
    assert!(delivered(s.from(GOOD)));
    // Down, then a policy apply: the lists come with it.
    s.ok(&["down"]);
    let out = s.ok(&["apply", "--nft", "open.nft"]);
    assert!(
        out.contains("block lists loaded: later (1), manual (1)"),
        "{out}"
    );
    let tables = s.nft(&["list", "tables"]);
    assert!(
        tables.contains("table inet rampart\n")
            && tables.contains("table inet rampart_bl_manual\n")
            && tables.contains("table inet rampart_bans\n"),
        "{tables}"
    );
    assert_eq!(s.from(BAD), Fate::Dropped);
    assert_eq!(s.from(BAD6), Fate::Dropped);
    // Re-applying keeps the elements (no reload needed).
    let out = s.ok(&["apply", "--nft", "open.nft", "--force"]);
    assert!(!out.contains("block lists loaded: later"), "{out}");
    assert_eq!(s.from(CN), Fate::Dropped);
    assert!(s.ok(&["status", "--nft", "open.nft"]).contains("drift: no"));
}

/// A TCP connection to a listener on 127.0.0.1 inside the host namespace (a web
/// application talking to its database): `true` when it connects.
fn loopback_tcp_works(s: &Setup) -> bool {
    in_host(s, || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
    })
}

/// An excerpt of FireHOL's level1 netset as published: its comment header, bogons
/// (0.0.0.0/8, 10/8, 100.64/10, 127/8, 192.168/16, 224/3) and listed networks, among them
/// 192.0.2.0/24, which holds this host's own address.
const FIREHOL_LEVEL1: &str = "#
# firehol_level1
#
# ipv4 hash:net ipset
#
# A firewall blacklist composed from IP lists, providing
# maximum protection with minimum false positives. Suitable
# for basic protection on all internet facing servers,
# routers and firewalls. (includes: bambenek_c2 dshield
# feodo fullbogons spamhaus_drop spamhaus_edrop sslbl)
#
# Maintainer      : FireHOL
# Maintainer URL  : http://iplists.firehol.org/
# List source URL :
# Source File Date: Sun Dec  6 10:00:00 UTC 2026
#
# This File Date  : Sun Dec  6 10:10:04 UTC 2026
# Update Frequency: 1 min
# Aggregation     : none
# Entries         : 4552 unique IPs
#
0.0.0.0/8
2.56.192.0/22
10.0.0.0/8
100.64.0.0/10
127.0.0.0/8
192.0.2.0/24
192.168.0.0/16
198.51.100.0/24
224.0.0.0/3
";

#[test]
fn firehol_level1_loads_less_the_allowlist_and_loopback_keeps_working() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    assert!(loopback_tcp_works(&s), "loopback TCP before the import");
    let list = s.write("firehol_level1.netset", FIREHOL_LEVEL1);
    let out = s.ok(&["block", "import", &list, "--list", "firehol"]);
    assert!(
        out.contains("kept open (allowlisted, not loaded): 127.0.0.0/8 (127.0.0.0/8: loopback)"),
        "{out}"
    );
    assert!(
        out.contains("kept open (allowlisted, not loaded): 192.0.2.1/32 (192.0.2.1/32: this host's address on eth0)"),
        "{out}"
    );
    assert!(out.contains("-> list firehol:"), "{out}");
    assert!(loopback_tcp_works(&s), "loopback TCP after the import");
    assert_eq!(s.from(BAD), Fate::Dropped);
    assert!(!s.stored("firehol").contains("127.0.0.0/8"));
    assert_eq!(
        s.run(&["block", "test", "127.0.0.1"]).status.code(),
        Some(1)
    );
    let t = s.ok(&["block", "test", BAD]);
    assert!(t.contains("list firehol: 192.0.2.2/31"), "{t}");
    // --force keeps this host's address in the list, never loopback; and traffic on lo
    // passes even if loopback were in a set (the chain's first rule accepts lo).
    let out = s.ok(&["block", "import", &list, "--list", "firehol", "--force"]);
    assert!(out.contains("127.0.0.0/8 (127.0.0.0/8: loopback)"), "{out}");
    assert!(!out.contains("this host's address"), "{out}");
    assert!(s.stored("firehol").contains("192.0.2.0/24"));
    let err = s.fails(&["block", "add", "127.0.0.1", "--force"]);
    assert!(err.contains("rampart never blocks loopback"), "{err}");
    assert!(loopback_tcp_works(&s), "loopback TCP after --force");
    let chain = s.nft(&["list", "chain", "inet", "rampart_bl_firehol", "input"]);
    assert!(chain.contains("iif \"lo\" accept"), "{chain}");
}

/// Spamhaus DROP as published: `CIDR ; SBLnnnnnn` lines under `;` comments.
#[test]
fn spamhaus_drop_with_sbl_comments_imports() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    let drop = s.write(
        "drop.txt",
        "; Spamhaus DROP List 2026/12/06 - (c) 2026 The Spamhaus Project SLU\n\
         ; https://www.spamhaus.org/drop/drop.txt\n\
         ; Last-Modified: Sun, 06 Dec 2026 09:37:18 GMT\n\
         ; Expires: Sun, 06 Dec 2026 11:08:09 GMT\n\
         192.0.2.0/30 ; SBL123456\n\
         198.51.100.0/24 ; SBL654321\n",
    );
    let out = s.ok(&["block", "import", &drop, "--list", "spamhaus-drop"]);
    assert!(out.contains("6 lines -> list spamhaus-drop"), "{out}");
    assert_eq!(s.from(BAD), Fate::Dropped);
    assert!(delivered(s.from(CN)));
}

/// The CLI and a second writer using the library (as the guard will) ban 1,000
/// addresses at the same time: the store and the kernel end with all of them.
#[test]
fn cli_and_library_racing_for_1000_bans_lose_nothing() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    use rampart_block::{Allowlist, ListName};
    use rampart_enforce::{Enforcer, Kernel};
    let s = setup();
    // Data only: these addresses never send a packet.
    let addr = |i: u32| -> IpAddr { std::net::Ipv4Addr::from(0x6440_0000 + i).into() };
    let ns = s.lab.ns("host").unwrap().to_string();
    let state = s.state.clone();
    let library = std::thread::spawn(move || {
        rampart_testkit::run_in_named(&ns.clone(), || {
            let mut e = Enforcer::new(
                rampart_kernel::StateDir::new(state),
                Kernel::new(rampart_kernel::Nft::in_netns(&ns)),
            );
            let guard = ListName::new("guard").unwrap();
            let allow = Allowlist::loopback();
            for i in 0..500 {
                e.ban(
                    &[addr(i)],
                    Duration::from_secs(3600),
                    &guard,
                    Some("library"),
                    &allow,
                    false,
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs(),
                )
                .unwrap();
            }
        })
    });
    for chunk in (500..1000).collect::<Vec<u32>>().chunks(10) {
        let mut args = vec!["block".to_string(), "add".into()];
        args.extend(chunk.iter().map(|i| addr(*i).to_string()));
        args.extend(["--timeout".into(), "1h".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        s.ok(&args);
    }
    library.join().unwrap();
    let listed = s.ok(&["block", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(v["bans"].as_array().unwrap().len(), 1000);
    let set = s.set("ban_4");
    for i in [0, 499, 500, 999] {
        assert!(
            set.contains(&addr(i).to_string()),
            "{i} missing from the kernel"
        );
    }
    assert_eq!(set.matches(" expires ").count(), 1000, "{set}");
}

/// Runs `f` on a thread inside the host's namespace (for in-process netlink reads).
fn in_host<T: Send>(s: &Setup, f: impl FnOnce() -> T + Send) -> T {
    rampart_testkit::run_in_named(s.lab.ns("host").unwrap(), f)
}

/// The elements of list `name`'s IPv4 sets (hosts, networks), read over netlink.
fn kernel_counts(s: &Setup, name: &str) -> (usize, usize) {
    let name = name.to_string();
    in_host(s, move || {
        let mut c = rampart_nfnl::SetClient::open().unwrap();
        let table = format!("rampart_bl_{name}");
        let mut n = |set: String| {
            c.list(&rampart_nfnl::SetRef::inet(&table, &set))
                .unwrap()
                .len()
        };
        let hosts = n(format!("bl_{name}_4h"));
        (hosts, n(format!("bl_{name}_4")))
    })
}

/// Every command on a 200,000-entry list (160,000 single addresses, 40,000 /28s, none
/// adjacent; data only, but for BAD, which the test sends from): the right answers.
#[test]
fn every_command_answers_right_with_200k_entries() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    let mut text = String::from("# 200k entries\n");
    for i in 0..160_000u32 {
        // 11.0.0.0 upwards, every fourth address: never adjacent, never aggregated.
        text.push_str(&format!(
            "{}\n",
            std::net::Ipv4Addr::from(0x0b00_0000 + i * 4)
        ));
    }
    for i in 0..40_000u32 {
        text.push_str(&format!(
            "{}/28\n",
            std::net::Ipv4Addr::from(0x2000_0000 + i * 32)
        ));
    }
    text.push_str(&format!("{BAD}\n"));
    let list = s.write("big.txt", &text);
    s.ok(&["apply", "--nft", "open.nft"]);
    let out = s.ok(&["block", "import", &list, "--list", "big"]);
    assert!(
        out.contains("200002 lines -> list big: 200001 prefixes"),
        "{out}"
    );
    assert_eq!(s.from(BAD), Fate::Dropped);
    assert!(delivered(s.from(GOOD)));
    // block test: the list and the covering prefix, from the kernel's one-key answers.
    let t = s.ok(&["block", "test", "11.0.0.4", "32.0.0.37"]);
    assert!(t.contains("list big: 11.0.0.4/32"), "{t}");
    assert!(t.contains("kernel: set bl_big_4h holds 11.0.0.4"), "{t}");
    assert!(t.contains("list big: 32.0.0.32/28"), "{t}");
    assert!(t.contains("kernel: set bl_big_4 holds 32.0.0.32/28"), "{t}");
    assert_eq!(s.run(&["block", "test", "11.0.0.5"]).status.code(), Some(1));
    // block lists: sizes from the store, the kernel has the list.
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["block", "lists", "--json"])).unwrap();
    assert_eq!(v["lists"][0]["prefixes"], 200_001);
    assert_eq!(v["lists"][0]["ipv4_addresses"], 160_001 + 40_000 * 16);
    assert_eq!(v["lists"][0]["loaded"], true);
    // status: the block tables are not drift, and the policy's table is as applied.
    let st = s.ok(&["status", "--nft", "open.nft"]);
    assert!(st.contains("drift: no"), "{st}");
    assert!(st.contains("yes, the kernel matches"), "{st}");
    assert!(
        st.contains("block lists: 1 (200001 prefixes); timed bans: 0\n"),
        "{st}"
    );
    // block list: every entry, streamed.
    let listed = s.ok(&["block", "list"]);
    assert_eq!(listed.lines().count(), 200_001, "{}", &listed[..200]);
    assert!(listed.contains("\nbig          32.0.0.32/28\n"));
    // save, down, restore: the same contents in the kernel.
    let before = kernel_counts(&s, "big");
    assert_eq!(before, (160_001, 40_000));
    s.ok(&["save"]);
    s.ok(&["down"]);
    assert!(delivered(s.from(BAD)));
    let out = s.ok(&["restore"]);
    assert!(out.contains("block lists loaded: big (200001)"), "{out}");
    assert_eq!(kernel_counts(&s, "big"), before);
    assert_eq!(s.from(BAD), Fate::Dropped);
}

/// A jump loop (which the kernel refuses with "Too many links", and `nft -c` does not
/// catch) is refused before anything reaches nft, at the user's own line; nothing changes.
#[test]
fn a_jump_loop_is_refused_at_its_source_line() {
    if !super::require(&[super::Need::Root]) {
        return;
    }
    let s = setup();
    s.ok(&["apply", "--nft", "open.nft"]);
    let script = s.write(
        "loop.sh",
        "iptables -N alpha\niptables -N beta\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n\
         iptables -A INPUT -j alpha\niptables -A alpha -j beta\n\
         iptables -A beta -s 192.0.2.0/24 -j alpha\n",
    );
    let err = s.fails(&["apply", "--script", &script]);
    assert!(
        err.contains(&format!(
            "{script}:6:1: chain loop alpha → beta → alpha: the kernel refuses a chain that can reach itself"
        )),
        "{err}"
    );
    assert!(delivered(s.from(GOOD)), "the previous rules stand");
}
