//! Untranslatable constructs are errors, with exact text and the rule's place.

use crate::util::compile_text;

fn error_of(script: &str) -> String {
    match compile_text(script) {
        Ok(s) => panic!("compiled:\n{}", s.text()),
        Err(e) => e.to_string(),
    }
}
