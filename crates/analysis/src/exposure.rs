//! `exposure`: which sources can open NEW connections to which local ports.

use std::net::IpAddr;

use rampart_ruleset::{Family, Ruleset};
use serde::Serialize;

use crate::class::{describe_dim, merge, push_merged};
use crate::partition::{conditions, rewriters, Space};
use crate::program::{compile, compile_with, universe, AnalysisError, Locals, PathKind, Verdict};
use crate::space::{Dim, Ranges, Universe, CT_NEW};
use crate::walk::Placed;

/// How a class of connection openings fares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Accepted.
    Open,
    /// Accepted or not depending on rate or history (limits, `recent`, ...).
    Maybe,
    /// Dropped or rejected.
    Closed,
}

/// One row of the service matrix: a protocol and ports, and who reaches them.
#[derive(Debug, Clone, Serialize)]
pub struct Exposed {
    /// Family.
    pub family: Family,
    /// `tcp` or `udp`.
    pub proto: String,
    /// The ports.
    pub ports: String,
    /// Sources (prefixes; `anywhere` for all).
    pub from: String,
    /// Further conditions (`in eth0`, `dst 192.0.2.1`, `set blocklist (src) not member`).
    pub when: Vec<String>,
    /// Open, or maybe.
    pub access: Access,
    /// Where a DNAT or REDIRECT sends the connection (`192.0.2.10:80 (forwarded)`, `local
    /// port 8080`); `None` when it goes to the port itself on this host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// The result of [`exposure`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exposure {
    /// The rows, by family, protocol, ports.
    pub services: Vec<Exposed>,
}

/// The classes of a NEW connection's first packet (TCP SYN or UDP) to this host.
fn opening_root(u: &Universe, dims: &[Dim]) -> Vec<Ranges> {
    dims.iter()
        .map(|d| match d {
            Dim::Proto => Ranges::from_parts(vec![(6, 6), (17, 17)]),
            Dim::Ct => Ranges::one(CT_NEW),
            Dim::Fragment => Ranges::one(0),
            Dim::TcpFlags => Ranges::one(0x02),
            Dim::Mark => Ranges::one(0),
            _ => u.full(*d),
        })
        .collect()
}

fn access_of(o: &crate::walk::Outcomes) -> Access {
    let open = o.iter().filter(|x| x.verdict == Verdict::Accept).count();
    if open == o.len() {
        Access::Open
    } else if open > 0 {
        Access::Maybe
    } else {
        Access::Closed
    }
}

/// A row's access and DNAT target, the key classes merge by.
type Row = (Access, Option<String>);

/// Where the accepted branches of a walk were translated to: the DNAT's address and port,
/// with `(forwarded)` when routing sent them through FORWARD.
fn target_of(o: &crate::walk::Outcomes) -> Option<String> {
    let mut to: Vec<String> = Vec::new();
    for x in o.iter().filter(|x| x.verdict == Verdict::Accept) {
        let Some(t) = x.nat.iter().rev().find_map(|n| {
            n.strip_prefix("DNAT to ")
                .map(str::to_string)
                .or_else(|| n.strip_prefix("REDIRECT to ").map(|p| format!("local {p}")))
        }) else {
            continue;
        };
        let t = if x.via == Some(PathKind::Forward) {
            format!("{t} (forwarded)")
        } else {
            t
        };
        if !to.contains(&t) {
            to.push(t);
        }
    }
    (!to.is_empty()).then(|| to.join(" or "))
}

/// The service matrix of `ruleset`: for each protocol and port class, the sources that can
/// open a connection to this host (the input path, a NEW TCP SYN or UDP packet), and where
/// a DNAT sends it (ports forwarded to an inner host are exposed too).
pub fn exposure(ruleset: &Ruleset) -> Result<Exposure, AnalysisError> {
    exposure_with(ruleset, &Locals::infer(&[ruleset]))
}

/// [`exposure`] on a host whose own addresses are `locals`.
pub fn exposure_with(ruleset: &Ruleset, locals: &Locals) -> Result<Exposure, AnalysisError> {
    let mut out = Exposure::default();
    for family in [Family::Ipv4, Family::Ipv6] {
        if !ruleset.tables.iter().any(|t| t.family == family) && family == Family::Ipv6 {
            continue;
        }
        let mut u = universe(&[ruleset], family);
        let c = compile_with(ruleset, family, &mut u, locals)?;
        let dims = u.dims();
        let root = opening_root(&u, &dims);
        let p = &c.programs[0];
        debug_assert_eq!(p.path, PathKind::Input);
        let cubes = conditions(&p.instrs);
        let space = Space::new(&u, &cubes)
            .with_cutoffs(p.instrs.iter().map(|i| i.cutoff()).collect())
            .with_rewriters(rewriters(&p.instrs));
        let placed = Placed {
            program: p,
            offset: 0,
        };
        let mut found: Vec<(Row, Vec<Ranges>)> = Vec::new();
        space.partition(&root, &mut |leaf| {
            let o = placed.walk(leaf, &dims, 0, None, None);
            let a = access_of(&o);
            if a != Access::Closed {
                push_merged(&mut found, &dims, (a, target_of(&o)), leaf.cube);
            }
        });
        let at = |d: Dim| dims.iter().position(|x| *x == d).expect("dimension");
        let (pi, si, di) = (at(Dim::Proto), at(Dim::Src), at(Dim::Dport));
        for ((access, to), cube) in merge(found, &dims) {
            for proto in [6u128, 17] {
                if !cube[pi].contains(proto) {
                    continue;
                }
                let when: Vec<String> = dims
                    .iter()
                    .zip(&cube)
                    .enumerate()
                    .filter(|(i, _)| ![pi, si, di].contains(i))
                    .filter(|(_, (d, r))| {
                        // Fields the root fixed are not conditions.
                        !matches!(d, Dim::Ct | Dim::Fragment | Dim::TcpFlags | Dim::Mark)
                            && describe_dim(&u, **d, r).is_some()
                    })
                    .filter_map(|(_, (d, r))| describe_dim(&u, *d, r))
                    .filter(|(_, v)| !(proto == 17 && v.is_empty()))
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                out.services.push(Exposed {
                    family,
                    proto: if proto == 6 { "tcp" } else { "udp" }.into(),
                    ports: describe_dim(&u, Dim::Dport, &cube[di]).map_or("any".into(), |(_, v)| v),
                    from: describe_dim(&u, Dim::Src, &cube[si])
                        .map_or("anywhere".into(), |(_, v)| v),
                    when,
                    access,
                    to: to.clone(),
                });
            }
        }
    }
    out.services.sort_by(|a, b| {
        (a.family, &a.proto, first_port(&a.ports), &a.from).cmp(&(
            b.family,
            &b.proto,
            first_port(&b.ports),
            &b.from,
        ))
    });
    Ok(out)
}

fn first_port(s: &str) -> u32 {
    s.trim_start_matches("not ")
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Whether a NEW TCP connection from `src` to local port `port` is accepted (in every
/// class of the other fields: interface, destination address...): the lockout question
/// asked of the service matrix.
pub fn reaches(ruleset: &Ruleset, src: IpAddr, port: u16) -> Result<Access, AnalysisError> {
    let family = Family::of(src);
    let mut u = universe(&[ruleset], family);
    let c = compile(ruleset, family, &mut u)?;
    let dims = u.dims();
    let mut root = opening_root(&u, &dims);
    let v = match src {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    for (d, r) in dims.iter().zip(root.iter_mut()) {
        match d {
            Dim::Proto => *r = Ranges::one(6),
            Dim::Src => *r = Ranges::one(v),
            Dim::Dport => *r = Ranges::one(u128::from(port)),
            _ => {}
        }
    }
    let p = &c.programs[0];
    let cubes = conditions(&p.instrs);
    let space = Space::new(&u, &cubes)
        .with_cutoffs(p.instrs.iter().map(|i| i.cutoff()).collect())
        .with_rewriters(rewriters(&p.instrs));
    let placed = Placed {
        program: p,
        offset: 0,
    };
    let mut seen = Vec::new();
    space.partition(&root, &mut |leaf| {
        // A connection a DNAT forwards to another host does not reach this one's sshd.
        let mut o = placed.walk(leaf, &dims, 0, None, None);
        for x in std::mem::take(&mut o) {
            let forwarded = x.via == Some(PathKind::Forward);
            o.insert(crate::walk::Outcome {
                verdict: if forwarded { Verdict::Drop } else { x.verdict },
                ..x
            });
        }
        seen.push(access_of(&o));
    });
    Ok(if seen.iter().all(|a| *a == Access::Open) {
        Access::Open
    } else if seen.iter().all(|a| *a == Access::Closed) {
        Access::Closed
    } else {
        Access::Maybe
    })
}
