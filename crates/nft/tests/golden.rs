//! Golden nft scripts: one per `examples/*.sh`, and the corpus of every match and target.

use rampart_nft::{compile, CompileOptions};

use crate::util::{corpus, example_names, examples_dir, golden, ruleset_file};

#[test]
fn every_example_has_a_golden_script() {
    let names = example_names();
    assert!(!names.is_empty());
    for name in names {
        let rs = ruleset_file(&examples_dir().join(format!("{name}.sh")));
        let script =
            compile(&rs, &CompileOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        golden(&format!("{name}.nft"), script.text());
        // Every model rule is in the provenance at least once, at a line holding a rule.
        let lines: Vec<&str> = script.text().lines().collect();
        assert_eq!(
            script
                .provenance()
                .iter()
                .map(|p| (
                    p.origin.family,
                    p.origin.table,
                    p.origin.chain.clone(),
                    p.origin.index
                ))
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            rs.rule_count(),
            "{name}"
        );
        for p in script.provenance() {
            assert!(
                lines[p.line - 1].contains("counter"),
                "{name}: line {}",
                p.line
            );
        }
    }
}

#[test]
fn corpus_golden() {
    golden("corpus.nft", corpus().text());
}
