//! Properties over arbitrary input (the parsers' fuzzing): no line makes a parser panic;
//! no user name, whatever its bytes, moves the address of an sshd line; the line reader
//! gives back exactly the input, in lines, however it is cut into reads.

use std::io::Read;
use std::net::IpAddr;

use proptest::prelude::*;
use rampart_logs::{Line, LineReader, Parsed, Source};

/// sshd's forms with a client-chosen user name, the address sshd wrote being 198.51.100.9.
const FORMS: &[&str] = &[
    "Invalid user {U} from 198.51.100.9 port 4711",
    "Failed password for invalid user {U} from 198.51.100.9 port 4711 ssh2",
    "Failed password for {U} from 198.51.100.9 port 4711 ssh2",
    "Failed publickey for {U} from 198.51.100.9 port 4711 ssh2: ED25519 SHA256:abc",
    "Connection closed by authenticating user {U} 198.51.100.9 port 4711 [preauth]",
    "Connection reset by invalid user {U} 198.51.100.9 port 4711 [preauth]",
    "Disconnected from invalid user {U} 198.51.100.9 port 4711 [preauth]",
    "error: maximum authentication attempts exceeded for invalid user {U} from 198.51.100.9 port 4711 ssh2 [preauth]",
    "error: PAM: Authentication failure for illegal user {U} from 198.51.100.9",
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.9  user={U}",
    "Dec  6 18:00:00 web1 sshd[1]: Invalid user {U} from 198.51.100.9 port 4711",
];

/// User names: any bytes but a newline (it would end the line), biased towards the
/// pieces of sshd's own suffixes.
fn user() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b" from ".to_vec()),
        Just(b" port 22".to_vec()),
        Just(b" ssh2".to_vec()),
        Just(b": ".to_vec()),
        Just(b" [preauth]".to_vec()),
        Just(b"192.0.2.1".to_vec()),
        Just(b"2001:db8::1".to_vec()),
        Just(b" rhost=".to_vec()),
        Just(b"invalid user ".to_vec()),
        proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..8),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn no_user_name_moves_the_address(u in user(), form in 0..FORMS.len()) {
        let (head, tail) = FORMS[form].split_once("{U}").unwrap();
        let line = [head.as_bytes(), &u, tail.as_bytes()].concat();
        let real: IpAddr = "198.51.100.9".parse().unwrap();
        match Source::Sshd.parse(&line) {
            Parsed::Event(e) => prop_assert_eq!(e.addr(), Some(real), "{}", String::from_utf8_lossy(&line)),
            other => prop_assert!(false, "{:?} for {}", other, String::from_utf8_lossy(&line)),
        }
    }

    #[test]
    fn no_line_makes_a_parser_panic(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        for s in Source::ALL {
            let _ = s.parse(&line);
        }
    }

    #[test]
    fn no_sshd_like_line_makes_a_parser_panic(u in user(), form in 0..FORMS.len(), cut in 0usize..200) {
        // Truncated and mangled forms of real lines.
        let (head, tail) = FORMS[form].split_once("{U}").unwrap();
        let mut line = [head.as_bytes(), &u, tail.as_bytes()].concat();
        line.truncate(cut.min(line.len()));
        for s in Source::ALL {
            let _ = s.parse(&line);
        }
    }

    #[test]
    fn the_line_reader_gives_back_the_input(
        input in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..3000),
        reads in proptest::collection::vec(1usize..700, 1..20),
        max in 1usize..400,
    ) {
        /// A reader returning at most the next of `reads` bytes per call.
        struct Chunked<'a> { data: &'a [u8], reads: Vec<usize>, i: usize }
        impl Read for Chunked<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.reads[self.i % self.reads.len()].min(buf.len()).min(self.data.len());
                self.i += 1;
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                Ok(n)
            }
        }
        let mut r = LineReader::with_max(Chunked { data: &input, reads, i: 0 }, max);
        let mut lines = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            lines.push(match l { Line::Text(t) => Ok(t.to_vec()), Line::Overlong(n) => Err(n) });
        }
        let tail = r.finish().map(|l| match l { Line::Text(t) => Ok(t.to_vec()), Line::Overlong(n) => Err(n) });
        // Expected: the input's lines, those over `max` as overlong.
        let mut want = Vec::new();
        let mut rest = &input[..];
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            want.push(if i > max { Err(i as u64 + 1) } else { Ok(rest[..i].to_vec()) });
            rest = &rest[i + 1..];
        }
        let want_tail = (!rest.is_empty()).then(|| if rest.len() > max { Err(rest.len() as u64) } else { Ok(rest.to_vec()) });
        prop_assert_eq!(lines, want);
        prop_assert_eq!(tail, want_tail);
        prop_assert_eq!(r.consumed(), input.len() as u64);
    }
}
