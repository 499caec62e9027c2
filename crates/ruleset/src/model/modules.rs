//! The model of the `-m` modules added for real servers' rulesets (issue 14): socket
//! owner, packet type, marks, TTL, DSCP/TOS, time, string, statistic, helper, IPsec policy,
//! reverse-path filter, bridge ports, MSS, SCTP, device groups, and [`OpaqueMatch`] for the
//! modules rampart reads and prints but neither simulates nor compiles.
//!
//! Values are kept in the form the kernel stores them (`--dscp-class EF` is `0x2e`,
//! `! --weekdays Sat,Sun` is Mon–Fri), so that printing gives what `iptables-save` shows.

use serde::{Deserialize, Serialize};

use rampart_prefix::Prefix;

use super::{Interface, MarkValue, Neg, PortRange};

/// An inclusive range of 32-bit numbers (`--uid-owner 1000-1999`, `--ctexpire 10:100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NumRange {
    /// First value.
    pub lo: u32,
    /// Last value.
    pub hi: u32,
}

impl NumRange {
    /// Whether `n` is inside.
    pub fn contains(&self, n: u32) -> bool {
        self.lo <= n && n <= self.hi
    }
}

/// `-m owner`: the local socket that sent the packet (OUTPUT and POSTROUTING only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OwnerMatch {
    /// `--uid-owner`.
    pub uid: Option<Neg<NumRange>>,
    /// `--gid-owner`.
    pub gid: Option<Neg<NumRange>>,
    /// `--socket-exists`; `Some(true)` when negated.
    pub socket_exists: Option<bool>,
    /// `--suppl-groups`: `--gid-owner` also matches the supplementary groups.
    pub suppl_groups: bool,
}

/// `-m pkttype --pkt-type`: the link-layer class of the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PktType {
    /// To this host (`PACKET_HOST`).
    Unicast,
    /// Link-layer broadcast.
    Broadcast,
    /// Link-layer multicast.
    Multicast,
    /// To another host (promiscuous capture).
    Otherhost,
    /// Sent by this host.
    Outgoing,
    /// Looped back.
    Loopback,
}

impl PktType {
    /// Names as iptables prints them, with the kernel's `PACKET_*` numbers.
    pub const NAMES: [(&'static str, PktType, u8); 6] = [
        ("unicast", PktType::Unicast, 0),
        ("broadcast", PktType::Broadcast, 1),
        ("multicast", PktType::Multicast, 2),
        ("otherhost", PktType::Otherhost, 3),
        ("outgoing", PktType::Outgoing, 4),
        ("loopback", PktType::Loopback, 5),
    ];

    /// The name iptables prints.
    pub fn name(self) -> &'static str {
        PktType::NAMES
            .iter()
            .find(|(_, t, _)| *t == self)
            .map(|(n, _, _)| *n)
            .expect("every type is named")
    }

    /// The type called `name` (`host` is iptables' other name for unicast).
    pub fn from_name(name: &str) -> Option<PktType> {
        let lower = name.to_ascii_lowercase();
        if lower == "host" {
            return Some(PktType::Unicast);
        }
        PktType::NAMES
            .iter()
            .find(|(n, _, _)| *n == lower)
            .map(|(_, t, _)| *t)
    }
}

/// The comparison of `-m ttl` / `-m hl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TtlOp {
    /// `--ttl-eq`.
    Eq,
    /// `! --ttl-eq`.
    Ne,
    /// `--ttl-lt`.
    Lt,
    /// `--ttl-gt`.
    Gt,
}

/// `-m ttl` (IPv4 TTL) or `-m hl` (IPv6 hop limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TtlMatch {
    /// The comparison.
    pub op: TtlOp,
    /// The value compared with.
    pub value: u8,
}

impl TtlMatch {
    /// Whether a packet with this TTL / hop limit matches.
    pub fn holds(&self, ttl: u8) -> bool {
        match self.op {
            TtlOp::Eq => ttl == self.value,
            TtlOp::Ne => ttl != self.value,
            TtlOp::Lt => ttl < self.value,
            TtlOp::Gt => ttl > self.value,
        }
    }
}

/// `-m tos --tos value/mask`: the IPv4 TOS byte (IPv6 traffic class) under a mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TosValue {
    /// The value.
    pub value: u8,
    /// The mask.
    pub mask: u8,
}

/// The days `-m time` keeps, in the kernel's bit layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeMatch {
    /// `--datestart`, seconds since the epoch (0: none).
    pub date_start: u32,
    /// `--datestop`, seconds since the epoch (`i32::MAX`: none).
    pub date_stop: u32,
    /// `--timestart`, seconds since midnight.
    pub daytime_start: u32,
    /// `--timestop`, seconds since midnight.
    pub daytime_stop: u32,
    /// `--monthdays`: bit N for day N (1–31).
    pub monthdays: u32,
    /// `--weekdays`: bit N for day N (1 = Monday … 7 = Sunday).
    pub weekdays: u8,
    /// `--kerneltz`: read the clock in the kernel's time zone instead of UTC.
    pub kernel_tz: bool,
    /// `--contiguous`: a `--timestop` before `--timestart` ends on the next day.
    pub contiguous: bool,
}

impl TimeMatch {
    /// The last second of `--timestop` when none is given.
    pub const MAX_DAYTIME: u32 = 24 * 3600 - 1;
    /// Every day of the month (bits 1–31).
    pub const ALL_MONTHDAYS: u32 = 0xffff_fffe;
    /// Every day of the week (bits 1–7).
    pub const ALL_WEEKDAYS: u8 = 0xfe;
    /// `--datestop` when none is given (the kernel's default, 2038-01-19T03:14:07).
    pub const NO_DATE_STOP: u32 = i32::MAX as u32;

    /// The match of `-m time` with no option (every time).
    pub fn any() -> TimeMatch {
        TimeMatch {
            date_start: 0,
            date_stop: TimeMatch::NO_DATE_STOP,
            daytime_start: 0,
            daytime_stop: TimeMatch::MAX_DAYTIME,
            monthdays: TimeMatch::ALL_MONTHDAYS,
            weekdays: TimeMatch::ALL_WEEKDAYS,
            kernel_tz: false,
            contiguous: false,
        }
    }

    /// Whether the kernel's `time_mt` matches at `unix` seconds (read in the clock's zone
    /// already: UTC, or local time for `--kerneltz`).
    pub fn holds(&self, unix: i64) -> bool {
        if unix < i64::from(self.date_start) || unix > i64::from(self.date_stop) {
            return false;
        }
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400) as u32;
        let mut day = days;
        let (start, stop) = (self.daytime_start, self.daytime_stop);
        if start < stop {
            if secs < start || secs > stop {
                return false;
            }
        } else {
            if secs < start && secs > stop {
                return false;
            }
            // Past midnight in an overnight window: with --contiguous the day tests look at
            // the day the window opened.
            if self.contiguous && secs <= stop {
                day -= 1;
            }
        }
        // 1970-01-01 was a Thursday (4); the kernel numbers Monday 1 … Sunday 7.
        let weekday = (day + 3).rem_euclid(7) as u8 + 1;
        if self.weekdays & (1 << weekday) == 0 {
            return false;
        }
        let (_, _, mday) = civil_from_days(day);
        self.monthdays & (1 << mday) != 0
    }
}

/// (year, month 1–12, day 1–31) of a day count since 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date (inverse of [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The search algorithm of `-m string`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StringAlgo {
    /// Boyer-Moore.
    Bm,
    /// Knuth-Pratt-Morris.
    Kmp,
}

/// `-m string`: a byte pattern searched in the packet between two offsets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StringMatch {
    /// The bytes searched for (`--string` or `--hex-string`), 1 to 128 of them.
    pub pattern: Vec<u8>,
    /// True for `! --string`.
    pub negated: bool,
    /// `--algo`.
    pub algo: StringAlgo,
    /// `--from`: first offset searched.
    pub from: u16,
    /// `--to`: last offset searched (65535 when not given).
    pub to: u16,
    /// `--icase`.
    pub icase: bool,
}

impl StringMatch {
    /// The longest pattern the kernel takes (`XT_STRING_MAX_PATTERN_SIZE`).
    pub const MAX_PATTERN: usize = 128;
}

/// The mode of `-m statistic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum StatisticMode {
    /// `--mode random --probability P`: `probability` is P × 2³¹, as the kernel keeps it.
    Random {
        /// The threshold a 31-bit random number is compared with.
        probability: u32,
    },
    /// `--mode nth --every N --packet P`: matches packet P of every N (counted per rule).
    Nth {
        /// N.
        every: u32,
        /// P, below N.
        packet: u32,
    },
}

/// `-m statistic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatisticMatch {
    /// The mode and its numbers.
    pub mode: StatisticMode,
    /// `! --probability` / `! --every`.
    pub negated: bool,
}

/// `-m policy --dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyDir {
    /// Decapsulation (the packet came in through IPsec).
    In,
    /// Encapsulation (it will leave through IPsec).
    Out,
}

/// `--mode` of a policy element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpsecMode {
    /// Transport mode.
    Transport,
    /// Tunnel mode.
    Tunnel,
}

/// One `--next`-separated element of `-m policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PolicyElem {
    /// `--reqid`.
    pub reqid: Option<Neg<u32>>,
    /// `--spi`.
    pub spi: Option<Neg<u32>>,
    /// `--proto` (ah, esp or ipcomp, by number).
    pub proto: Option<Neg<u8>>,
    /// `--mode`.
    pub mode: Option<Neg<IpsecMode>>,
    /// `--tunnel-src`.
    pub tunnel_src: Option<Neg<Prefix>>,
    /// `--tunnel-dst`.
    pub tunnel_dst: Option<Neg<Prefix>>,
}

/// `-m policy`: the IPsec policy the packet was (or will be) handled by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PolicyMatch {
    /// `--dir`.
    pub dir: PolicyDir,
    /// `--pol ipsec` (true) or `--pol none`.
    pub ipsec: bool,
    /// `--strict`: the elements describe the whole policy, in order.
    pub strict: bool,
    /// The elements (at most 4).
    pub elems: Vec<PolicyElem>,
}

/// `-m rpfilter`: a reverse-path lookup of the source address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RpfilterMatch {
    /// `--loose`: any route back will do, not only through the arrival interface.
    pub loose: bool,
    /// `--validmark`: the lookup uses the packet mark.
    pub validmark: bool,
    /// `--accept-local`: local source addresses pass.
    pub accept_local: bool,
    /// `--invert`: match the packets that fail.
    pub invert: bool,
}

/// `-m physdev`: the bridge ports of a bridged packet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PhysdevMatch {
    /// `--physdev-in`.
    pub physdev_in: Option<Neg<Interface>>,
    /// `--physdev-out`.
    pub physdev_out: Option<Neg<Interface>>,
    /// `--physdev-is-in`; `Some(true)` when negated.
    pub is_in: Option<bool>,
    /// `--physdev-is-out`; `Some(true)` when negated.
    pub is_out: Option<bool>,
    /// `--physdev-is-bridged`; `Some(true)` when negated.
    pub is_bridged: Option<bool>,
}

/// How `--chunk-types` compares the chunks of an SCTP packet with its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkMatch {
    /// One of the listed chunks is present.
    Any,
    /// All listed chunks are present.
    All,
    /// Only listed chunks are present.
    Only,
}

/// One chunk type of `--chunk-types`, with flag letters as written after `:` (e.g. `Be`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SctpChunk {
    /// The chunk type number.
    pub ty: u8,
    /// Flag conditions: (flag bit, must be set).
    pub flags: Vec<(u8, bool)>,
}

/// `--chunk-types`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SctpChunks {
    /// any, all or only.
    pub how: ChunkMatch,
    /// The chunk types (sorted by type number, as the kernel's bitmap holds them).
    pub chunks: Vec<SctpChunk>,
}

/// `-m sctp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SctpMatch {
    /// `--sport`.
    pub sport: Option<Neg<PortRange>>,
    /// `--dport`.
    pub dport: Option<Neg<PortRange>>,
    /// `--chunk-types`.
    pub chunks: Option<Neg<SctpChunks>>,
}

/// `-m devgroup`: the device group of the input / output interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DevgroupMatch {
    /// `--src-group` (input interface).
    pub src: Option<Neg<MarkValue>>,
    /// `--dst-group` (output interface).
    pub dst: Option<Neg<MarkValue>>,
}

/// A module rampart reads and prints exactly but does not model: its options in
/// `iptables-save`'s canonical form. The simulator treats it as unknown (both outcomes
/// traced) and `compile` refuses it with the module's reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpaqueMatch {
    /// The module name after `-m`.
    pub name: String,
    /// The options as iptables-save prints them (`!`, option names and values, one word
    /// each; values unquoted).
    pub args: Vec<OpaqueArg>,
}

impl OpaqueMatch {
    /// Why `compile` refuses this module (nftables has no equivalent, or rampart does not
    /// translate it yet).
    pub fn nft_refusal(&self) -> &'static str {
        crate::iptables::opaque_refusal(&self.name)
    }
}

/// One word of an [`OpaqueMatch`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpaqueArg {
    /// The word.
    pub text: String,
    /// Whether iptables-save puts it in double quotes.
    pub quoted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 365, 11_016, 24_837, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }

    #[test]
    fn time_windows_follow_the_kernel() {
        let mut t = TimeMatch::any();
        t.daytime_start = 8 * 3600;
        t.daytime_stop = 17 * 3600;
        // 2024-01-01 (a Monday) 09:00 UTC and 18:00 UTC.
        let monday = days_from_civil(2024, 1, 1) * 86_400;
        assert!(t.holds(monday + 9 * 3600));
        assert!(!t.holds(monday + 18 * 3600));
        t.weekdays = 1 << 2; // Tuesday only
        assert!(!t.holds(monday + 9 * 3600));
        assert!(t.holds(monday + 86_400 + 9 * 3600));
        let mut night = TimeMatch::any();
        night.daytime_start = 22 * 3600;
        night.daytime_stop = 6 * 3600;
        night.weekdays = 1 << 1; // Monday
                                 // Tuesday 01:00: outside Monday without --contiguous, inside with it.
        assert!(!night.holds(monday + 86_400 + 3600));
        night.contiguous = true;
        assert!(night.holds(monday + 86_400 + 3600));
    }
}
