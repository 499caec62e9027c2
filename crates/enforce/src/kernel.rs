//! The kernel side: the block sets of `table inet rampart`, their elements over netlink
//! (one long-lived socket), their declarations through nft.

use std::net::IpAddr;
use std::time::Duration;

use rampart_block::{
    ban_set, flood_ban_limit, list_host_set, list_set, Layout, List, ListName, SetId,
    INGRESS_PREFIX, POLICY_TABLE,
};
use rampart_kernel::Nft;
use rampart_nfnl::{Element, Entry, SetClient, SetRef};

use crate::error::Error;
use crate::Progress;

/// The netlink name of a block set.
pub(crate) fn set_ref(id: &SetId) -> SetRef {
    SetRef::inet(&id.table, &id.set)
}

/// The block tables in the caller's network namespace: their sets' elements over
/// netlink (the socket is opened on first use and kept: a ban is then one `sendmsg` and
/// one `recv`), their declarations through nft.
#[derive(Debug)]
pub struct Kernel {
    nft: Nft,
    client: Option<SetClient>,
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel::new(Nft::new())
    }
}

impl Kernel {
    /// The kernel reached through `nft` (for declarations) and a netlink socket opened in
    /// the calling thread's namespace.
    pub fn new(nft: Nft) -> Kernel {
        Kernel { nft, client: None }
    }

    /// The netlink client, opened on first use.
    pub fn client(&mut self) -> Result<&mut SetClient, Error> {
        if self.client.is_none() {
            self.client = Some(SetClient::open()?);
        }
        Ok(self.client.as_mut().expect("opened"))
    }

    /// Whether the kernel has set `id`.
    pub fn has_set(&mut self, id: &SetId) -> bool {
        match self.client() {
            Ok(c) => c.info(&set_ref(id)).is_ok(),
            Err(_) => false,
        }
    }

    /// Creates the tables of `layout` whose sets are missing (one nft transaction; a
    /// table that is there is not touched, so its elements stay). Returns the tables
    /// created: their sets are empty.
    pub fn ensure(&mut self, layout: &Layout) -> Result<Vec<String>, Error> {
        let missing: Vec<_> = layout
            .tables()
            .into_iter()
            .filter(|t| {
                t.sets.iter().any(|s| {
                    !self.has_set(&SetId {
                        table: t.name.clone(),
                        set: s.name.clone(),
                    })
                })
            })
            .collect();
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        // Tables present but half-made are replaced; absent ones only declared.
        let mut present = Vec::new();
        for t in &missing {
            if self.table_exists(&t.name)? {
                present.push(t.name.clone());
            }
        }
        self.nft.load(&Layout::create_script(&missing, &present))?;
        Ok(missing.into_iter().map(|t| t.name).collect())
    }

    /// Whether the kernel has table `inet NAME`, asked over netlink (its declarations
    /// only): `nft list tables` reads every set element of every table first (8.9 s and
    /// 540 MB beside a million-entry list, measured).
    fn table_exists(&mut self, name: &str) -> Result<bool, Error> {
        Ok(self
            .client()?
            .table_shape(rampart_nfnl::Family::Inet, name)?
            .is_some())
    }

    /// Makes every existing block table's ingress chains those of `layout` (one per
    /// interface, dropping the table's sources): chains for interfaces no longer wanted
    /// are deleted, missing ones added, in one nft transaction. Returns the tables
    /// changed.
    pub fn sync_ingress(&mut self, layout: &Layout) -> Result<Vec<String>, Error> {
        let mut script = String::new();
        let mut changed = Vec::new();
        for table in layout.tables() {
            let Some(shape) = self
                .client()?
                .table_shape(rampart_nfnl::Family::Inet, &table.name)?
            else {
                continue;
            };
            let have: Vec<&str> = shape
                .chains
                .iter()
                .map(|c| c.name.as_str())
                .filter(|n| n.starts_with(INGRESS_PREFIX))
                .collect();
            let wanted: Vec<_> = table
                .chains
                .iter()
                .filter(|c| c.name.starts_with(INGRESS_PREFIX))
                .collect();
            let mut dirty = false;
            for old in &have {
                if !wanted.iter().any(|c| c.name == *old) {
                    script.push_str(&format!("delete chain inet {} {old}\n", table.name));
                    dirty = true;
                }
            }
            let missing: Vec<_> = wanted
                .into_iter()
                .filter(|c| !have.contains(&c.name.as_str()))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let part = rampart_nft::Table {
                    name: table.name.clone(),
                    sets: Vec::new(),
                    chains: missing,
                    helpers: Vec::new(),
                };
                let opts = rampart_nft::CompileOptions::new(&table.name, false);
                script.push_str(rampart_nft::emit(&part, &opts).text());
                dirty = true;
            }
            if dirty {
                changed.push(table.name);
            }
        }
        if !script.is_empty() {
            self.nft.load(&script)?;
        }
        Ok(changed)
    }

    /// Deletes the block tables of `layout` that the kernel has (the bans' and every
    /// stored list's): `rampart down`. Returns their names.
    pub fn remove_all(&mut self, layout: &Layout) -> Result<Vec<String>, Error> {
        let mut ours = Vec::new();
        for t in layout.tables() {
            if self.table_exists(&t.name)? {
                ours.push(t.name);
            }
        }
        if !ours.is_empty() {
            let script: String = ours
                .iter()
                .map(|t| format!("delete table inet {t}\n"))
                .collect();
            self.nft.load(&script)?;
        }
        Ok(ours)
    }

    /// Replaces `list`'s contents (its four sets: single addresses and networks, per
    /// family) in one netlink transaction: a flush of each set and the new elements. The
    /// kernel swaps the contents at commit, so no packet sees the list empty; a refusal
    /// keeps the old ones.
    pub fn reload(&mut self, list: &List, progress: &dyn Progress) -> Result<(), Error> {
        // One interval per range of the list, not per stored CIDR: the same addresses in
        // fewer kernel keys; a range of one address goes to the hash set.
        let mut els: [Vec<Element>; 4] = Default::default();
        for r in list.set().ranges() {
            let host = r.start() == r.end();
            let i = usize::from(!r.start().is_ipv4()) * 2 + usize::from(!host);
            els[i].push(Element::from(r));
        }
        let total = els.iter().map(Vec::len).sum();
        let name = &list.name;
        let sets = [
            set_ref(&list_host_set(name, true)),
            set_ref(&list_set(name, true)),
            set_ref(&list_host_set(name, false)),
            set_ref(&list_set(name, false)),
        ];
        let pairs: Vec<(&SetRef, &[Element])> = sets
            .iter()
            .zip(els.iter())
            .map(|(s, e)| (s, e.as_slice()))
            .collect();
        self.client()?
            .replace_sets(&pairs, &mut |n| progress.encoded(n, total, name))?;
        Ok(())
    }

    /// The set of list `name` a prefix belongs in: hosts or networks, by family.
    fn set_for(name: &ListName, p: &rampart_prefix::Prefix) -> SetId {
        if p.is_host() {
            list_host_set(name, p.is_ipv4())
        } else {
            list_set(name, p.is_ipv4())
        }
    }

    /// Adds prefixes that overlap nothing in list `name`'s sets. `Ok(false)`: the kernel
    /// refused (its elements differ from the store): the caller reloads.
    pub fn add_disjoint(
        &mut self,
        name: &ListName,
        prefixes: &[rampart_prefix::Prefix],
    ) -> Result<bool, Error> {
        let mut by_set: std::collections::BTreeMap<SetId, Vec<Element>> = Default::default();
        for p in prefixes {
            by_set
                .entry(Kernel::set_for(name, p))
                .or_default()
                .push(Element::from(*p));
        }
        for (set, els) in by_set {
            if self.client()?.merge(&set_ref(&set), &els, None).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Deletes exactly-stored prefixes from list `name`'s sets. `Ok(false)`: one was not
    /// there as an element: the caller reloads.
    pub fn delete_exact(
        &mut self,
        name: &ListName,
        prefixes: &[rampart_prefix::Prefix],
    ) -> Result<bool, Error> {
        for p in prefixes {
            let set = set_ref(&Kernel::set_for(name, p));
            if self.client()?.delete(&set, &[Element::from(*p)]).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Bans `addrs` for `ttl`: present afterwards with that timeout, whether or not they
    /// were banned before.
    pub fn ban(&mut self, addrs: &[IpAddr], ttl: Duration) -> Result<(), Error> {
        for v4 in [true, false] {
            let els: Vec<Element> = addrs
                .iter()
                .filter(|a| a.is_ipv4() == v4)
                .map(|a| Element::from(*a))
                .collect();
            if els.is_empty() {
                continue;
            }
            let set = set_ref(&ban_set(v4));
            self.client()?.upsert(&set, &els, Some(ttl))?;
        }
        Ok(())
    }

    /// Lifts the bans on `addrs` (absent ones are no error).
    pub fn unban(&mut self, addrs: &[IpAddr]) -> Result<(), Error> {
        for a in addrs {
            let c = self.client()?;
            // Absent: nothing to lift.
            let _ = c.delete(&set_ref(&ban_set(a.is_ipv4())), &[Element::from(*a)]);
        }
        Ok(())
    }

    /// The policy table's `[flood]` ban sets (`flood_NAME_4` / `_6`), from one set
    /// declaration dump; empty when no policy is applied.
    pub fn flood_ban_sets(&mut self) -> Result<Vec<SetId>, Error> {
        let shape = self
            .client()?
            .table_shape(rampart_nfnl::Family::Inet, POLICY_TABLE)?;
        Ok(shape
            .map(|s| s.sets)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| flood_ban_limit(&s.name).is_some())
            .map(|s| SetId {
                table: POLICY_TABLE.to_string(),
                set: s.name,
            })
            .collect())
    }

    /// Replaces the contents of set `id` with `addrs` in one transaction.
    pub fn replace_addrs(&mut self, id: &SetId, addrs: &[IpAddr]) -> Result<(), Error> {
        let els: Vec<Element> = addrs.iter().map(|a| Element::from(*a)).collect();
        Ok(self.client()?.replace(&set_ref(id), &els)?)
    }

    /// Every element of set `id`.
    pub fn elements(&mut self, id: &SetId) -> Result<Vec<Entry>, Error> {
        Ok(self.client()?.list(&set_ref(id))?)
    }

    /// Removes `ip` from set `id` (absent: no error).
    pub fn remove(&mut self, id: &SetId, ip: IpAddr) -> Result<(), Error> {
        let _ = self.client()?.delete(&set_ref(id), &[Element::from(ip)]);
        Ok(())
    }

    /// The element of set `id` holding `ip`, asked of the kernel for this one key.
    pub fn lookup(&mut self, id: &SetId, ip: IpAddr) -> Result<Option<Entry>, Error> {
        Ok(self.client()?.get(&set_ref(id), ip)?)
    }

    /// Re-adds timed bans (at boot, after a restore) with the time they have left.
    pub fn reban(&mut self, bans: &[(IpAddr, Duration)]) -> Result<(), Error> {
        for (a, left) in bans {
            self.client()?.merge(
                &set_ref(&ban_set(a.is_ipv4())),
                &[Element::from(*a)],
                Some(*left),
            )?;
        }
        Ok(())
    }
}
