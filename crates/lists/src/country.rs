//! [`Country`]: a two-letter country code.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ISO 3166-1 alpha-2 country code (`CN`), stored uppercase in two bytes.
///
/// Registry pseudo-codes such as `EU`, `AP` and `ZZ` are accepted: they occur in the data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Country([u8; 2]);

impl Country {
    /// The code from two ASCII letters of either case.
    pub fn new(code: &str) -> Option<Country> {
        match code.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII letters")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.as_str())
    }
}

impl FromStr for Country {
    type Err = String;
    fn from_str(s: &str) -> Result<Country, String> {
        Country::new(s).ok_or_else(|| format!("`{s}` is not a two-letter country code"))
    }
}

impl From<Country> for String {
    fn from(c: Country) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for Country {
    type Error = String;
    fn try_from(s: String) -> Result<Country, String> {
        s.parse()
    }
}
