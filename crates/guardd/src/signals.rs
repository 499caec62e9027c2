//! SIGTERM and SIGINT as a flag, without a signal handler (no unsafe code): the signals
//! are blocked in every thread and one thread waits for them with `sigwait`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::sys::signal::{SigSet, Signal};

/// Blocks SIGTERM and SIGINT in this thread (call it before starting any other, which
/// inherit the mask) and starts the thread that sets the returned flag when one arrives.
pub fn stop_flag() -> std::io::Result<Arc<AtomicBool>> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block().map_err(std::io::Error::from)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("guard signals".into())
        .spawn(move || {
            if set.wait().is_ok() {
                flag.store(true, Ordering::Relaxed);
            }
        })?;
    Ok(stop)
}
