//! Value parsers for option arguments: numbers, ports, services, addresses, rates, marks,
//! ICMP types. Each returns the model's canonical form, so that every spelling iptables
//! accepts for one kernel value yields one model value.

use std::net::IpAddr;

use rampart_prefix::{AddrRange, Prefix};

use crate::model::{
    AddrTypes, ByteRate, CtStates, Family, IcmpType, MarkValue, PortRange, Protocol, Rate,
    RateUnit, TcpFlags,
};

/// A failed value parse: the reason, shown after "bad value `x` for `--opt`".
pub(super) type ValueResult<T> = Result<T, String>;

/// Parses an unsigned number the way iptables' `strtoul(.., 0)` does: `0x` hex, a leading
/// `0` octal, otherwise decimal (so `--dport 010` is port 8, as in the kernel).
pub(super) fn number(text: &str) -> ValueResult<u64> {
    let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        u64::from_str_radix(&text[1..], 8)
    } else {
        text.parse::<u64>()
    };
    parsed.map_err(|_| "not a number".to_string())
}

/// A number that must fit `max`.
pub(super) fn bounded(text: &str, max: u64) -> ValueResult<u64> {
    let n = number(text)?;
    if n > max {
        return Err(format!("must be at most {max}"));
    }
    Ok(n)
}

/// A 32-bit value (marks, masks, counts).
pub(super) fn u32_value(text: &str) -> ValueResult<u32> {
    bounded(text, u64::from(u32::MAX)).map(|n| n as u32)
}

/// Service names for a machine without `/etc/services` (netbase), so that the common ones
/// still read; otherwise the file is the truth, as it is for iptables (`getservbyname`).
const FALLBACK_SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("auth", 113),
    ("ntp", 123),
    ("https", 443),
];

/// `/etc/services` is at most this big (netbase's is 13 KB); a larger file is not read.
const MAX_SERVICES_FILE: u64 = 1 << 20;

/// Service names and ports of `/etc/services` (first port of a name wins, as in glibc),
/// read once; the fallback table when the file is missing or too large.
fn services() -> &'static std::collections::HashMap<String, u16> {
    static SERVICES: std::sync::OnceLock<std::collections::HashMap<String, u16>> =
        std::sync::OnceLock::new();
    SERVICES.get_or_init(|| {
        let mut map = std::collections::HashMap::new();
        let text = std::fs::File::open("/etc/services").ok().and_then(|f| {
            use std::io::Read;
            let mut s = String::new();
            f.take(MAX_SERVICES_FILE).read_to_string(&mut s).ok()?;
            Some(s)
        });
        for line in text.as_deref().unwrap_or("").lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(port)) = (words.next(), words.next()) else {
                continue;
            };
            let Some(port) = port.split('/').next().and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            for n in std::iter::once(name).chain(words) {
                map.entry(n.to_string()).or_insert(port);
            }
        }
        if map.is_empty() {
            for (n, p) in FALLBACK_SERVICES {
                map.insert((*n).to_string(), *p);
            }
        }
        map
    })
}

/// One port: a number (0-65535) or a service name of `/etc/services`.
pub(super) fn port(text: &str) -> ValueResult<u16> {
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        return bounded(text, 65535).map(|n| n as u16);
    }
    services().get(text).copied().ok_or_else(|| {
        "unknown service name (not in /etc/services; write the port number)".to_string()
    })
}

/// A port of a NAT range's end or shift base: a number only.
pub(super) fn nat_port(text: &str) -> ValueResult<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port `{text}` not valid (a number here)"));
    }
    bounded(text, 65535).map(|n| n as u16)
}

/// NAT `--to-ports`/`:PORTS`: a port or service name alone, or `LO-HI` in numbers (as
/// libxt_NAT: `ssh` reads, `10-ssh` does not).
pub(super) fn nat_ports(text: &str) -> ValueResult<PortRange> {
    if let Ok(p) = port(text) {
        return Ok(PortRange::single(p));
    }
    let Some((lo, hi)) = text.split_once('-') else {
        return Err(format!("port `{text}` not valid"));
    };
    let (lo, hi) = (nat_port(lo)?, nat_port(hi)?);
    if lo > hi {
        return Err("range start is after its end".into());
    }
    Ok(PortRange { lo, hi })
}

/// `a`, `a:b`, `:b` (from 0) or `a:` (to 65535); `sep` is `:` for matches, `-` for NAT.
pub(super) fn port_range(text: &str, sep: char) -> ValueResult<PortRange> {
    let Some((lo, hi)) = text.split_once(sep) else {
        return port(text).map(PortRange::single);
    };
    let lo = if lo.is_empty() { 0 } else { port(lo)? };
    let hi = if hi.is_empty() { 65535 } else { port(hi)? };
    if lo > hi {
        return Err("range start is after its end".into());
    }
    Ok(PortRange { lo, hi })
}

/// `a:b` as [`port_range`] reads it, but `b` may come before `a` (a range that matches
/// nothing, as libxt_udp 1.8.9 loads it).
pub(super) fn port_range_any_order(text: &str) -> ValueResult<PortRange> {
    match text.split_once(':') {
        Some((lo, hi)) if !lo.is_empty() && !hi.is_empty() => Ok(PortRange {
            lo: port(lo)?,
            hi: port(hi)?,
        }),
        _ => port_range(text, ':'),
    }
}

/// A comma list of port ranges for multiport (at most 15 ports, a range counting two).
pub(super) fn port_list(text: &str) -> ValueResult<Vec<PortRange>> {
    let ports = text
        .split(',')
        .map(|p| {
            let range = port_range(p, ':')?;
            // multiport refuses `a:b` unless a < b ("invalid portrange specified").
            if p.contains(':') && range.lo == range.hi {
                return Err(format!("`{p}` is not a range: write the port alone"));
            }
            Ok(range)
        })
        .collect::<ValueResult<Vec<_>>>()?;
    let slots: usize = ports.iter().map(|p| if p.lo == p.hi { 1 } else { 2 }).sum();
    if slots > 15 {
        return Err("too many ports: multiport allows 15 (a range counts as two)".into());
    }
    Ok(ports)
}

/// `-p`: a name or number; `None` for `all`/`0`, which the kernel stores as no match.
pub(super) fn protocol(text: &str) -> ValueResult<Option<Protocol>> {
    if text.eq_ignore_ascii_case("all") || text == "0" {
        return Ok(None);
    }
    Protocol::from_name(text)
        .map(Some)
        .ok_or_else(|| "unknown protocol (use a name such as tcp or a number)".to_string())
}

/// An address or network of the command's family.
pub(super) fn prefix(text: &str, family: Family) -> ValueResult<Prefix> {
    let p: Prefix = text.parse().map_err(|e| format!("{e}"))?;
    check_family(p.addr(), family)?;
    Ok(p)
}

/// One address of `-s`/`-d`: a prefix, or an address with a netmask that is no prefix
/// (`192.0.2.13/255.0.255.0`), which iptables accepts too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddrItem {
    /// `ADDR[/LEN]` or a prefix mask.
    Prefix(Prefix),
    /// The address with the mask applied, and the mask.
    Masked { addr: IpAddr, mask: IpAddr },
}

/// `ADDR[/LEN]` or `ADDR/MASK` with any mask of the family.
pub(super) fn addr_item(text: &str, family: Family) -> ValueResult<AddrItem> {
    let err = match prefix(text, family) {
        Ok(p) => return Ok(AddrItem::Prefix(p)),
        Err(e) => e,
    };
    let Some((a, m)) = text.split_once('/') else {
        return Err(err);
    };
    let (Ok(addr), Ok(mask)) = (a.parse::<IpAddr>(), m.parse::<IpAddr>()) else {
        return Err(err);
    };
    check_family(addr, family)?;
    check_family(mask, family)?;
    let (addr, bits, width) = match (addr, mask) {
        (IpAddr::V4(a), IpAddr::V4(m)) => (
            IpAddr::V4((u32::from(a) & u32::from(m)).into()),
            u128::from(u32::from(m)) << 96,
            32,
        ),
        (IpAddr::V6(a), IpAddr::V6(m)) => (
            IpAddr::V6((u128::from(a) & u128::from(m)).into()),
            u128::from(m),
            128,
        ),
        _ => return Err(err),
    };
    // A mask that is a prefix after all (`ffff:ffff::`) is that prefix.
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 && ones <= width {
        if let Some(p) = Prefix::new(addr, ones as u8) {
            return Ok(AddrItem::Prefix(p));
        }
    }
    Ok(AddrItem::Masked { addr, mask })
}

/// Refuses an address of the other family, as iptables/ip6tables do.
pub(super) fn check_family(addr: IpAddr, family: Family) -> ValueResult<()> {
    if Family::of(addr) != family {
        return Err(format!(
            "an IPv{} address in a {} command",
            if addr.is_ipv4() { 4 } else { 6 },
            family.command()
        ));
    }
    Ok(())
}

/// `START[-END]` of one family.
pub(super) fn addr_range(text: &str, family: Family) -> ValueResult<AddrRange> {
    let r: AddrRange = text.parse().map_err(|e| format!("{e}"))?;
    check_family(r.start(), family)?;
    Ok(r)
}

/// A netmask written as an address (`255.255.255.0`) or a length, as a prefix length;
/// `None` when it is the family's full width (the kernel's default, so not stored).
pub(super) fn mask_len(text: &str, family: Family) -> ValueResult<Option<u8>> {
    let width = match family {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    };
    let len = if text.contains(['.', ':']) {
        let addr: IpAddr = text.parse().map_err(|_| "not a netmask".to_string())?;
        check_family(addr, family)?;
        let bits = match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
            IpAddr::V6(a) => u128::from(a),
        };
        let ones = bits.leading_ones();
        if bits.checked_shl(ones).unwrap_or(0) != 0 {
            return Err("not a contiguous netmask".into());
        }
        ones as u8
    } else {
        bounded(text, width).map(|n| n as u8)?
    };
    Ok((u64::from(len) != width).then_some(len))
}

/// `VALUE[/MASK]` for `--mark` and the mark targets; mask defaults to all ones.
pub(super) fn mark(text: &str) -> ValueResult<MarkValue> {
    let (value, mask) = match text.split_once('/') {
        Some((v, m)) => (u32_value(v)?, u32_value(m)?),
        None => (u32_value(text)?, u32::MAX),
    };
    Ok(MarkValue { value, mask })
}

/// The units `--limit` accepts after `/`, and what each means.
const RATE_UNITS: &[(&str, RateUnit)] = &[
    ("second", RateUnit::Second),
    ("sec", RateUnit::Second),
    ("s", RateUnit::Second),
    ("minute", RateUnit::Minute),
    ("min", RateUnit::Minute),
    ("m", RateUnit::Minute),
    ("hour", RateUnit::Hour),
    ("h", RateUnit::Hour),
    ("day", RateUnit::Day),
    ("d", RateUnit::Day),
];

/// `N[/unit]`, normalised as the kernel stores it: `60/min` and `1/sec` are the same
/// interval, and iptables-save prints the coarsest unit that represents it exactly.
pub(super) fn rate(text: &str) -> ValueResult<Rate> {
    let (count, unit) = written_rate(text)?;
    Ok(canonical_rate(count, unit))
}

/// `N[/unit]` as `-m limit` reads it.
fn written_rate(text: &str) -> ValueResult<(u32, RateUnit)> {
    let (count, unit) = match text.split_once('/') {
        Some((n, u)) => {
            let unit = RATE_UNITS
                .iter()
                .find(|(name, _)| *name == u)
                .map(|(_, unit)| *unit)
                .ok_or_else(|| "unit must be second, minute, hour or day".to_string())?;
            (n, unit)
        }
        None => (text, RateUnit::Second),
    };
    let count = u32_value(count)?;
    if count == 0 {
        return Err("rate must be greater than zero".into());
    }
    // The kernel counts in 1/10000 s; iptables refuses anything faster ("Rate too fast").
    if u64::from(count) > LIMIT_SCALE * u64::from(unit.seconds()) {
        return Err("too fast: at most 10000/second".into());
    }
    Ok((count, unit))
}

/// xt_limit's unit of time: 1/10000 s.
const LIMIT_SCALE: u64 = 10_000;
/// xt_hashlimit's unit of time (revisions 2 and 3): 1/1000000 s.
const HASHLIMIT_SCALE: u64 = 1_000_000;

/// Mirrors libxt_limit's `print_rate`: the interval between tokens in 1/10000 s, printed
/// in the largest unit whose whole-number rate loses nothing.
fn canonical_rate(count: u32, unit: RateUnit) -> Rate {
    let period = (u64::from(unit.seconds()) * LIMIT_SCALE / u64::from(count)).max(1);
    rate_of_period(period, LIMIT_SCALE)
}

/// The rate iptables-save prints for an interval of `period` in 1/`scale` s: the
/// finest unit until a finer one would not divide it evenly enough (libxt_limit's and
/// libxt_hashlimit's `print_rate`).
pub(super) fn rate_of_period(period: u64, scale: u64) -> Rate {
    let period = period.max(1);
    let units = [
        RateUnit::Day,
        RateUnit::Hour,
        RateUnit::Minute,
        RateUnit::Second,
    ];
    let mult = |u: RateUnit| u64::from(u.seconds()) * scale;
    let mut chosen = units[0];
    for u in &units[1..] {
        if period > mult(*u) || mult(*u) / period < mult(*u) % period {
            break;
        }
        chosen = *u;
    }
    let count = (mult(chosen) / period).min(u64::from(u32::MAX)) as u32;
    Rate {
        count,
        unit: chosen,
    }
}

/// A hashlimit rate as written: packets (`10/sec`, any prefix of a unit name, any case)
/// or bytes (`4kb/s`, `10mb/s`, `512b/s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HashlimitRate {
    /// The interval between packets in 1/1000000 s, and the written unit in seconds
    /// (iptables' default expiry and rate interval).
    Packets { period: u64, unit_secs: u32 },
    /// The kernel's byte cost.
    Bytes { cost: u32 },
}

/// The leading decimal digits of `text` as C's `atoll` reads them (iptables reads rates
/// so: `4kb/m` is 4/minute), `None` without digits.
pub(super) fn leading_number(text: &str) -> Option<u64> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    // At most 20 digits fit in u64; longer is "too fast" anyway.
    Some(text[..digits].parse::<u64>().unwrap_or(u64::MAX))
}

/// `--hashlimit-upto`/`--hashlimit-above` as libxt_hashlimit reads them: `b/s` after a
/// number (with `k` or `m` before the `b`: KiB, MiB) makes a byte rate; otherwise the
/// number of packets per unit, the unit being any prefix of second, minute, hour or day.
pub(super) fn hashlimit_rate(text: &str) -> ValueResult<HashlimitRate> {
    const BYTE_UNITS: [(char, u64); 2] = [('k', 1024), ('m', 1024 * 1024)];
    if let Some(at) = text.find("b/s").filter(|at| *at > 0) {
        let n = leading_number(text).filter(|n| *n > 0).ok_or_else(|| {
            "a byte rate is a number of bytes per second (`512b/s`, `4kb/s`, `10mb/s`)".to_string()
        })?;
        let before = text[..at].chars().next_back();
        let factor = BYTE_UNITS
            .iter()
            .find(|(c, _)| Some(*c) == before)
            .map_or(1, |(_, f)| *f);
        let cost = ByteRate::cost_of(n.saturating_mul(factor));
        if cost < 2 {
            // 0: iptables' "Rate too high"; 1: the kernel's "overflow, rate too high".
            return Err("too high: a byte rate is at most 2047mb/s".into());
        }
        return Ok(HashlimitRate::Bytes { cost });
    }
    let (number, unit) = match text.split_once('/') {
        Some((n, u)) => (n, Some(u)),
        None => (text, None),
    };
    let unit_secs = match unit {
        None => 1,
        Some(u) => {
            let lower = u.to_ascii_lowercase();
            [
                ("second", 1),
                ("minute", 60),
                ("hour", 3600),
                ("day", 86_400),
            ]
            .iter()
            .find(|(name, _)| !lower.is_empty() && name.starts_with(lower.as_str()))
            .map(|(_, s)| *s)
            .ok_or_else(|| "unit must be second, minute, hour or day".to_string())?
        }
    };
    let count = leading_number(number)
        .filter(|n| *n > 0)
        .ok_or_else(|| "rate must be a number greater than zero".to_string())?;
    let period = HASHLIMIT_SCALE * u64::from(unit_secs) / count;
    if period == 0 {
        return Err("too fast: at most 1000000/second".into());
    }
    Ok(HashlimitRate::Packets { period, unit_secs })
}

/// The packet rate iptables-save prints for a hashlimit interval in 1/1000000 s.
pub(super) fn hashlimit_printed_rate(period: u64) -> Rate {
    rate_of_period(period, HASHLIMIT_SCALE)
}

/// `--hashlimit-burst`: a number (C syntax: `0x10` is 16), optionally followed by `k`
/// or `m` (×1024, ×1048576; meant for byte rates, taken for packets too, as iptables
/// does). Returns the value and whether it had a suffix.
pub(super) fn hashlimit_burst(text: &str) -> ValueResult<(u64, bool)> {
    let (n, rest) = c_number_prefix(text)
        .ok_or_else(|| "burst must be a number, optionally followed by k or m".to_string())?;
    if n == 0 {
        return Err("burst must be at least 1".into());
    }
    if rest.is_empty() {
        if n > 1_000_000 {
            return Err("burst must be between 1 and 1000000".into());
        }
        return Ok((n, false));
    }
    let factor = match rest.chars().next() {
        Some('k') => 1024,
        Some('m') => 1024 * 1024,
        _ => 1,
    };
    Ok((n.saturating_mul(factor), true))
}

/// The number at the start of `text` as `strtoumax(.., 0)` reads it (hex after `0x`,
/// octal after `0`), and what follows; `None` when no digit starts it or it overflows.
fn c_number_prefix(text: &str) -> Option<(u64, &str)> {
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .filter(|h| h.starts_with(|c: char| c.is_ascii_hexdigit()));
    let (radix, body) = match hex {
        Some(h) => (16, h),
        None if text.starts_with('0') => (8, &text[1..]),
        None => (10, text),
    };
    let len = body
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(body.len());
    if radix == 10 && len == 0 {
        return None;
    }
    let value = if len == 0 {
        0
    } else {
        u64::from_str_radix(&body[..len], radix).ok()?
    };
    Some((value, &body[len..]))
}

/// `--tcp-flags` lists: names, `ALL` and `NONE`, comma separated.
pub(super) fn tcp_flags(text: &str) -> ValueResult<TcpFlags> {
    let mut bits = 0u8;
    for name in text.split(',') {
        bits |= match name.to_ascii_uppercase().as_str() {
            "ALL" => TcpFlags::ALL,
            "NONE" => 0,
            upper => TcpFlags::NAMES
                .iter()
                .find(|(n, _)| *n == upper)
                .map(|(_, b)| *b)
                .ok_or_else(|| {
                    format!("unknown flag `{name}` (FIN SYN RST PSH ACK URG ALL NONE)")
                })?,
        };
    }
    Ok(TcpFlags(bits))
}

/// `--state`/`--ctstate` lists; `SNAT`/`DNAT` only for conntrack.
pub(super) fn ct_states(text: &str, allow_nat: bool) -> ValueResult<CtStates> {
    let mut bits = 0u8;
    for name in text.split(',') {
        let upper = name.to_ascii_uppercase();
        let bit = CtStates::NAMES
            .iter()
            .find(|(n, _)| *n == upper)
            .map(|(_, b)| *b)
            .filter(|b| allow_nat || *b & (CtStates::SNAT | CtStates::DNAT) == 0)
            .ok_or_else(|| format!("unknown state `{name}`"))?;
        bits |= bit;
    }
    Ok(CtStates(bits))
}

/// `--src-type`/`--dst-type` lists.
pub(super) fn addr_types(text: &str) -> ValueResult<AddrTypes> {
    let mut bits = 0u16;
    for name in text.split(',') {
        bits |= AddrTypes::bit(&name.to_ascii_uppercase())
            .ok_or_else(|| format!("unknown address type `{name}`"))?;
    }
    Ok(AddrTypes(bits))
}

/// ICMP type names as iptables knows them: (name, type, code).
const ICMP_TYPES: &[(&str, u8, Option<u8>)] = &[
    ("echo-reply", 0, None),
    ("pong", 0, None),
    ("destination-unreachable", 3, None),
    ("network-unreachable", 3, Some(0)),
    ("host-unreachable", 3, Some(1)),
    ("protocol-unreachable", 3, Some(2)),
    ("port-unreachable", 3, Some(3)),
    ("fragmentation-needed", 3, Some(4)),
    ("source-route-failed", 3, Some(5)),
    ("network-unknown", 3, Some(6)),
    ("host-unknown", 3, Some(7)),
    ("network-prohibited", 3, Some(9)),
    ("host-prohibited", 3, Some(10)),
    ("TOS-network-unreachable", 3, Some(11)),
    ("TOS-host-unreachable", 3, Some(12)),
    ("communication-prohibited", 3, Some(13)),
    ("host-precedence-violation", 3, Some(14)),
    ("precedence-cutoff", 3, Some(15)),
    ("source-quench", 4, None),
    ("redirect", 5, None),
    ("network-redirect", 5, Some(0)),
    ("host-redirect", 5, Some(1)),
    ("TOS-network-redirect", 5, Some(2)),
    ("TOS-host-redirect", 5, Some(3)),
    ("echo-request", 8, None),
    ("ping", 8, None),
    ("router-advertisement", 9, None),
    ("router-solicitation", 10, None),
    ("time-exceeded", 11, None),
    ("ttl-exceeded", 11, None),
    ("ttl-zero-during-transit", 11, Some(0)),
    ("ttl-zero-during-reassembly", 11, Some(1)),
    ("parameter-problem", 12, None),
    ("ip-header-bad", 12, Some(0)),
    ("required-option-missing", 12, Some(1)),
    ("timestamp-request", 13, None),
    ("timestamp-reply", 14, None),
    ("address-mask-request", 17, None),
    ("address-mask-reply", 18, None),
];

/// ICMPv6 type names as ip6tables knows them.
const ICMP6_TYPES: &[(&str, u8, Option<u8>)] = &[
    ("destination-unreachable", 1, None),
    ("no-route", 1, Some(0)),
    ("communication-prohibited", 1, Some(1)),
    ("beyond-scope", 1, Some(2)),
    ("address-unreachable", 1, Some(3)),
    ("port-unreachable", 1, Some(4)),
    ("failed-policy", 1, Some(5)),
    ("reject-route", 1, Some(6)),
    ("packet-too-big", 2, None),
    ("time-exceeded", 3, None),
    ("ttl-exceeded", 3, None),
    ("ttl-zero-during-transit", 3, Some(0)),
    ("ttl-zero-during-reassembly", 3, Some(1)),
    ("parameter-problem", 4, None),
    ("bad-header", 4, Some(0)),
    ("unknown-header-type", 4, Some(1)),
    ("unknown-option", 4, Some(2)),
    ("echo-request", 128, None),
    ("ping", 128, None),
    ("echo-reply", 129, None),
    ("pong", 129, None),
    ("router-solicitation", 133, None),
    ("router-advertisement", 134, None),
    ("neighbour-solicitation", 135, None),
    ("neighbor-solicitation", 135, None),
    ("neighbour-advertisement", 136, None),
    ("neighbor-advertisement", 136, None),
    ("redirect", 137, None),
];

/// `--icmp-type` (v6: `--icmpv6-type`): a name, `TYPE` or `TYPE/CODE`; `any` only for v4,
/// as in iptables.
pub(super) fn icmp_type(text: &str, family: Family) -> ValueResult<IcmpType> {
    if family == Family::Ipv4 && text == "any" {
        return Ok(IcmpType::of_type(None));
    }
    let table = match family {
        Family::Ipv4 => ICMP_TYPES,
        Family::Ipv6 => ICMP6_TYPES,
    };
    if let Some((_, ty, code)) = table.iter().find(|(n, _, _)| *n == text) {
        return Ok(IcmpType {
            ty: Some(*ty),
            code: *code,
            code_max: None,
        });
    }
    let (ty, code_text) = match text.split_once('/') {
        Some((t, c)) => (t, Some(c)),
        None => (text, None),
    };
    let unknown = || "unknown ICMP type (use a name such as echo-request or TYPE/CODE)".to_string();
    let ty = bounded(ty, 255).map_err(|_| unknown())? as u8;
    let code = |c: &str| bounded(c, 255).map(|n| n as u8).map_err(|_| unknown());
    // `TYPE/MIN:MAX`: the kernel matches the range; 0:255 is every code.
    let (code, code_max) = match code_text.map(|c| c.split_once(':')) {
        Some(Some((lo, hi))) => match (code(lo)?, code(hi)?) {
            (0, 255) => (None, None),
            (l, h) if l == h => (Some(l), None),
            (l, h) => (Some(l), Some(h)),
        },
        Some(None) => (code_text.map(code).transpose()?, None),
        None => (None, None),
    };
    // IPv4's `any` is type 255: the kernel matches every packet with it, whatever the
    // codes, and iptables-save prints `any`.
    if family == Family::Ipv4 && ty == 255 {
        return Ok(IcmpType::of_type(None));
    }
    Ok(IcmpType {
        ty: Some(ty),
        code,
        code_max,
    })
}

/// `--log-level`: a syslog name or 0-7.
pub(super) fn log_level(text: &str) -> ValueResult<u8> {
    const LEVELS: &[(&str, u8)] = &[
        ("emerg", 0),
        ("alert", 1),
        ("crit", 2),
        ("error", 3),
        ("warning", 4),
        ("notice", 5),
        ("info", 6),
        ("debug", 7),
    ];
    if let Some((_, n)) = LEVELS.iter().find(|(n, _)| text.eq_ignore_ascii_case(n)) {
        return Ok(*n);
    }
    bounded(text, 7)
        .map(|n| n as u8)
        .map_err(|_| "use emerg, alert, crit, error, warning, notice, info, debug or 0-7".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_strtoul_base_zero() {
        assert_eq!(number("0x10"), Ok(16));
        assert_eq!(number("010"), Ok(8));
        assert_eq!(number("0"), Ok(0));
        assert!(number("x").is_err());
    }

    #[test]
    fn port_ranges_and_services() {
        assert_eq!(port_range("ssh", ':'), Ok(PortRange::single(22)));
        assert_eq!(port_range(":100", ':'), Ok(PortRange { lo: 0, hi: 100 }));
        assert_eq!(
            port_range("1000:", ':'),
            Ok(PortRange {
                lo: 1000,
                hi: 65535
            })
        );
        assert_eq!(port_range("1-2", '-'), Ok(PortRange { lo: 1, hi: 2 }));
        assert!(port_range("5:1", ':').is_err());
        assert!(port_range("nosuch", ':').is_err());
        assert!(port_list("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15").is_ok());
        assert!(port_list("1:2,3,4,5,6,7,8,9,10,11,12,13,14,15,16").is_err());
        assert!(port_list("1:1").is_err());
    }

    #[test]
    fn rates_are_normalised_like_iptables_save() {
        let r = |c, u| Rate { count: c, unit: u };
        assert_eq!(rate("60/min"), Ok(r(1, RateUnit::Second)));
        assert_eq!(rate("5/m"), Ok(r(5, RateUnit::Minute)));
        assert_eq!(rate("3/hour"), Ok(r(3, RateUnit::Hour)));
        assert_eq!(rate("10"), Ok(r(10, RateUnit::Second)));
        assert_eq!(rate("1/d"), Ok(r(1, RateUnit::Day)));
        assert!(rate("1/week").is_err());
        assert!(rate("10001/sec").is_err());
        assert_eq!(rate("10000/s"), Ok(r(10000, RateUnit::Second)));
    }

    #[test]
    fn masks_and_marks() {
        assert_eq!(mask_len("255.255.255.0", Family::Ipv4), Ok(Some(24)));
        assert_eq!(mask_len("255.255.255.255", Family::Ipv4), Ok(None));
        assert_eq!(mask_len("64", Family::Ipv6), Ok(Some(64)));
        assert!(mask_len("255.0.255.0", Family::Ipv4).is_err());
        assert_eq!(
            mark("0x10/0xff"),
            Ok(MarkValue {
                value: 16,
                mask: 255
            })
        );
    }

    #[test]
    fn icmp_names_numbers_and_any() {
        let t = |ty, code| IcmpType {
            ty,
            code,
            code_max: None,
        };
        assert_eq!(
            icmp_type("echo-request", Family::Ipv4),
            Ok(t(Some(8), None))
        );
        assert_eq!(icmp_type("3/4", Family::Ipv4), Ok(t(Some(3), Some(4))));
        assert_eq!(icmp_type("any", Family::Ipv4), Ok(t(None, None)));
        // A code range: the kernel matches it, iptables-save prints its first code.
        let range = icmp_type("3/1:2", Family::Ipv4).expect("a range");
        assert_eq!((range.ty, range.codes()), (Some(3), (1, 2)));
        assert_eq!(icmp_type("3/0:255", Family::Ipv4), Ok(t(Some(3), None)));
        assert_eq!(icmp_type("255/1:2", Family::Ipv4), Ok(t(None, None)));
        assert_eq!(icmp_type("255", Family::Ipv6), Ok(t(Some(255), None)));
        assert!(icmp_type("any", Family::Ipv6).is_err());
        assert_eq!(
            icmp_type("neighbour-solicitation", Family::Ipv6),
            Ok(t(Some(135), None))
        );
    }
}
