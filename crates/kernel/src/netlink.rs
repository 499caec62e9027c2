//! What the kernel holds of our table, over netlink (rampart-nfnl), in the network
//! namespace nft runs in: the ruleset generation and the table's shape (chains, set
//! declarations, rules with their fingerprints and counters), never a set element. With
//! ten thousand rules this costs milliseconds, where `nft list table` costs most of a
//! second and reads every set element (minutes with a million).

use std::path::PathBuf;

use rampart_nfnl::{Family, SetClient};

use crate::error::Error;
use crate::nft::Nft;
use crate::TABLE;

pub use rampart_nfnl::TableShape as KernelShape;

/// The kernel's state of our table at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The ruleset generation: any committed change anywhere moves it.
    pub generation: u32,
    /// The table, `None` when absent.
    pub shape: Option<KernelShape>,
}

impl Snapshot {
    /// A digest of the table's declarations and rules (counters left out): equal digests,
    /// same rules. `""` when the table is absent.
    pub fn digest(&self) -> String {
        self.shape.as_ref().map_or_else(String::new, digest)
    }
}

/// Runs `f` with a netlink client in the namespace `nft` runs in: the caller's, or, for
/// [`Nft::in_netns`], the named one (on a thread that enters it; the socket stays there).
fn with_client<T: Send>(
    nft: &Nft,
    f: impl FnOnce(&mut SetClient) -> Result<T, rampart_nfnl::Error> + Send,
) -> Result<T, Error> {
    let Some(ns) = nft.netns() else {
        let mut c = SetClient::open()?;
        return Ok(f(&mut c)?);
    };
    let path = PathBuf::from("/var/run/netns").join(ns);
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let file = std::fs::File::open(&path).map_err(|source| Error::State {
                    path: path.clone(),
                    source,
                })?;
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                    Error::State {
                        path: path.clone(),
                        source: e.into(),
                    }
                })?;
                let mut c = SetClient::open()?;
                Ok(f(&mut c)?)
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// The generation and our table's shape, read in one go.
pub fn snapshot(nft: &Nft) -> Result<Snapshot, Error> {
    with_client(nft, |c| {
        let generation = c.generation()?;
        let shape = c.table_shape(Family::Inet, TABLE.1)?;
        Ok(Snapshot { generation, shape })
    })
}

/// The ruleset generation alone.
pub fn generation(nft: &Nft) -> Result<u32, Error> {
    with_client(nft, |c| c.generation())
}

/// FNV-1a 64 over a canonical text of the shape: chains with their hooks, sets with
/// their declarations, rules in order with their fingerprints.
pub fn digest(shape: &KernelShape) -> String {
    let mut text = String::new();
    for c in &shape.chains {
        text.push_str(&format!("chain {} {:?}\n", c.name, c.hook));
    }
    for s in &shape.sets {
        text.push_str(&format!(
            "set {} {} {} {} {:?} {:?} {:?}\n",
            s.name, s.flags, s.key_type, s.key_len, s.data, s.timeout_ms, s.userdata
        ));
    }
    for r in &shape.rules {
        text.push_str(&format!(
            "rule {} {} {:x}\n",
            r.chain, r.position, r.fingerprint
        ));
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
