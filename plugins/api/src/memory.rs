//! Sizes a user chooses (network widths, batch sizes, numbers of draws) are
//! checked against the memory this process may use before anything is
//! allocated, so that a typo ends in a message, not in an abort or the
//! out-of-memory killer.

use thiserror::Error;

/// A computation that would need more memory than is available.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{what} would need about {} of memory, but {} {}: {hint}", show(*.needed), show(*.available as f64), if *.available_known { "are available" } else { "is the most a process can address" })]
#[non_exhaustive]
pub struct MemoryError {
    /// What was asked for ("training this flow", "50000000000 draws").
    pub what: String,
    /// Bytes it would need (an estimate; may exceed `u64`).
    pub needed: f64,
    /// Bytes available.
    pub available: u64,
    /// Whether `available` was measured (else it is the address-space limit).
    pub available_known: bool,
    /// What to change.
    pub hint: String,
}

fn show(bytes: f64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    if bytes >= 1e6 * GIB {
        format!("{:.1e} GiB", bytes / GIB)
    } else if bytes >= GIB {
        format!("{:.1} GiB", bytes / GIB)
    } else {
        format!("{:.0} MiB", (bytes / (1024.0 * 1024.0)).ceil())
    }
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Bytes of memory this process may still allocate: the smaller of the
/// kernel's estimate of available memory (`MemAvailable`) and the room left
/// under a cgroup limit; `None` where neither can be read (not Linux).
pub fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        let line = t.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib.saturating_mul(1024))
    });
    // cgroup v2 (the process's own group, named in /proc/self/cgroup as
    // "0::/path", else the root), then v1: the limit minus what the group
    // already uses. v1 reports "no limit" as a number near 2^63.
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("0::").map(|p| format!("/sys/fs/cgroup{}", p.trim().trim_end_matches('/')))));
    let mut v2: Vec<String> = own.into_iter().collect();
    v2.push("/sys/fs/cgroup".into());
    let cgroup = v2
        .iter()
        .find_map(|dir| Some(read_u64(&format!("{dir}/memory.max"))?.saturating_sub(read_u64(&format!("{dir}/memory.current")).unwrap_or(0))))
        .or_else(|| {
            let limit = read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes").filter(|&l| l < 1 << 62)?;
            Some(limit.saturating_sub(read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0)))
        });
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Checks that `needed` bytes fit in the memory available now (or, where that
/// is unknown, in the address space).
///
/// # Errors
/// [`MemoryError`] saying how much would be needed, how much there is, and
/// `hint`.
pub fn check_memory(what: impl Into<String>, needed: f64, hint: impl Into<String>) -> Result<(), MemoryError> {
    let (available, known) = match available_bytes() {
        Some(a) => (a, true),
        None => (isize::MAX as u64, false),
    };
    if needed.is_finite() && needed <= available as f64 {
        return Ok(());
    }
    Err(MemoryError { what: what.into(), needed, available, available_known: known, hint: hint.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_requests_pass_and_huge_ones_say_how_much() {
        assert!(check_memory("a vector", 1024.0, "").is_ok());
        let e = check_memory("10^20 draws", 8e20, "ask for fewer").unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("10^20 draws would need about 7.5e11 GiB of memory, but ") && m.ends_with(": ask for fewer"), "{m}");
        assert!(check_memory("NaN bytes", f64::NAN, "").is_err());
        if cfg!(target_os = "linux") {
            assert!(available_bytes().is_some_and(|b| b > 0));
        }
    }
}
