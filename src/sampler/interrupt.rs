//! Ctrl-C (SIGINT) and SIGTERM during sampling: stop at the end of the
//! current iteration, with the chain and the sampler state saved together.
//!
//! While an [`InterruptGuard`] lives, the first SIGINT or SIGTERM only sets a
//! flag, which the sampling loop checks after every iteration: it then
//! flushes the rows it holds with the state of that same iteration and
//! returns [`Error::Interrupted`](crate::Error::Interrupted), so `--resume`
//! continues exactly where the run stopped. A second signal ends the process
//! at once, as it would without the guard. Outside sampling (emulator or flow
//! training, reports) the signals keep their default action: those phases
//! write their outputs atomically or are redone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static STOP: AtomicBool = AtomicBool::new(false);
/// Number of live guards (several runs may sample at once in one process) and
/// the dispositions of SIGINT and SIGTERM before the first one.
static GUARDS: Mutex<(usize, [usize; 2])> = Mutex::new((0, [0; 2]));

#[cfg(unix)]
const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// Catches SIGINT and SIGTERM while it lives (see the module docs).
#[derive(Debug)]
pub struct InterruptGuard(());

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    // No assert here: panicking is not async-signal-safe. `sig` is the number the
    // kernel delivered, so it is valid.
    // SAFETY: signal(2) is async-signal-safe; the next such signal kills.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}

impl InterruptGuard {
    /// Installs the handlers (the first guard does) and clears any earlier request.
    pub fn install() -> Self {
        let mut g = GUARDS.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 == 0 {
            STOP.store(false, Ordering::SeqCst);
            #[cfg(unix)]
            for (k, sig) in SIGNALS.into_iter().enumerate() {
                // SAFETY: the handler only stores to an atomic and calls signal(2),
                // both async-signal-safe. A signal the process was told to ignore
                // stays ignored. The disposition kept for `drop` is one signal(2)
                // returned, never SIG_ERR (asserted).
                unsafe {
                    let h = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                    let old = libc::signal(sig, h);
                    assert_ne!(old, libc::SIG_ERR, "signal({sig}) failed");
                    if old == libc::SIG_IGN {
                        libc::signal(sig, libc::SIG_IGN);
                    }
                    g.1[k] = old;
                }
            }
        }
        g.0 += 1;
        InterruptGuard(())
    }

    /// Whether a SIGINT or SIGTERM arrived since the first live guard was installed.
    pub fn requested(&self) -> bool {
        STOP.load(Ordering::SeqCst)
    }
}

impl Drop for InterruptGuard {
    /// The last guard restores the dispositions found by the first.
    fn drop(&mut self) {
        let mut g = GUARDS.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = g.0.saturating_sub(1);
        if g.0 == 0 {
            #[cfg(unix)]
            for (k, sig) in SIGNALS.into_iter().enumerate() {
                // SAFETY: restoring a disposition signal(2) returned in `install`,
                // which asserted it is not SIG_ERR.
                unsafe {
                    libc::signal(sig, g.1[k]);
                }
            }
        }
    }
}
