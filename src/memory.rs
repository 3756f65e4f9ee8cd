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
//! `memory.limit_in_bytes`) still allows. Where none of these can be read,
//! only sizes no machine could hold (above 2^48 bytes) are refused.

use crate::{Error, Result};

/// Bytes no allocation may exceed when the available memory is unknown.
const UNKNOWN_LIMIT: u128 = 1 << 48;

/// The product of `factors` (saturating, so a product of huge sizes stays huge).
pub fn product(factors: &[usize]) -> u128 {
    factors.iter().fold(1u128, |acc, &f| acc.saturating_mul(f as u128))
}

/// Bytes of `elements` values of `size` bytes each.
pub fn bytes(elements: u128, size: usize) -> u128 {
    elements.saturating_mul(size as u128)
}

/// Memory this process may still allocate, in bytes, if it can be told.
pub fn available() -> Option<u128> {
    let mem = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines().find_map(|l| {
            l.strip_prefix("MemAvailable:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u128>().ok()).map(|kb| kb * 1024)
        })
    });
    let cgroup = cgroup_room();
    match (mem, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Room left under the cgroup's memory limit, when it has one.
fn cgroup_room() -> Option<u128> {
    let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|t| t.trim().parse::<u128>().ok());
    // cgroup v2: the process's own cgroup, from /proc/self/cgroup ("0::/path").
    let v2 = std::fs::read_to_string("/proc/self/cgroup").ok().and_then(|t| t.lines().find_map(|l| l.strip_prefix("0::").map(str::to_owned)));
    if let Some(rel) = v2 {
        let dir = format!("/sys/fs/cgroup{}", rel.trim());
        if let (Some(max), Some(cur)) = (read(&format!("{dir}/memory.max")), read(&format!("{dir}/memory.current"))) {
            return Some(max.saturating_sub(cur));
        }
    }
    match (read("/sys/fs/cgroup/memory/memory.limit_in_bytes"), read("/sys/fs/cgroup/memory/memory.usage_in_bytes")) {
        // v1 reports "no limit" as a huge number.
        (Some(max), Some(cur)) if max < (1 << 62) => Some(max.saturating_sub(cur)),
        _ => None,
    }
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
/// says what they are for ("64 walkers x 10^12 iterations").
///
/// # Errors
/// [`Error::Memory`] naming what, how much it needs and how much there is.
pub fn require(needed: u128, what: impl FnOnce() -> String) -> Result<()> {
    let (limit, known) = match available() {
        Some(a) => (a, true),
        None => (UNKNOWN_LIMIT, false),
    };
    if needed <= limit {
        return Ok(());
    }
    Err(Error::Memory(format!(
        "{} needs {} of memory but {}: use smaller sizes",
        what(),
        human(needed),
        if known { format!("only {} is available", human(limit)) } else { "no machine holds that much".to_string() }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_cannot_fit_and_names_the_size() {
        assert!(require(1024, || "a small buffer".into()).is_ok());
        let e = require(product(&[1 << 40, 1 << 30, 8]), || "a huge chain".into()).unwrap_err().to_string();
        assert!(e.starts_with("a huge chain needs 8.192e3 EiB of memory"), "{e}");
        assert_eq!(product(&[usize::MAX, usize::MAX, usize::MAX]), u128::MAX);
        assert_eq!(human(1536), "1.5 KiB");
    }
}
