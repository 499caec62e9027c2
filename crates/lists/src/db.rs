//! A country database of either kind, read within limits: the one reader behind
//! `rampart geo` and `rampart block country`.

use std::io::Read;

use rampart_prefix::{AddrRange, Prefix};

use crate::{Country, ImportErrors, ImportOptions, Imported, MmdbError};

/// A country database's networks: an `.mmdb` gives prefixes, a tor geoip file ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountryDb {
    /// From a MaxMind / DB-IP `.mmdb` file.
    Mmdb(Imported<(Prefix, Country)>),
    /// From a tor `geoip` / `geoip6` file.
    TorGeoip(Imported<(AddrRange, Country)>),
}

/// Why a country database was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CountryDbError {
    /// Reading it failed.
    #[error("cannot read {name}: {source}")]
    Io {
        /// The input's name.
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An `.mmdb` that cannot be read, or that is too large.
    #[error(transparent)]
    Mmdb(#[from] MmdbError),
    /// Not an `.mmdb`, and not a tor geoip file either.
    #[error("{errors}\n{name} is neither a .mmdb database nor a tor geoip file")]
    Text {
        /// The input's name.
        name: String,
        /// The lines the tor geoip reader refused.
        errors: ImportErrors,
    },
}

/// Reads a country database: at most `opts.max_bytes` (one byte more is refused, nothing
/// past it read), then an `.mmdb` when its metadata marker is there, else a tor geoip
/// file, each within `opts`' limits.
pub fn read_country_db(
    input: impl Read,
    name: &str,
    opts: ImportOptions,
) -> Result<CountryDb, CountryDbError> {
    let shown = rampart_safeio::escaped(name);
    let mut bytes = Vec::new();
    input
        .take(opts.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| CountryDbError::Io {
            name: shown.clone(),
            source,
        })?;
    if bytes.len() as u64 > opts.max_bytes {
        return Err(MmdbError::TooLarge {
            name: shown,
            limit: opts.max_bytes,
        }
        .into());
    }
    if crate::is_mmdb(&bytes) {
        return Ok(CountryDb::Mmdb(crate::read_mmdb_limited(
            bytes,
            name,
            opts.max_entries,
        )?));
    }
    crate::read_tor_geoip(&bytes[..], name, opts)
        .map(CountryDb::TorGeoip)
        .map_err(|errors| CountryDbError::Text {
            name: shown,
            errors,
        })
}
