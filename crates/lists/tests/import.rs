//! The importers on small inputs with exact error texts, an `.mmdb` round trip through the
//! writer and the `maxminddb` reader, and the real tor-geoipdb files when installed.

use std::net::IpAddr;

use rampart_lists::{
    read_ipset, read_mmdb, read_plain, read_rir, read_tor_geoip, read_zone, write_country_mmdb,
    Country, ImportOptions,
};
use rampart_prefix::{AddrRange, Prefix, PrefixMap, PrefixSet};
use rampart_testkit::{require, Need};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn skip() -> ImportOptions {
    ImportOptions {
        skip_invalid: true,
        ..ImportOptions::default()
    }
}

#[test]
fn plain_list_forms() {
    let text = "\u{feff}# block list\n\
                192.0.2.1\n\
                \n\
                192.0.2.0/255.255.255.254   # netmask\n\
                ; a whole-line comment\n\
                198.51.100.10 - 198.51.100.13 ; range with spaces\n\
                2001:db8::/48\r\n\
                ::ffff:203.0.113.5\n";
    let got = read_plain(text.as_bytes(), "list.txt", ImportOptions::default()).unwrap();
    assert_eq!(got.lines, 8);
    let set: PrefixSet = got.items.into_iter().collect();
    let shown: Vec<String> = set.prefixes().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        shown,
        [
            "192.0.2.0/31",
            "198.51.100.10/31",
            "198.51.100.12/31",
            "203.0.113.5/32",
            "2001:db8::/48"
        ]
    );
    // Without unmapping, the mapped address stays IPv6.
    let opts = ImportOptions {
        unmap_v4: false,
        ..ImportOptions::default()
    };
    let got = read_plain("::ffff:203.0.113.5\n".as_bytes(), "l", opts).unwrap();
    assert_eq!(got.items, vec![p("::ffff:203.0.113.5/128").range()]);
}

const BAD_LIST: &str =
    "192.0.2.1\nexample.com\n192.0.2.0/33\n192.0.2.9-192.0.2.1\n10.0.0.1 10.0.0.2\n";

#[test]
fn plain_list_errors_are_all_reported() {
    let err = read_plain(BAD_LIST.as_bytes(), "bad.txt", ImportOptions::default()).unwrap_err();
    assert_eq!(err.total, 4);
    assert_eq!(
        err.to_string(),
        "bad.txt:2: `example.com` is not an IP address, CIDR or range
  | example.com
  = hint: write one address (192.0.2.1), network (192.0.2.0/24) or range (192.0.2.1-192.0.2.9) per line; comments start with # or ;
bad.txt:3: `192.0.2.0/33` has a bad prefix length: IPv4 allows 0 to 32
  | 192.0.2.0/33
  = hint: write one address (192.0.2.1), network (192.0.2.0/24) or range (192.0.2.1-192.0.2.9) per line; comments start with # or ;
bad.txt:4: `192.0.2.9-192.0.2.1` is not a range: both ends must be the same family and start <= end
  | 192.0.2.9-192.0.2.1
  = hint: write the lower address first
bad.txt:5: `10.0.0.1 10.0.0.2` is not an IP address, CIDR or range
  | 10.0.0.1 10.0.0.2
  = hint: write one address (192.0.2.1), network (192.0.2.0/24) or range (192.0.2.1-192.0.2.9) per line; comments start with # or ;
4 bad lines"
    );
}

#[test]
fn skip_invalid_counts_and_keeps_the_rest() {
    let got = read_plain(BAD_LIST.as_bytes(), "bad.txt", skip()).unwrap();
    assert_eq!(got.items, vec![p("192.0.2.1").range()]);
    assert_eq!(got.skipped.count, 4);
    assert_eq!(got.skipped.first.len(), 4);
    assert!(got
        .skipped
        .to_string()
        .starts_with("skipped 4 invalid lines; the first:\nbad.txt:2: `example.com`"));
    // Only the first few are kept.
    let many = "junk\n".repeat(50);
    let got = read_plain(many.as_bytes(), "j", skip()).unwrap();
    assert_eq!((got.skipped.count, got.skipped.first.len()), (50, 5));
}

#[test]
fn zone_files_take_cidrs_only() {
    let got = read_zone(
        "1.0.1.0/24\n1.0.2.0/23\n".as_bytes(),
        "cn.zone",
        ImportOptions::default(),
    )
    .unwrap();
    let set: PrefixSet = got.items.into_iter().collect();
    assert_eq!(set.prefixes(), vec![p("1.0.1.0/24"), p("1.0.2.0/23")]);
    let err = read_zone(
        "1.0.1.0-1.0.1.9\n".as_bytes(),
        "cn.zone",
        ImportOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cn.zone:1: `1.0.1.0-1.0.1.9` is not a CIDR
  | 1.0.1.0-1.0.1.9
  = hint: a zone file holds one network per line, such as 192.0.2.0/24"
    );
}

#[test]
fn tor_geoip_both_files() {
    let v4 = "# comment\n16777216,16777471,AU\n16777472,16778239,cn\n";
    let got = read_tor_geoip(v4.as_bytes(), "geoip", ImportOptions::default()).unwrap();
    assert_eq!(
        got.items,
        vec![
            (
                "1.0.0.0-1.0.0.255".parse().unwrap(),
                Country::new("AU").unwrap()
            ),
            (
                "1.0.1.0-1.0.3.255".parse().unwrap(),
                Country::new("CN").unwrap()
            ),
        ]
    );
    let v6 = "2001::,2001:0:ffff:ffff:ffff:ffff:ffff:ffff,??\n\
              2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP\n";
    let got = read_tor_geoip(v6.as_bytes(), "geoip6", ImportOptions::default()).unwrap();
    assert_eq!(got.items.len(), 1, "?? ranges have no country");
    let bad =
        "16777216,16777471\n1.0.0.0,16777471,AU\n16777471,16777216,AU\n16777216,16777471,AUS\n";
    let err = read_tor_geoip(bad.as_bytes(), "geoip", ImportOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "geoip:1: expected 3 (INTSTART,INTEND,CC) `,`-separated fields, found 2
  | 16777216,16777471
  = hint: tor geoip lines are INTSTART,INTEND,CC (IPv4) or START,END,CC (IPv6)
geoip:2: `1.0.0.0` is not an IPv4 address as an integer (0 to 4294967295)
  | 1.0.0.0,16777471,AU
  = hint: the IPv4 geoip file gives addresses as integers, e.g. 16777216 for 1.0.0.0
geoip:3: `16777471,16777216` is not a range: both ends must be the same family and start <= end
  | 16777471,16777216,AU
  = hint: write the lower address first
geoip:4: `AUS` is not a two-letter country code
  | 16777216,16777471,AUS
  = hint: use an ISO 3166 code such as CN or DE
4 bad lines"
    );
}

#[test]
fn rir_delegated_stats() {
    let text = "2|apnic|20240101|4|19830613|20231231|+1000\n\
                # comment\n\
                apnic|*|ipv4|*|3|summary\n\
                apnic|CN|ipv4|1.0.1.0|768|20110414|allocated\n\
                apnic|JP|ipv6|2001:200::|35|19990813|allocated|A91A7381|e-stats\n\
                apnic|AU|asn|173|1|20020801|allocated\n\
                apnic||ipv4|1.0.16.0|4096||available\n\
                apnic|ZZ|ipv4|1.0.32.0|256||reserved\n";
    let got = read_rir(text.as_bytes(), "delegated-apnic", ImportOptions::default()).unwrap();
    let cn = Country::new("CN").unwrap();
    assert_eq!(got.items.len(), 2);
    assert_eq!(got.items[0], ("1.0.1.0-1.0.3.255".parse().unwrap(), cn));
    let set: PrefixSet = std::iter::once(got.items[0].0).collect();
    assert_eq!(set.prefixes(), vec![p("1.0.1.0/24"), p("1.0.2.0/23")]);
    assert_eq!(got.items[1].0, p("2001:200::/35").range());
    let bad = "apnic|CN|ipv4|255.255.255.0|512|20110414|allocated\n\
               apnic|CN|ipv6|2001:200::|129|19990813|allocated\n\
               apnic|CN|ipv4|1.0.1.0\n";
    let err = read_rir(bad.as_bytes(), "d", ImportOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "d:1: 512 addresses from 255.255.255.0 run past 255.255.255.255
  | apnic|CN|ipv4|255.255.255.0|512|20110414|allocated
  = hint: ipv4 records give an address count, ipv6 records a prefix length
d:2: `129` is not a valid IPv6 prefix length
  | apnic|CN|ipv6|2001:200::|129|19990813|allocated
  = hint: ipv4 records give an address count, ipv6 records a prefix length
d:3: expected at least 7 `|`-separated fields, found 4
  | apnic|CN|ipv4|1.0.1.0
  = hint: RIR delegated-stats lines are registry|cc|type|start|value|date|status
3 bad lines"
    );
}

#[test]
fn ipset_save_files() {
    let text = "create blocked hash:net family inet hashsize 1024 maxelem 65536\n\
                add blocked 192.0.2.0/24\n\
                add blocked 198.51.100.7\n\
                create six hash:ip family inet6\n\
                add six 2001:db8::1\n";
    let got = read_ipset(text.as_bytes(), "sets.save", ImportOptions::default()).unwrap();
    assert_eq!(got.items.len(), 2);
    assert_eq!(got.items[0].name, "blocked");
    assert_eq!(
        got.items[0].entries,
        vec![p("192.0.2.0/24"), p("198.51.100.7")]
    );
    assert_eq!(got.items[1].entries, vec![p("2001:db8::1")]);
    let bad =
        "create blocked hash:net family inet\nadd blocked 192.0.2.0/33\nadd blocked 192.0.2.1\n";
    let err = read_ipset(bad.as_bytes(), "sets.save", ImportOptions::default()).unwrap_err();
    assert_eq!(err.total, 1);
    assert_eq!(err.errors[0].line, 2);
    assert!(err.to_string().starts_with("sets.save:2: "), "{err}");
    let got = read_ipset(bad.as_bytes(), "sets.save", skip()).unwrap();
    assert_eq!(got.items[0].entries, vec![p("192.0.2.1")]);
    assert_eq!(got.skipped.count, 1);
}

#[test]
fn mmdb_round_trip() {
    let cc = |s: &str| Country::new(s).unwrap();
    let entries = [
        (p("1.0.0.0/24"), cc("AU")),
        (p("1.0.1.0/24"), cc("CN")),
        (p("1.0.2.0/23"), cc("CN")),
        (p("203.0.113.0/24"), cc("AU")),
        (p("2001:200::/35"), cc("JP")),
        (p("2a00::/12"), cc("DE")),
    ];
    let map: PrefixMap<Country> = entries.iter().copied().collect();
    let bytes = write_country_mmdb(&map, 1_700_000_000);
    let got = read_mmdb(bytes, "test.mmdb").unwrap();
    let back: PrefixMap<Country> = got.items.iter().copied().collect();
    for addr in [
        "1.0.0.1",
        "1.0.3.255",
        "203.0.113.9",
        "2001:200::1",
        "2a0f::1",
        "8.8.8.8",
    ] {
        assert_eq!(back.get(ip(addr)), map.get(ip(addr)), "{addr}");
    }
    // The reader merges nothing: 1.0.1.0/24 + 1.0.2.0/23 stay as written, the ranges agree.
    let ranges: Vec<(AddrRange, &Country)> = back.ranges().collect();
    assert_eq!(ranges, map.ranges().collect::<Vec<_>>());
    let err = read_mmdb(b"not a database".to_vec(), "x.mmdb").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("x.mmdb: not a MaxMind DB file: "),
        "{err}"
    );
}

/// The real Debian files: every line parses, and well-known addresses land where expected.
#[test]
fn real_tor_geoipdb() {
    const V4: &str = "/usr/share/tor/geoip";
    const V6: &str = "/usr/share/tor/geoip6";
    if !require(&[Need::File(V4), Need::File(V6)]) {
        return;
    }
    let (v4, v6) = (std::path::Path::new(V4), std::path::Path::new(V6));
    let read = |path: &std::path::Path| {
        let f = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        read_tor_geoip(f, &path.display().to_string(), ImportOptions::default()).unwrap()
    };
    let (a, b) = (read(v4), read(v6));
    assert!(a.items.len() > 100_000 && b.items.len() > 100_000);
    let ranges: Vec<(AddrRange, Country)> = a.items.into_iter().chain(b.items).collect();
    let map: PrefixMap<Country> = ranges.iter().copied().collect();
    // Every range's first and last address, and the addresses just outside, agree with a
    // binary search over the file's own (sorted, disjoint) ranges: this walks both index
    // levels and the full-width IPv6 table of the /64s that hold unaligned boundaries.
    let mut sorted = ranges.clone();
    sorted.sort_by_key(|(r, _)| (r.start().is_ipv6(), r.start()));
    let oracle = |ip: IpAddr| {
        let i =
            sorted.partition_point(|(r, _)| (r.start().is_ipv6(), r.start()) <= (ip.is_ipv6(), ip));
        (i > 0 && sorted[i - 1].0.contains(ip)).then(|| sorted[i - 1].1)
    };
    let step = |ip: IpAddr, up: bool| -> Option<IpAddr> {
        match ip {
            IpAddr::V4(a) => {
                let v = u32::from(a);
                let v = if up {
                    v.checked_add(1)
                } else {
                    v.checked_sub(1)
                };
                v.map(|v| IpAddr::V4(v.into()))
            }
            IpAddr::V6(a) => {
                let v = u128::from(a);
                let v = if up {
                    v.checked_add(1)
                } else {
                    v.checked_sub(1)
                };
                v.map(|v| IpAddr::V6(v.into()))
            }
        }
    };
    for (r, _) in &ranges {
        for ip in [
            Some(r.start()),
            Some(r.end()),
            step(r.start(), false),
            step(r.end(), true),
        ]
        .into_iter()
        .flatten()
        {
            assert_eq!(map.get(ip).copied(), oracle(ip), "at {ip}");
        }
    }
    assert!(map.values().len() > 200, "about 250 countries");
    // Addresses whose country does not move: APNIC's 1.1.1.0/24 test net is registered in AU.
    assert_eq!(map.get(ip("1.1.1.1")).map(|c| c.as_str()), Some("AU"));
    assert_eq!(
        map.get(ip("10.0.0.1")),
        None,
        "private space has no country"
    );
    // The file's own ranges are disjoint, so the map keeps each as given.
    assert!(map.range_count() > 200_000);
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn entry() -> impl Strategy<Value = (AddrRange, String)> {
        let v4 = (any::<u32>(), any::<u32>()).prop_map(|(a, b)| {
            AddrRange::new(
                Ipv4Addr::from(a.min(b)).into(),
                Ipv4Addr::from(a.max(b)).into(),
            )
            .unwrap()
        });
        let v6 = (any::<u128>(), any::<u128>()).prop_map(|(a, b)| {
            AddrRange::new(
                Ipv6Addr::from(a.min(b)).into(),
                Ipv6Addr::from(a.max(b)).into(),
            )
            .unwrap()
        });
        let range = prop_oneof![v4, v6].prop_map(|r| (r, r.to_string()));
        let cidr = (any::<u32>(), 0u8..=32).prop_map(|(a, l)| {
            let p = Prefix::new(Ipv4Addr::from(a).into(), l).unwrap();
            (p.range(), p.to_string())
        });
        prop_oneof![range, cidr]
    }

    proptest! {
        /// Whatever rampart prints, the plain importer reads back, with comments and blank
        /// lines anywhere; and the set is the same as the one built directly.
        #[test]
        fn plain_reads_what_is_printed(
            entries in proptest::collection::vec((entry(), 0u8..4), 0..40)
        ) {
            let mut text = String::new();
            for ((_, shown), deco) in &entries {
                match deco {
                    0 => text.push_str(&format!("{shown}\n")),
                    1 => text.push_str(&format!("  {shown}\t# why\n")),
                    2 => text.push_str(&format!("; note\n{shown} ;x\n")),
                    _ => text.push_str(&format!("\n{shown}\r\n")),
                }
            }
            let opts = ImportOptions { unmap_v4: false, ..ImportOptions::default() };
            let got = read_plain(text.as_bytes(), "p", opts).unwrap();
            let want: Vec<AddrRange> = entries.iter().map(|((r, _), _)| *r).collect();
            prop_assert_eq!(&got.items, &want);
            let a: PrefixSet = got.items.into_iter().collect();
            let b: PrefixSet = want.into_iter().collect();
            prop_assert_eq!(a, b);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Issue 15, "hostile and huge inputs": bounded reads, short escaped excerpts, bounded
// reports, bounded entries, and an `.mmdb` reader that never panics.

/// Input that never ends: what `/dev/zero` gives.
struct Endless(u8);

impl std::io::Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(self.0);
        Ok(buf.len())
    }
}

#[test]
fn issue15_a_line_of_a_megabyte_is_refused_at_the_limit() {
    let mut text = "192.0.2.1\n".to_string();
    text.push_str(&"x".repeat(1 << 20));
    text.push_str("\n198.51.100.1\n");
    for opts in [ImportOptions::default(), skip()] {
        let err = read_plain(text.as_bytes(), "big.txt", opts).unwrap_err();
        assert_eq!(err.total, 1);
        assert_eq!(
            err.to_string(),
            format!(
                "big.txt:2: line longer than 4096 bytes, the most a list line may have; \
                 nothing was read past it\n  | {}…\n  \
                 = hint: is this a list of addresses? (a binary file, /dev/zero?)",
                "x".repeat(80)
            )
        );
    }
    assert_eq!(rampart_lists::MAX_LINE_LEN, 4096);
    // A line of exactly the limit is read (and is bad for what it says, not its length).
    let err = read_plain(
        "y".repeat(4096).as_bytes(),
        "edge.txt",
        ImportOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("edge.txt:1: `yyyy"), "{err}");
    // Every text importer reads the same way.
    let err = read_tor_geoip(text.as_bytes(), "g", ImportOptions::default()).unwrap_err();
    assert!(err.to_string().contains("g:2: line longer than 4096 bytes"));
    let err = read_rir(text.as_bytes(), "r", ImportOptions::default()).unwrap_err();
    assert!(err.to_string().contains("r:2: line longer than 4096 bytes"));
    let ipset = format!(
        "create s hash:ip\nadd s 192.0.2.1 {}\n",
        "x".repeat(1 << 20)
    );
    let err = read_ipset(ipset.as_bytes(), "s", ImportOptions::default()).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("s:2: line longer than 4096 bytes"));
}

#[test]
fn issue15_endless_input_is_refused_not_read_until_memory_runs_out() {
    let zero = std::io::BufReader::new(Endless(0));
    let err = read_plain(zero, "/dev/zero", ImportOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/dev/zero:1: line longer than 4096 bytes"),
        "{err}"
    );
}

#[test]
fn issue15_input_larger_than_the_limit_is_refused() {
    assert_eq!(rampart_lists::MAX_INPUT_BYTES, 512 << 20);
    assert_eq!(
        ImportOptions::default().max_bytes,
        rampart_lists::MAX_INPUT_BYTES
    );
    // Endless valid lines, against a limit small enough for a test.
    let opts = ImportOptions {
        max_bytes: 1000,
        ..ImportOptions::default()
    };
    let endless = std::io::BufReader::new(std::io::Read::chain(
        "192.0.2.1\n".as_bytes(),
        Endless(b'\n'),
    ));
    let err = read_plain(endless, "<stdin>", opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<stdin>:992: input larger than 1000 bytes, the most rampart reads from one list\n  \
         = hint: is this a list of addresses? (a binary file, /dev/zero?)"
    );
    let ipset = format!("create s hash:ip\n{}", "add s 192.0.2.1\n".repeat(100));
    let err = read_ipset(ipset.as_bytes(), "s", opts).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("s:63: input larger than 1000 bytes"),
        "{err}"
    );
}

#[test]
fn issue15_escape_sequences_are_escaped_and_excerpts_short() {
    let text = "192.0.2.1\n\u{1b}]0;owned\u{7} \u{1b}[2J\u{202e}evil\r\n";
    let err = read_plain(text.as_bytes(), "esc.txt", ImportOptions::default()).unwrap_err();
    let shown = err.to_string();
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    assert!(!shown.contains('\u{202e}'), "{shown:?}");
    assert_eq!(
        shown.lines().take(2).collect::<Vec<_>>(),
        [
            r"esc.txt:2: `\u{1b}]0` is not an IP address, CIDR or range",
            r"  | \u{1b}]0;owned\u{7} \u{1b}[2J\u{202e}evil",
        ]
    );
    // A comment is not an error, whatever it holds.
    let got = read_plain(
        "# \u{1b}]0;title\u{7}\n192.0.2.1\n".as_bytes(),
        "c",
        ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(got.items.len(), 1);
    // The ipset parser's messages and lines are escaped too, and the name.
    let ipset = "create s hash:ip\nadd s \u{1b}[31m\n";
    let err = read_ipset(ipset.as_bytes(), "s\u{1b}", ImportOptions::default()).unwrap_err();
    assert!(!err.to_string().contains('\u{1b}'), "{err:?}");
    assert!(err.to_string().starts_with(r"s\u{1b}:2"), "{err}");
    // A long bad line is quoted by its first 80 characters.
    let long = format!("{}\n", "z".repeat(300));
    let err = read_zone(long.as_bytes(), "z", ImportOptions::default()).unwrap_err();
    let z80 = "z".repeat(80);
    assert_eq!(
        err.to_string(),
        format!(
            "z:1: `{z80}…` is not a CIDR\n  | {z80}…\n  \
             = hint: a zone file holds one network per line, such as 192.0.2.0/24"
        )
    );
}

#[test]
fn issue15_many_bad_lines_are_counted_not_all_shown() {
    let text = "not-an-address\n".repeat(100_000);
    let err = read_plain(text.as_bytes(), "junk", ImportOptions::default()).unwrap_err();
    assert_eq!(err.total, 100_000);
    assert_eq!(err.errors.len(), rampart_lists::MAX_ERRORS);
    let shown = err.to_string();
    assert!(
        shown.ends_with("\n... and 99980 more\n100000 bad lines"),
        "{}",
        &shown[shown.len() - 100..]
    );
    assert_eq!(shown.matches("  | ").count(), 20);
    // The same through the ipset parser, whose errors find their lines in O(1).
    let mut ipset = "create s hash:ip\n".to_string();
    ipset.push_str(&"add s not-an-address\n".repeat(100_000));
    let err = read_ipset(ipset.as_bytes(), "s", ImportOptions::default()).unwrap_err();
    assert_eq!(err.total, 100_000);
    assert_eq!(err.errors.len(), rampart_lists::MAX_ERRORS);
    assert!(err.to_string().contains("\n... and 99980 more\n"));
    let got = read_ipset(ipset.as_bytes(), "s", skip()).unwrap();
    assert_eq!(got.skipped.count, 100_000);
    assert_eq!(got.skipped.first.len(), 5);
}

#[test]
fn issue15_entries_beyond_the_maximum_are_refused() {
    assert_eq!(rampart_lists::DEFAULT_MAX_ENTRIES, 10_000_000);
    assert_eq!(
        ImportOptions::default().max_entries,
        rampart_lists::DEFAULT_MAX_ENTRIES
    );
    let opts = ImportOptions {
        max_entries: 2,
        ..ImportOptions::default()
    };
    let text = "192.0.2.1\n192.0.2.2\n# three\n192.0.2.3\n";
    let err = read_plain(text.as_bytes(), "l", opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "l:4: more than 2 entries, the most one import loads\n  | 192.0.2.3\n  \
         = hint: give --max-entries N to load more, or aggregate the list first"
    );
    assert!(read_plain("192.0.2.1\n192.0.2.2\n".as_bytes(), "l", opts).is_ok());
    let err = read_ipset(
        "create s hash:ip\nadd s 192.0.2.1\nadd s 192.0.2.2\nadd s 192.0.2.3\n".as_bytes(),
        "s",
        opts,
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("s:4: more than 2 entries"),
        "{err}"
    );
    let err = read_tor_geoip("1,2,AU\n3,4,AU\n5,6,AU\n".as_bytes(), "g", opts).unwrap_err();
    assert!(
        err.to_string().starts_with("g:3: more than 2 entries"),
        "{err}"
    );
    // And an `.mmdb`'s networks.
    let cc = Country::new("AU").unwrap();
    let map: PrefixMap<Country> = [p("192.0.2.0/25"), p("198.51.100.0/24"), p("2001:db8::/32")]
        .into_iter()
        .map(|p| (p, cc))
        .collect();
    let bytes = write_country_mmdb(&map, 0);
    let err = rampart_lists::read_mmdb_limited(bytes.clone(), "c.mmdb", 2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "c.mmdb: more than 2 networks, the most one import loads"
    );
    assert_eq!(
        rampart_lists::read_mmdb_limited(bytes, "c.mmdb", 3)
            .unwrap()
            .items
            .len(),
        3
    );
}

/// Every truncation and many single-byte corruptions of a small database: each is read or
/// refused with an error, never a panic.
#[test]
fn issue15_a_crafted_mmdb_is_refused_without_panicking() {
    let cc = |s: &str| Country::new(s).unwrap();
    let map: PrefixMap<Country> = [
        (p("1.0.0.0/24"), cc("AU")),
        (p("203.0.113.0/24"), cc("CN")),
        (p("2001:200::/35"), cc("JP")),
    ]
    .into_iter()
    .collect();
    let good = write_country_mmdb(&map, 1_700_000_000);
    for len in 0..good.len() {
        let _ = read_mmdb(good[..len].to_vec(), "cut.mmdb");
    }
    for at in 0..good.len() {
        for value in [0x00, 0xff, 0x7f, 0x20, 0xe0, good[at] ^ 0x01] {
            let mut bad = good.clone();
            bad[at] = value;
            let _ = read_mmdb(bad, "bad.mmdb");
        }
    }
}
