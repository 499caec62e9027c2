//! The part of `<security/pam_modules.h>` and `<security/_pam_types.h>` this module uses
//! (Linux-PAM 1.5). Hand-written: six functions and four structs do not justify a
//! bindgen build step or a dependency.

use std::ffi::{c_char, c_int, c_uint, c_void};

/// Opaque `pam_handle_t`.
#[repr(C)]
pub struct PamHandle {
    _private: [u8; 0],
}

/// `struct pam_message`.
#[repr(C)]
pub struct PamMessage {
    pub msg_style: c_int,
    pub msg: *const c_char,
}

/// `struct pam_response`.
#[repr(C)]
pub struct PamResponse {
    pub resp: *mut c_char,
    pub resp_retcode: c_int,
}

/// The conversation function type of `struct pam_conv`.
pub type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

/// `struct pam_conv`.
#[repr(C)]
pub struct PamConv {
    pub conv: Option<ConvFn>,
    pub appdata_ptr: *mut c_void,
}

pub const PAM_SUCCESS: c_int = 0;
pub const PAM_SERVICE_ERR: c_int = 3;
pub const PAM_SYSTEM_ERR: c_int = 4;
pub const PAM_AUTH_ERR: c_int = 7;
pub const PAM_CONV_ERR: c_int = 19;
pub const PAM_IGNORE: c_int = 25;

pub const PAM_CONV: c_int = 5;

pub const PAM_PROMPT_ECHO_OFF: c_int = 1;
pub const PAM_ERROR_MSG: c_int = 3;
pub const PAM_TEXT_INFO: c_int = 4;

/// `PAM_SILENT`: the application asks for no informational messages.
pub const PAM_SILENT: c_int = 0x8000;

#[link(name = "pam")]
extern "C" {
    pub fn pam_get_user(
        pamh: *mut PamHandle,
        user: *mut *const c_char,
        prompt: *const c_char,
    ) -> c_int;
    pub fn pam_get_item(
        pamh: *const PamHandle,
        item_type: c_int,
        item: *mut *const c_void,
    ) -> c_int;
    pub fn pam_fail_delay(pamh: *mut PamHandle, musec_delay: c_uint) -> c_int;
}
