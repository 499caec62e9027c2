//! Untranslatable constructs are errors, with exact text and the rule's place.

use crate::util::compile_text;

fn error_of(script: &str) -> String {
    match compile_text(script) {
        Ok(s) => panic!("compiled:\n{}", s.text()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn recent_hitcount() {
    assert_eq!(
        error_of("iptables -A INPUT -p tcp --dport 22 -m recent --name ssh --update --seconds 60 --hitcount 4 -j DROP\n"),
        "iptables -t filter INPUT rule 1 (line 1:1): `-m recent --hitcount` has no nftables equivalent (sets keep no hit history); use a hashlimit rate limit"
    );
}

#[test]
fn recent_rttl() {
    assert_eq!(
        error_of("iptables -A INPUT -j ACCEPT\niptables -A INPUT -m recent --name x --rcheck --rttl -j DROP\n"),
        "iptables -t filter INPUT rule 2 (line 2:1): `-m recent --rttl` has no nftables equivalent (sets do not store the TTL); use a hashlimit rate limit"
    );
}

#[test]
fn recent_negated_update() {
    assert_eq!(
        error_of("iptables -A INPUT -m recent ! --update --name x -j DROP\n"),
        "iptables -t filter INPUT rule 1 (line 1:1): `-m recent ! --update` both changes the list and inverts the match; nftables cannot do both in one rule (only `! --rcheck` translates)"
    );
}

#[test]
fn recent_seconds_conflict() {
    assert_eq!(
        error_of(
            "iptables -A INPUT -m recent --rcheck --name x --seconds 60 -j DROP\n\
             iptables -A INPUT -m recent --rcheck --name x --seconds 30 -j DROP\n"
        ),
        "iptables -t filter INPUT rule 2 (line 2:1): recent list `x` is checked with --seconds 30 here but 60 elsewhere; an nft set has a single timeout, so every check of a list must use the same --seconds"
    );
}

#[test]
fn multiport_either_with_limit() {
    assert_eq!(
        error_of("iptables -A INPUT -p tcp -m multiport --ports 22,80 -m limit --limit 1/s -j ACCEPT\n"),
        "iptables -t filter INPUT rule 1 (line 1:1): `-m multiport --ports` becomes two nft rules, which would give this rule's `limit` two separate buckets; split the rule into `--sports` and `--dports` rules yourself"
    );
}

#[test]
fn ctstate_mixed_with_a_limit() {
    assert_eq!(
        error_of("iptables -A FORWARD -m conntrack --ctstate NEW,DNAT -m limit --limit 1/s -j ACCEPT\n"),
        "iptables -t filter FORWARD rule 1 (line 1:1): `--ctstate` mixing SNAT/DNAT with other states becomes two nft rules (`ct state` and `ct status`), which would give this rule's `limit` two separate buckets; write two rules yourself"
    );
}

/// firewalld's first rule: `--ctstate RELATED,ESTABLISHED,DNAT` is an OR across `ct state`
/// and `ct status`: two rules that exclude each other; negated, one rule.
#[test]
fn ctstate_mixed_becomes_two_exclusive_rules() {
    let script = crate::util::compile_text(
        "iptables -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n\
         iptables -A FORWARD -m conntrack ! --ctstate NEW,SNAT -j DROP\n",
    )
    .unwrap();
    let text = script.text();
    assert!(
        text.contains("ct state established,related counter accept"),
        "{text}"
    );
    assert!(
        text.contains("ct state & (established|related) == 0 ct status dnat counter accept"),
        "{text}"
    );
    assert!(
        text.contains("ct state & new == 0 ct status & snat == 0 counter drop"),
        "{text}"
    );
}

#[test]
fn port_only_dnat() {
    assert_eq!(
        error_of("iptables -t nat -A PREROUTING -p tcp -j DNAT --to-destination :8080\n"),
        "iptables -t nat PREROUTING rule 1 (line 1:1): DNAT to a port without an address has no nftables 1.0 form; name the address (or use REDIRECT for this host)"
    );
}

#[test]
fn connmark_masks() {
    assert_eq!(
        error_of("iptables -t mangle -A POSTROUTING -j CONNMARK --save-mark --mask 0xff\n"),
        "iptables -t mangle POSTROUTING rule 1 (line 1:1): `CONNMARK --save-mark` with --nfmask 0xff --ctmask 0xff combines the packet and connection marks under two masks, which nftables 1.0 cannot express; use full masks"
    );
}

#[test]
fn unknown_set() {
    assert_eq!(
        error_of("iptables -A INPUT -m set --match-set nosuch src -j DROP\n"),
        "iptables -t filter INPUT rule 1 (line 1:1): `--match-set nosuch`: no such set (load it with --sets)"
    );
}

#[test]
fn set_of_other_family() {
    assert_eq!(
        error_of("ipset create v4 hash:ip\nip6tables -A INPUT -m set --match-set v4 src -j DROP\n"),
        "ip6tables -t filter INPUT rule 1 (line 2:1): `--match-set v4`: the set holds IPv4 addresses but the rule is IPv6"
    );
}

#[test]
fn interval_set_with_timeout() {
    assert_eq!(
        error_of("ipset create nets hash:net timeout 600\n"),
        "ipset nets (line 1:14): hash:net set with timeouts: rampart keeps timeout sets (bans) apart from interval sets (CIDR lists); use hash:ip for entries that expire, hash:net without timeout for networks"
    );
}

#[test]
fn hashlimit_name_reused_with_another_key() {
    assert_eq!(
        error_of(
            "iptables -A INPUT -m hashlimit --hashlimit-upto 1/s --hashlimit-mode srcip --hashlimit-name h -j ACCEPT\n\
             iptables -A INPUT -m hashlimit --hashlimit-upto 1/s --hashlimit-mode dstip,dstport --hashlimit-name h -j ACCEPT\n"
        ),
        "iptables -t filter INPUT rule 2 (line 2:1): hashlimit `h` is keyed by ipv4_addr . inet_service here but by ipv4_addr (iptables -t filter INPUT rule 1 (line 1:1)) in another rule; give the rules different --hashlimit-name"
    );
}

/// Every error is reported, not just the first.
#[test]
fn all_errors_at_once() {
    let err = compile_text(
        "iptables -A INPUT -m recent --rcheck --hitcount 3 --name a -j DROP\n\
         iptables -A INPUT -j ACCEPT\n\
         iptables -A INPUT -m recent --rcheck --rttl --name a -j DROP\n",
    )
    .unwrap_err();
    assert_eq!(err.errors().len(), 2);
    assert_eq!(err.errors()[1].place().unwrap().index, 3);
}
