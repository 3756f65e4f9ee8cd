//! Memory checks before large allocations.
//!
//! Sizes a user controls (walkers, iterations, draws, a target's dimension,
//! the shape a chain file claims) are checked against the memory this
//! process may use before anything is allocated, so that a size too large
//! for the machine ends in a message that says how much would be needed,
//! not in an abort or the out-of-memory killer.
//!
//! The memory available is the smallest of `MemAvailable` in
//! `/proc/meminfo` and what the process's cgroup (v2 `memory.max`, v1
//! `memory.limit_in_bytes`) still allows, as `seqcal_api` measures it for
//! every crate of the workspace. Where none of these can be read, only sizes
//! beyond the address space are refused.

use crate::{Error, Result};

/// The product of `factors` (saturating, so a product of huge sizes stays huge).
pub fn product(factors: &[usize]) -> u128 {
    factors.iter().fold(1u128, |acc, &f| acc.saturating_mul(f as u128))
}

/// Bytes of `elements` values of `size` bytes each.
pub fn bytes(elements: u128, size: usize) -> u128 {
    elements.saturating_mul(size as u128)
}

/// Memory this process may still allocate, in bytes, if it can be told
/// ([`seqcal_api::available_bytes`]: `MemAvailable` and the cgroup's room).
pub fn available() -> Option<u128> {
    seqcal_api::available_bytes().map(u128::from)
}

/// `n` bytes in the largest unit that keeps the number readable (`1.5 GiB`).
pub fn human(n: u128) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else if v >= 1024.0 {
        format!("{v:.3e} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Refuses `needed` bytes when they exceed the memory available; `what`
/// says what they are for ("64 walkers x 10^12 iterations"). The check and
/// its wording are [`seqcal_api::check_memory`]'s, as for plugins.
///
/// # Errors
/// [`Error::Memory`] naming what, how much it would need and how much there is.
pub fn require(needed: u128, what: impl FnOnce() -> String) -> Result<()> {
    seqcal_api::check_memory(what(), needed as f64, "use smaller sizes").map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_cannot_fit_and_names_the_size() {
        assert!(require(1024, || "a small buffer".into()).is_ok());
        let e = require(product(&[1 << 40, 1 << 30, 8]), || "a huge chain".into()).unwrap_err().to_string();
        assert!(e.starts_with("a huge chain would need about 8.8e12 GiB of memory, but ") && e.ends_with(": use smaller sizes"), "{e}");
        assert_eq!(product(&[usize::MAX, usize::MAX, usize::MAX]), u128::MAX);
        assert_eq!(human(1536), "1.5 KiB");
    }
}
