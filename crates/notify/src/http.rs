//! The webhook's HTTP/1.1 POST over TCP or TLS: one request per connection.

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::ClientConfig;

use crate::config::WebhookConfig;
use crate::tls::Stream;

/// Bytes of the answer read at most: only its status line matters.
const MAX_ANSWER: u64 = 64 << 10;

/// Why a POST failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// Connecting, TLS, writing or reading failed.
    #[error("webhook {url}: {source}")]
    Io {
        /// The endpoint.
        url: String,
        /// The error.
        source: io::Error,
    },
    /// The endpoint answered with a status other than 2xx.
    #[error("webhook {url}: answered `{status}`")]
    Status {
        /// The endpoint.
        url: String,
        /// The status line (at most 80 characters, escaped).
        status: String,
    },
}

/// POSTs `body` as `application/json`; Ok on a 2xx answer.
pub(crate) fn post(
    config: &WebhookConfig,
    tls: Option<&Arc<ClientConfig>>,
    body: &str,
) -> Result<(), HttpError> {
    let url = &config.url;
    let io = |source| HttpError::Io {
        url: url.to_string(),
        source,
    };
    let mut stream = Stream::connect(&url.host, url.port, config.timeout).map_err(io)?;
    if url.https {
        let tls = tls.ok_or_else(|| io(io::Error::other("TLS settings missing")))?;
        stream = stream.upgrade(tls, &url.host).map_err(io)?;
    }
    let host = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rampart-notify/{}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.path,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    for (name, value) in &config.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).map_err(io)?;
    stream.flush().map_err(io)?;
    // Read up to the end of the status line (or the bound): the rest is not needed.
    let mut answer = Vec::new();
    let mut limited = stream.take(MAX_ANSWER);
    let mut chunk = [0u8; 1024];
    while !answer.contains(&b'\n') {
        match limited.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            // A TLS peer closing without close_notify after a full answer is common.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !answer.is_empty() => break,
            Err(e) => return Err(io(e)),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or_default().trim_end();
    let code = status.split_ascii_whitespace().nth(1).unwrap_or_default();
    if status.starts_with("HTTP/1.") && code.len() == 3 && code.starts_with('2') {
        Ok(())
    } else {
        Err(HttpError::Status {
            url: url.to_string(),
            status: status
                .chars()
                .take(80)
                .flat_map(char::escape_debug)
                .collect(),
        })
    }
}
