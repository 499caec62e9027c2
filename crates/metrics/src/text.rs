//! The Prometheus text format 0.0.4: escaping and number rules for rendering, and a
//! bounded parser reading an exposition back.

use std::collections::BTreeMap;

use crate::registry::MetricKind;

/// Bytes of exposition [`parse`] accepts: 10,000 series of a few families fit in far less
/// than 16 MiB; beyond it, the text is not ours.
pub const MAX_EXPOSITION: usize = 16 << 20;

/// Escapes a `# HELP` text: backslash and newline.
pub(crate) fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Escapes a label value: backslash, double quote and newline.
pub(crate) fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Formats a sample value: Go's `+Inf`, `-Inf`, `NaN`; the shortest text that reads back.
pub(crate) fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

/// One sample line: a name (with its `_bucket`, `_sum`, `_count` suffix), its labels in
/// written order, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name.
    pub name: String,
    /// Label names and (unescaped) values.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// The samples, in written order.
    pub samples: Vec<Sample>,
    /// Each family's `# TYPE`.
    pub types: BTreeMap<String, MetricKind>,
    /// Each family's `# HELP`, unescaped.
    pub help: BTreeMap<String, String>,
}

impl Scrape {
    /// The value of the sample `name` whose labels include all of `labels` (the first
    /// such sample).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .map(|s| s.value)
    }
}

/// Why an exposition does not parse: the line (1-based), what is wrong, and the line's
/// start (at most 80 characters, escaped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("exposition line {line}: {what}: `{excerpt}`")]
pub struct ParseError {
    /// The line number, from 1 (0 for the whole text).
    pub line: usize,
    /// What is wrong.
    pub what: &'static str,
    /// The start of the offending line.
    pub excerpt: String,
}

fn excerpt(line: &str) -> String {
    line.chars().take(80).flat_map(char::escape_debug).collect()
}

/// Parses an exposition in the text format 0.0.4 (what [`crate::Registry::render`]
/// writes, and what other exporters write: timestamps are accepted and dropped).
///
/// # Errors
/// On text over [`MAX_EXPOSITION`] bytes or a malformed line.
pub fn parse(text: &str) -> Result<Scrape, ParseError> {
    if text.len() > MAX_EXPOSITION {
        return Err(ParseError {
            line: 0,
            what: "exposition larger than 16 MiB",
            excerpt: String::new(),
        });
    }
    let mut scrape = Scrape::default();
    for (i, line) in text.lines().enumerate() {
        let err = |what| ParseError {
            line: i + 1,
            what,
            excerpt: excerpt(line),
        };
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            if let Some(t) = rest.strip_prefix("TYPE ") {
                let (name, kind) = t
                    .trim()
                    .split_once(' ')
                    .ok_or_else(|| err("TYPE without a kind"))?;
                let kind = match kind.trim() {
                    "counter" => MetricKind::Counter,
                    "gauge" => MetricKind::Gauge,
                    "histogram" => MetricKind::Histogram,
                    _ => MetricKind::Other,
                };
                scrape.types.insert(name.to_owned(), kind);
            } else if let Some(h) = rest.strip_prefix("HELP ") {
                let (name, help) = h.split_once(' ').unwrap_or((h, ""));
                scrape.help.insert(
                    name.to_owned(),
                    unescape(help, false).ok_or_else(|| err("bad escape in HELP"))?,
                );
            }
            continue;
        }
        scrape.samples.push(parse_sample(line).map_err(err)?);
    }
    Ok(scrape)
}

fn parse_sample(line: &str) -> Result<Sample, &'static str> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("a sample must start with a metric name");
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(mut l) = rest.strip_prefix('{') {
        loop {
            l = l.trim_start_matches([' ', ',']);
            if let Some(after) = l.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = l.find('=').ok_or("label without `=`")?;
            let key = l[..eq].trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err("bad label name");
            }
            let v = l[eq + 1..]
                .trim_start()
                .strip_prefix('"')
                .ok_or("label value must be quoted")?;
            // The closing quote: the first one not escaped.
            let mut end = None;
            let mut escaped = false;
            for (j, c) in v.char_indices() {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(j);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let end = end.ok_or("unterminated label value")?;
            labels.push((
                key.to_owned(),
                unescape(&v[..end], true).ok_or("bad escape in label value")?,
            ));
            l = &v[end + 1..];
        }
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next().ok_or("sample without a value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| "value is not a number")?,
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| "timestamp is not an integer")?;
    }
    if fields.next().is_some() {
        return Err("text after the timestamp");
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn unescape(s: &str, quotes: bool) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            '"' if quotes => out.push('"'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escapes_and_timestamps() {
        let s = parse(
            "# HELP x A \\\\ b\n# TYPE x counter\nx{a=\"q\\\"\\n\\\\\",b=\"\"} 2 1700000000000\ny +Inf\n",
        )
        .unwrap();
        assert_eq!(s.types["x"], MetricKind::Counter);
        assert_eq!(s.help["x"], "A \\ b");
        assert_eq!(s.samples[0].labels[0], ("a".into(), "q\"\n\\".into()));
        assert_eq!(s.value("x", &[("b", "")]), Some(2.0));
        assert_eq!(s.value("y", &[]), Some(f64::INFINITY));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("ok 1\nbad{a=\"x} 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "exposition line 2: unterminated label value: `bad{a=\\\"x} 1`"
        );
        assert_eq!(parse("x one").unwrap_err().what, "value is not a number");
    }

    #[test]
    fn floats_read_back() {
        for v in [0.1, 1.0, -2.5, 1e-9, 12345678.9, f64::INFINITY] {
            assert_eq!(parse_sample(&format!("x {}", fmt_f64(v))).unwrap().value, v);
        }
    }
}
