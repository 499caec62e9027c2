//! [`summarize`]: flows counted into ranked tables.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use rampart_lists::Country;
use rampart_prefix::{unmap_addr, Prefix};
use serde::Serialize;

use crate::flow::{Direction, Flow, Proto, State};

/// Connections of one row, with the states a flood shows apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Every connection.
    pub total: usize,
    /// `ESTABLISHED`.
    pub established: usize,
    /// `SYN_RECV`: half-open.
    pub syn_recv: usize,
    /// `TIME_WAIT`.
    pub time_wait: usize,
}

impl Counts {
    fn add(&mut self, state: State) {
        self.total += 1;
        match state {
            State::Established => self.established += 1,
            State::SynRecv => self.syn_recv += 1,
            State::TimeWait => self.time_wait += 1,
            _ => {}
        }
    }
}

/// One row: a key and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row<K> {
    /// What is counted (an address, a network, a country, a port, a state).
    pub key: K,
    /// Its connections.
    #[serde(flatten)]
    pub counts: Counts,
}

/// A ranked table: the top rows by connections (ties by key), and how many distinct keys
/// there were in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table<K> {
    /// The top rows, most connections first.
    pub rows: Vec<Row<K>>,
    /// Distinct keys before the cut to the top N.
    pub distinct: usize,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            rows: Vec::new(),
            distinct: 0,
        }
    }
}

/// A service: protocol and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PortKey {
    /// The protocol.
    pub proto: Proto,
    /// The port (0 for protocols without ports).
    pub port: u16,
}

impl std::fmt::Display for PortKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

/// The tables of one direction.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Section {
    /// All connections of this direction.
    pub total: Counts,
    /// Per remote address.
    pub addresses: Table<IpAddr>,
    /// Per IPv4 /24.
    pub nets24: Table<Prefix>,
    /// Per IPv4 /16.
    pub nets16: Table<Prefix>,
    /// Per IPv6 /64.
    pub nets64: Table<Prefix>,
    /// Per IPv6 /48.
    pub nets48: Table<Prefix>,
    /// Per country of the remote address (`None`: not in the database); empty without a
    /// database.
    pub countries: Table<Option<Country>>,
    /// Per service port ([`Flow::service_port`]).
    pub ports: Table<PortKey>,
    /// Per state.
    pub states: Table<State>,
}

/// Every table of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Report {
    /// All connections.
    pub total: Counts,
    /// Connections to this host's services.
    pub incoming: Section,
    /// Connections this host made.
    pub outgoing: Section,
    /// Flows routed through the host (from conntrack only).
    pub forwarded: Section,
    /// Flows with NAT applied (from conntrack only), any direction.
    pub nat: usize,
}

/// Where an address is: a country, or `None` when the database has no entry for it.
/// (A closure, so that the caller may keep one map per family, or several databases.)
pub type CountryOf<'a> = &'a dyn Fn(IpAddr) -> Option<Country>;

/// Counts `flows` into ranked tables of at most `top` rows each. With `geo`, countries
/// are looked up once per distinct remote address.
pub fn summarize(flows: &[Flow], geo: Option<CountryOf<'_>>, top: usize) -> Report {
    let mut report = Report::default();
    for dir in [
        Direction::Incoming,
        Direction::Outgoing,
        Direction::Forwarded,
    ] {
        let section = section(flows.iter().filter(|f| f.direction == dir), geo, top);
        match dir {
            Direction::Incoming => report.incoming = section,
            Direction::Outgoing => report.outgoing = section,
            Direction::Forwarded => report.forwarded = section,
        }
    }
    for f in flows {
        report.total.add(f.state);
    }
    report.nat = flows.iter().filter(|f| f.nat).count();
    report
}

fn section<'a>(
    flows: impl Iterator<Item = &'a Flow>,
    geo: Option<CountryOf<'_>>,
    top: usize,
) -> Section {
    let mut total = Counts::default();
    let mut addresses: HashMap<IpAddr, Counts> = HashMap::new();
    let mut ports: HashMap<PortKey, Counts> = HashMap::new();
    let mut states: HashMap<State, Counts> = HashMap::new();
    for f in flows {
        total.add(f.state);
        // Flows from any source: IPv4-mapped addresses count as the IPv4 host.
        addresses
            .entry(unmap_addr(f.remote.ip()))
            .or_default()
            .add(f.state);
        let port = PortKey {
            proto: f.proto,
            port: f.service_port(),
        };
        ports.entry(port).or_default().add(f.state);
        states.entry(f.state).or_default().add(f.state);
    }
    // Networks and countries roll the address table up: one step per distinct address,
    // not per connection.
    let mut nets: [HashMap<Prefix, Counts>; 4] = Default::default();
    let mut countries: HashMap<Option<Country>, Counts> = HashMap::new();
    for (ip, c) in &addresses {
        let lens: [(usize, u8); 2] = if ip.is_ipv4() {
            [(0, 24), (1, 16)]
        } else {
            [(2, 64), (3, 48)]
        };
        for (table, len) in lens {
            let net = Prefix::new(*ip, len).expect("length within the family");
            merge(nets[table].entry(net).or_default(), c);
        }
        if let Some(geo) = geo {
            merge(countries.entry(geo(*ip)).or_default(), c);
        }
    }
    let [n24, n16, n64, n48] = nets;
    Section {
        total,
        addresses: rank(addresses, top),
        nets24: rank(n24, top),
        nets16: rank(n16, top),
        nets64: rank(n64, top),
        nets48: rank(n48, top),
        countries: rank(countries, top),
        ports: rank(ports, top),
        states: rank(states, top),
    }
}

fn merge(into: &mut Counts, c: &Counts) {
    into.total += c.total;
    into.established += c.established;
    into.syn_recv += c.syn_recv;
    into.time_wait += c.time_wait;
}

/// The top `top` rows by connections, ties broken by key (so a report is deterministic).
fn rank<K: Ord + Hash + Eq>(counts: HashMap<K, Counts>, top: usize) -> Table<K> {
    let distinct = counts.len();
    let mut rows: Vec<Row<K>> = counts
        .into_iter()
        .map(|(key, counts)| Row { key, counts })
        .collect();
    let order =
        |a: &Row<K>, b: &Row<K>| b.counts.total.cmp(&a.counts.total).then(a.key.cmp(&b.key));
    if rows.len() > top {
        if top > 0 {
            rows.select_nth_unstable_by(top - 1, order);
        }
        rows.truncate(top);
    }
    rows.sort_by(order);
    Table { rows, distinct }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_prefix::PrefixMapBuilder;

    fn flow(remote: &str, state: State, direction: Direction) -> Flow {
        Flow {
            proto: Proto::Tcp,
            local: "198.51.100.1:443".parse().unwrap(),
            remote: remote.parse().unwrap(),
            state,
            direction,
            nat: false,
        }
    }

    #[test]
    fn counts_per_address_network_country_port_and_state() {
        let mut flows = Vec::new();
        for i in 0..5 {
            flows.push(flow(
                &format!("192.0.2.7:{}", 1000 + i),
                State::Established,
                Direction::Incoming,
            ));
        }
        for i in 0..3 {
            flows.push(flow(
                &format!("192.0.2.{}:2000", 20 + i),
                State::SynRecv,
                Direction::Incoming,
            ));
        }
        flows.push(flow("192.0.3.1:3000", State::TimeWait, Direction::Incoming));
        flows.push(flow(
            "[2001:db8:1:2::5]:4000",
            State::Established,
            Direction::Incoming,
        ));
        flows.push(flow(
            "[2001:db8:1:3::5]:4000",
            State::Established,
            Direction::Incoming,
        ));
        flows.push(flow(
            "203.0.113.5:25",
            State::Established,
            Direction::Outgoing,
        ));
        let mut geo = PrefixMapBuilder::new();
        geo.insert("192.0.2.0/24".parse().unwrap(), Country::new("FR").unwrap());
        geo.insert(
            "2001:db8::/32".parse().unwrap(),
            Country::new("NL").unwrap(),
        );
        let geo = geo.build();
        let r = summarize(&flows, Some(&|ip| geo.get(ip).copied()), 2);

        let inc = &r.incoming;
        assert_eq!(
            inc.total,
            Counts {
                total: 11,
                established: 7,
                syn_recv: 3,
                time_wait: 1
            }
        );
        let keys = |t: &Table<IpAddr>| -> Vec<(String, usize)> {
            t.rows
                .iter()
                .map(|r| (r.key.to_string(), r.counts.total))
                .collect()
        };
        assert_eq!(
            keys(&inc.addresses),
            [("192.0.2.7".into(), 5), ("192.0.2.20".into(), 1)]
        );
        assert_eq!(inc.addresses.distinct, 7);
        let nets = |t: &Table<Prefix>| -> Vec<(String, usize)> {
            t.rows
                .iter()
                .map(|r| (r.key.to_string(), r.counts.total))
                .collect()
        };
        assert_eq!(
            nets(&inc.nets24),
            [("192.0.2.0/24".into(), 8), ("192.0.3.0/24".into(), 1)]
        );
        assert_eq!(nets(&inc.nets16), [("192.0.0.0/16".into(), 9)]);
        assert_eq!(nets(&inc.nets64).len(), 2);
        assert_eq!(nets(&inc.nets48), [("2001:db8:1::/48".into(), 2)]);
        assert_eq!(inc.nets24.rows[0].counts.syn_recv, 3);
        let countries: Vec<_> = inc
            .countries
            .rows
            .iter()
            .map(|r| (r.key.map(|c| c.to_string()), r.counts.total))
            .collect();
        assert_eq!(countries, [(Some("FR".into()), 8), (Some("NL".into()), 2)]);
        assert_eq!(inc.countries.distinct, 3, "FR, NL and unknown (192.0.3.1)");
        assert_eq!(inc.ports.rows[0].key.to_string(), "443/tcp");
        assert_eq!(inc.states.rows[0].key, State::Established);
        assert_eq!(r.outgoing.ports.rows[0].key.port, 25);
        assert_eq!(r.total.total, 12);
        assert_eq!(r.forwarded.total.total, 0);
    }

    #[test]
    fn ranking_is_deterministic_and_top_zero_keeps_counts() {
        let flows: Vec<Flow> = (0..50)
            .map(|i| {
                flow(
                    &format!("192.0.2.{i}:1"),
                    State::Established,
                    Direction::Incoming,
                )
            })
            .collect();
        let r = summarize(&flows, None, 3);
        let keys: Vec<String> = r
            .incoming
            .addresses
            .rows
            .iter()
            .map(|r| r.key.to_string())
            .collect();
        assert_eq!(keys, ["192.0.2.0", "192.0.2.1", "192.0.2.2"]);
        let none = summarize(&flows, None, 0);
        assert!(none.incoming.addresses.rows.is_empty());
        assert_eq!(
            (none.incoming.addresses.distinct, none.incoming.total.total),
            (50, 50)
        );
        assert!(none.incoming.countries.rows.is_empty());
    }
}
