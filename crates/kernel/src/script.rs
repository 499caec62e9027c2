//! The shape of a table in nft syntax: which sets and chains it declares.
//!
//! Both the compiled script and `nft list table` output are one
//! `table inet rampart { ... }` block; this module reads just enough of either (a
//! brace-, string- and comment-aware scan) to plan a replace transaction and to compare
//! listings. It does not understand rules; nft does.

use crate::error::Error;

/// One `set`/`map` declared in a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetDecl {
    /// `set` or `map`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The declaration without elements: statements trimmed, whitespace collapsed,
    /// flag lists sorted, statements sorted.
    pub decl: Vec<String>,
    /// Whether the block lists elements (`elements = { ... }`).
    pub has_elements: bool,
}

/// What a table block declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableShape {
    /// Sets and maps, in order.
    pub sets: Vec<SetDecl>,
    /// Chain names, in order.
    pub chains: Vec<String>,
    /// Other named objects (`counter`, `quota`, `flowtable`, ...) as (kind, name).
    pub objects: Vec<(String, String)>,
}

impl TableShape {
    /// The set called `name`.
    pub fn set(&self, name: &str) -> Option<&SetDecl> {
        self.sets.iter().find(|s| s.name == name)
    }
}

/// A span of the text: (start, end) byte offsets.
type Span = (usize, usize);

/// Splits `text` into top-level statements; each block statement is returned with the
/// span of its body (inside the braces).
fn statements(text: &str, span: Span) -> Result<Vec<(String, Option<Span>)>, Error> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut head = String::new();
    let mut i = span.0;
    while i < span.1 {
        let c = b[i];
        match c {
            b'"' => {
                let end = skip_string(b, i, span.1)?;
                head.push_str(&text[i..end]);
                i = end;
                continue;
            }
            b'#' => {
                while i < span.1 && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' => {
                let close = matching(b, i, span.1)?;
                let h = collapse(&head);
                head.clear();
                out.push((h, Some((i + 1, close))));
                i = close + 1;
                continue;
            }
            b'}' => return Err(Error::Script(format!("unbalanced '}}' at byte {i}"))),
            b';' | b'\n' => {
                let h = collapse(&head);
                if !h.is_empty() {
                    // `elements = {` continues a statement across newlines: handled by '{'.
                    out.push((h, None));
                }
                head.clear();
            }
            _ => head.push(c as char),
        }
        i += 1;
    }
    let h = collapse(&head);
    if !h.is_empty() {
        out.push((h, None));
    }
    Ok(out)
}

fn skip_string(b: &[u8], start: usize, end: usize) -> Result<usize, Error> {
    let mut i = start + 1;
    while i < end {
        if b[i] == b'"' {
            return Ok(i + 1);
        }
        i += 1;
    }
    Err(Error::Script("unterminated string".into()))
}

fn matching(b: &[u8], open: usize, end: usize) -> Result<usize, Error> {
    let mut depth = 0usize;
    let mut i = open;
    while i < end {
        match b[i] {
            b'"' => {
                i = skip_string(b, i, end)?;
                continue;
            }
            b'#' => {
                while i < end && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(Error::Script("unbalanced '{'".into()))
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads a script that must be exactly one `table inet rampart { ... }` block (comments
/// and blank lines aside) and returns what it declares.
///
/// Anything else at top level (`flush ruleset`, another table, `delete ...`) is refused:
/// a rampart script may only describe rampart's table.
pub fn parse_table(text: &str) -> Result<TableShape, Error> {
    let top = statements(text, (0, text.len()))?;
    let mut body = None;
    for (head, block) in top {
        match (head.as_str(), block) {
            ("table inet rampart", Some(span)) if body.is_none() => body = Some(span),
            (h, _) => {
                return Err(Error::Script(format!(
                    "only one `table inet rampart {{ ... }}` block is allowed, found `{h}`"
                )))
            }
        }
    }
    let body = body.ok_or_else(|| Error::Script("no `table inet rampart` block".into()))?;
    let mut shape = TableShape::default();
    for (head, block) in statements(text, body)? {
        let mut words = head.split(' ');
        let kind = words.next().unwrap_or_default().to_string();
        let name = words
            .next()
            .unwrap_or_default()
            .trim_matches('"')
            .to_string();
        match (kind.as_str(), block) {
            ("chain", Some(_)) => shape.chains.push(name),
            ("set" | "map", Some(span)) => {
                let mut decl = Vec::new();
                let mut has_elements = false;
                for (stmt, inner) in statements(text, span)? {
                    if stmt.starts_with("elements") {
                        has_elements |= inner.is_some_and(|s| !text[s.0..s.1].trim().is_empty());
                        continue;
                    }
                    decl.push(normalise_decl(&stmt, inner.map(|s| &text[s.0..s.1])));
                }
                decl.sort();
                shape.sets.push(SetDecl {
                    kind,
                    name,
                    decl,
                    has_elements,
                });
            }
            ("flags" | "comment", None) => {}
            (_, Some(_)) => shape.objects.push((kind, name)),
            (h, None) => {
                return Err(Error::Script(format!(
                    "unexpected statement in table inet rampart: `{h}`"
                )))
            }
        }
    }
    Ok(shape)
}

fn normalise_decl(stmt: &str, inner: Option<&str>) -> String {
    let mut s = stmt.to_string();
    if let Some(flags) = s.strip_prefix("flags ") {
        let mut f: Vec<&str> = flags.split(',').map(str::trim).collect();
        f.sort_unstable();
        s = format!("flags {}", f.join(","));
    }
    if let Some(inner) = inner {
        s = format!("{s} {{ {} }}", collapse(inner));
    }
    s
}

/// Drops the "replace" preamble `rampart compile` prints for a standalone `nft -f`
/// (`table inet rampart {}` then `delete table inet rampart`): loading that would delete
/// our sets and their elements, so [`crate::apply`] builds its own transaction instead.
pub fn without_replace_preamble(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    for line in script.lines() {
        let t = collapse(line);
        if t == "table inet rampart {}" || t == "delete table inet rampart" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "table inet rampart {
\tset bans {
\t\ttype ipv4_addr
\t\tflags timeout
\t\telements = { 192.0.2.7 timeout 1h expires 59m59s984ms,
\t\t\t     192.0.2.8 }
\t}

\tset allow4 {
\t\ttype ipv4_addr
\t\tflags interval,timeout
\t}

\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tip saddr @bans drop
\t\tcounter packets 3 bytes 180 comment \"r2 {x}\"
\t\tquota 10 mbytes used 12 kbytes accept
\t}
}
";

    #[test]
    fn shape_of_a_listing() {
        let s = parse_table(LISTING).unwrap();
        assert_eq!(s.chains, vec!["input"]);
        assert_eq!(s.sets.len(), 2);
        assert!(s.set("bans").unwrap().has_elements);
        assert!(!s.set("allow4").unwrap().has_elements);
        assert_eq!(
            s.set("allow4").unwrap().decl,
            vec!["flags interval,timeout", "type ipv4_addr"]
        );
    }

    #[test]
    fn same_declaration_in_script_syntax() {
        let s = parse_table(
            "# compiled\ntable inet rampart {\n set allow4 { type ipv4_addr; flags timeout, interval; }\n chain input { type filter hook input priority 0; }\n}\n",
        )
        .unwrap();
        let l = parse_table(LISTING).unwrap();
        assert_eq!(s.set("allow4"), l.set("allow4"));
    }

    #[test]
    fn compile_output_loses_its_replace_preamble() {
        let s = "#!/usr/sbin/nft -f\ntable inet rampart {}\ndelete table inet rampart\ntable inet rampart {\n chain c { }\n}\n";
        let t = without_replace_preamble(s);
        assert_eq!(
            t,
            "#!/usr/sbin/nft -f\ntable inet rampart {\n chain c { }\n}\n"
        );
        assert!(parse_table(&t).is_ok());
        assert!(parse_table(s).is_err());
    }

    #[test]
    fn refuses_other_tables_and_commands() {
        for bad in [
            "flush ruleset\ntable inet rampart { }",
            "table inet rampart { }\ntable ip filter { }",
            "table inet other { }",
            "table inet rampart { }\ntable inet rampart { }",
        ] {
            assert!(parse_table(bad).is_err(), "{bad}");
        }
    }
}
