//! Helpers: examples, parsing, golden comparison.

use std::path::PathBuf;

use rampart_nft::{compile, CompileErrors, CompileOptions, NftScript};
use rampart_ruleset::{parse_script, ParseOptions, Ruleset, Source};

/// The repository's `examples/` directory.
pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// This crate's `tests/` directory.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Every `examples/NAME.sh`, by NAME, sorted.
pub fn example_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .expect("examples dir")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".sh")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// Parses a script text.
pub fn ruleset(name: &str, text: &str) -> Ruleset {
    let src = Source::new(name.to_string(), text.to_string());
    parse_script(&src, ParseOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .ruleset
}

/// Parses a script file.
pub fn ruleset_file(path: &std::path::Path) -> Ruleset {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ruleset(&path.display().to_string(), &text)
}

/// Compiles with default options.
pub fn compile_text(text: &str) -> Result<NftScript, CompileErrors> {
    compile(&ruleset("<test>", text), &CompileOptions::default())
}

/// The generated corpus: `tests/corpus.sh`, every match and target.
pub fn corpus() -> NftScript {
    let rs = ruleset_file(&tests_dir().join("corpus.sh"));
    compile(&rs, &CompileOptions::default()).unwrap_or_else(|e| panic!("corpus.sh: {e}"))
}

/// Compares `actual` with `tests/golden/NAME`, or rewrites it under `UPDATE_GOLDEN=1`.
pub fn golden(name: &str, actual: &str) {
    let path = tests_dir().join("golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_GOLDEN=1 cargo test -p rampart-nft",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs (UPDATE_GOLDEN=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
