//! The allocator of this test binary: the system's, refusing any single
//! allocation above [`LIMIT`]. The inputs of this suite are a few kilobytes,
//! so a reader that asks for more believed a size the file claims instead of
//! checking it against memory first: the refusal aborts the test binary with
//! Rust's "memory allocation of N bytes failed", and the suite fails.

use std::alloc::{GlobalAlloc, Layout, System};

/// The largest single allocation a reader may make in this suite (1 GiB).
pub const LIMIT: usize = 1 << 30;

/// [`System`], refusing allocations above [`LIMIT`].
pub struct Guard;

// SAFETY: every call is forwarded to `System` unchanged, or refused with a
// null pointer, which `GlobalAlloc` allows.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GUARD: Guard = Guard;
