//! Safe wrappers over the PAM calls the module makes. Every `unsafe` block of the crate
//! besides the entry points is here.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

use crate::ffi::*;

/// A PAM handle received from libpam for the duration of one call.
pub struct Handle(pub *mut PamHandle);

impl Handle {
    /// The user being authenticated (`pam_get_user`, which may prompt for it).
    pub fn user(&self) -> Result<String, c_int> {
        let mut user: *const c_char = ptr::null();
        // SAFETY: `self.0` is the handle libpam passed to the entry point; `user` is a valid
        // out-pointer; a null prompt means libpam's default.
        let r = unsafe { pam_get_user(self.0, &mut user, ptr::null()) };
        if r != PAM_SUCCESS {
            return Err(r);
        }
        if user.is_null() {
            return Err(PAM_SERVICE_ERR);
        }
        // SAFETY: on success libpam returns a NUL-terminated string it owns, valid until
        // the item changes; we copy it at once.
        let s = unsafe { CStr::from_ptr(user) };
        s.to_str().map(str::to_owned).map_err(|_| PAM_SERVICE_ERR)
    }

    /// Asks libpam to delay a failed authentication by about `usec` microseconds
    /// (`pam_fail_delay`: libpam waits the longest delay any module asked for, randomised
    /// by up to a quarter, and only when the stack fails).
    pub fn fail_delay(&self, usec: u32) {
        // SAFETY: `self.0` is the handle libpam passed to the entry point; the call only
        // records the delay in it.
        let _ = unsafe { pam_fail_delay(self.0, usec) };
    }

    /// Sends one message and returns the reply (for prompts) through the application's
    /// conversation function.
    pub fn converse(&self, style: c_int, text: &str) -> Result<Option<Vec<u8>>, c_int> {
        let mut item: *const c_void = ptr::null();
        // SAFETY: valid handle and out-pointer; PAM_CONV yields a `struct pam_conv *`.
        let r = unsafe { pam_get_item(self.0, PAM_CONV, &mut item) };
        if r != PAM_SUCCESS || item.is_null() {
            return Err(PAM_CONV_ERR);
        }
        // SAFETY: libpam stores the `struct pam_conv` given to pam_start and returns a
        // pointer to it for PAM_CONV; it lives as long as the handle.
        let conv = unsafe { &*(item as *const PamConv) };
        let Some(f) = conv.conv else {
            return Err(PAM_CONV_ERR);
        };
        let text = CString::new(text.replace('\0', " ")).map_err(|_| PAM_SERVICE_ERR)?;
        let msg = PamMessage {
            msg_style: style,
            msg: text.as_ptr(),
        };
        let mut msgp: *const PamMessage = &msg;
        let mut resp: *mut PamResponse = ptr::null_mut();
        // SAFETY: one message, pointers valid for the call; the application allocates
        // `resp` with malloc (Linux-PAM convention) and we free it below.
        let r = unsafe { f(1, &mut msgp, &mut resp, conv.appdata_ptr) };
        if resp.is_null() {
            return if r == PAM_SUCCESS && style != PAM_PROMPT_ECHO_OFF {
                Ok(None)
            } else {
                Err(PAM_CONV_ERR)
            };
        }
        // SAFETY: `resp` points to one malloc'd `pam_response`; its `resp` field is null or
        // a malloc'd NUL-terminated string. Both are ours to free; the reply is wiped first
        // because it holds a password.
        let reply = unsafe {
            let s = (*resp).resp;
            let reply = if s.is_null() {
                None
            } else {
                let len = libc::strlen(s);
                let bytes = CStr::from_ptr(s).to_bytes().to_vec();
                ptr::write_bytes(s, 0, len);
                libc::free(s.cast());
                Some(bytes)
            };
            libc::free(resp.cast());
            reply
        };
        if r != PAM_SUCCESS {
            return Err(PAM_CONV_ERR);
        }
        Ok(reply)
    }
}

/// The module arguments (`argc`, `argv`) as strings; non-UTF-8 ones become `"\u{fffd}"`
/// and are refused by the option parser.
///
/// # Safety
/// `argv` must point to `argc` NUL-terminated strings (libpam guarantees this).
pub unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    if argv.is_null() || argc <= 0 {
        return Vec::new();
    }
    (0..argc as usize)
        .map(|i| {
            // SAFETY: `i < argc`, and the caller guarantees argv has argc valid entries.
            let p = unsafe { *argv.add(i) };
            if p.is_null() {
                return "\u{fffd}".to_string();
            }
            // SAFETY: each entry is a NUL-terminated string owned by libpam.
            unsafe { CStr::from_ptr(p) }
                .to_str()
                .unwrap_or("\u{fffd}")
                .to_string()
        })
        .collect()
}

/// Writes to syslog (authpriv), where sshd's PAM messages go, with control characters
/// escaped ([`log_line`]).
pub fn log(priority: c_int, msg: &str) {
    let m = log_line(msg);
    // SAFETY: a constant "%s" format and one NUL-terminated argument.
    unsafe { libc::syslog(libc::LOG_AUTHPRIV | priority, c"%s".as_ptr(), m.as_ptr()) };
}

/// The text of one log line: `msg` with control characters (newline, carriage return,
/// escape, NUL, ...) and backslashes escaped Rust-style (`\n`, `\u{1b}`, `\\`). Messages
/// carry the user name as the client sent it, which must not forge or split log lines.
fn log_line(msg: &str) -> CString {
    let mut line = String::from("pam_rampart_otp: ");
    for c in msg.chars() {
        if c.is_control() || c == '\\' {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    CString::new(line).expect("NUL is escaped")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15, finding 3: a user name (or anything else) with control characters cannot
    /// forge log lines: it stays on one line, escaped, and so does everything else.
    #[test]
    fn log_lines_escape_control_characters() {
        let user = "bob\nJan  1 00:00:00 host sshd[1]: Accepted password for root\r\x1b[2J\0";
        let line = log_line(&format!("{user}: one-time password refused"));
        let text = line.to_str().unwrap();
        assert_eq!(
            text,
            "pam_rampart_otp: bob\\nJan  1 00:00:00 host sshd[1]: Accepted password for \
             root\\r\\u{1b}[2J\\u{0}: one-time password refused"
        );
        assert!(!text.chars().any(char::is_control), "{text:?}");
        // A backslash is escaped too, so an escape in the log is never ambiguous.
        assert_eq!(
            log_line("a\\nb").to_str().unwrap(),
            "pam_rampart_otp: a\\\\nb"
        );
    }
}
