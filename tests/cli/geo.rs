//! `rampart geo`: lookups against a small tor-format database and a generated `.mmdb`, bulk
//! counts from a file and standard input, JSON, and the errors.

use std::path::PathBuf;

use rampart_lists::{write_country_mmdb, Country};
use rampart_prefix::{Prefix, PrefixMap};

use crate::util::{rampart, rampart_stdin};

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-cli-geo-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 192.0.2.0/24 → AU, 198.51.100.0/24 → CN, 2001:db8::/32 → JP, in tor's two formats.
fn tor_db(dir: &std::path::Path) -> (String, String) {
    let v4 = dir.join("geoip");
    let v6 = dir.join("geoip6");
    std::fs::write(
        &v4,
        "# test\n3221225984,3221226239,AU\n3325256704,3325256959,CN\n",
    )
    .unwrap();
    std::fs::write(
        &v6,
        "2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,JP\n",
    )
    .unwrap();
    (v4.display().to_string(), v6.display().to_string())
}

#[test]
fn looks_up_addresses() {
    let dir = tempdir("addrs");
    let (v4, v6) = tor_db(&dir);
    let out = rampart(&[
        "geo",
        "--db",
        &v4,
        "--db",
        &v6,
        "192.0.2.7",
        "2001:db8::1",
        "::ffff:198.51.100.1",
        "203.0.113.1",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "192.0.2.7     AU\n2001:db8::1   JP\n198.51.100.1  CN\n203.0.113.1   --\n"
    );
}

#[test]
fn counts_a_file_per_country() {
    let dir = tempdir("file");
    let (v4, v6) = tor_db(&dir);
    let list = dir.join("addrs.txt");
    let mut text = String::from("# attackers\n");
    for i in 0..3000 {
        text.push_str(&format!("192.0.2.{}\n", i % 256));
    }
    for i in 0..1000 {
        text.push_str(&format!("198.51.100.{}  # from the log\n", i % 256));
    }
    text.push_str("2001:db8::5\n203.0.113.9\n");
    std::fs::write(&list, text).unwrap();
    let list = list.display().to_string();
    let out = rampart(&["geo", "--db", &v4, "--db", &v6, "--file", &list]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "AU  3000   75.0%\nCN  1000   25.0%\nJP     1    0.0%\n--     1    0.0%  (no country)\n\
         4002 addresses, 3 countries\n"
    );
    let out = rampart(&["geo", "--db", &v4, "--file", &list, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["total"], 4002);
    assert_eq!(json["unknown"], 2, "no IPv6 database given");
    assert_eq!(
        json["countries"][0],
        serde_json::json!({"country": "AU", "count": 3000})
    );
    assert!(
        json.get("addresses").is_none(),
        "bulk output is counts only"
    );
}

#[test]
fn reads_stdin_and_mmdb() {
    let dir = tempdir("mmdb");
    let p = |s: &str| s.parse::<Prefix>().unwrap();
    let map: PrefixMap<Country> = [
        (p("192.0.2.0/24"), Country::new("DE").unwrap()),
        (p("2001:db8::/32"), Country::new("FR").unwrap()),
    ]
    .into_iter()
    .collect();
    let db = dir.join("country.mmdb");
    std::fs::write(&db, write_country_mmdb(&map, 0)).unwrap();
    let db = db.display().to_string();
    let out = rampart_stdin(
        &["geo", "--db", &db, "--file", "-", "--each"],
        "192.0.2.1\n2001:db8::9\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "192.0.2.1    DE\n2001:db8::9  FR\n\nDE  1   50.0%\nFR  1   50.0%\n2 addresses, 2 countries\n"
    );
}

#[test]
fn bad_input_is_reported() {
    let dir = tempdir("bad");
    let (v4, _) = tor_db(&dir);
    let out = rampart(&["geo", "--db", &v4, "example.com"]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr, "rampart: `example.com` is not an IP address\n");
    let out = rampart_stdin(&["geo", "--db", &v4, "--file", "-"], "192.0.2.1\nbogus\n");
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "rampart: <stdin>:2: `bogus` is not an IP address\n  | bogus\n  \
         = hint: write one address per line, such as 192.0.2.1 or 2001:db8::1\n"
    );
    let out = rampart_stdin(
        &["geo", "--db", &v4, "--file", "-", "--skip-invalid"],
        "192.0.2.1\nbogus\n",
    );
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, "AU  1  100.0%\n1 addresses, 1 country\n");
    assert!(out
        .stderr
        .starts_with("rampart: skipped 1 invalid line; the first:\n<stdin>:2:"));
    let bad_db = dir.join("bad.db");
    std::fs::write(&bad_db, "not,a\n").unwrap();
    let out = rampart(&["geo", "--db", &bad_db.display().to_string(), "192.0.2.1"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("is neither a .mmdb database nor a tor geoip file")
            && out.stderr.contains("bad.db:1: expected 3"),
        "{}",
        out.stderr
    );
    let out = rampart(&["geo"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("<ADDR>"), "{}", out.stderr);
}

/// Issue 15: a country database is read within limits (`geo --db /dev/zero` read until
/// memory ran out): an endless or oversized database is refused with the limit and the
/// flag that changes it, the same way for `geo` and `block country`.
#[test]
fn issue15_databases_are_read_within_limits() {
    let out = rampart(&["geo", "--db", "/dev/zero", "192.0.2.1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("/dev/zero: larger than 536870912 bytes"),
        "{}",
        out.stderr
    );
    let dir = tempdir("limits");
    let (v4, _) = tor_db(&dir);
    let out = rampart(&["geo", "--max-input-bytes", "20", "--db", &v4, "192.0.2.1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("larger than 20 bytes"),
        "{}",
        out.stderr
    );
    let long = dir.join("long");
    std::fs::write(&long, format!("# {}\n", "\u{1b}".repeat(10_000))).unwrap();
    let out = rampart(&["geo", "--db", &long.display().to_string(), "192.0.2.1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("line longer than 4096 bytes"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains('\u{1b}') && out.stderr.len() < 2000,
        "{}",
        out.stderr
    );
}
