//! [`Enforcer`]: every block-list and ban operation, store and kernel together.
//!
//! Each operation decides from the store (the source of truth) and asks the kernel only
//! what it needs: one key (`block test`), one set's declaration, one transaction. Nothing
//! here dumps a set, so every call costs the same with ten entries or a million.
//!
//! Order within an operation: validate (nothing changed on error) → kernel transaction →
//! store write. A crash between the two leaves the kernel ahead of the store; the next
//! `up`, `restore` or reload makes the kernel equal to the store again.

use std::net::IpAddr;
use std::time::Duration;

use rampart_block::{
    ban_set, list_host_set, list_set, list_table, Allowlist, Ban, Carved, Layout, List, ListName,
    ListSummary, Located, SetId, BANS_TABLE,
};
use rampart_kernel::StateDir;
use rampart_prefix::{Prefix, PrefixSet};
use serde::Serialize;

use crate::error::Error;
use crate::kernel::Kernel;
use crate::store::Store;

/// Progress of long work (a million-entry load), for a terminal's progress bar. Every
/// method has a default that does nothing.
pub trait Progress {
    /// A new step starts.
    fn step(&self, _what: &str) {}
    /// `n` of `total` intervals of list `list` encoded for the kernel (`n == total`:
    /// the kernel is committing).
    fn encoded(&self, _n: usize, _total: usize, _list: &ListName) {}
}

/// No progress shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

/// The store and the kernel of one host (or one network namespace).
#[derive(Debug)]
pub struct Enforcer {
    store: Store,
    kernel: Kernel,
}

/// What [`Enforcer::block`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Blocked {
    /// Prefixes newly blocked.
    pub added: Vec<Prefix>,
    /// Prefixes that were blocked already, and where.
    pub already: Vec<Located>,
    /// The list was reloaded whole in one transaction (an addition overlapped what it
    /// held, or the kernel's elements differed): its size after.
    pub reloaded: Option<usize>,
}

/// What [`Enforcer::unblock`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Unblocked {
    /// Lists changed, each with its size when it had to be reloaded whole.
    pub lists: Vec<(ListName, Option<usize>)>,
    /// Timed bans lifted.
    pub bans_lifted: Vec<IpAddr>,
}

/// What [`Enforcer::replace`] loaded.
#[derive(Debug, Clone, Serialize)]
pub struct Replaced {
    /// The list.
    pub list: ListName,
    /// Its sizes after.
    pub summary: ListSummary,
    /// Allowlisted addresses taken out of what was given, and why.
    pub carved: Vec<Carved>,
}

/// Where an address is blocked: the answer of `block test`.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The address.
    pub address: IpAddr,
    /// Whether the kernel drops it (or, when the kernel could not be asked, the store
    /// says it should).
    pub blocked: bool,
    /// The lists holding it.
    pub lists: Vec<ListHit>,
    /// Its timed ban, if one runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban: Option<BanHit>,
    /// Bans the kernel made by itself (`[flood]` limits of the policy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kernel_bans: Vec<KernelBan>,
    /// Whether the kernel could be asked.
    pub kernel_readable: bool,
}

/// One list holding an address.
#[derive(Debug, Clone, Serialize)]
pub struct ListHit {
    /// The list.
    pub list: String,
    /// The kernel set asked.
    pub set: String,
    /// The stored prefix covering the address.
    #[serde(serialize_with = "display")]
    pub prefix: Prefix,
    /// Its comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The kernel's element covering the address (`None`: not in the kernel, or not
    /// readable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_element: Option<String>,
}

/// A timed ban on an address.
#[derive(Debug, Clone, Serialize)]
pub struct BanHit {
    /// The stored record.
    #[serde(flatten)]
    pub ban: Ban,
    /// The kernel set.
    pub set: String,
    /// Seconds the kernel still holds it (`None`: not in the kernel, or not readable).
    pub kernel_expires_secs: Option<u64>,
}

/// A ban the kernel made from the packet path: a `[flood]` limit of the policy saw the
/// source cross it and added it to the limit's ban set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelBan {
    /// The source.
    pub addr: IpAddr,
    /// The `[[flood.limit]]` that banned it.
    pub limit: String,
    /// The set (`inet rampart flood_NAME_4`).
    pub set: String,
    /// Seconds left before the kernel lifts it.
    pub expires_secs: Option<u64>,
}

/// One list's line in `block lists`.
#[derive(Debug, Clone, Serialize)]
pub struct ListState {
    /// The list.
    pub name: String,
    /// Sizes, from the store.
    #[serde(flatten)]
    pub summary: ListSummary,
    /// Whether the kernel has both its sets (`None`: could not be asked).
    pub loaded: Option<bool>,
}

/// What [`Enforcer::restore`] loaded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Restored {
    /// Lists loaded, with their sizes.
    pub lists: Vec<(ListName, usize)>,
    /// Timed bans re-added with the time they have left.
    pub bans: usize,
}

/// The interfaces of `devices` this network namespace has (nft refuses a chain on an
/// absent one).
fn present_devices(devices: Vec<String>) -> Vec<String> {
    devices
        .into_iter()
        .filter(|d| nix::net::if_::if_nametoindex(d.as_str()).is_ok())
        .collect()
}

fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl Enforcer {
    /// The store under `state` and `kernel`.
    pub fn new(state: StateDir, kernel: Kernel) -> Enforcer {
        Enforcer {
            store: Store::new(state),
            kernel,
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The kernel side.
    pub fn kernel(&mut self) -> &mut Kernel {
        &mut self.kernel
    }

    /// The kernel layout for the stored lists plus `extra`.
    pub fn layout(&self, extra: Option<&ListName>) -> Result<Layout, Error> {
        let mut names = self.store.names()?;
        names.extend(extra.cloned());
        Ok(Layout::new(names).with_ingress(present_devices(self.store.ingress()?)))
    }

    /// Drops every list's and ban's sources also at the ingress hook of `devices` (none:
    /// only at input and forward), from now on and after every restore: recorded in the
    /// store, and the tables in the kernel changed in one transaction. Interfaces this
    /// host does not have are left out (and returned), and added when they exist at a
    /// later `up` or `restore`.
    pub fn set_early_drop(&mut self, devices: &[String]) -> Result<Vec<String>, Error> {
        // Nothing to record or undo: the store is not created for it.
        if devices.is_empty() && self.store.ingress()?.is_empty() {
            return Ok(Vec::new());
        }
        let _lock = self.store.lock_lists()?;
        self.store.set_ingress(devices)?;
        let layout = self.layout(None)?;
        let absent: Vec<String> = devices
            .iter()
            .filter(|d| !layout.ingress.contains(d))
            .cloned()
            .collect();
        if self.kernel.client().is_ok() {
            self.kernel.sync_ingress(&layout)?;
        }
        Ok(absent)
    }

    /// Bans `addrs` for `ttl` from `now` (seconds since the epoch), in the kernel (one
    /// transaction per family; a ban already running gets the new timeout) and in the
    /// store's journal. Loopback is refused always, other allowlisted addresses unless
    /// `force`.
    #[allow(clippy::too_many_arguments)]
    pub fn ban(
        &mut self,
        addrs: &[IpAddr],
        ttl: Duration,
        list: &ListName,
        comment: Option<&str>,
        allow: &Allowlist,
        force: bool,
        now: u64,
    ) -> Result<Vec<Ban>, Error> {
        let addrs: Vec<IpAddr> = addrs
            .iter()
            .map(|a| rampart_prefix::unmap_addr(*a))
            .collect();
        let hosts: Vec<Prefix> = addrs.iter().map(|a| Prefix::host(*a)).collect();
        check_allowed(allow, &hosts, force)?;
        if !(self.kernel.has_set(&ban_set(true)) && self.kernel.has_set(&ban_set(false))) {
            // Only the bans' table: the layout without lists.
            self.kernel.ensure(&Layout::default())?;
        }
        self.kernel.ban(&addrs, ttl)?;
        let bans: Vec<Ban> = addrs
            .iter()
            .map(|a| Ban {
                addr: *a,
                expires: now + ttl.as_secs().max(1),
                list: list.to_string(),
                comment: comment.map(str::to_string),
            })
            .collect();
        self.store.record_bans(&bans, now)?;
        Ok(bans)
    }

    /// Records `admins` (the admin's SSH sources) in the applied policy's
    /// `rampart_admin_4`/`_6` sets, which its `[flood]` limits skip; returns whether the
    /// policy has them (no `[flood]`: nothing to do).
    pub fn set_flood_admins(&mut self, admins: &[IpAddr]) -> Result<bool, Error> {
        let mut any = false;
        for v4 in [true, false] {
            let id = SetId {
                table: rampart_block::POLICY_TABLE.to_string(),
                set: rampart_block::flood_admin_set(v4),
            };
            if !self.kernel.has_set(&id) {
                continue;
            }
            any = true;
            let mine: Vec<IpAddr> = admins
                .iter()
                .map(|a| rampart_prefix::unmap_addr(*a))
                .filter(|a| a.is_ipv4() == v4)
                .collect();
            self.kernel.replace_addrs(&id, &mine)?;
        }
        Ok(any)
    }

    /// Every ban the policy's `[flood]` limits made in the kernel, set by set (one dump
    /// each; they are bounded by the limits' `meter_size`).
    pub fn kernel_bans(&mut self) -> Result<Vec<KernelBan>, Error> {
        let mut out = Vec::new();
        for id in self.kernel.flood_ban_sets()? {
            let Some((limit, _)) = rampart_block::flood_ban_limit(&id.set) else {
                continue;
            };
            let limit = limit.to_string();
            for entry in self.kernel.elements(&id)? {
                if let rampart_nfnl::Element::Prefix(p) = entry.element {
                    let addr = p.addr();
                    out.push(KernelBan {
                        addr,
                        limit: limit.clone(),
                        set: id.set.clone(),
                        expires_secs: entry.expires.map(|d| d.as_secs()),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The kernel bans holding `ip`: one lookup in each of `sets` (the `[flood]` ban
    /// sets, listed once by the caller) of its family.
    fn kernel_bans_of(&mut self, sets: &[SetId], ip: IpAddr) -> Result<Vec<KernelBan>, Error> {
        let mut out = Vec::new();
        for id in sets {
            let Some((limit, v4)) = rampart_block::flood_ban_limit(&id.set) else {
                continue;
            };
            if v4 != ip.is_ipv4() {
                continue;
            }
            if let Some(entry) = self.kernel.lookup(id, ip)? {
                out.push(KernelBan {
                    addr: ip,
                    limit: limit.to_string(),
                    set: id.set.clone(),
                    expires_secs: entry.expires.map(|d| d.as_secs()),
                });
            }
        }
        Ok(out)
    }

    /// Lifts the timed bans on `addrs`, the kernel's own (`[flood]`) included; returns the
    /// addresses that were banned.
    pub fn unban(&mut self, addrs: &[IpAddr], now: u64) -> Result<Vec<IpAddr>, Error> {
        let mut kernel_lifted = Vec::new();
        if self.kernel.client().is_ok() {
            let sets = self.kernel.flood_ban_sets()?;
            for a in addrs {
                let a = rampart_prefix::unmap_addr(*a);
                for ban in self.kernel_bans_of(&sets, a)? {
                    let id = SetId {
                        table: rampart_block::POLICY_TABLE.to_string(),
                        set: ban.set,
                    };
                    self.kernel.remove(&id, a)?;
                    kernel_lifted.push(a);
                }
            }
        }
        let current = self.store.bans()?;
        let lifted: Vec<Ban> = addrs
            .iter()
            .filter_map(|a| current.active(rampart_prefix::unmap_addr(*a), now))
            .map(|b| Ban {
                expires: 0,
                ..b.clone()
            })
            .collect();
        let mut ips: Vec<IpAddr> = lifted.iter().map(|b| b.addr).collect();
        self.kernel.unban(&ips)?;
        if !lifted.is_empty() {
            self.store.record_bans(&lifted, now)?;
        }
        for a in kernel_lifted {
            if !ips.contains(&a) {
                ips.push(a);
            }
        }
        Ok(ips)
    }

    /// Adds `prefixes` to list `list` (created if new): prefixes that overlap nothing in
    /// it go to the kernel as elements, one small transaction; an overlap reloads the list
    /// whole, in one transaction. Allowlisted prefixes are refused unless `force`
    /// (loopback always).
    pub fn block(
        &mut self,
        list: &ListName,
        prefixes: &[Prefix],
        comment: Option<&str>,
        allow: &Allowlist,
        force: bool,
        progress: &dyn Progress,
    ) -> Result<Blocked, Error> {
        check_allowed(allow, prefixes, force)?;
        let _lock = self.store.lock_lists()?;
        let mut l = self.store.load(list)?;
        // A table made just now is empty: a list stored before goes in whole.
        let fresh = self.ensure_list(list)? && !l.is_empty();
        let mut out = Blocked::default();
        let mut overlap = false;
        for p in prefixes {
            if let Some(at) = l.locate(p.addr()).filter(|_| l.set().contains_prefix(*p)) {
                out.already.push(at);
                continue;
            }
            overlap |= l.set().overlaps(*p);
            l.insert(*p, comment.map(str::to_string));
            out.added.push(*p);
        }
        if out.added.is_empty() {
            return Ok(out);
        }
        if fresh || overlap || !self.kernel.add_disjoint(list, &out.added)? {
            progress.step(&format!("reloading list {list}"));
            self.kernel.reload(&l, progress)?;
            out.reloaded = Some(l.len());
        }
        self.store.save(&l)?;
        Ok(out)
    }

    /// Removes `prefixes` from every list holding them (or only from `only`) and lifts
    /// timed bans on them.
    pub fn unblock(
        &mut self,
        prefixes: &[Prefix],
        only: Option<&ListName>,
        progress: &dyn Progress,
        now: u64,
    ) -> Result<Unblocked, Error> {
        let _lock = self.store.lock_lists()?;
        let names = match only {
            Some(n) if !self.store.exists(n) => return Err(Error::NoSuchList(n.to_string())),
            Some(n) => vec![n.clone()],
            None => self.store.names()?,
        };
        let mut out = Unblocked::default();
        for n in &names {
            let mut l = self.store.load(n)?;
            let exact: Vec<Prefix> = prefixes
                .iter()
                .copied()
                .filter(|p| l.has_exact(*p))
                .collect();
            let mut changed = false;
            for p in prefixes {
                changed |= l.remove(*p);
            }
            if !changed {
                continue;
            }
            let fresh = self.ensure_list(n)?;
            let fast =
                !fresh && exact.len() == prefixes.len() && self.kernel.delete_exact(n, &exact)?;
            let reloaded = if fast {
                None
            } else {
                self.kernel.reload(&l, progress)?;
                Some(l.len())
            };
            self.store.save(&l)?;
            out.lists.push((n.clone(), reloaded));
        }
        if only.is_none() {
            let hosts: Vec<IpAddr> = prefixes
                .iter()
                .filter(|p| p.is_host())
                .map(|p| p.addr())
                .collect();
            out.bans_lifted = self.unban(&hosts, now)?;
        }
        Ok(out)
    }

    /// Replaces list `list` with `set` less the allowlist (with `force`, less loopback
    /// only): kernel first (one transaction), then the store. Says what was carved out.
    pub fn replace(
        &mut self,
        list: &ListName,
        set: &PrefixSet,
        allow: &Allowlist,
        force: bool,
        progress: &dyn Progress,
    ) -> Result<Replaced, Error> {
        let (rest, carved) = allow.carve(set, force);
        let l = List::from_set(list.clone(), rest);
        let _lock = self.store.lock_lists()?;
        self.ensure_list(list)?;
        progress.step(&format!(
            "loading list {list} into the kernel ({} prefixes, one transaction)",
            l.len()
        ));
        self.kernel.reload(&l, progress)?;
        self.store.save(&l)?;
        Ok(Replaced {
            list: list.clone(),
            summary: l.summary(),
            carved,
        })
    }

    /// Where `ip` is blocked: one kernel lookup per list of its family and one for the
    /// bans; the store is read for comments (one scan of the list that holds it) and, when
    /// the kernel cannot be asked, for the answer itself.
    pub fn test(&mut self, ip: IpAddr, now: u64) -> Result<Verdict, Error> {
        let ip = rampart_prefix::unmap_addr(ip);
        let v4 = ip.is_ipv4();
        let mut out = Verdict {
            address: ip,
            blocked: false,
            lists: Vec::new(),
            ban: None,
            kernel_bans: Vec::new(),
            kernel_readable: true,
        };
        for n in self.store.names()? {
            let set = list_set(&n, v4).set;
            match self.list_lookup(&n, ip) {
                Ok(Some((id, entry))) => {
                    let set = id.set;
                    let prefix = entry
                        .element
                        .covering_prefix(ip)
                        .unwrap_or_else(|| Prefix::host(ip));
                    out.blocked = true;
                    out.lists.push(ListHit {
                        list: n.to_string(),
                        set,
                        prefix,
                        comment: self.store.locate(&n, ip)?.and_then(|at| at.comment),
                        kernel_element: Some(entry.element.to_string()),
                    });
                }
                Ok(None) => {}
                Err(_) => {
                    // Not readable (not root) or not loaded: answer from the store.
                    out.kernel_readable &= self.kernel.client().is_ok();
                    if let Some(at) = self.store.locate(&n, ip)? {
                        out.blocked |= !out.kernel_readable;
                        out.lists.push(ListHit {
                            list: at.list,
                            set,
                            prefix: at.prefix,
                            comment: at.comment,
                            kernel_element: None,
                        });
                    }
                }
            }
        }
        let id = ban_set(v4);
        let set = id.set.clone();
        let kernel_ban = self.kernel.lookup(&id, ip);
        let stored = self.store.bans()?.active(ip, now).cloned();
        let kernel_expires_secs = match &kernel_ban {
            Ok(Some(e)) => Some(e.expires.map_or(0, |d| d.as_secs())),
            _ => None,
        };
        if matches!(kernel_ban, Ok(Some(_))) {
            out.blocked = true;
        }
        let hits = self
            .kernel
            .flood_ban_sets()
            .and_then(|sets| self.kernel_bans_of(&sets, ip));
        if let Ok(hits) = hits {
            out.blocked |= !hits.is_empty();
            out.kernel_bans = hits;
        }
        if let Some(ban) = stored.or_else(|| {
            kernel_expires_secs.map(|s| Ban {
                addr: ip,
                expires: now + s,
                list: "(kernel only)".into(),
                comment: None,
            })
        }) {
            out.blocked |= kernel_ban.is_err();
            out.ban = Some(BanHit {
                ban,
                set,
                kernel_expires_secs,
            });
        }
        Ok(out)
    }

    /// The kernel's element of list `name` holding `ip` and the set it is in: the single
    /// addresses' hash set first, then the networks' interval set (one key each).
    fn list_lookup(
        &mut self,
        name: &ListName,
        ip: IpAddr,
    ) -> Result<Option<(rampart_block::SetId, rampart_nfnl::Entry)>, Error> {
        for id in [
            list_host_set(name, ip.is_ipv4()),
            list_set(name, ip.is_ipv4()),
        ] {
            if let Some(entry) = self.kernel.lookup(&id, ip)? {
                return Ok(Some((id, entry)));
            }
        }
        Ok(None)
    }

    /// Every list with its sizes (from the store's header lines) and whether the kernel
    /// has its sets (one declaration lookup each), and the count of running bans.
    pub fn lists(&mut self, now: u64) -> Result<(Vec<ListState>, usize), Error> {
        let readable = self.kernel.client().is_ok();
        let mut out = Vec::new();
        for n in self.store.names()? {
            let summary = match self.store.summary(&n)? {
                Some(s) => s,
                None => self.store.load(&n)?.summary(),
            };
            let loaded = readable.then(|| {
                self.kernel.has_set(&list_set(&n, true))
                    && self.kernel.has_set(&list_set(&n, false))
            });
            out.push(ListState {
                name: n.to_string(),
                summary,
                loaded,
            });
        }
        let bans = self.store.bans()?.active_count(now);
        Ok((out, bans))
    }

    /// Makes list `name`'s table exist; `true` when it was created just now (empty).
    fn ensure_list(&mut self, name: &ListName) -> Result<bool, Error> {
        let created = self.kernel.ensure(&Layout::new([name.clone()]))?;
        Ok(created.contains(&list_table(name)))
    }

    /// Brings back what the kernel lacks (at boot, after `up` following a `down`): every
    /// stored list whose table is missing is created and loaded, and when the bans'
    /// table is missing the bans still running are re-added with the time they have
    /// left. Tables that are there are not touched: one declaration lookup per set.
    pub fn restore(&mut self, progress: &dyn Progress, now: u64) -> Result<Restored, Error> {
        let mut out = Restored::default();
        if !self.store.in_use() {
            return Ok(out);
        }
        let layout = self.layout(None)?;
        let created = self.kernel.ensure(&layout)?;
        for n in &layout.lists {
            if !created.contains(&list_table(n)) {
                continue;
            }
            let l = self.store.load(n)?;
            progress.step(&format!("loading list {n} ({} prefixes)", l.len()));
            self.kernel.reload(&l, progress)?;
            out.lists.push((n.clone(), l.len()));
        }
        if created.iter().any(|t| t == BANS_TABLE) {
            let running: Vec<(IpAddr, Duration)> = self
                .store
                .bans()?
                .bans
                .values()
                .filter(|b| b.expires > now)
                .map(|b| (b.addr, Duration::from_secs(b.expires - now)))
                .collect();
            self.kernel.reban(&running)?;
            out.bans = running.len();
        }
        Ok(out)
    }

    /// Removes every block table from the kernel (`rampart down`); the store keeps the
    /// lists and bans for the next `up` or `restore`. Returns the tables removed.
    pub fn remove_from_kernel(&mut self) -> Result<Vec<String>, Error> {
        let layout = self.layout(None)?;
        self.kernel.remove_all(&layout)
    }
}

/// Refuses loopback always, and other allowlisted targets unless `force`.
fn check_allowed(allow: &Allowlist, targets: &[Prefix], force: bool) -> Result<(), Error> {
    if let Some(p) = targets.iter().find(|p| Allowlist::is_loopback(**p)) {
        return Err(Error::Loopback(*p));
    }
    let conflicts: Vec<_> = targets.iter().flat_map(|t| allow.conflicts(*t)).collect();
    if conflicts.is_empty() || force {
        return Ok(());
    }
    Err(Error::Allowlisted(conflicts))
}
