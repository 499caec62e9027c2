//! `iptables-save` printing of the modules of issue 14 (see `model::modules`), option by
//! option as libxtables 1.8 prints them.

use crate::iptables::{SCTP_CHUNKS, WEEKDAYS};
use crate::model::*;

use super::{host_bare, mark, quote, Words};

/// Prints the options of a module of `model::modules`; false for other matches.
pub(super) fn match_args(w: &mut Words, m: &Match) -> bool {
    match m {
        Match::Owner(o) => {
            if let Some(n) = o.socket_exists {
                w.neg(n).opt("--socket-exists");
            }
            if let Some(u) = &o.uid {
                w.neg(u.negated).opt("--uid-owner").val(id_range(u.value));
            }
            if let Some(g) = &o.gid {
                w.neg(g.negated).opt("--gid-owner").val(id_range(g.value));
            }
            if o.suppl_groups {
                w.opt("--suppl-groups");
            }
        }
        Match::Pkttype(p) => {
            w.neg(p.negated).opt("--pkt-type").val(p.value.name());
        }
        Match::Connmark(m) => {
            w.neg(m.negated).opt("--mark").val(mark(m.value));
        }
        Match::Ttl(t) | Match::Hl(t) => {
            let p = if matches!(m, Match::Ttl(_)) {
                "ttl"
            } else {
                "hl"
            };
            let (neg, op) = match t.op {
                TtlOp::Eq => (false, "eq"),
                TtlOp::Ne => (true, "eq"),
                TtlOp::Lt => (false, "lt"),
                TtlOp::Gt => (false, "gt"),
            };
            w.neg(neg).opt(&format!("--{p}-{op}")).val(t.value);
        }
        Match::Dscp(d) => {
            w.neg(d.negated)
                .opt("--dscp")
                .val(format!("0x{:02x}", d.value));
        }
        Match::Tos(t) => {
            w.neg(t.negated)
                .opt("--tos")
                .val(format!("0x{:02x}/0x{:02x}", t.value.value, t.value.mask));
        }
        Match::Time(t) => time(w, t),
        Match::String(s) => {
            w.neg(s.negated);
            if s.pattern.iter().all(|b| (0x20..0x7f).contains(b)) {
                let mut q = String::from("\"");
                for &b in &s.pattern {
                    if b == b'"' || b == b'\\' {
                        q.push('\\');
                    }
                    q.push(b as char);
                }
                q.push('"');
                w.opt("--string").val(q);
            } else {
                let hex: String = s.pattern.iter().map(|b| format!("{b:02x}")).collect();
                w.opt("--hex-string").val(format!("\"|{hex}|\""));
            }
            w.opt("--algo").val(match s.algo {
                StringAlgo::Bm => "bm",
                StringAlgo::Kmp => "kmp",
            });
            if s.from != 0 {
                w.opt("--from").val(s.from);
            }
            if s.to != u16::MAX {
                w.opt("--to").val(s.to);
            }
            if s.icase {
                w.opt("--icase");
            }
        }
        Match::Statistic(s) => match s.mode {
            StatisticMode::Random { probability } => {
                let p = f64::from(probability) / f64::from(0x8000_0000u32);
                w.opt("--mode")
                    .val("random")
                    .neg(s.negated)
                    .opt("--probability")
                    .val(format!("{p:.11}"));
            }
            StatisticMode::Nth { every, packet } => {
                w.opt("--mode")
                    .val("nth")
                    .neg(s.negated)
                    .opt("--every")
                    .val(every)
                    .opt("--packet")
                    .val(packet);
            }
        },
        Match::Helper(h) => {
            w.neg(h.negated).opt("--helper").val(quote(&h.value));
        }
        Match::Policy(p) => policy(w, p),
        Match::Rpfilter(r) => {
            for (on, name) in [
                (r.loose, "--loose"),
                (r.validmark, "--validmark"),
                (r.accept_local, "--accept-local"),
                (r.invert, "--invert"),
            ] {
                if on {
                    w.opt(name);
                }
            }
        }
        Match::Physdev(p) => {
            if let Some(i) = &p.physdev_in {
                w.neg(i.negated).opt("--physdev-in").val(&i.value.0);
            }
            if let Some(o) = &p.physdev_out {
                w.neg(o.negated).opt("--physdev-out").val(&o.value.0);
            }
            for (flag, name) in [
                (p.is_in, "--physdev-is-in"),
                (p.is_out, "--physdev-is-out"),
                (p.is_bridged, "--physdev-is-bridged"),
            ] {
                if let Some(n) = flag {
                    w.neg(n).opt(name);
                }
            }
        }
        Match::Tcpmss(r) => {
            w.neg(r.negated).opt("--mss").val(r.value);
        }
        Match::Sctp(s) => {
            for (opt, p) in [("--sport", &s.sport), ("--dport", &s.dport)] {
                if let Some(p) = p {
                    w.neg(p.negated).opt(opt).val(p.value);
                }
            }
            if let Some(c) = &s.chunks {
                let how = match c.value.how {
                    ChunkMatch::Any => "any",
                    ChunkMatch::All => "all",
                    ChunkMatch::Only => "only",
                };
                let list: Vec<String> = c.value.chunks.iter().map(sctp_chunk).collect();
                w.neg(c.negated)
                    .opt("--chunk-types")
                    .val(how)
                    .val(list.join(","));
            }
        }
        Match::Devgroup(d) => {
            if let Some(s) = &d.src {
                w.neg(s.negated).opt("--src-group").val(mark(s.value));
            }
            if let Some(s) = &d.dst {
                w.neg(s.negated).opt("--dst-group").val(mark(s.value));
            }
        }
        Match::Opaque(o) => {
            for a in &o.args {
                if a.quoted {
                    let mut q = String::from("\"");
                    for c in a.text.chars() {
                        if matches!(c, '"' | '\\') {
                            q.push('\\');
                        }
                        q.push(c);
                    }
                    q.push('"');
                    w.val(q);
                } else {
                    w.val(&a.text);
                }
            }
        }
        _ => return false,
    }
    true
}

fn id_range(r: NumRange) -> String {
    if r.lo == r.hi {
        r.lo.to_string()
    } else {
        format!("{}-{}", r.lo, r.hi)
    }
}

fn sctp_chunk(c: &SctpChunk) -> String {
    let (name, _, valid) = SCTP_CHUNKS
        .iter()
        .find(|(_, t, _)| *t == c.ty)
        .copied()
        .unwrap_or(("UNKNOWN", c.ty, "--------"));
    let mut s = name.to_string();
    if !c.flags.is_empty() {
        s.push(':');
        for (bit, set) in &c.flags {
            let letter = valid.as_bytes()[usize::from(7 - bit)] as char;
            s.push(if *set {
                letter
            } else {
                letter.to_ascii_lowercase()
            });
        }
    }
    s
}

fn daytime(secs: u32) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn date(secs: u32) -> String {
    let days = i64::from(secs / 86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{}", daytime(secs % 86_400))
}

fn time(w: &mut Words, t: &TimeMatch) {
    if t.daytime_start != 0 || t.daytime_stop != TimeMatch::MAX_DAYTIME {
        w.opt("--timestart")
            .val(daytime(t.daytime_start))
            .opt("--timestop")
            .val(daytime(t.daytime_stop));
    }
    if t.monthdays != TimeMatch::ALL_MONTHDAYS {
        let days: Vec<String> = (1..=31)
            .filter(|d| t.monthdays & (1 << d) != 0)
            .map(|d: u32| d.to_string())
            .collect();
        w.opt("--monthdays").val(days.join(","));
    }
    if t.weekdays != TimeMatch::ALL_WEEKDAYS {
        let days: Vec<&str> = (1..=7)
            .filter(|d| t.weekdays & (1 << d) != 0)
            .map(|d: usize| WEEKDAYS[d - 1])
            .collect();
        w.opt("--weekdays").val(days.join(","));
    }
    if t.date_start != 0 {
        w.opt("--datestart").val(date(t.date_start));
    }
    // libxt_time omits only LONG_MAX, which a 32-bit stop never is: always printed.
    w.opt("--datestop").val(date(t.date_stop));
    if t.kernel_tz {
        w.opt("--kerneltz");
    }
    if t.contiguous {
        w.opt("--contiguous");
    }
}

fn policy(w: &mut Words, p: &PolicyMatch) {
    w.opt("--dir").val(match p.dir {
        PolicyDir::In => "in",
        PolicyDir::Out => "out",
    });
    w.opt("--pol").val(if p.ipsec { "ipsec" } else { "none" });
    if p.strict {
        w.opt("--strict");
    }
    for (i, e) in p.elems.iter().enumerate() {
        if i > 0 {
            w.opt("--next");
        }
        if let Some(r) = &e.reqid {
            w.neg(r.negated).opt("--reqid").val(r.value);
        }
        if let Some(s) = &e.spi {
            w.neg(s.negated)
                .opt("--spi")
                .val(format!("0x{:x}", s.value));
        }
        if let Some(pr) = &e.proto {
            let name = Protocol(pr.value)
                .netbase_name()
                .map_or(pr.value.to_string(), str::to_string);
            w.neg(pr.negated).opt("--proto").val(name);
        }
        if let Some(m) = &e.mode {
            w.neg(m.negated).opt("--mode").val(match m.value {
                IpsecMode::Transport => "transport",
                IpsecMode::Tunnel => "tunnel",
            });
        }
        if let Some(a) = &e.tunnel_dst {
            w.neg(a.negated).opt("--tunnel-dst").val(host_bare(a.value));
        }
        if let Some(a) = &e.tunnel_src {
            w.neg(a.negated).opt("--tunnel-src").val(host_bare(a.value));
        }
    }
}
