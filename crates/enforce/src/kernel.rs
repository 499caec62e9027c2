//! The kernel side: the block sets of `table inet rampart`, their elements over netlink
//! (one long-lived socket), their declarations through nft.

use std::net::IpAddr;
use std::time::Duration;

use rampart_block::{set_name, Layout, List, ListName, BAN_SET_V4, BAN_SET_V6};
use rampart_kernel::{Nft, TABLE};
use rampart_nfnl::{Element, Entry, SetClient, SetRef};

use crate::error::Error;
use crate::Progress;

/// A set of our table.
pub(crate) fn set_ref(name: &str) -> SetRef {
    SetRef::inet(TABLE.1, name)
}

/// The timed-ban set for `addr`'s family.
pub(crate) fn ban_set(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() {
        BAN_SET_V4
    } else {
        BAN_SET_V6
    }
}

/// Our table's block sets in the caller's network namespace. The netlink socket is
/// opened on first use and kept: a ban is then one `sendmsg` and one `recv`.
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

    /// Whether our table has set `name`.
    pub fn has_set(&mut self, name: &str) -> bool {
        match self.client() {
            Ok(c) => c.info(&set_ref(name)).is_ok(),
            Err(_) => false,
        }
    }

    /// Makes the table hold the block sets and chains of `layout` when a set is missing
    /// (one nft transaction; elements of existing sets are kept).
    pub fn ensure(&mut self, layout: &Layout) -> Result<(), Error> {
        if layout.set_names().iter().all(|n| self.has_set(n)) {
            return Ok(());
        }
        self.nft.load(&layout.ensure_script(TABLE.1))?;
        Ok(())
    }

    /// Replaces `list`'s contents (both families) in one netlink transaction: a flush of
    /// each set and the new elements. The kernel swaps the contents at commit, so no
    /// packet sees the list empty; a refusal keeps the old ones.
    pub fn reload(&mut self, list: &List, progress: &dyn Progress) -> Result<(), Error> {
        // One interval per range of the list, not per stored CIDR: the same addresses in
        // fewer kernel keys, and the kernel's insert is what a big load waits for.
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for r in list.set().ranges() {
            if r.start().is_ipv4() {
                v4.push(Element::from(r))
            } else {
                v6.push(Element::from(r))
            }
        }
        let total = v4.len() + v6.len();
        let (s4, s6) = (
            set_ref(&set_name(&list.name, true)),
            set_ref(&set_name(&list.name, false)),
        );
        let name = &list.name;
        self.client()?
            .replace_sets(&[(&s4, &v4), (&s6, &v6)], &mut |n| {
                progress.encoded(n, total, name)
            })?;
        Ok(())
    }

    /// Adds prefixes that overlap nothing in list `name`'s sets. `Ok(false)`: the kernel
    /// refused (its elements differ from the store): the caller reloads.
    pub fn add_disjoint(
        &mut self,
        name: &ListName,
        prefixes: &[rampart_prefix::Prefix],
    ) -> Result<bool, Error> {
        for v4 in [true, false] {
            let els: Vec<Element> = prefixes
                .iter()
                .filter(|p| p.is_ipv4() == v4)
                .map(|p| Element::from(*p))
                .collect();
            if els.is_empty() {
                continue;
            }
            if self
                .client()?
                .merge(&set_ref(&set_name(name, v4)), &els, None)
                .is_err()
            {
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
            let set = set_ref(&set_name(name, p.is_ipv4()));
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
            let set = set_ref(if v4 { BAN_SET_V4 } else { BAN_SET_V6 });
            self.client()?.upsert(&set, &els, Some(ttl))?;
        }
        Ok(())
    }

    /// Lifts the bans on `addrs` (absent ones are no error).
    pub fn unban(&mut self, addrs: &[IpAddr]) -> Result<(), Error> {
        for a in addrs {
            let c = self.client()?;
            // Absent: nothing to lift.
            let _ = c.delete(&set_ref(ban_set(*a)), &[Element::from(*a)]);
        }
        Ok(())
    }

    /// The element of set `name` holding `ip`, asked of the kernel for this one key.
    pub fn lookup(&mut self, name: &str, ip: IpAddr) -> Result<Option<Entry>, Error> {
        Ok(self.client()?.get(&set_ref(name), ip)?)
    }

    /// Re-adds timed bans (at boot, after a restore) with the time they have left.
    pub fn reban(&mut self, bans: &[(IpAddr, Duration)]) -> Result<(), Error> {
        for (a, left) in bans {
            self.client()?
                .merge(&set_ref(ban_set(*a)), &[Element::from(*a)], Some(*left))?;
        }
        Ok(())
    }
}
