//! Kernel side of the differential test: every example ruleset in
//! `examples/` is loaded into a real kernel inside network namespaces, real
//! packets are sent, and the observed fate must equal the one written in the
//! example's `.probes` file. See `examples/README.md` for the topology.
//!
//! Hosts are `rampart_sim::Host`s, read by the simulator's own parser from
//! the `.host` files (the `--host FILE` format of `rampart trace`).
//!
//! Needs root. Without root the kernel tests print "skipped TEST: needs root"
//! and pass, unless the `CI` environment variable is set: then they fail
//! (`rampart_testkit::require`).

mod apply;
mod bans;
mod block;
mod block_trace;
mod cli_lab;
mod collapse;
mod corpus;
mod diff;
mod fleet;
mod flood;
mod flood_lab;
mod guard;
mod harden;
mod host_client;
mod lab;
mod lab_flood;
mod lint_kernel;
mod logs;
mod loops;
mod nft;
mod profiles;
mod rules;
mod sim_kernel;
mod spec;
mod top;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lab::{Fate, Lab, Probe, Proto};
use rampart_ruleset::{parse_script, to_save, Family, ParseOptions, Ruleset, Source};
use rampart_sim::{Host, HostInterface, IfAddr, RouteDecision, Simulator};
use rampart_testkit::{require, Need};
use spec::{parse_probes, Origin, ProbeSpec};

/// Role of the host under test (the one whose ruleset is loaded).
const HOST: &str = "host";
/// Interface name of every peer's end of a link.
const PEER_IF: &str = "link0";
/// How long a probe waits for an answer before calling it dropped.
const TIMEOUT: Duration = Duration::from_millis(400);

/// Every example: `examples/NAME.sh`, `NAME.host`, `NAME.probes`.
const EXAMPLES: &[&str] = &[
    "webserver",
    "default-deny",
    "syn-flood",
    "port80-limit",
    "router",
    "router-fault-dropped",
    "router-fault-not-natted",
    "router-fault-wrong-address",
];

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn read_example(name: &str, ext: &str) -> String {
    let p = examples_dir().join(format!("{name}.{ext}"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The role of the peer on the other end of host interface `iface`.
fn peer_role(iface: &str) -> String {
    format!("peer-{iface}")
}

fn host_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// The host's interfaces that lead to a peer: all but `lo` (which
/// `rampart_sim::Host` always has).
fn links(host: &Host) -> impl Iterator<Item = &HostInterface> {
    host.interfaces.iter().filter(|i| i.name != "lo")
}

/// Addresses a peer needs: on its link (`link0`, with the subnet's length)
/// or "behind" it (`lo`, as a host route).
#[derive(Default)]
struct PeerPlan {
    link: Vec<IfAddr>,
    lo: Vec<IpAddr>,
    host_routes: Vec<IpAddr>,
}

impl PeerPlan {
    fn place(&mut self, host: &Host, iface: &str, ip: IpAddr) {
        if self.link.iter().any(|c| c.addr == ip) || self.lo.contains(&ip) {
            return;
        }
        match host.connected(ip) {
            Some((i, c)) if i.name == iface => self.link.push(IfAddr {
                addr: ip,
                len: c.len,
            }),
            _ => self.lo.push(ip),
        }
    }
}

/// Does the host route (non-connected prefixes) through `iface` for this family?
fn is_upstream(host: &Host, iface: &str, v4: bool) -> bool {
    host.routes
        .iter()
        .any(|r| r.dev == iface && r.dest.is_ipv4() == v4)
}

fn host_addr_on(host: &Host, iface: &str, v4: bool) -> Option<IpAddr> {
    let family = if v4 { Family::Ipv4 } else { Family::Ipv6 };
    host.primary_addr(iface, family)
}

/// Which host interface leads to `ip` (the host's routing decision).
fn iface_towards(host: &Host, ip: IpAddr) -> Option<String> {
    match host.route(ip) {
        RouteDecision::Out { dev, .. } => Some(dev),
        RouteDecision::Local | RouteDecision::Unreachable => None,
    }
}

/// The lab's topology, derived from a `.host` file and the probes: which
/// addresses each peer holds and which routes it has. The lab is built
/// from it, and the differential test asks it which replies a peer can
/// route (the lab's own knowledge, not the simulator's).
pub struct Topology {
    /// The host under test.
    pub host: Host,
    /// Per host interface, what its peer holds.
    plans: BTreeMap<String, PeerPlan>,
}

impl Topology {
    /// Plan the peers a `.host` file and its probes need: the gateways,
    /// probe sources and probe destinations on each side (see
    /// `examples/README.md`).
    pub fn plan(host: &Host, probes: &[ProbeSpec]) -> Result<Topology, String> {
        let mut plans: BTreeMap<String, PeerPlan> = links(host)
            .map(|i| (i.name.clone(), PeerPlan::default()))
            .collect();
        for r in &host.routes {
            let plan = plans
                .get_mut(&r.dev)
                .ok_or_else(|| format!("route via unknown interface {}", r.dev))?;
            if let Some(gw) = r.via {
                plan.place(host, &r.dev, gw);
            }
        }
        for p in probes {
            let (src, dst) = (p.probe.src, p.probe.dst);
            match &p.origin {
                Origin::In(i) => {
                    let plan = plans
                        .get_mut(i)
                        .ok_or_else(|| format!("line {}: unknown interface {i}", p.line))?;
                    // A raw probe's source may be an address nobody can hold (a martian):
                    // the peer holds it only when it is an ordinary documentation
                    // address, so that answers to it come back.
                    let holdable = lab::is_documentation(src) && !host.is_local(src);
                    if !p.probe.proto.is_raw() || holdable {
                        plan.place(host, i, src);
                    }
                    let own_side = host.connected(dst).is_some_and(|(j, _)| j.name == *i);
                    if is_upstream(host, i, dst.is_ipv4())
                        && !own_side
                        && !plan.host_routes.contains(&dst)
                    {
                        plan.host_routes.push(dst);
                    }
                }
                Origin::Local => {
                    if !host.is_local(src) {
                        return Err(format!(
                            "line {}: local probe from {src}, not a host address",
                            p.line
                        ));
                    }
                }
            }
            if !host.is_local(dst) {
                if let Some(i) = iface_towards(host, dst) {
                    if let Some(plan) = plans.get_mut(&i) {
                        plan.place(host, &i, dst);
                    }
                }
            }
        }
        Ok(Topology {
            host: host.clone(),
            plans,
        })
    }

    /// The namespace holding `ip`.
    pub fn holder(&self, ip: IpAddr) -> Holder<'_> {
        if self.host.is_local(ip) {
            return Holder::Host;
        }
        self.plans
            .keys()
            .find(|i| self.peer_owns(i, ip))
            .map_or(Holder::Nobody, |i| Holder::Peer(i))
    }

    /// Does the peer on host interface `iface` hold address `ip`?
    pub fn peer_owns(&self, iface: &str, ip: IpAddr) -> bool {
        self.plans
            .get(iface)
            .is_some_and(|p| p.link.iter().any(|c| c.addr == ip) || p.lo.contains(&ip))
    }

    /// Can the peer on host interface `iface` send a packet to `ip` (a
    /// reply to a source the host's NAT may have rewritten)? On its link's
    /// subnet only to an address the host holds (nobody else answers ARP /
    /// neighbour solicitation); beyond it, when the peer has a default route
    /// through the host (it is not upstream) or a host route for `ip`.
    pub fn peer_reaches(&self, iface: &str, ip: IpAddr) -> bool {
        let Some(plan) = self.plans.get(iface) else {
            return false;
        };
        if plan.link.iter().any(|c| c.addr == ip) || plan.lo.contains(&ip) {
            return true;
        }
        let on_link = self
            .host
            .interface(iface)
            .is_some_and(|i| i.addrs.iter().any(|a| a.network().contains(ip)));
        if on_link {
            return self.host.is_local(ip);
        }
        !is_upstream(&self.host, iface, ip.is_ipv4()) || plan.host_routes.contains(&ip)
    }
}

/// Which lab namespace holds an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder<'a> {
    /// The host under test.
    Host,
    /// The peer on this host interface.
    Peer(&'a str),
    /// No namespace of the lab.
    Nobody,
}

impl std::fmt::Display for Holder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Host => f.write_str("the host"),
            Holder::Peer(i) => write!(f, "the peer behind {i}"),
            Holder::Nobody => f.write_str("no namespace of the lab"),
        }
    }
}

/// Build the lab a topology describes: the host namespace with its
/// interfaces, addresses, routes and forwarding; one peer namespace per
/// interface holding the gateways, probe sources and probe destinations on
/// that side.
fn build_lab(topo: &Topology) -> Result<Lab, String> {
    let e = |e: std::io::Error| e.to_string();
    let (host, plans) = (&topo.host, &topo.plans);
    let mut lab = Lab::new().map_err(e)?;
    lab.add_ns(HOST).map_err(e)?;
    for iface in links(host) {
        let peer = peer_role(&iface.name);
        lab.add_ns(&peer).map_err(e)?;
        lab.veth(HOST, &iface.name, &peer, PEER_IF).map_err(e)?;
        for a in &iface.addrs {
            lab.addr(HOST, &iface.name, &a.to_string()).map_err(e)?;
        }
    }
    for r in &host.routes {
        let mut route = match (r.dest.len(), r.dest.addr()) {
            (0, IpAddr::V4(_)) => "default".to_owned(),
            (0, IpAddr::V6(_)) => "::/0".to_owned(),
            _ => r.dest.to_string(),
        };
        if let Some(gw) = r.via {
            route.push_str(&format!(" via {gw}"));
        }
        route.push_str(&format!(" dev {}", r.dev));
        lab.route(HOST, &route).map_err(e)?;
    }
    lab.set_forwarding(HOST, host.forwarding).map_err(e)?;
    let sysctls = host.sysctls.assignments();
    if sysctls.iter().any(|(k, _)| k.starts_with("net.netfilter.")) {
        // Conntrack's sysctls appear once it is in use: a conntrack rule loads it.
        let load = "add table inet rampart_ct\n\
                    add chain inet rampart_ct c { type filter hook input priority 0; }\n\
                    add rule inet rampart_ct c ct state new\n\
                    delete table inet rampart_ct\n";
        lab.load_nft(HOST, load).map_err(e)?;
    }
    let pairs: Vec<(&str, &str)> = sysctls
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !pairs.is_empty() {
        lab.sysctls(HOST, &pairs).map_err(e)?;
    }
    for (iface, plan) in plans {
        let peer = peer_role(iface);
        for c in &plan.link {
            lab.addr(&peer, PEER_IF, &c.to_string()).map_err(e)?;
        }
        for ip in &plan.lo {
            lab.addr(&peer, "lo", &format!("{ip}/{}", host_len(*ip)))
                .map_err(e)?;
        }
        for v4 in [true, false] {
            let Some(hostaddr) = host_addr_on(host, iface, v4) else {
                continue;
            };
            if !is_upstream(host, iface, v4) {
                let def = if v4 { "default" } else { "::/0" };
                lab.route(&peer, &format!("{def} via {hostaddr} dev {PEER_IF} onlink"))
                    .map_err(e)?;
            }
        }
        for dst in &plan.host_routes {
            let Some(hostaddr) = host_addr_on(host, iface, dst.is_ipv4()) else {
                continue;
            };
            lab.route(
                &peer,
                &format!(
                    "{dst}/{} via {hostaddr} dev {PEER_IF} onlink",
                    host_len(*dst)
                ),
            )
            .map_err(e)?;
        }
    }
    Ok(lab)
}

fn describe(f: &Fate) -> String {
    match f {
        Fate::Delivered { seen_src } => format!("delivered seen {seen_src}"),
        Fate::Rejected => "rejected".into(),
        Fate::Dropped => "dropped".into(),
    }
}

/// Everything read from an example's files.
struct Example {
    name: String,
    /// Where the kernel's ruleset comes from.
    rules_from: RulesFrom,
    topo: Topology,
    probes: Vec<ProbeSpec>,
    ruleset: Ruleset,
}

/// What the kernel is given in the original load ([`Load::Original`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum RulesFrom {
    /// `examples/NAME.sh`, run in the host namespace.
    Script,
    /// `testdata/corpus/NAME.v4` and `.v6`, the tools' own dumps, restored.
    Dumps,
    /// `iptables-save` and `ip6tables-save` text (either may be empty), restored: a
    /// minimal ruleset written in a test.
    Inline { v4: &'static str, v6: &'static str },
}

/// Read and parse `examples/NAME.{sh,host,probes}`: the script with
/// rampart's iptables parser, the host (the simulator's parser) for both the
/// lab and the simulator.
fn load_example(name: &'static str) -> Example {
    let host = Host::parse(&read_example(name, "host"))
        .unwrap_or_else(|e| panic!("rampart_sim cannot parse examples/{name}.host: {e}"));
    let probes = parse_probes(&read_example(name, "probes"))
        .unwrap_or_else(|e| panic!("{name}.probes: {e}"));
    assert!(!probes.is_empty(), "{name}.probes has no probes");
    let topo = Topology::plan(&host, &probes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let source = Source::new(format!("examples/{name}.sh"), read_example(name, "sh"));
    let ruleset = parse_script(&source, ParseOptions::default())
        .unwrap_or_else(|e| panic!("rampart cannot parse examples/{name}.sh:\n{e}"))
        .ruleset;
    if let Some(p) = probes.iter().find(|p| p.expect.is_none()) {
        panic!(
            "{name}.probes line {}: an example states the kernel's fate",
            p.line
        );
    }
    Example {
        name: name.to_string(),
        rules_from: RulesFrom::Script,
        topo,
        probes,
        ruleset,
    }
}

/// The simulator's prediction for every probe, one simulator across the
/// file (state carries over as in the kernel), the clock advancing
/// [`diff::PROBE_INTERVAL`] per probe.
fn simulate(ex: &Example) -> Vec<diff::Prediction> {
    let mut sim = Simulator::new(&ex.ruleset, ex.topo.host.clone());
    ex.probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            diff::predict(
                &mut sim,
                &ex.topo,
                p,
                1.0 + i as f64 * diff::PROBE_INTERVAL,
                40000 + i as u16,
            )
        })
        .collect()
}

/// How the host's ruleset is put into the kernel.
#[derive(Clone, Copy)]
enum Load {
    /// Run `examples/NAME.sh`, or restore the corpus dumps.
    Original,
    /// `iptables-restore` of rampart's own `iptables-save` rendering of the
    /// parsed script.
    Printed,
}

/// Kernel fates of every probe in a fresh lab loaded the given way, and
/// the host's `iptables-save -c` afterwards.
fn kernel_fates(ex: &Example, load: Load) -> (Vec<Result<Fate, String>>, String) {
    let lab = build_lab(&ex.topo).unwrap_or_else(|e| panic!("{}: building the lab: {e}", ex.name));
    match load {
        Load::Original => match ex.rules_from {
            RulesFrom::Script => lab
                .load_iptables_script(HOST, &examples_dir().join(format!("{}.sh", ex.name)))
                .unwrap_or_else(|e| panic!("{}.sh: {e}", ex.name)),
            RulesFrom::Inline { v4, v6 } => {
                if !v4.is_empty() {
                    lab.load_save(HOST, v4)
                        .unwrap_or_else(|e| panic!("{}: {e}\n{v4}", ex.name));
                }
                if !v6.is_empty() {
                    lab.load_save6(HOST, v6)
                        .unwrap_or_else(|e| panic!("{}: {e}\n{v6}", ex.name));
                }
            }
            RulesFrom::Dumps => {
                let dir = corpus::corpus_dir();
                let v4 = dir.join(format!("{}.v4", ex.name));
                let v6 = dir.join(format!("{}.v6", ex.name));
                let read = |p: &std::path::Path| std::fs::read_to_string(p).expect("corpus dump");
                lab.load_save(HOST, &read(&v4))
                    .unwrap_or_else(|e| panic!("{}: {e}", v4.display()));
                if v6.exists() {
                    lab.load_save6(HOST, &read(&v6))
                        .unwrap_or_else(|e| panic!("{}: {e}", v6.display()));
                }
            }
        },
        Load::Printed => {
            let text = to_save(&ex.ruleset, Family::Ipv4, false);
            lab.load_save(HOST, &text).unwrap_or_else(|e| {
                panic!(
                    "{}: the kernel refuses rampart's rendering of the script: {e}\n{text}",
                    ex.name
                )
            });
            let text6 = to_save(&ex.ruleset, Family::Ipv6, false);
            if !text6.trim().is_empty() {
                lab.load_save6(HOST, &text6).unwrap_or_else(|e| {
                    panic!(
                        "{}: the kernel refuses rampart's IPv6 rendering: {e}\n{text6}",
                        ex.name
                    )
                });
            }
        }
    }
    let fates = ex
        .probes
        .iter()
        .map(|p| {
            let from = match &p.origin {
                Origin::In(i) => peer_role(i),
                Origin::Local => HOST.to_owned(),
            };
            lab.probe(&from, &p.probe, TIMEOUT)
                .map_err(|e| format!("probe failed: {e}"))
        })
        .collect();
    let counters = lab.rule_counters(HOST).unwrap_or_else(|e| e.to_string());
    (fates, counters)
}

fn describe_result(r: &Result<Fate, String>) -> String {
    match r {
        Ok(f) => describe(f),
        Err(e) => e.clone(),
    }
}

/// Probes where the simulator is known to disagree with the kernel:
/// (example, line in NAME.probes, diagnosis). Listed so a failure names the
/// cause; the assertions are not relaxed for them.
const KNOWN_SIM_DISAGREEMENTS: &[(&str, usize, &str)] = &[];

/// The differential test for one example: the expected fate (NAME.probes),
/// the simulator's prediction, and (with root) the kernel's fate with the
/// script loaded and with rampart's printed rendering restored, must all be
/// equal for every probe.
fn run_example(name: &'static str) {
    differential(load_example(name), &[]);
}

/// The differential test of one example or corpus configuration: every probe's expected
/// fate (when stated), the simulator's prediction and the kernel's fates in both loads
/// must be equal; without a stated fate the kernel's original load is the reference.
///
/// `expected_gaps` lists (probe line, diagnosis) pairs known to disagree, for the corpus:
/// each must still disagree (the test says "remove from the list" once it agrees) and is
/// reported with its diagnosis instead of failing the test.
fn differential(ex: Example, expected_gaps: &[(usize, &str)]) {
    let started = Instant::now();
    let name = ex.name.as_str();
    let predictions = simulate(&ex);
    let kernel = if require(&[Need::Root]) {
        let (script, printed) = std::thread::scope(|s| {
            let a = s.spawn(|| kernel_fates(&ex, Load::Original));
            let b = s.spawn(|| kernel_fates(&ex, Load::Printed));
            (
                a.join().expect("script lab panicked"),
                b.join().expect("printed lab panicked"),
            )
        });
        Some((script, printed))
    } else {
        eprintln!("{name}: kernel side skipped, comparing the simulator with {name}.probes only");
        None
    };
    let mut failures = Vec::new();
    for (i, p) in ex.probes.iter().enumerate() {
        let sim = &predictions[i];
        let reference = match (&p.expect, &kernel) {
            (Some(e), _) => Some(*e),
            (None, Some(((script, _), _))) => script[i].as_ref().ok().copied(),
            (None, None) => None,
        };
        let mut bad = reference.as_ref() != Some(&sim.fate) && p.expect.is_some();
        let stated = p.expect.as_ref().map_or("kernel".to_string(), describe);
        let mut lines = vec![
            format!("    expected (.probes):    {stated}"),
            format!("    simulator:             {}", describe(&sim.fate)),
        ];
        if let Some(((script, _), (printed, _))) = &kernel {
            let want = reference.as_ref();
            bad |= want.is_none()
                || script[i].as_ref().ok() != want
                || printed[i].as_ref().ok() != want
                || Some(&sim.fate) != want;
            lines.push(format!(
                "    kernel, original:      {}",
                describe_result(&script[i])
            ));
            lines.push(format!(
                "    kernel, rampart print: {}",
                describe_result(&printed[i])
            ));
        }
        let gap = expected_gaps.iter().find(|(l, _)| *l == p.line);
        if kernel.is_some() {
            match (bad, gap) {
                (false, Some((_, why))) => failures.push(format!(
                    "{name}.probes line {} agrees now (was: {why}): remove it from the list \
                     of known corpus disagreements",
                    p.line
                )),
                (true, Some((_, why))) => {
                    eprintln!("{name}.probes line {}: KNOWN DISAGREEMENT: {why}", p.line);
                    continue;
                }
                _ => {}
            }
        }
        if bad {
            let known = KNOWN_SIM_DISAGREEMENTS
                .iter()
                .find(|(n, l, _)| *n == name && *l == p.line)
                .map(|(_, _, d)| format!("    KNOWN SIMULATOR BUG: {d}\n"))
                .unwrap_or_default();
            failures.push(format!(
                "{name}.probes line {}: `{}`\n{}\n{known}    simulator trace:\n{}",
                p.line,
                p.text,
                lines.join("\n"),
                sim.log
            ));
        }
    }
    if std::env::var_os("RAMPART_NETNS_VERBOSE").is_some() {
        for (p, sim) in ex.probes.iter().zip(&predictions) {
            eprintln!("{name}.probes line {}: `{}`\n{}", p.line, p.text, sim.log);
        }
    }
    eprintln!(
        "{name}: {} probes compared in {:?}",
        ex.probes.len(),
        started.elapsed()
    );
    if !failures.is_empty() {
        let counters = kernel
            .as_ref()
            .map(|((_, c), _)| format!("--- iptables-save -c of the script lab:\n{c}"))
            .unwrap_or_default();
        panic!(
            "{name}: {} of {} probes disagree:\n{}\n{counters}--- rampart's rendering:\n{}",
            failures.len(),
            ex.probes.len(),
            failures.join("\n"),
            to_save(&ex.ruleset, Family::Ipv4, false)
        );
    }
}

/// Packet counter of the first rule in `iptables-save -c` output whose
/// text contains every one of `needles`.
fn rule_packets(save: &str, needles: &[&str]) -> Option<u64> {
    save.lines()
        .filter(|l| l.starts_with('[') && needles.iter().all(|n| l.contains(n)))
        .find_map(|l| l[1..].split(':').next()?.parse().ok())
}

/// The rate-limit differential: bursts of SYNs, each sent as fast as the
/// peer can to 203.0.113.5:80 after a pause, counted by the kernel at the
/// rule that lets them pass (`pass_rule`) and the rule that drops them
/// (`drop_rule`), and by the simulator fed the same SYNs at the same
/// (measured) send times. The kernel's token bucket refills per jiffy, the
/// simulator's continuously: `tolerance` is how many SYNs that may account
/// for (one jiffy is at most 10 ms, at most one token at 100/s; a rate whose
/// token takes far longer than a jiffy must match exactly).
fn rate_limit_differential(
    name: &'static str,
    bursts: &[(Duration, usize)],
    pass_rule: &[&str],
    drop_rule: &[&str],
    tolerance: u64,
) {
    let ex = load_example(name);
    let src: IpAddr = "198.51.100.7".parse().unwrap();
    let dst: std::net::SocketAddr = "203.0.113.5:80".parse().unwrap();
    if !require(&[Need::Root]) {
        return;
    }
    let started = Instant::now();
    let lab = build_lab(&ex.topo).unwrap_or_else(|e| panic!("{name}: building the lab: {e}"));
    lab.load_iptables_script(HOST, &examples_dir().join(format!("{name}.sh")))
        .unwrap_or_else(|e| panic!("{name}.sh: {e}"));
    let mut sent = Vec::new();
    for &(pause, n) in bursts {
        std::thread::sleep(pause);
        let hold = Duration::ZERO;
        sent.extend(
            lab.syn_burst(&peer_role("eth0"), src, dst, n, hold)
                .unwrap_or_else(|e| panic!("{name}: SYN burst: {e}")),
        );
    }
    // Let the last SYNs reach the host's INPUT hook.
    std::thread::sleep(Duration::from_millis(100));
    let save = lab.rule_counters(HOST).unwrap();
    let k_pass = rule_packets(&save, pass_rule)
        .unwrap_or_else(|| panic!("{name}: no rule with {pass_rule:?} in\n{save}"));
    let k_drop = rule_packets(&save, drop_rule)
        .unwrap_or_else(|| panic!("{name}: no rule with {drop_rule:?} in\n{save}"));

    let mut sim = Simulator::new(&ex.ruleset, ex.topo.host.clone());
    let (mut s_pass, mut s_drop, mut other) = (0u64, 0u64, Vec::new());
    let t0 = sent[0];
    for (i, t) in sent.iter().enumerate() {
        let mut syn = rampart_sim::Packet::new(rampart_ruleset::Protocol::TCP, src, dst.ip());
        syn.sport = Some(20000 + i as u16);
        syn.dport = Some(dst.port());
        syn.in_iface = Some("eth0".into());
        syn.tcp_flags = Some(rampart_ruleset::TcpFlags(rampart_ruleset::TcpFlags::SYN));
        syn.time = 1.0 + t.duration_since(t0).as_secs_f64();
        let trace = sim.run(&syn);
        match &trace.branches[trace.committed_branch].fate {
            rampart_sim::Fate::DeliveredLocally { .. } => s_pass += 1,
            rampart_sim::Fate::Dropped { .. } => s_drop += 1,
            f => other.push(format!("SYN {i}: {f}")),
        }
    }
    let n = sent.len() as u64;
    let span = sent[sent.len() - 1].duration_since(t0);
    eprintln!(
        "{name}: {n} SYNs in bursts {bursts:?} over {span:?}: kernel {k_pass} passed / \
         {k_drop} dropped, simulator {s_pass} / {s_drop} ({:?})",
        started.elapsed()
    );
    assert!(
        other.is_empty(),
        "{name}: unexpected simulator fates: {other:?}"
    );
    assert_eq!(
        k_pass + k_drop,
        n,
        "{name}: the kernel did not count every SYN once\n{save}"
    );
    assert!(
        s_pass.abs_diff(k_pass) <= tolerance,
        "{name}: {n} SYNs in bursts {bursts:?} over {span:?}: the kernel let {k_pass} pass and \
         dropped {k_drop}, the simulator lets {s_pass} pass and drops {s_drop} \
         (tolerance {tolerance})\n{save}"
    );
}

/// `--limit 50/minute --limit-burst 200`: 230 SYNs at once, exactly the
/// burst passes; 1.3 s later one token (1.2 s) has come back: 1 of 5 passes.
#[test]
fn rate_limit_port80_limit() {
    rate_limit_differential(
        "port80-limit",
        &[(Duration::ZERO, 230), (Duration::from_millis(1300), 5)],
        &["--limit-burst 200", "-j ACCEPT"],
        &["--dport 80", "--state NEW -j DROP"],
        0,
    );
}

/// `--limit 100/s --limit-burst 150`: 200 SYNs at once, the burst passes
/// (plus a token per 10 ms of sending); 100 ms later about 10 tokens have
/// come back: about 10 of 30 pass.
#[test]
fn rate_limit_syn_flood() {
    rate_limit_differential(
        "syn-flood",
        &[(Duration::ZERO, 200), (Duration::from_millis(100), 30)],
        &["-A syn_flood", "-j RETURN"],
        &["-A syn_flood -j DROP"],
        1,
    );
}

#[test]
fn example_webserver() {
    run_example("webserver");
}

#[test]
fn example_default_deny() {
    run_example("default-deny");
}

#[test]
fn example_syn_flood() {
    run_example("syn-flood");
}

#[test]
fn example_port80_limit() {
    run_example("port80-limit");
}

#[test]
fn example_router() {
    run_example("router");
}

#[test]
fn example_router_fault_dropped() {
    run_example("router-fault-dropped");
}

#[test]
fn example_router_fault_not_natted() {
    run_example("router-fault-not-natted");
}

#[test]
fn example_router_fault_wrong_address() {
    run_example("router-fault-wrong-address");
}

/// Every example has its three files, and they parse (no root needed).
#[test]
fn example_files_parse() {
    for name in EXAMPLES {
        let _ = read_example(name, "sh");
        let host =
            Host::parse(&read_example(name, "host")).unwrap_or_else(|e| panic!("{name}.host: {e}"));
        assert!(
            links(&host).next().is_some(),
            "{name}.host has no interfaces"
        );
        let probes = parse_probes(&read_example(name, "probes"))
            .unwrap_or_else(|e| panic!("{name}.probes: {e}"));
        assert!(!probes.is_empty(), "{name}.probes is empty");
    }
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .expect("examples dir")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".sh")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    let mut listed: Vec<String> = EXAMPLES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(names, listed, "every examples/*.sh is listed in EXAMPLES");
}

#[test]
fn probe_syntax() {
    let p = parse_probes(
        "# c\n\
         tcp 198.51.100.7:80 from 192.0.2.10 in eth0 => delivered seen 203.0.113.2\n\
         udp [2001:db8::1]:53 from 2001:db8::2 local => rejected # c\n\
         icmp 203.0.113.5 from 198.51.100.7 in ppp0 => delivered\n\
         icmp 2001:db8::5 from 2001:db8::7 in eth0 => dropped\n",
    )
    .unwrap();
    assert_eq!(p.len(), 4);
    assert_eq!(p[0].probe.proto, Proto::Tcp);
    assert_eq!(p[0].probe.port, 80);
    assert_eq!(p[0].origin, Origin::In("eth0".into()));
    assert_eq!(
        p[0].expect,
        Some(Fate::Delivered {
            seen_src: "203.0.113.2".parse().unwrap()
        })
    );
    assert_eq!(p[1].origin, Origin::Local);
    assert_eq!(p[1].expect, Some(Fate::Rejected));
    assert_eq!(
        p[2].expect,
        Some(Fate::Delivered {
            seen_src: "198.51.100.7".parse().unwrap()
        })
    );
    assert_eq!(p[3].probe.proto, Proto::Icmp);
    assert_eq!(p[3].expect, Some(Fate::Dropped));
    let raw = parse_probes(
        "tcp/FIN,ACK 192.0.2.1:80 from 198.51.100.7 in eth0 => kernel\n\
         udp/raw 192.0.2.1:53 from 224.0.0.5 in eth0 => dropped\n\
         tcp/NONE 192.0.2.1:80 from 198.51.100.7 in eth0 => dropped\n",
    )
    .unwrap();
    assert_eq!(raw[0].probe.proto, Proto::Segment(0x11));
    assert_eq!(raw[0].expect, None);
    assert_eq!(raw[1].probe.proto, Proto::RawUdp);
    assert_eq!(raw[2].probe.proto, Proto::Segment(0));
    for bad in [
        "tcp 192.0.2.1 from 192.0.2.2 local => dropped",
        "tcp 192.0.2.1:80 from 192.0.2.2 => dropped",
        "tcp 192.0.2.1:80 from 2001:db8::1 local => dropped",
        "sctp 192.0.2.1:80 from 192.0.2.2 local => dropped",
        "tcp 192.0.2.1:80 from 192.0.2.2 local => lost",
        "tcp 192.0.2.1:80 from 192.0.2.2 local",
        "tcp/FIN,XMAS 192.0.2.1:80 from 192.0.2.2 local => dropped",
        "tcp/ 192.0.2.1:80 from 192.0.2.2 local => dropped",
    ] {
        assert!(parse_probes(bad).is_err(), "{bad}");
    }
}

/// Namespaces disappear when the lab is dropped; leftovers of dead
/// processes are removed; non-documentation addresses are refused.
#[test]
fn lab_cleans_up_namespaces() {
    if !require(&[Need::Root]) {
        return;
    }
    // A leftover of a "dead process" (no pid is this large).
    let stale = format!("{}999999999-0-stale", lab::NS_PREFIX);
    let _ = std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .status();
    lab::clean_leftovers();
    assert!(
        lab::live_namespaces(&stale).unwrap().is_empty(),
        "stale namespace {stale} was not cleaned"
    );

    let id;
    {
        let mut lab = Lab::new().unwrap();
        id = format!("{}-", lab.id());
        lab.add_ns("a").unwrap();
        lab.add_ns("b").unwrap();
        lab.veth("a", "eth0", "b", "ppp0").unwrap();
        lab.addr("a", "eth0", "192.0.2.1/24").unwrap();
        lab.addr("b", "ppp0", "192.0.2.2/24").unwrap();
        assert!(lab.addr("a", "eth0", "10.0.0.1/8").is_err());
        assert!(lab.add_ns("a").is_err());
        let mut live = lab::live_namespaces(&id).unwrap();
        live.sort();
        assert_eq!(live, vec![format!("{id}a"), format!("{id}b")]);
        let fate = lab
            .probe(
                "a",
                &Probe {
                    proto: Proto::Icmp,
                    src: "192.0.2.1".parse().unwrap(),
                    dst: "192.0.2.2".parse().unwrap(),
                    port: 0,
                },
                TIMEOUT,
            )
            .unwrap();
        assert_eq!(
            fate,
            Fate::Delivered {
                seen_src: "192.0.2.1".parse().unwrap()
            }
        );
        assert!(lab.rule_counters("a").is_ok());
    }
    assert!(
        lab::live_namespaces(&id).unwrap().is_empty(),
        "namespaces of a dropped lab remain"
    );
}

/// `load_save` / `load_save6` / `rule_counters`, and the rejected paths of
/// ICMP echo and IPv6 TCP, on a two-namespace lab.
#[test]
fn lab_restore_and_counters() {
    if !require(&[Need::Root]) {
        return;
    }
    let mut lab = Lab::new().unwrap();
    lab.add_ns("client").unwrap();
    lab.add_ns("server").unwrap();
    lab.veth("client", "eth0", "server", "eth1").unwrap();
    for (role, ifname, a) in [
        ("client", "eth0", "192.0.2.10/24"),
        ("client", "eth0", "2001:db8:1::10/64"),
        ("server", "eth1", "192.0.2.20/24"),
        ("server", "eth1", "2001:db8:1::20/64"),
    ] {
        lab.addr(role, ifname, a).unwrap();
    }
    lab.load_save(
        "server",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -p icmp --icmp-type echo-request -j REJECT\n\
         -A INPUT -p udp --dport 9 -j DROP\n\
         COMMIT\n",
    )
    .unwrap();
    lab.load_save6(
        "server",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -p tcp --dport 25 -j REJECT --reject-with tcp-reset\n\
         COMMIT\n",
    )
    .unwrap();
    let probe = |proto, src: &str, dst: &str, port| {
        lab.probe(
            "client",
            &Probe {
                proto,
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                port,
            },
            TIMEOUT,
        )
        .unwrap()
    };
    assert_eq!(
        probe(Proto::Icmp, "192.0.2.10", "192.0.2.20", 0),
        Fate::Rejected
    );
    assert_eq!(
        probe(Proto::Udp, "192.0.2.10", "192.0.2.20", 9),
        Fate::Dropped
    );
    assert_eq!(
        probe(Proto::Udp, "192.0.2.10", "192.0.2.20", 53),
        Fate::Delivered {
            seen_src: "192.0.2.10".parse().unwrap()
        }
    );
    assert_eq!(
        probe(Proto::Tcp, "2001:db8:1::10", "2001:db8:1::20", 25),
        Fate::Rejected
    );
    assert_eq!(
        probe(Proto::Tcp, "2001:db8:1::10", "2001:db8:1::20", 80),
        Fate::Delivered {
            seen_src: "2001:db8:1::10".parse().unwrap()
        }
    );
    let counters = lab.rule_counters("server").unwrap();
    assert!(
        counters.contains("[1:") && counters.contains("-j REJECT"),
        "{counters}"
    );
    let counters6 = lab.rule_counters6("server").unwrap();
    assert!(
        counters6.contains("--dport 25") && counters6.contains("[1:"),
        "{counters6}"
    );
}
