//! The targets real servers use beyond filtering and NAT (issue 14): packet and connection
//! tweaks (TCPMSS, TTL/HL, DSCP/TOS, CLASSIFY, CT, ...), hand-offs (NFQUEUE, TPROXY,
//! SYNPROXY, TEE) and marks for other subsystems (AUDIT, SECMARK, IDLETIMER, RATEEST, HMARK).
//!
//! Each value holds what the kernel keeps (`--set-dscp-class EF` is `dscp: 0x2e`,
//! `--and-tos` is a value/mask pair), so texts that load the same kernel state give equal
//! models; [`ext_target_args`] prints them as `iptables-save` 1.8 does.

use std::net::IpAddr;

use rampart_prefix::Prefix;
use serde::{Deserialize, Serialize};

use crate::model::Target;

/// `TCPMSS`: rewrite the MSS option of TCP SYNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TcpmssTarget {
    /// `--set-mss N`; `None`: `--clamp-mss-to-pmtu` (the route's MTU minus 40/60).
    pub mss: Option<u16>,
}

/// How `TTL`/`HL` change the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TtlChange {
    /// `--ttl-set` / `--hl-set`.
    Set,
    /// `--ttl-dec` / `--hl-dec`.
    Dec,
    /// `--ttl-inc` / `--hl-inc`.
    Inc,
}

/// `TTL` (IPv4) or `HL` (IPv6 hop limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TtlTarget {
    /// Set, decrement or increment.
    pub op: TtlChange,
    /// The value (1-255 for dec/inc).
    pub value: u8,
}

impl TtlTarget {
    /// The field after the change, saturating as the kernel does (0 and 255 stick).
    pub fn apply(self, ttl: u8) -> u8 {
        match self.op {
            TtlChange::Set => self.value,
            TtlChange::Dec => ttl.saturating_sub(self.value),
            TtlChange::Inc => ttl.saturating_add(self.value),
        }
    }
}

/// `DSCP --set-dscp` (also `--set-dscp-class`, stored as its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DscpTarget {
    /// The 6-bit code point.
    pub dscp: u8,
}

/// `TOS`: `tos = (tos & !mask) ^ value`, as the kernel keeps every `--*-tos` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TosTarget {
    /// Bits to XOR in.
    pub value: u8,
    /// Bits to clear first.
    pub mask: u8,
}

/// `CLASSIFY --set-class MAJOR:MINOR`: the packet's priority (a tc class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClassifyTarget {
    /// The qdisc handle.
    pub major: u16,
    /// The class.
    pub minor: u16,
}

/// `NETMAP --to PREFIX`: 1:1 translation of the address's network part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetmapTarget {
    /// The network mapped to.
    pub to: Prefix,
}

/// `TPROXY`: hand the packet to a local socket without changing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TproxyTarget {
    /// `--on-port` (0: the packet's own destination port).
    pub port: u16,
    /// `--on-ip` (unspecified address: the packet's own destination).
    pub addr: IpAddr,
    /// `--tproxy-mark` value.
    pub mark: u32,
    /// `--tproxy-mark` mask.
    pub mask: u32,
}

/// `SYNPROXY`: answer SYNs with cookies, open the connection to the server after the ACK.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SynproxyTarget {
    /// `--mss`.
    pub mss: Option<u16>,
    /// `--wscale`.
    pub wscale: Option<u8>,
    /// `--sack-perm`.
    pub sack_perm: bool,
    /// `--timestamp`.
    pub timestamp: bool,
    /// `--ecn`.
    pub ecn: bool,
}

/// `AUDIT --type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditType {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `reject`.
    Reject,
}

/// `AUDIT`: write an audit record, then go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuditTarget {
    /// The record's type.
    #[serde(rename = "type")]
    pub kind: AuditType,
}

impl AuditType {
    /// The name iptables prints.
    pub fn name(self) -> &'static str {
        match self {
            AuditType::Accept => "accept",
            AuditType::Drop => "drop",
            AuditType::Reject => "reject",
        }
    }
}

/// `TEE --gateway ADDR [--oif IF]`: send a copy to a neighbour, the packet goes on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TeeTarget {
    /// The neighbour the copy is routed to.
    pub gateway: IpAddr,
    /// `--oif`: the interface to send it by.
    pub oif: Option<String>,
}

/// `NFQUEUE`: hand the packet to a user-space program through a netlink queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NfqueueTarget {
    /// First queue (`--queue-num`, or the start of `--queue-balance`).
    pub first: u16,
    /// Last queue (equal to `first` without `--queue-balance`).
    pub last: u16,
    /// `--queue-bypass`: accept instead of drop when no program listens.
    pub bypass: bool,
    /// `--queue-cpu-fanout`: pick the queue by CPU rather than by flow hash.
    pub cpu_fanout: bool,
}

/// `CT` options other than a bare `--notrack` (that one is [`Target::Notrack`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CtTarget {
    /// `--notrack`.
    pub notrack: bool,
    /// `--helper NAME`.
    pub helper: Option<String>,
    /// `--timeout NAME` (a timeout policy made with `nfct`).
    pub timeout: Option<String>,
    /// `--ctevents`, as the kernel's bit mask (bit order of [`CT_EVENTS`]).
    pub ctevents: u16,
    /// `--expevents` (bit 0: `new`).
    pub expevents: u8,
    /// `--zone N` (0: none).
    pub zone: u16,
    /// `--zone*-mark`: the zone is taken from the packet mark.
    pub zone_mark: bool,
    /// The zone applies to the original direction only (`--zone-orig`).
    pub zone_orig: bool,
    /// The zone applies to the reply direction only (`--zone-reply`).
    pub zone_reply: bool,
}

/// `--ctevents` names in the kernel's bit order (IPCT_*).
pub const CT_EVENTS: [&str; 10] = [
    "new",
    "related",
    "destroy",
    "reply",
    "assured",
    "protoinfo",
    "helper",
    "mark",
    "natseqinfo",
    "secmark",
];

/// `TCPOPTSTRIP --strip-options`: TCP option kinds removed (bit n of the 256-bit map).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TcpoptstripTarget {
    /// The option kinds, as the kernel's bit map.
    pub options: [u32; 8],
}

impl TcpoptstripTarget {
    /// The kinds stripped, ascending.
    pub fn kinds(&self) -> Vec<u8> {
        (0..=255u8)
            .filter(|k| self.options[usize::from(*k / 32)] & (1 << (k % 32)) != 0)
            .collect()
    }
}

/// `CONNSECMARK`: copy the SELinux mark between packet and connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnsecmarkTarget {
    /// `--save` (packet → connection) when true, `--restore` otherwise.
    pub save: bool,
}

/// `SECMARK --selctx`: the SELinux context given to the packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecmarkTarget {
    /// The security context.
    pub selctx: String,
}

/// `IDLETIMER`: a timer in sysfs, restarted by every packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdletimerTarget {
    /// `--timeout` in seconds.
    pub timeout: u32,
    /// `--label`.
    pub label: String,
    /// `--alarm`: a wake-up alarm rather than a plain timer.
    pub alarm: bool,
}

/// `RATEEST`: a named rate estimator the `rateest` match reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RateestTarget {
    /// `--rateest-name`.
    pub name: String,
    /// The interval as the kernel keeps it: 2^(interval) × 1 s (-2 = 250 ms … 3 = 8 s).
    pub interval: i8,
    /// The averaging constant as a power of two of the interval.
    pub ewma_log: u8,
}

impl RateestTarget {
    const US_PER_SEC: u64 = 1_000_000;

    /// The interval in microseconds.
    pub fn interval_us(&self) -> u64 {
        (Self::US_PER_SEC << (self.interval + 2)) / 4
    }

    /// The averaging time in microseconds.
    pub fn ewma_us(&self) -> u64 {
        self.interval_us() << self.ewma_log
    }
}

/// `HMARK`: a mark from a hash of the packet's addresses, ports and protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HmarkTarget {
    /// `--hmark-src-prefix` (or `src` in `--hmark-tuple`: the full width).
    pub src_prefix: Option<u8>,
    /// `--hmark-dst-prefix`.
    pub dst_prefix: Option<u8>,
    /// `--hmark-sport-mask`.
    pub sport_mask: Option<u16>,
    /// `--hmark-dport-mask`.
    pub dport_mask: Option<u16>,
    /// `--hmark-spi-mask`.
    pub spi_mask: Option<u32>,
    /// `--hmark-proto-mask`.
    pub proto_mask: Option<u16>,
    /// `--hmark-rnd`.
    pub rnd: u32,
    /// `--hmark-mod`.
    pub modulus: u32,
    /// `--hmark-offset`.
    pub offset: Option<u32>,
    /// `ct` in `--hmark-tuple`: hash the connection's original tuple.
    pub ct: bool,
}

/// `DNPT`/`SNPT`: stateless IPv6 prefix translation (RFC 6296).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NptTarget {
    /// `--src-pfx`.
    pub src: Prefix,
    /// `--dst-pfx`.
    pub dst: Prefix,
}

/// Words of the options of the targets in this file, as `iptables-save` prints them;
/// `None` for other targets.
pub(crate) fn ext_target_args(t: &Target) -> Option<Vec<String>> {
    let mut w: Vec<String> = Vec::new();
    let mut push = |s: String| w.push(s);
    match t {
        Target::Tcpmss(m) => match m.mss {
            Some(mss) => {
                push("--set-mss".into());
                push(mss.to_string());
            }
            None => push("--clamp-mss-to-pmtu".into()),
        },
        Target::Ttl(x) | Target::Hl(x) => {
            let field = if matches!(t, Target::Ttl(_)) {
                "ttl"
            } else {
                "hl"
            };
            let op = match x.op {
                TtlChange::Set => "set",
                TtlChange::Dec => "dec",
                TtlChange::Inc => "inc",
            };
            push(format!("--{field}-{op}"));
            push(x.value.to_string());
        }
        Target::Dscp(d) => {
            push("--set-dscp".into());
            push(format!("0x{:02x}", d.dscp));
        }
        Target::Tos(x) => {
            push("--set-tos".into());
            push(format!("0x{:02x}/0x{:02x}", x.value, x.mask));
        }
        Target::Classify(c) => {
            push("--set-class".into());
            push(format!("{:04x}:{:04x}", c.major, c.minor));
        }
        Target::Netmap(n) => {
            push("--to".into());
            push(n.to.to_string());
        }
        Target::Tproxy(x) => {
            push("--on-port".into());
            push(x.port.to_string());
            push("--on-ip".into());
            push(x.addr.to_string());
            push("--tproxy-mark".into());
            push(format!("0x{:x}/0x{:x}", x.mark, x.mask));
        }
        Target::Synproxy(s) => {
            if s.sack_perm {
                push("--sack-perm".into());
            }
            if s.timestamp {
                push("--timestamp".into());
            }
            if let Some(ws) = s.wscale {
                push("--wscale".into());
                push(ws.to_string());
            }
            if let Some(mss) = s.mss {
                push("--mss".into());
                push(mss.to_string());
            }
            if s.ecn {
                push("--ecn".into());
            }
        }
        Target::Checksum => push("--checksum-fill".into()),
        Target::Audit(a) => {
            push("--type".into());
            push(a.kind.name().into());
        }
        Target::Tee(x) => {
            push("--gateway".into());
            push(x.gateway.to_string());
            if let Some(oif) = &x.oif {
                push("--oif".into());
                push(oif.clone());
            }
        }
        Target::Nfqueue(q) => {
            if q.last > q.first {
                push("--queue-balance".into());
                push(format!("{}:{}", q.first, q.last));
            } else {
                push("--queue-num".into());
                push(q.first.to_string());
            }
            if q.bypass {
                push("--queue-bypass".into());
            }
            if q.cpu_fanout {
                push("--queue-cpu-fanout".into());
            }
        }
        Target::Ct(c) => {
            if c.notrack {
                push("--notrack".into());
            }
            if let Some(h) = &c.helper {
                push("--helper".into());
                push(h.clone());
            }
            if let Some(tm) = &c.timeout {
                push("--timeout".into());
                push(tm.clone());
            }
            let names = |mask: u16| -> String {
                CT_EVENTS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, n)| *n)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            if c.ctevents != 0 {
                push("--ctevents".into());
                push(names(c.ctevents));
            }
            if c.expevents != 0 {
                push("--expevents".into());
                push(names(u16::from(c.expevents)));
            }
            let dir = match (c.zone_orig, c.zone_reply) {
                (true, false) => "-orig",
                (false, true) => "-reply",
                _ => "",
            };
            if c.zone_mark {
                push(format!("--zone{dir}"));
                push("mark".into());
            } else if c.zone != 0 {
                push(format!("--zone{dir}"));
                push(c.zone.to_string());
            }
        }
        Target::NotrackAlias => {}
        Target::Tcpoptstrip(s) => {
            let kinds = s.kinds();
            if !kinds.is_empty() {
                push("--strip-options".into());
                let k: Vec<String> = kinds.iter().map(u8::to_string).collect();
                push(k.join(","));
            }
        }
        Target::Connsecmark(c) => push(if c.save { "--save" } else { "--restore" }.into()),
        Target::Secmark(s) => {
            push("--selctx".into());
            push(s.selctx.clone());
        }
        Target::Ecn(e) if e.is_remove() => push("--ecn-tcp-remove".into()),
        Target::Ecn(e) => {
            for (opt, v) in [
                ("--ecn-tcp-ece", e.ece),
                ("--ecn-tcp-cwr", e.cwr),
                ("--ecn-ip-ect", e.ip_ect),
            ] {
                if let Some(v) = v {
                    push(opt.into());
                    push(v.to_string());
                }
            }
        }
        Target::Led(l) => {
            // libxt_LED quotes the id always, escaping `"` and `\`, and prints the delay
            // as a signed number (`inf` is -1).
            push("--led-trigger-id".into());
            let escaped: String =
                l.id.chars()
                    .flat_map(|c| {
                        let esc = matches!(c, '"' | '\\').then_some('\\');
                        esc.into_iter().chain(std::iter::once(c))
                    })
                    .collect();
            push(format!("\"{escaped}\""));
            if l.delay != 0 {
                push("--led-delay".into());
                push((l.delay as i32).to_string());
            }
            if l.always_blink {
                push("--led-always-blink".into());
            }
        }
        Target::SetCombined(c) => {
            let set = |opt: &str, r: &SetRef| {
                let dirs: Vec<&str> = r
                    .dirs
                    .iter()
                    .map(|d| match d {
                        crate::model::SetDir::Src => "src",
                        crate::model::SetDir::Dst => "dst",
                    })
                    .collect();
                [opt.to_string(), r.set.clone(), dirs.join(",")]
            };
            if let Some(a) = &c.add {
                set("--add-set", a).into_iter().for_each(&mut push);
            }
            if c.exist {
                push("--exist".into());
            }
            if let Some(t) = c.timeout {
                push("--timeout".into());
                push(t.to_string());
            }
            if let Some(d) = &c.del {
                set("--del-set", d).into_iter().for_each(&mut push);
            }
            if let Some(m) = &c.map {
                set("--map-set", m).into_iter().for_each(&mut push);
            }
            for (on, opt) in [
                (c.map_mark, "--map-mark"),
                (c.map_prio, "--map-prio"),
                (c.map_queue, "--map-queue"),
            ] {
                if on {
                    push(opt.into());
                }
            }
        }
        Target::Idletimer(i) => {
            push("--timeout".into());
            push(i.timeout.to_string());
            push("--label".into());
            push(i.label.clone());
            if i.alarm {
                push("--alarm".into());
            }
        }
        Target::Rateest(r) => {
            push("--rateest-name".into());
            push(r.name.clone());
            push("--rateest-interval".into());
            push(rateest_time(r.interval_us()));
            push("--rateest-ewmalog".into());
            push(rateest_time(r.ewma_us()));
        }
        Target::Hmark(h) => {
            if let Some(p) = h.src_prefix {
                push("--hmark-src-prefix".into());
                push(p.to_string());
            }
            if let Some(p) = h.dst_prefix {
                push("--hmark-dst-prefix".into());
                push(p.to_string());
            }
            if let Some(m) = h.sport_mask {
                push("--hmark-sport-mask".into());
                push(format!("0x{m:04x}"));
            }
            if let Some(m) = h.dport_mask {
                push("--hmark-dport-mask".into());
                push(format!("0x{m:04x}"));
            }
            if let Some(m) = h.spi_mask {
                push("--hmark-spi-mask".into());
                push(format!("0x{m:08x}"));
            }
            if let Some(m) = h.proto_mask {
                push("--hmark-proto-mask".into());
                push(format!("0x{m:02x}"));
            }
            push("--hmark-rnd".into());
            push(format!("0x{:08x}", h.rnd));
            push("--hmark-mod".into());
            push(h.modulus.to_string());
            if let Some(o) = h.offset {
                push("--hmark-offset".into());
                push(o.to_string());
            }
            if h.ct {
                push("--hmark-tuple".into());
                push("ct".into());
            }
        }
        Target::Dnpt(n) | Target::Snpt(n) => {
            push("--src-pfx".into());
            push(n.src.to_string());
            push("--dst-pfx".into());
            push(n.dst.to_string());
        }
        _ => return None,
    }
    Some(w)
}

/// libxt_RATEEST's time: `1.0s`, `250.0ms` or `N us`.
fn rateest_time(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.1}s", us as f64 / 1e6)
    } else if us >= 1000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{us}us")
    }
}

/// A short description for people (`rampart show`), `None` for other targets.
pub(crate) fn describe_ext(t: &Target) -> Option<String> {
    let args = ext_target_args(t)?;
    let name = crate::command::target_name(t);
    Some(if args.is_empty() {
        name.to_string()
    } else {
        format!("{name} {}", args.join(" "))
    })
}

/// `ECN` (IPv4, mangle): rewrite the ECN bits. Each field is `None` when the rule leaves
/// it alone. `--ecn-tcp-remove` is `ece` and `cwr` both 0 and the IP field untouched (it
/// replaces whatever operation came before it, as libipt_ECN does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EcnTarget {
    /// `--ecn-tcp-ece 0|1`: the TCP ECE flag.
    pub ece: Option<u8>,
    /// `--ecn-tcp-cwr 0|1`: the TCP CWR flag.
    pub cwr: Option<u8>,
    /// `--ecn-ip-ect 0-3`: the IP header's ECN field.
    pub ip_ect: Option<u8>,
}

impl EcnTarget {
    /// Whether iptables-save writes it `--ecn-tcp-remove`.
    pub fn is_remove(self) -> bool {
        self.ece == Some(0) && self.cwr == Some(0) && self.ip_ect.is_none()
    }

    /// Whether it changes TCP flags (the kernel wants `-p tcp` then).
    pub fn touches_tcp(self) -> bool {
        self.ece.is_some() || self.cwr.is_some()
    }
}

/// `LED`: blink a LED trigger (`netfilter-ID` in sysfs) per packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LedTarget {
    /// `--led-trigger-id` (1 to 16 characters; the kernel's trigger is `netfilter-ID`).
    pub id: String,
    /// `--led-delay` in milliseconds (0: off at once; `u32::MAX`: `inf`, stays on).
    pub delay: u32,
    /// `--led-always-blink`.
    pub always_blink: bool,
}

/// One set a `SET` target names, and which of the packet's addresses and ports make the
/// element.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SetRef {
    /// The set's name.
    pub set: String,
    /// `src`/`dst` per dimension.
    pub dirs: Vec<crate::model::SetDir>,
}

/// `SET` with `--map-set`, or adding to a set and deleting from another in one rule (what
/// a single `--add-set` or `--del-set` is not: that is [`Target::Set`]). The kernel
/// (`xt_set`, revision 3) adds, then deletes, then maps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SetCombinedTarget {
    /// `--add-set NAME DIRS`.
    pub add: Option<SetRef>,
    /// `--exist` (with `--add-set`).
    pub exist: bool,
    /// `--timeout` in seconds (with `--add-set`).
    pub timeout: Option<u32>,
    /// `--del-set NAME DIRS`.
    pub del: Option<SetRef>,
    /// `--map-set NAME DIRS`: the matching element's skbinfo goes to the packet.
    pub map: Option<SetRef>,
    /// `--map-mark`: the element's mark becomes the packet mark (mangle only).
    pub map_mark: bool,
    /// `--map-prio`: the element's priority (OUTPUT, FORWARD, POSTROUTING only).
    pub map_prio: bool,
    /// `--map-queue`: the element's hardware queue (OUTPUT, FORWARD, POSTROUTING only).
    pub map_queue: bool,
}
