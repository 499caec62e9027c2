//! `rampart compile`.

use crate::util::{rampart, rampart_stdin, root};

/// The CLI prints exactly the compiler's golden script for every example.
#[test]
fn compile_prints_the_golden_script() {
    for name in ["webserver", "router", "syn-flood"] {
        let out = rampart(&["compile", "--script", &format!("examples/{name}.sh")]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let golden =
            std::fs::read_to_string(root().join(format!("crates/nft/tests/golden/{name}.nft")))
                .unwrap();
        assert_eq!(out.stdout, golden, "{name}");
    }
}

/// Untranslatable rules: nothing on stdout, each error with its line, exit 1.
#[test]
fn compile_refuses_untranslatable_rules() {
    let out = rampart_stdin(
        &["compile", "--script", "-"],
        "iptables -A INPUT -j ACCEPT\n\
         iptables -A INPUT -m recent --name ssh --update --seconds 60 --hitcount 4 -j DROP\n",
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "<stdin>:2:1: error: iptables -t filter INPUT rule 2 (line 2:1): `-m recent --hitcount` \
         has no nftables equivalent (sets keep no hit history); use a hashlimit rate limit\n\
         \x20 | iptables -A INPUT -m recent --name ssh --update --seconds 60 --hitcount 4 -j DROP\n\
         1 rule(s) cannot be compiled to nftables; nothing was printed\n"
    );
}
