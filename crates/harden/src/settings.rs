//! The table of kernel settings `rampart harden` checks, as data: each
//! [`Setting`] has its key, a [`Target`] (an exact value, a floor or a
//! ceiling, fixed or sized from memory), its [`Scope`] and the reason.
//! Sources: Documentation/networking/ip-sysctl.rst and
//! nf_conntrack-sysctl.rst of the kernel; docs/harden.md says more.

use serde::Serialize;

/// Whether a network namespace has its own copy of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One value per network namespace: changed inside a namespace, it
    /// changes that namespace only.
    Netns,
    /// One value for the whole machine: only the initial namespace may
    /// change it (it is read-only inside any other).
    Host,
}

/// A number, fixed or a function of the machine's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// This number.
    Fixed(i64),
    /// One per `bytes_per` bytes of memory, rounded down to a multiple of
    /// 1024, clamped to `min..=max`.
    PerMemory {
        /// Bytes of memory per unit.
        bytes_per: u64,
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
}

impl Amount {
    /// The number for a machine with `mem_bytes` of memory.
    pub fn value(&self, mem_bytes: u64) -> i64 {
        match *self {
            Amount::Fixed(n) => n,
            Amount::PerMemory {
                bytes_per,
                min,
                max,
            } => i64::try_from(mem_bytes / bytes_per.max(1) / 1024 * 1024)
                .unwrap_or(i64::MAX)
                .clamp(min, max),
        }
    }
}

/// What a setting should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Exactly this value.
    Exact(i64),
    /// At least this much (a bigger value the admin chose is kept).
    AtLeast(Amount),
    /// At most this much (a smaller value the admin chose is kept).
    AtMost(i64),
}

/// One kernel setting and what rampart recommends for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The sysctl key, e.g. `net.ipv4.tcp_syncookies`.
    pub key: &'static str,
    /// The recommendation.
    pub target: Target,
    /// Per network namespace or host-wide.
    pub scope: Scope,
    /// Why, in one or two sentences.
    pub reason: &'static str,
}

/// Bytes of memory per conntrack entry allowed: an entry takes about 320
/// bytes, so the table full uses about 1 % of memory. This is the classic
/// rule RAM / 16384 / (word size / 32) for 64-bit machines.
const CONNTRACK_BYTES_PER_ENTRY: u64 = 32 * 1024;

/// Conntrack sizing: at least the kernel's own default on machines over
/// 4 GiB (262144 is reached at 8 GiB), never below 65536, at most 4 Mi
/// entries (1.3 GB of entries).
const CONNTRACK: Amount = Amount::PerMemory {
    bytes_per: CONNTRACK_BYTES_PER_ENTRY,
    min: 65_536,
    max: 4 << 20,
};

const RP_FILTER: &str = "Reverse-path filtering (RFC 3704) drops packets whose source address \
would not be routed back out of the interface they came in on: most spoofed floods. 1 is strict; \
2 (loose: any route back) also passes and is the choice for asymmetric routing. The kernel uses \
the larger of conf/all and the interface's value.";
const ACCEPT_REDIRECTS: &str = "An ICMP redirect rewrites this host's routes; anyone able to \
spoof one from the gateway's address can divert traffic. A server with static routes needs none.";
const SEND_REDIRECTS: &str = "Redirects are a router's job; a server sending them leaks its \
routing and answers spoofed packets with more packets.";
const SOURCE_ROUTE: &str = "Source-routed packets choose their own path through this host, \
around the filters that expect the normal one.";
const SOURCE_ROUTE6: &str = "0 accepts only the type 2 routing header of Mobile IPv6 (the \
kernel no longer honours type 0); source routing lets a packet choose its own path past filters.";
const LOG_MARTIANS: &str = "Logs packets with impossible source addresses (spoofing, broken \
routing), so an admin sees a spoofed flood; the kernel rate-limits these messages.";

/// Every setting `rampart harden` checks, in the order it shows them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "net.ipv4.tcp_syncookies",
        target: Target::Exact(1),
        scope: Scope::Netns,
        reason: "When a listener's SYN queue overflows, answer with SYN cookies instead of \
                 dropping: a SYN flood cannot keep real clients out. 1 uses cookies only under \
                 overflow (they lose some TCP options); 2, always, costs every client those \
                 options. Covers IPv6 too.",
    },
    Setting {
        key: "net.ipv4.tcp_max_syn_backlog",
        target: Target::AtLeast(Amount::Fixed(4096)),
        scope: Scope::Netns,
        reason: "Half-open connections (SYN_RECV) remembered per listener before new SYNs are \
                 dropped when cookies are off; about 304 bytes each. With cookies on, the \
                 listen backlog (capped by somaxconn) decides when cookies start.",
    },
    Setting {
        key: "net.core.somaxconn",
        target: Target::AtLeast(Amount::Fixed(4096)),
        scope: Scope::Netns,
        reason: "Caps every listen() backlog, which sizes both the accept queue and the SYN \
                 queue: too small, and a burst of real clients or a small flood overflows it. \
                 4096 is the default since Linux 5.4 (128 before).",
    },
    Setting {
        key: "net.ipv4.tcp_synack_retries",
        target: Target::AtMost(2),
        scope: Scope::Netns,
        reason: "Each half-open connection from a spoofed source is kept while its SYN-ACK is \
                 retransmitted: 63 s with the default 5, 7 s with 2. A client whose first three \
                 SYN-ACKs are all lost retries its SYN anyway.",
    },
    Setting {
        key: "net.ipv4.conf.all.rp_filter",
        target: Target::AtLeast(Amount::Fixed(1)),
        scope: Scope::Netns,
        reason: RP_FILTER,
    },
    Setting {
        key: "net.ipv4.conf.default.rp_filter",
        target: Target::AtLeast(Amount::Fixed(1)),
        scope: Scope::Netns,
        reason: RP_FILTER,
    },
    Setting {
        key: "net.ipv4.conf.all.accept_redirects",
        target: Target::Exact(0),
        scope: Scope::Netns,
        reason: ACCEPT_REDIRECTS,
    },
    Setting {
        key: "net.ipv4.conf.default.accept_redirects",
        target: Target::Exact(0),
        scope: Scope::Netns,
        reason: ACCEPT_REDIRECTS,
    },
    Setting {
        key: "net.ipv6.conf.all.accept_redirects",
        target: Target::Exact(0),
        scope: Scope::Netns,
        reason: ACCEPT_REDIRECTS,
    },
    Setting {
        key: "net.ipv6.conf.default.accept_redirects",
        target: Target::Exact(0),
        scope: Scope::Netns,
        reason: ACCEPT_REDIRECTS,
    },
    Setting {
        key: "net.ipv4.conf.all.send_redirects",
        target: Target::Exact(0),
        scope: Scope::Netns,
        reason: SEND_REDIRECTS,
    },
    Setting {
        key: "net.ipv4.conf.default.send_redirects",
        target: Target::Exact(0),
        scope: Scope::Netns,
        reason: SEND_REDIRECTS,
    },
    Setting {
        key: "net.ipv4.conf.all.accept_source_route",
        target: Target::Exact(0),
        scope: Scope::Netns,
        reason: SOURCE_ROUTE,
    },
    Setting {
        key: "net.ipv4.conf.default.accept_source_route",
        target: Target::Exact(0),
        scope: Scope::Netns,
        reason: SOURCE_ROUTE,
    },
    Setting {
        key: "net.ipv6.conf.all.accept_source_route",
        target: Target::AtMost(0),
        scope: Scope::Netns,
        reason: SOURCE_ROUTE6,
    },
    Setting {
        key: "net.ipv6.conf.default.accept_source_route",
        target: Target::AtMost(0),
        scope: Scope::Netns,
        reason: SOURCE_ROUTE6,
    },
    Setting {
        key: "net.ipv4.icmp_echo_ignore_broadcasts",
        target: Target::Exact(1),
        scope: Scope::Netns,
        reason: "Not answering pings sent to a broadcast address keeps this host out of \
                 smurf attacks, which spoof a victim's address to broadcast pings and let \
                 every host answer it.",
    },
    Setting {
        key: "net.ipv4.conf.all.log_martians",
        target: Target::Exact(1),
        scope: Scope::Netns,
        reason: LOG_MARTIANS,
    },
    Setting {
        key: "net.ipv4.conf.default.log_martians",
        target: Target::Exact(1),
        scope: Scope::Netns,
        reason: LOG_MARTIANS,
    },
    Setting {
        key: "net.netfilter.nf_conntrack_max",
        target: Target::AtLeast(CONNTRACK),
        scope: Scope::Host,
        reason: "Connections conntrack can track. A flood that fills the table makes the kernel \
                 drop every new connection (\"nf_conntrack: table full, dropping packet\"), real \
                 ones too. Sized at one entry per 32 KiB of memory (entries take about 320 \
                 bytes: about 1 % of memory when full).",
    },
    Setting {
        key: "net.netfilter.nf_conntrack_buckets",
        target: Target::AtLeast(CONNTRACK),
        scope: Scope::Host,
        reason: "The conntrack hash table's size (also /sys/module/nf_conntrack/parameters/\
                 hashsize); as many buckets as entries keeps lookups at two entries per chain \
                 with the table full, during a flood. 8 bytes per bucket.",
    },
    Setting {
        key: "net.netfilter.nf_conntrack_tcp_timeout_syn_recv",
        target: Target::AtMost(20),
        scope: Scope::Netns,
        reason: "How long conntrack keeps a connection whose SYN was answered but never \
                 acknowledged, as every connection from a spoofed source is (default 60 s). \
                 Each SYN-ACK retransmission restarts it, so 20 s covers their longest gap \
                 (16 s) and a spoofed SYN costs an entry for 20 s instead of 60.",
    },
    Setting {
        key: "net.netfilter.nf_conntrack_tcp_timeout_syn_sent",
        target: Target::AtMost(30),
        scope: Scope::Netns,
        reason: "How long conntrack keeps a connection that sent a SYN and got no answer \
                 (default 120 s): SYNs to unanswering ports and spoofed floods passing \
                 through. A later retransmitted SYN simply opens a new entry.",
    },
];

/// The setting with this key.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn conntrack_is_sized_from_memory() {
        assert_eq!(CONNTRACK.value(GIB / 2), 65_536, "the floor");
        assert_eq!(CONNTRACK.value(2 * GIB), 65_536);
        assert_eq!(CONNTRACK.value(8 * GIB), 262_144, "the kernel's default");
        assert_eq!(CONNTRACK.value(24 * GIB), 786_432);
        assert_eq!(CONNTRACK.value(24683772 * 1024), 771_072, "rounded to 1024");
        assert_eq!(CONNTRACK.value(1 << 50), 4 << 20, "the ceiling");
        assert_eq!(Amount::Fixed(7).value(GIB), 7);
    }

    #[test]
    fn keys_are_unique_and_well_formed() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(s.key.starts_with("net."), "{}", s.key);
            assert!(
                s.key.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'.'
                    || b == b'_'),
                "{}",
                s.key
            );
            assert!(!s.reason.is_empty());
            assert!(
                SETTINGS[i + 1..].iter().all(|o| o.key != s.key),
                "{} twice",
                s.key
            );
        }
        assert_eq!(setting("net.core.somaxconn").unwrap().scope, Scope::Netns);
        assert_eq!(
            setting("net.netfilter.nf_conntrack_max").unwrap().scope,
            Scope::Host
        );
    }
}
