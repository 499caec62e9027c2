//! `rampart check`: seed commands parse; bad input fails with place, token and hint.

use crate::util::{rampart, rampart_stdin};

#[test]
fn every_seed_command_of_the_issue_parses() {
    let out = rampart(&["check", "testdata/seed-commands.sh"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "testdata/seed-commands.sh: ok, 37 rules, 1 sets\n"
    );
}

#[test]
fn every_example_parses() {
    let examples: Vec<String> = std::fs::read_dir(crate::util::root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .map(|p| format!("examples/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    assert!(examples.len() >= 8);
    let mut args = vec!["check"];
    args.extend(examples.iter().map(String::as_str));
    let out = rampart(&args);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn pasted_typography_is_an_error_naming_the_character() {
    let pasted = "iptables -A INPUT -s 203.0.113.0/24 -m comment –comment “China IP” -j DROP\n";
    let out = rampart_stdin(&["check", "-"], pasted);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "<stdin>:1:48: found '–' (U+2013 EN DASH) where ASCII `--` belongs (text pasted from a web page?)\n  \
         | iptables -A INPUT -s 203.0.113.0/24 -m comment –comment “China IP” -j DROP\n  \
         |                                                ^\n  \
         = hint: replace it with `--`, or pass --lenient to repair such characters\n"
    );
    assert_eq!(out.stdout, "<stdin>: 1 error(s), nothing loaded\n");
}

#[test]
fn lenient_repairs_and_reports_each_repair() {
    let pasted = "iptables -A INPUT -s 203.0.113.0/24 -m comment –comment “China IP” -j DROP\n";
    let out = rampart_stdin(&["show", "--lenient", "-"], pasted);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "repaired: <stdin>:1:48: read '–' (U+2013 EN DASH) as `--`\n\
         repaired: <stdin>:1:57: read '“' (U+201C LEFT DOUBLE QUOTATION MARK) as `\"`\n\
         repaired: <stdin>:1:66: read '”' (U+201D RIGHT DOUBLE QUOTATION MARK) as `\"`\n"
    );
    assert!(out
        .stdout
        .contains("-A INPUT -s 203.0.113.0/24 -m comment --comment \"China IP\" -j DROP\n"));
}

#[test]
fn unsupported_things_are_named_and_all_errors_reported() {
    let script = "iptables -A INPUT -p tcp -m geoip --src-cc CN -j DROP\n\
                  iptables -A INPUT --dport 22 -j ACCEPT\n\
                  iptables -A INPUT -j ACCEPT\n";
    let out = rampart_stdin(&["check", "--json", "-"], script);
    assert_eq!(out.code, 1);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let errors = report[0]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert!(errors[0]
        .as_str()
        .unwrap()
        .starts_with("<stdin>:1:29: unsupported match module `geoip`"));
    assert!(errors[1]
        .as_str()
        .unwrap()
        .contains("hint: add `-p tcp` (or `-p udp`) before `--dport`"));
    assert_eq!(report[0]["ok"], false);
}

#[test]
fn help_on_every_subcommand() {
    for sub in ["trace", "show", "check", "completions", "man"] {
        let out = rampart(&[sub, "--help"]);
        assert_eq!(out.code, 0, "{sub} --help: {}", out.stderr);
        assert!(out.stdout.contains("Usage: rampart"), "{sub}");
    }
    let out = rampart(&["completions", "bash"]);
    assert!(out.stdout.contains("_rampart()"));
    let out = rampart(&["man"]);
    assert!(out.stdout.starts_with(".ie"), "{}", &out.stdout[..40]);
    let dir = std::env::temp_dir().join(format!("rampart-man-{}", std::process::id()));
    let out = rampart(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for page in [
        "rampart.1",
        "rampart-trace.1",
        "rampart-block-add.1",
        "rampart-lab-demo.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page} missing or empty");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_reader_closing_the_pipe_early_is_not_an_error() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    // Far more output than a pipe holds, printed with `println!`, of which the reader
    // takes one line (`rampart ... | head -1`).
    let mut args = vec!["check", "--json"];
    args.extend(std::iter::repeat_n("examples/webserver.sh", 1500));
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(&args)
        .current_dir(crate::util::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "[\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// The review's loop (issue 15, finding 1): the kernel refuses it at load ("Too many
/// links"), so `check` does too, naming the chain path and underlining the rule.
const LOOP: &str = "iptables -N alpha\n\
                    iptables -N beta\n\
                    iptables -A INPUT -j alpha\n\
                    iptables -A alpha -j beta\n\
                    iptables -A beta -s 192.0.2.0/24 -j alpha\n";

const LOOP_ERROR: &str = "<stdin>:5:1: chain loop alpha → beta → alpha: the kernel refuses a chain that can reach itself\n  \
     | iptables -A beta -s 192.0.2.0/24 -j alpha\n  \
     | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n  \
     = hint: a match or RETURN before the jump does not help: the kernel refuses any loop a packet could follow; jump to a chain that does not lead back\n";

#[test]
fn issue_15_check_refuses_a_chain_loop() {
    let out = rampart_stdin(&["check", "-"], LOOP);
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr, LOOP_ERROR);
    assert_eq!(out.stdout, "<stdin>: 1 error(s), nothing loaded\n");
}

#[test]
fn issue_15_check_refuses_a_self_jump_and_too_deep_nesting() {
    let out = rampart_stdin(
        &["check", "-"],
        "iptables -N a\niptables -A INPUT -j a\niptables -A a -j a\n",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("<stdin>:3:1: chain loop a → a: "),
        "{}",
        out.stderr
    );
    // INPUT → c1 → … → c15: one level past rampart's 14.
    let mut script: String = (1..=15).map(|i| format!("iptables -N c{i}\n")).collect();
    script.push_str("iptables -A INPUT -j c1\n");
    for i in 1..15 {
        script.push_str(&format!("iptables -A c{i} -j c{}\n", i + 1));
    }
    let out = rampart_stdin(&["check", "-"], &script);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with(
            "<stdin>:30:1: jump to `c15` nests 15 chains below INPUT; the kernel allows 14\n"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn issue_15_a_loop_no_built_in_chain_reaches_loads_as_in_the_kernel() {
    let out = rampart_stdin(
        &["check", "-"],
        "iptables -N a\niptables -N b\niptables -A a -j b\niptables -A b -j a\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn issue_15_compile_and_apply_refuse_a_loop_before_nft() {
    // 2: the exit code of input refused while loading, before any compiling.
    let out = rampart_stdin(&["compile", "--script", "-"], LOOP);
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, format!("rampart: {LOOP_ERROR}"));
    // No nft on PATH: had the loop got past the check, apply would fail differently.
    let state = crate::util::root().join("target/cli-tests-issue-15-apply");
    let file = state.with_extension("sh");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, LOOP).unwrap();
    let out = crate::util::rampart_env(
        &["apply", "--script", file.to_str().unwrap()],
        &[
            ("PATH", "/nonexistent"),
            ("RAMPART_STATE_DIR", state.to_str().unwrap()),
        ],
    );
    // 2: apply's exit code for input it refuses before touching the kernel.
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let name = file.display().to_string();
    assert!(
        out.stderr
            .contains(&format!("{name}:5:1: chain loop alpha → beta → alpha")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("nft"), "{}", out.stderr);
}

/// Issue 15: hostile ruleset input costs bounded memory and output. `/dev/zero` (no line
/// end) is refused at the line limit, a large file at the size limit, both with the flag
/// that changes the limit; a hundred 100 KB lines of garbage with escape sequences give
/// twenty short, escaped errors and a count (two per line: the `;` ends a command), not the lines again (1,000 lines of 1 MB
/// wrote 2 GB to stderr).
#[test]
fn issue15_hostile_rulesets_are_bounded_and_escaped() {
    let out = rampart(&["check", "/dev/zero"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("/dev/zero: line 1 is longer than 65536 bytes"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--max-line-bytes"), "{}", out.stderr);
    assert!(out.stderr.len() < 1000, "{}", out.stderr.len());

    let dir =
        std::env::temp_dir().join(format!("rampart-cli-check-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("garbage.sh");
    let line = format!(
        "iptables -A INPUT -m \u{1b}]0;pwned\u{7} {}\n",
        "x".repeat(100_000)
    );
    std::fs::write(&file, line.repeat(100)).unwrap();
    let f = file.to_str().unwrap();
    let out = rampart(&["check", "--max-line-bytes", "200000", f]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        !out.stderr.contains('\u{1b}'),
        "escape sequences are escaped"
    );
    assert!(
        out.stderr.contains("\\u{1b}]0;pwned\\u{7}"),
        "{}",
        &out.stderr[..500]
    );
    assert!(
        out.stderr.len() < 20_000,
        "{} bytes of errors",
        out.stderr.len()
    );
    assert!(out.stderr.contains("... and 180 more"), "{}", out.stderr);
    assert!(
        out.stdout.contains("200 error(s), nothing loaded"),
        "{}",
        out.stdout
    );

    // The same file within the default line limit, and under a size limit.
    let out = rampart(&["check", f]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("line 1 is longer than 65536 bytes"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("\n  | iptables -A INPUT -m \\u{1b}]0;pwned\\u{7} xxx"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.len() < 1000, "{}", out.stderr);
    let out = rampart(&[
        "check",
        "--max-line-bytes",
        "200000",
        "--max-input-bytes",
        "300000",
        f,
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "input larger than 300000 bytes, the most rampart reads from one input (at line 3)"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--max-input-bytes"), "{}", out.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 15: `apply` digests its inputs before parsing them: that read is bounded too
/// (`apply --rules /dev/zero` read until memory ran out). Refused before any kernel work.
#[test]
fn issue15_apply_reads_its_inputs_within_the_limit() {
    let out = rampart(&[
        "apply",
        "--max-input-bytes",
        "1000000",
        "--rules",
        "/dev/zero",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "rampart: /dev/zero: input larger than 1000000 bytes, the most rampart reads from one input\n  \
         = hint: give --max-input-bytes N to read larger files\n"
    );
}

/// Issue 15: `apply` refuses a ruleset file another user could have changed (it becomes
/// the firewall), before any kernel work; `check` reads the same file.
#[test]
fn issue15_apply_refuses_a_ruleset_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("rampart-cli-apply-trust-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.join("fw.sh");
    std::fs::write(&file, "iptables -A INPUT -s 192.0.2.1 -j DROP\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let f = file.to_str().unwrap();
    let out = rampart(&["apply", "--script", f]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "refusing to load {f}: {f} is writable by group and others (mode 0666)"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("fix: chmod go-w {f}")),
        "{}",
        out.stderr
    );
    assert_eq!(rampart(&["check", f]).code, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 15: "5M valid rules should not take 4 GB". `check` of a 100,000-rule save file
/// (9 MB) runs with its data segment limited to 100 MB (`ulimit -d`, which since Linux 4.7
/// covers every private writable mapping, so the heap however it is allocated): about
/// 1 KB per rule with the text itself. It needed 150–200 MB when the lexer kept every
/// word of the file until the end (1.7 KB per rule); it needs 50–60 MB since it hands the
/// loader one command at a time. A memory bound, not a timing: the figures per rule are
/// in BENCHMARKS.md.
#[test]
fn issue15_check_of_many_rules_stays_within_a_memory_bound() {
    const RULES: usize = 100_000;
    const LIMIT_KB: usize = 100 * 1024;
    let dir = std::env::temp_dir().join(format!("rampart-cli-check-many-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("many.save");
    let mut text = String::from("*filter\n:INPUT ACCEPT [0:0]\n");
    for i in 0..RULES {
        text += &format!(
            "-A INPUT -s 192.0.2.{}/32 -p tcp -m tcp --dport 22 -m comment --comment \"r{i}\" -j DROP\n",
            i % 256
        );
    }
    text += "COMMIT\n";
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            &format!("ulimit -d {LIMIT_KB} && exec \"$0\" check \"$1\""),
            env!("CARGO_BIN_EXE_rampart"),
            file.to_str().unwrap(),
        ])
        .env(
            "RAMPART_STATE_DIR",
            crate::util::root().join("target/cli-tests-no-state-dir"),
        )
        .output()
        .expect("sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?} within {LIMIT_KB} KB of data: {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("ok, {RULES} rules")), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 14: a set used but defined nowhere is said (check used to say only "ok").
#[test]
fn issue_14_an_undefined_set_is_said() {
    let file = crate::util::root().join("target/cli-tests-issue-14-undefined-set.save");
    std::fs::write(
        &file,
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -m set --match-set blocked src -j DROP\n\
         -A INPUT -m set --match-set blocked src,dst -j DROP\nCOMMIT\n",
    )
    .unwrap();
    let out = rampart(&["check", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("note: set `blocked` is used by 2 rule(s) but not defined here"),
        "{}",
        out.stderr
    );
}

/// Issue 14, item 3: what iptables-restore 1.8.9 refuses but rampart reads (CRLF line ends,
/// `COMMIT ` with a blank) and what it loads but never matches (a reversed udp range) is
/// read, and said on standard error; the exit status stays 0.
#[test]
fn issue14_crlf_commit_blank_and_reversed_ranges_are_read_with_warnings() {
    let save = "*filter\r\n-A INPUT -p udp -m udp --dport 60000:29 -j NFQUEUE --queue-num 3\r\n\
                -A INPUT -p tcp --dp 22 -j TCPMSS --set-mss 1400\r\nCOMMIT \r\n";
    let out = rampart_stdin(&["check", "-"], save);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "<stdin>: ok, 2 rules, 0 sets\n");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stderr);
    assert!(
        lines[0].starts_with("<stdin>:1: CRLF (Windows) line endings"),
        "{}",
        out.stderr
    );
    assert!(
        lines[1].starts_with("<stdin>:2: udp port range `60000:29` can never match"),
        "{}",
        out.stderr
    );
    assert!(
        lines[2].starts_with("<stdin>:4: `COMMIT` followed by a blank"),
        "{}",
        out.stderr
    );
    let shown = rampart_stdin(&["show", "-"], save);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown
            .stdout
            .contains("-A INPUT -p tcp -m tcp --dport 22 -j TCPMSS --set-mss 1400\n"),
        "{}",
        shown.stdout
    );
}
