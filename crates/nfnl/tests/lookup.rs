//! One-key lookups (`get`), the ruleset generation and upserts, against the kernel.

use std::net::IpAddr;
use std::time::Duration;

use rampart_nfnl::{Element, Error, SetClient, SetRef};

use crate::util::{in_netns, nft, nft_stdin};

fn el(text: &str) -> Element {
    if let Some((a, b)) = text.split_once('-') {
        let start: IpAddr = a.parse().unwrap();
        let end = match b.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v) => IpAddr::V4((u32::from(v) + 1).into()),
            IpAddr::V6(v) => IpAddr::V6((u128::from(v) + 1).into()),
        };
        return Element::Range {
            start,
            end: Some(end),
        };
    }
    Element::Prefix(text.parse().unwrap())
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// What `get` says for `addr`, spelled as nft spells elements.
fn got(c: &mut SetClient, set: &SetRef, addr: &str) -> Option<String> {
    c.get(set, ip(addr)).unwrap().map(|e| e.element.to_string())
}

/// What `nft get element` says for `addr` (the interval it prints), or `None`.
fn nft_get(set: &str, addr: &str) -> Option<String> {
    let out = std::process::Command::new("nft")
        .args([
            "get",
            "element",
            "inet",
            "rampart",
            set,
            &format!("{{ {addr} }}"),
        ])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.contains("elements = {"))?;
    let inner = line.split('{').nth(1)?.split('}').next()?.trim();
    Some(inner.to_owned())
}

#[test]
fn get_finds_the_interval_that_contains_an_address() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        let set = SetRef::inet("rampart", "cidr4");
        c.add(
            &set,
            &[
                el("192.0.2.0/24"),
                el("198.51.100.7"),
                el("203.0.113.10-203.0.113.20"),
                // Adjacent: a /25, a single address right after it, then a range.
                el("198.51.100.0/30"),
                el("198.51.100.4"),
                el("198.51.100.5-198.51.100.6"),
                // Data only: the top of the address space, an open range for the kernel.
                el("255.255.255.0/24"),
            ],
            None,
        )
        .unwrap();
        let cases = [
            ("192.0.2.0", Some("192.0.2.0/24")),
            ("192.0.2.7", Some("192.0.2.0/24")),
            ("192.0.2.255", Some("192.0.2.0/24")),
            ("192.0.1.255", None),
            ("192.0.3.0", None),
            ("198.51.100.0", Some("198.51.100.0/30")),
            ("198.51.100.3", Some("198.51.100.0/30")),
            ("198.51.100.4", Some("198.51.100.4")),
            ("198.51.100.5", Some("198.51.100.5-198.51.100.6")),
            ("198.51.100.6", Some("198.51.100.5-198.51.100.6")),
            ("198.51.100.7", Some("198.51.100.7")),
            ("198.51.100.8", None),
            ("203.0.113.9", None),
            ("203.0.113.10", Some("203.0.113.10-203.0.113.20")),
            ("203.0.113.20", Some("203.0.113.10-203.0.113.20")),
            ("203.0.113.21", None),
            ("0.0.0.0", None),
            ("255.255.254.255", None),
            ("255.255.255.0", Some("255.255.255.0/24")),
            ("255.255.255.255", Some("255.255.255.0/24")),
        ];
        for (addr, want) in cases {
            assert_eq!(got(&mut c, &set, addr).as_deref(), want, "get {addr}");
        }
        // nft agrees where it prints one interval (it spells adjacent /30 + .4 as it
        // merged them in its cache, so only the isolated ones are compared).
        for addr in ["192.0.2.7", "198.51.100.7", "203.0.113.15", "192.0.3.0"] {
            assert_eq!(
                got(&mut c, &set, addr),
                nft_get("cidr4", addr),
                "nft {addr}"
            );
        }
        // The entry carries no timeout in a set without `flags timeout`.
        let e = c.get(&set, ip("192.0.2.9")).unwrap().unwrap();
        assert_eq!((e.timeout, e.expires), (None, None));
    });
}

#[test]
fn get_in_an_ipv6_interval_set() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        let set = SetRef::inet("rampart", "cidr6");
        c.add(
            &set,
            &[
                el("2001:db8:1::/48"),
                el("2001:db8:2::1"),
                el("2001:db8:2::2-2001:db8:2::9"),
            ],
            None,
        )
        .unwrap();
        let cases = [
            ("2001:db8:1::", Some("2001:db8:1::/48")),
            (
                "2001:db8:1:ffff:ffff:ffff:ffff:ffff",
                Some("2001:db8:1::/48"),
            ),
            ("2001:db8:1:1::7", Some("2001:db8:1::/48")),
            ("2001:db8:0:ffff:ffff:ffff:ffff:ffff", None),
            ("2001:db8:2::", None),
            ("2001:db8:2::1", Some("2001:db8:2::1")),
            ("2001:db8:2::2", Some("2001:db8:2::2-2001:db8:2::9")),
            ("2001:db8:2::9", Some("2001:db8:2::2-2001:db8:2::9")),
            ("2001:db8:2::a", None),
        ];
        for (addr, want) in cases {
            assert_eq!(got(&mut c, &set, addr).as_deref(), want, "get {addr}");
        }
    });
}

/// Every address around every boundary of a set full of adjacent and lone intervals,
/// against a model: the kernel's tie between an end and a start at one key must not
/// matter.
#[test]
fn get_agrees_with_a_model_at_every_boundary() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        let set = SetRef::inet("rampart", "cidr4");
        // Deterministic pseudo-random layout in 10.0.0.0/16 (set contents only).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut ranges: Vec<(u32, u32)> = Vec::new(); // [start, end)
        let mut at: u32 = 0x0a00_0000;
        for _ in 0..300 {
            at += next(3) as u32 * next(5) as u32; // often 0: adjacent
            let len = 1 + next(4) as u32 * next(3) as u32;
            ranges.push((at, at + len));
            at += len;
        }
        let elements: Vec<Element> = ranges
            .iter()
            .map(|&(s, e)| Element::Range {
                start: IpAddr::V4(s.into()),
                end: Some(IpAddr::V4(e.into())),
            })
            .collect();
        c.add(&set, &elements, None).unwrap();
        let model = |a: u32| ranges.iter().position(|&(s, e)| s <= a && a < e);
        let mut probes: Vec<u32> = ranges
            .iter()
            .flat_map(|&(s, e)| [s - 1, s, s + 1, e - 1, e, e + 1])
            .collect();
        probes.sort();
        probes.dedup();
        for a in probes {
            let want = model(a).map(|i| elements[i]);
            let have = c
                .get(&set, IpAddr::V4(a.into()))
                .unwrap()
                .map(|e| e.element);
            // Ranges that are exactly one prefix come back as that prefix.
            let norm = |e: Element| {
                let Element::Range { start, end } = e else {
                    return e.to_string();
                };
                Element::from(
                    rampart_prefix::AddrRange::new(
                        start,
                        match end.unwrap() {
                            IpAddr::V4(v) => IpAddr::V4((u32::from(v) - 1).into()),
                            v => v,
                        },
                    )
                    .unwrap(),
                )
                .to_string()
            };
            assert_eq!(
                have.map(|e| e.to_string()),
                want.map(norm),
                "get {}",
                std::net::Ipv4Addr::from(a)
            );
        }
    });
}

#[test]
fn get_in_plain_sets_returns_the_element_with_its_expiry() {
    in_netns(|| {
        nft_stdin("add set inet rampart plain6 { type ipv6_addr; }\n");
        let mut c = SetClient::open().unwrap();
        let bl = SetRef::inet("rampart", "blocklist");
        let hour = Duration::from_secs(3600);
        c.add(&bl, &[el("192.0.2.1")], Some(hour)).unwrap();
        c.add(&bl, &[el("192.0.2.2")], None).unwrap();
        let e = c.get(&bl, ip("192.0.2.1")).unwrap().unwrap();
        assert_eq!(e.element, el("192.0.2.1"));
        assert_eq!(e.timeout, Some(hour));
        assert!(e.expires.is_some_and(|x| x <= hour && x > hour / 2));
        let e = c.get(&bl, ip("192.0.2.2")).unwrap().unwrap();
        assert_eq!((e.timeout, e.expires), (None, None));
        assert_eq!(c.get(&bl, ip("192.0.2.3")).unwrap(), None);
        let p6 = SetRef::inet("rampart", "plain6");
        c.add(&p6, &[el("2001:db8::7")], None).unwrap();
        assert_eq!(
            got(&mut c, &p6, "2001:db8::7").as_deref(),
            Some("2001:db8::7")
        );
        assert_eq!(got(&mut c, &p6, "2001:db8::8"), None);
    });
}

#[test]
fn get_errors_name_the_set() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        let e = c
            .get(&SetRef::inet("rampart", "nosuch"), ip("192.0.2.1"))
            .unwrap_err();
        assert!(matches!(e, Error::SetMissing(_)));
        assert_eq!(e.to_string(), "set inet rampart nosuch does not exist");
        let e = c
            .get(&SetRef::inet("nosuch", "cidr4"), ip("192.0.2.1"))
            .unwrap_err();
        assert_eq!(e.to_string(), "set inet nosuch cidr4 does not exist");
        let cidr4 = SetRef::inet("rampart", "cidr4");
        let e = c.get(&cidr4, ip("2001:db8::1")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "set inet rampart cidr4 holds IPv4 addresses; element 2001:db8::1 is not one"
        );
        // Cached, then deleted behind the client's back: still a clear error.
        assert_eq!(c.get(&cidr4, ip("192.0.2.1")).unwrap(), None);
        nft(&["delete", "set", "inet", "rampart", "cidr4"]);
        let e = c.get(&cidr4, ip("192.0.2.1")).unwrap_err();
        assert_eq!(e.to_string(), "set inet rampart cidr4 does not exist");
    });
}

#[test]
fn generation_moves_with_commits_and_not_with_reads() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        let bl = SetRef::inet("rampart", "blocklist");
        let g0 = c.generation().unwrap();
        assert_eq!(c.generation().unwrap(), g0);
        c.list(&bl).unwrap();
        c.get(&bl, ip("192.0.2.1")).unwrap();
        nft(&["list", "ruleset"]);
        assert_eq!(c.generation().unwrap(), g0, "reads leave it");
        c.add(&bl, &[el("192.0.2.1")], None).unwrap();
        let g1 = c.generation().unwrap();
        assert_ne!(g1, g0, "a committed add moves it");
        // A refused batch commits nothing.
        c.add(&bl, &[el("192.0.2.1")], None).unwrap_err();
        assert_eq!(c.generation().unwrap(), g1);
        // Another process's commit is seen too.
        nft(&[
            "add",
            "element",
            "inet",
            "rampart",
            "blocklist",
            "{ 192.0.2.2 }",
        ]);
        assert_ne!(c.generation().unwrap(), g1);
    });
}

#[test]
fn upsert_refreshes_or_adds_in_one_transaction() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        let bl = SetRef::inet("rampart", "blocklist");
        let (hour, two) = (Duration::from_secs(3600), Duration::from_secs(7200));
        c.add(&bl, &[el("192.0.2.1")], Some(hour)).unwrap();
        let g = c.generation().unwrap();
        // Present with 1h, absent: both end up with 2h.
        c.upsert(&bl, &[el("192.0.2.1"), el("192.0.2.2")], Some(two))
            .unwrap();
        assert_eq!(c.generation().unwrap(), g.wrapping_add(1), "one commit");
        for a in ["192.0.2.1", "192.0.2.2"] {
            let e = c.get(&bl, ip(a)).unwrap().unwrap();
            assert_eq!(e.timeout, Some(two), "{a}");
            assert!(e.expires.is_some_and(|x| x > hour && x <= two), "{a}");
        }
        // The listing (ours and nft's) shows the same.
        let listed = c.list(&bl).unwrap();
        assert!(listed.iter().all(|e| e.timeout == Some(two)));
        assert!(nft(&["list", "set", "inet", "rampart", "blocklist"]).contains("timeout 2h"));
        // The same timeout again restarts the clock (the expiration is sent too).
        std::thread::sleep(Duration::from_millis(1100));
        let before = c
            .get(&bl, ip("192.0.2.1"))
            .unwrap()
            .unwrap()
            .expires
            .unwrap();
        c.upsert(&bl, &[el("192.0.2.1")], Some(two)).unwrap();
        let after = c
            .get(&bl, ip("192.0.2.1"))
            .unwrap()
            .unwrap()
            .expires
            .unwrap();
        assert!(after > before, "refreshed: {before:?} → {after:?}");
        // Without a timeout: permanent, present or not.
        c.upsert(&bl, &[el("192.0.2.1"), el("192.0.2.3")], None)
            .unwrap();
        for a in ["192.0.2.1", "192.0.2.3"] {
            let e = c.get(&bl, ip(a)).unwrap().unwrap();
            assert_eq!((e.timeout, e.expires), (None, None), "{a}");
        }
        // And back to a timeout.
        c.upsert(&bl, &[el("192.0.2.3")], Some(hour)).unwrap();
        assert_eq!(
            c.get(&bl, ip("192.0.2.3")).unwrap().unwrap().timeout,
            Some(hour)
        );
        // An interval set: present or not, no error; an overlap is still refused.
        let cidr4 = SetRef::inet("rampart", "cidr4");
        c.upsert(&cidr4, &[el("198.51.100.0/24")], None).unwrap();
        c.upsert(&cidr4, &[el("198.51.100.0/24"), el("203.0.113.0/24")], None)
            .unwrap();
        assert!(c.upsert(&cidr4, &[el("198.51.100.0/25")], None).is_err());
        assert_eq!(
            got(&mut c, &cidr4, "203.0.113.9").as_deref(),
            Some("203.0.113.0/24")
        );
        // A timeout for a set without `flags timeout`.
        let e = c
            .upsert(&cidr4, &[el("192.0.2.0/24")], Some(hour))
            .unwrap_err();
        assert!(matches!(e, Error::NoTimeout(_)));
    });
}

/// A second socket looking the ban up while the first refreshes it 200 times never
/// finds it missing (both with and without a timeout: one NEWSETELEM, or add + delete +
/// add, in one batch).
#[test]
fn a_watcher_never_sees_an_upserted_ban_missing() {
    in_netns(|| {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let bl = SetRef::inet("rampart", "blocklist");
        let mut c = SetClient::open().unwrap();
        c.add(&bl, &[el("192.0.2.1")], Some(Duration::from_secs(60)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let watcher = {
            let (stop, bl) = (stop.clone(), bl.clone());
            std::thread::spawn(move || {
                let mut w = SetClient::open().unwrap();
                // The set's flags are cached before the first upsert goes out.
                w.info(&bl).unwrap();
                ready_tx.send(()).unwrap();
                let (mut looks, mut missing) = (0u64, 0u64);
                // Bounded: at most this many looks, and at least a few after the end.
                while looks < 5_000_000 && (!stop.load(Ordering::Relaxed) || looks < 3) {
                    missing +=
                        u64::from(w.get(&bl, "192.0.2.1".parse().unwrap()).unwrap().is_none());
                    looks += 1;
                }
                (looks, missing)
            })
        };
        ready_rx.recv().unwrap();
        for i in 0..200u64 {
            let t = (i % 3 != 2).then(|| Duration::from_secs(60 + i));
            c.upsert(&bl, &[el("192.0.2.1")], t).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let (looks, missing) = watcher.join().unwrap();
        eprintln!("{looks} lookups during 200 upserts");
        assert_eq!(missing, 0, "missing in {missing} of {looks} lookups");
    });
}
