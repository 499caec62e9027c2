//! The client against the kernel: add, delete, list, errors, atomicity, a million keys.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use rampart_nfnl::{Element, SetClient, SetRef};

use crate::util::{in_netns, nft, nft_elements};

fn el(text: &str) -> Element {
    if let Some((a, b)) = text.split_once('-') {
        let start: IpAddr = a.parse().unwrap();
        let last: IpAddr = b.parse().unwrap();
        let end = match last {
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

fn ours(client: &mut SetClient, set: &SetRef) -> Vec<String> {
    let mut v: Vec<String> = client
        .list(set)
        .unwrap()
        .iter()
        .map(|e| e.element.to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn timeout_set_add_list_delete() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        let set = SetRef::inet("rampart", "blocklist");
        let hour = Duration::from_secs(3600);
        c.add(
            &set,
            &[el("192.0.2.1"), el("192.0.2.2"), el("203.0.113.9")],
            Some(hour),
        )
        .unwrap();
        let listed = c.list(&set).unwrap();
        assert_eq!(listed.len(), 3);
        assert!(listed.iter().all(|e| e.timeout == Some(hour)));
        assert!(listed
            .iter()
            .all(|e| e.expires.is_some_and(|x| x <= hour && x > hour / 2)));
        assert_eq!(ours(&mut c, &set), nft_elements("blocklist"));
        c.delete(&set, &[el("192.0.2.1")]).unwrap();
        assert_eq!(ours(&mut c, &set), vec!["192.0.2.2", "203.0.113.9"]);
        assert_eq!(nft_elements("blocklist"), vec!["192.0.2.2", "203.0.113.9"]);
        // Without a timeout the element is permanent (no timeout attribute at all).
        c.add(&set, &[el("198.51.100.1")], None).unwrap();
        let e = c
            .list(&set)
            .unwrap()
            .into_iter()
            .find(|e| e.element == el("198.51.100.1"))
            .unwrap();
        assert_eq!(e.timeout, None);
    });
}

#[test]
fn interval_set_prefixes_ranges_and_the_kernel_lookup() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        let set = SetRef::inet("rampart", "cidr4");
        let elems = [
            el("192.0.2.0/24"),
            el("198.51.100.7"),
            el("203.0.113.10-203.0.113.20"),
        ];
        c.add(&set, &elems, None).unwrap();
        let want = vec!["192.0.2.0/24", "198.51.100.7", "203.0.113.10-203.0.113.20"];
        assert_eq!(ours(&mut c, &set), want);
        assert_eq!(nft_elements("cidr4"), want);
        // The kernel's own lookup agrees (no all-zero end element needed).
        assert!(nft(&[
            "get",
            "element",
            "inet",
            "rampart",
            "cidr4",
            "{ 192.0.2.77 }"
        ])
        .contains("192.0.2.0/24"));
        for outside in ["0.0.0.1", "192.0.3.0", "198.51.100.8", "203.0.113.21"] {
            let out = std::process::Command::new("nft")
                .args([
                    "get",
                    "element",
                    "inet",
                    "rampart",
                    "cidr4",
                    &format!("{{ {outside} }}"),
                ])
                .output()
                .unwrap();
            assert!(!out.status.success(), "{outside} must not match");
        }
        // nft can still add next to our elements, and we can delete what nft added.
        nft(&[
            "add",
            "element",
            "inet",
            "rampart",
            "cidr4",
            "{ 192.0.2.0/24, 203.0.113.128/25 }",
        ]);
        c.delete(&set, &[el("203.0.113.128/25"), el("198.51.100.7")])
            .unwrap();
        assert_eq!(
            nft_elements("cidr4"),
            vec!["192.0.2.0/24", "203.0.113.10-203.0.113.20"]
        );
        assert_eq!(ours(&mut c, &set), nft_elements("cidr4"));
    });
}

#[test]
fn ipv6_interval_set_and_small_messages() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        c.set_max_per_message(3);
        let set = SetRef::inet("rampart", "cidr6");
        let elems: Vec<Element> = (0..20u128)
            .map(|i| Element::from(IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | (i * 4)))))
            .chain([el("2001:db8:1::/48")])
            .collect();
        c.add(&set, &elems, None).unwrap();
        let mut want: Vec<String> = elems.iter().map(|e| e.to_string()).collect();
        want.sort();
        assert_eq!(ours(&mut c, &set), want);
        assert_eq!(nft_elements("cidr6"), want);
    });
}

#[test]
fn errors_name_the_set_and_the_element_and_change_nothing() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        let bl = SetRef::inet("rampart", "blocklist");
        let missing = SetRef::inet("rampart", "nosuch");
        let e = c.add(&missing, &[el("192.0.2.1")], None).unwrap_err();
        assert_eq!(e.to_string(), "set inet rampart nosuch does not exist");
        let e = c.list(&SetRef::inet("nosuch", "blocklist")).unwrap_err();
        assert_eq!(e.to_string(), "set inet nosuch blocklist does not exist");

        c.add(&bl, &[el("192.0.2.1")], None).unwrap();
        // Several messages: the duplicate sits in the third one.
        c.set_max_per_message(2);
        let batch = [
            el("198.51.100.1"),
            el("198.51.100.2"),
            el("198.51.100.3"),
            el("203.0.113.4"),
            el("192.0.2.1"),
        ];
        let e = c.add(&bl, &batch, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "element 192.0.2.1 already exists in set inet rampart blocklist"
        );
        assert_eq!(e.index(), Some(4));
        assert_eq!(e.errno(), Some(nix::errno::Errno::EEXIST));
        assert_eq!(
            nft_elements("blocklist"),
            vec!["192.0.2.1"],
            "a failed batch changes nothing"
        );
        // merge() keeps existing elements instead.
        c.merge(&bl, &batch, None).unwrap();
        assert_eq!(nft_elements("blocklist").len(), 5);

        let e = c
            .delete(&bl, &[el("198.51.100.1"), el("192.0.2.9")])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "element 192.0.2.9 does not exist in set inet rampart blocklist"
        );
        assert_eq!(e.index(), Some(1));
        assert_eq!(nft_elements("blocklist").len(), 5);

        let e = c.add(&bl, &[el("2001:db8::1")], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "set inet rampart blocklist holds IPv4 addresses; element 2001:db8::1 is not one"
        );
        let e = c.add(&bl, &[el("192.0.2.0/24")], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "set inet rampart blocklist has no `flags interval`: element 192.0.2.0/24 is not a single address"
        );
        let cidr4 = SetRef::inet("rampart", "cidr4");
        let e = c
            .add(&cidr4, &[el("192.0.2.0/24")], Some(Duration::from_secs(1)))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "set inet rampart cidr4 has no `flags timeout`: its elements cannot carry a timeout"
        );

        c.add(&cidr4, &[el("192.0.2.0/24")], None).unwrap();
        let e = c
            .add(&cidr4, &[el("198.51.100.0/24"), el("192.0.2.0/24")], None)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "element 192.0.2.0/24 already exists in set inet rampart cidr4"
        );
        assert_eq!(e.index(), Some(1));
        let overlap = c.add(&cidr4, &[el("192.0.2.128/25")], None).unwrap_err();
        eprintln!("overlap: {overlap}");
        assert_eq!(overlap.index(), Some(0));
        assert_eq!(nft_elements("cidr4"), vec!["192.0.2.0/24"]);

        // The set is dropped and recreated as a plain set: the cache follows.
        nft(&["delete", "set", "inet", "rampart", "cidr4"]);
        let e = c.add(&cidr4, &[el("192.0.2.1")], None).unwrap_err();
        assert_eq!(e.to_string(), "set inet rampart cidr4 does not exist");
        nft(&[
            "add",
            "set",
            "inet",
            "rampart",
            "cidr4",
            "{ type ipv4_addr; }",
        ]);
        c.add(&cidr4, &[el("192.0.2.1")], None).unwrap();
        assert_eq!(nft_elements("cidr4"), vec!["192.0.2.1"]);
    });
}

/// Large enough to span hundreds of messages and dump replies; the million-key load is
/// measured by `examples/setbench.rs` instead, because listing an interval set is
/// quadratic in the kernel (about 2 s at 100k keys, 125 s at 1M on this machine).
#[test]
fn a_hundred_thousand_ipv6_addresses_into_an_interval_set_in_one_transaction() {
    in_netns(|| {
        const N: u128 = 100_000;
        let mut c = SetClient::open().unwrap();
        let set = SetRef::inet("rampart", "cidr6");
        // Every other /128 of 2001:db8::/32, so no two are adjacent.
        let base = 0x2001_0db8_u128 << 96;
        let elems: Vec<Element> = (0..N)
            .map(|i| Element::from(IpAddr::V6(Ipv6Addr::from(base | (i * 2)))))
            .collect();
        c.add(&set, &elems, None).unwrap();
        let listed = c.list(&set).unwrap();
        assert_eq!(listed.len() as u128, N);
        assert_eq!(listed[0].element, elems[0]);
        assert_eq!(listed[N as usize - 1].element, elems[N as usize - 1]);
        // One more, and a duplicate, on the same socket with the big set present.
        c.add(&set, &[el("2001:db8:ffff::1")], None).unwrap();
        let e = c.add(&set, &[elems[12_345]], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "element {} already exists in set inet rampart cidr6",
                elems[12_345]
            )
        );
        // Present now: adding it again is refused. (No nft here: with this many keys
        // present every nft command dumps them all first.)
        let e = c.add(&set, &[el("2001:db8:ffff::1")], None).unwrap_err();
        assert_eq!(e.index(), Some(0));
    });
}

#[test]
fn replace_swaps_the_contents_of_both_families_in_one_transaction() {
    in_netns(|| {
        let mut c = SetClient::open().unwrap();
        let (v4, v6) = (
            SetRef::inet("rampart", "cidr4"),
            SetRef::inet("rampart", "cidr6"),
        );
        c.add(&v4, &[el("192.0.2.0/24"), el("198.51.100.7")], None)
            .unwrap();
        c.add(&v6, &[el("2001:db8::/48")], None).unwrap();
        // New contents overlap the old ones (the flush comes first) and repeat an
        // element (kept once, as merge does).
        let new4 = [
            el("192.0.2.0/25"),
            el("203.0.113.10-203.0.113.20"),
            el("192.0.2.0/25"),
        ];
        let new6 = [el("2001:db8::/64"), el("2001:db8:1::1")];
        c.replace_sets(&[(&v4, &new4), (&v6, &new6)], &mut |_| {})
            .unwrap();
        assert_eq!(
            nft_elements("cidr4"),
            vec!["192.0.2.0/25", "203.0.113.10-203.0.113.20"]
        );
        assert_eq!(
            nft_elements("cidr6"),
            vec!["2001:db8:1::1", "2001:db8::/64"]
        );
        assert_eq!(ours(&mut c, &v4), nft_elements("cidr4"));
        // Replacing with nothing empties the set; a plain set is flushed the same way.
        c.replace(&v4, &[]).unwrap();
        assert!(nft_elements("cidr4").is_empty());
        let bl = SetRef::inet("rampart", "blocklist");
        c.add(&bl, &[el("192.0.2.1")], None).unwrap();
        c.replace(&bl, &[el("192.0.2.2"), el("192.0.2.3")]).unwrap();
        assert_eq!(nft_elements("blocklist"), vec!["192.0.2.2", "192.0.2.3"]);
        // A set that does not exist.
        let e = c
            .replace(&SetRef::inet("rampart", "nosuch"), &[el("192.0.2.1")])
            .unwrap_err();
        assert_eq!(e.to_string(), "set inet rampart nosuch does not exist");
    });
}

/// The refusal sits in the last of ~100 messages, after the flush and 99k good keys: the
/// kernel aborts the whole transaction and the old contents stay.
#[test]
fn a_replace_refused_in_a_late_message_keeps_the_old_contents() {
    in_netns(|| {
        const N: u128 = 50_000;
        let mut c = SetClient::open().unwrap();
        let set = SetRef::inet("rampart", "cidr6");
        let old = [el("2001:db8:aaaa::/48"), el("2001:db8:bbbb::1")];
        c.add(&set, &old, None).unwrap();
        let base = 0x2001_0db8_u128 << 96;
        let mut new: Vec<Element> = (0..N)
            .map(|i| Element::from(IpAddr::V6(Ipv6Addr::from(base | (i * 2)))))
            .collect();
        // Overlapping intervals: the kernel's rbtree refuses the second one.
        new.push(el("2001:db8:ffff::/48"));
        new.push(el("2001:db8:ffff:1::/64"));
        let e = c.replace(&set, &new).unwrap_err();
        assert_eq!(
            e.to_string(),
            "element 2001:db8:ffff:1::/64 overlaps an element of interval set inet rampart cidr6"
        );
        assert_eq!(e.index(), Some(N as usize + 1));
        let mut want: Vec<String> = old.iter().map(|e| e.to_string()).collect();
        want.sort();
        assert_eq!(ours(&mut c, &set), want);
        assert_eq!(nft_elements("cidr6"), want);
        // Without the overlap the same replace goes through.
        new.pop();
        c.replace(&set, &new).unwrap();
        let listed = c.list(&set).unwrap();
        assert_eq!(listed.len(), new.len());
        assert!(!listed.iter().any(|e| e.element == old[0]));
    });
}

/// A second socket listing the set while the first replaces its contents back and forth
/// never finds it empty, and afterwards the set holds exactly the last list.
///
/// Not asserted: that every listing is one whole list. A listing that spans a commit is
/// retried (see `SetClient::list`), but on 6.18 a dump that starts while the commit is
/// still unlinking the old keys can come back short, with repeats, or with a start and an
/// end key of different ranges paired (seen in about one run in ten); the test prints how
/// many listings were whole and how many elements were strangers.
#[test]
fn a_watcher_never_sees_the_set_empty_during_replaces() {
    in_netns(|| {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        const N: u128 = 5_000;
        let set = SetRef::inet("rampart", "cidr6");
        let base = 0x2001_0db8_u128 << 96;
        let list = |offset: u128| -> Vec<Element> {
            (0..N)
                .map(|i| Element::from(IpAddr::V6(Ipv6Addr::from(base | offset | (i * 2)))))
                .collect()
        };
        let (a, b) = (list(0), list(1 << 64));
        let mut c = SetClient::open().unwrap();
        c.replace(&set, &a).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // Threads start in the namespace of the thread that spawns them.
        let watcher = {
            let (stop, set) = (stop.clone(), set.clone());
            let known: std::collections::HashSet<Element> =
                a.iter().chain(b.iter()).copied().collect();
            std::thread::spawn(move || {
                let mut w = SetClient::open().unwrap();
                let (mut looks, mut whole, mut empty, mut strangers) = (0, 0, 0, 0);
                while !stop.load(Ordering::Relaxed) || looks < 3 {
                    let got = w.list(&set).unwrap();
                    looks += 1;
                    empty += usize::from(got.is_empty());
                    whole += usize::from(got.len() == N as usize);
                    strangers += got.iter().filter(|e| !known.contains(&e.element)).count();
                }
                (looks, whole, empty, strangers)
            })
        };
        for l in [&b, &a, &b, &a, &b, &a] {
            c.replace(&set, l).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let (looks, whole, empty, strangers) = watcher.join().unwrap();
        eprintln!("{looks} listings, {whole} of them one whole list, {strangers} strangers");
        assert_eq!(
            empty, 0,
            "the set was listed empty {empty} times of {looks}"
        );
        let mut want: Vec<String> = a.iter().map(|e| e.to_string()).collect();
        want.sort();
        assert_eq!(ours(&mut c, &set), want);
    });
}
