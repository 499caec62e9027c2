//! A small SMTP submission client (RFC 5321, 3207 STARTTLS, 4954 AUTH): one message per
//! connection, which is all a digest every few minutes needs.

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::ClientConfig;

use crate::config::{Security, SmtpConfig};
use crate::tls::Stream;

/// Bytes of one reply line read at most (RFC 5321 says 512; some servers write more).
const MAX_REPLY_LINE: usize = 2048;
/// Lines of one multi-line reply read at most (an EHLO lists a dozen extensions).
const MAX_REPLY_LINES: usize = 100;

/// Why a mail was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// Connecting, TLS or reading and writing failed.
    #[error("smtp {server}: {source}")]
    Io {
        /// `host:port`.
        server: String,
        /// The error.
        source: io::Error,
    },
    /// The server answered a command with an error code.
    #[error("smtp {server}: {command} refused: {code} {text}")]
    Refused {
        /// `host:port`.
        server: String,
        /// The command (without its arguments).
        command: &'static str,
        /// The reply code.
        code: u16,
        /// The reply's text (first line, at most 80 characters, escaped).
        text: String,
    },
    /// The server speaks something else, or lacks what the settings require.
    #[error("smtp {server}: {what}")]
    Protocol {
        /// `host:port`.
        server: String,
        /// What is wrong.
        what: String,
    },
}

struct Reply {
    code: u16,
    lines: Vec<String>,
}

struct Client<'a> {
    stream: Option<Stream>,
    buf: Vec<u8>,
    server: &'a str,
}

fn escape80(s: &str) -> String {
    s.chars().take(80).flat_map(char::escape_debug).collect()
}

impl Client<'_> {
    fn io(&self, source: io::Error) -> SmtpError {
        SmtpError::Io {
            server: self.server.to_owned(),
            source,
        }
    }

    fn protocol(&self, what: impl Into<String>) -> SmtpError {
        SmtpError::Protocol {
            server: self.server.to_owned(),
            what: what.into(),
        }
    }

    fn stream(&mut self) -> &mut Stream {
        self.stream
            .as_mut()
            .expect("the stream is only taken during STARTTLS")
    }

    fn read_line(&mut self) -> Result<String, SmtpError> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line);
                return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
            }
            if self.buf.len() > MAX_REPLY_LINE {
                return Err(self.protocol("reply line longer than 2048 bytes"));
            }
            let mut chunk = [0u8; 1024];
            let n = self.stream().read(&mut chunk).map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(self.io(io::ErrorKind::UnexpectedEof.into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn reply(&mut self) -> Result<Reply, SmtpError> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line()?;
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let sep = line.as_bytes().get(3).copied();
            let (Some(code), Some(b' ' | b'-') | None) = (code, sep) else {
                return Err(self.protocol(format!("not an SMTP reply: `{}`", escape80(&line))));
            };
            lines.push(line.get(4..).unwrap_or_default().to_owned());
            if sep != Some(b'-') {
                return Ok(Reply { code, lines });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(self.protocol("reply of more than 100 lines"));
            }
        }
    }

    /// Sends `line` (CRLF added) and reads the reply, which must have one of `ok` codes.
    /// `command` names it in errors; `shown` replaces the line there (credentials).
    fn command(
        &mut self,
        command: &'static str,
        line: &str,
        ok: &[u16],
    ) -> Result<Reply, SmtpError> {
        let mut out = Vec::with_capacity(line.len() + 2);
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        self.stream().write_all(&out).map_err(|e| self.io(e))?;
        self.stream().flush().map_err(|e| self.io(e))?;
        self.expect(command, ok)
    }

    fn expect(&mut self, command: &'static str, ok: &[u16]) -> Result<Reply, SmtpError> {
        let reply = self.reply()?;
        if !ok.contains(&reply.code) {
            return Err(SmtpError::Refused {
                server: self.server.to_owned(),
                command,
                code: reply.code,
                text: escape80(reply.lines.first().map_or("", String::as_str)),
            });
        }
        Ok(reply)
    }
}

/// Base64 (RFC 4648, with padding) for AUTH.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The message's lines with CRLF endings and dot-stuffing (RFC 5321 4.5.2).
fn data_block(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in message.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Sends one message (headers and body, `\n` line ends) to every recipient of `config`.
pub(crate) fn send(
    config: &SmtpConfig,
    tls: Option<&Arc<ClientConfig>>,
    hello: &str,
    message: &str,
) -> Result<(), SmtpError> {
    let server = format!("{}:{}", config.host, config.port);
    let mut c = Client {
        stream: None,
        buf: Vec::new(),
        server: &server,
    };
    let tcp = Stream::connect(&config.host, config.port, config.timeout).map_err(|e| c.io(e))?;
    c.stream = Some(tcp);
    let need_tls = || c_tls(tls, &server);
    if config.security == Security::Tls {
        let plain = c.stream.take().expect("just connected");
        c.stream = Some(
            plain
                .upgrade(need_tls()?, &config.host)
                .map_err(|e| c.io(e))?,
        );
    }
    c.expect("connect", &[220])?;
    let mut ehlo = c.command("EHLO", &format!("EHLO {hello}"), &[250])?;
    if config.security == Security::StartTls {
        if !ehlo
            .lines
            .iter()
            .any(|l| l.eq_ignore_ascii_case("STARTTLS"))
        {
            return Err(
                c.protocol("the server does not offer STARTTLS, which the settings require")
            );
        }
        c.command("STARTTLS", "STARTTLS", &[220])?;
        if !c.buf.is_empty() {
            // Text after the 220 was injected before the handshake (CVE-2011-0411 style).
            return Err(c.protocol("data sent before the TLS handshake; refusing"));
        }
        let plain = c.stream.take().expect("connected");
        c.stream = Some(
            plain
                .upgrade(need_tls()?, &config.host)
                .map_err(|e| c.io(e))?,
        );
        ehlo = c.command("EHLO", &format!("EHLO {hello}"), &[250])?;
    }
    if let Some(cred) = &config.credentials {
        let mechanisms: Vec<String> = ehlo
            .lines
            .iter()
            .filter_map(|l| {
                let upper = l.to_ascii_uppercase();
                upper
                    .strip_prefix("AUTH")
                    .map(|m| m.trim_start_matches(['=', ' ']).to_owned())
            })
            .flat_map(|m| {
                m.split_ascii_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        if mechanisms.iter().any(|m| m == "PLAIN") {
            let token = base64(format!("\0{}\0{}", cred.user, cred.password).as_bytes());
            c.command("AUTH PLAIN", &format!("AUTH PLAIN {token}"), &[235])?;
        } else if mechanisms.iter().any(|m| m == "LOGIN") {
            c.command("AUTH LOGIN", "AUTH LOGIN", &[334])?;
            c.command("AUTH LOGIN", &base64(cred.user.as_bytes()), &[334])?;
            c.command("AUTH LOGIN", &base64(cred.password.as_bytes()), &[235])?;
        } else {
            return Err(c.protocol(format!(
                "credentials are set but the server offers neither AUTH PLAIN nor LOGIN (offers: {})",
                escape80(&mechanisms.join(" "))
            )));
        }
    }
    c.command("MAIL FROM", &format!("MAIL FROM:<{}>", config.from), &[250])?;
    for to in &config.to {
        c.command("RCPT TO", &format!("RCPT TO:<{to}>"), &[250, 251])?;
    }
    c.command("DATA", "DATA", &[354])?;
    let block = data_block(message);
    c.stream().write_all(&block).map_err(|e| c.io(e))?;
    c.stream().flush().map_err(|e| c.io(e))?;
    c.expect("DATA", &[250])?;
    // The mail is accepted; a failed QUIT changes nothing.
    let _ = c.command("QUIT", "QUIT", &[221]);
    Ok(())
}

fn c_tls<'a>(
    tls: Option<&'a Arc<ClientConfig>>,
    server: &str,
) -> Result<&'a Arc<ClientConfig>, SmtpError> {
    tls.ok_or_else(|| SmtpError::Protocol {
        server: server.to_owned(),
        what: "TLS settings missing".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        // RFC 4648 section 10.
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (i, o) in cases {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn dot_stuffing() {
        assert_eq!(data_block("a\n.b\n..\nc"), b"a\r\n..b\r\n...\r\nc\r\n.\r\n");
    }
}
