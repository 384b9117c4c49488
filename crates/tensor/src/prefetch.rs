//! Software prefetch of the row a pass over a `[B, C, L]` buffer reads
//! next, when that row is far from the one it reads now.
//!
//! BatchNormalization's passes go channel by channel: each channel's `B`
//! rows lie `C·L` elements apart, one 4 KB row per page at 1,040 points,
//! so the hardware prefetcher, which follows a stream within a page,
//! starts cold on every row, and the first read of each channel stalls on
//! memory (`perf annotate` put a third of the forward pass's samples on
//! that load). The Fourier tiles' copies into padded rows read a channel
//! sample after sample, with the same stride. Row `(b, c + 1)` lies right
//! after row `(b, c)`, so while a normalization works on a channel's rows
//! in cache it can ask for the next channel's ([`prefetch_following`]);
//! a copy can ask for the row it copies next ([`prefetch_row`]). A prefetch is
//! a hint: it changes no value, only when a line arrives, so the bits stay
//! the same.

/// Bytes of a cache line on the x86-64 CPUs kymo runs on.
const LINE_BYTES: usize = 64;

/// Asks for row `row` of the `len`-long rows of `buffer` to be brought
/// into the second-level cache; a row past the buffer's end (the one after
/// the last sample's) is not asked for.
#[inline]
pub(crate) fn prefetch_row<T>(buffer: &[T], row: usize, len: usize) {
    if let Some(values) = buffer.get(row * len..(row + 1) * len) {
        prefetch_bytes(values.as_ptr().cast(), std::mem::size_of_val(values));
    }
}

/// Asks for the `row.len()` elements that follow `row` in memory (the next
/// channel's row of the same sample, in a `[B, C, L]` buffer) to be
/// brought into the second-level cache. Past the end of the buffer it asks
/// for lines nobody reads, which costs a few memory reads and no fault.
#[inline]
pub(crate) fn prefetch_following<T>(row: &[T]) {
    let bytes = std::mem::size_of_val(row);
    prefetch_bytes(row.as_ptr().cast::<i8>().wrapping_add(bytes), bytes);
}

/// Asks for the lines of the `bytes` bytes from `start`.
#[inline(always)]
fn prefetch_bytes(start: *const i8, bytes: usize) {
    for offset in (0..bytes).step_by(LINE_BYTES) {
        prefetch_line(start.wrapping_add(offset));
    }
}

/// One line into the second-level cache.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_line(address: *const i8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
    // SAFETY: a prefetch never faults or reads into the program, whatever
    // the address (Intel SDM, PREFETCHh: "a hint ... does not affect
    // program behavior"); the address is never dereferenced. SSE, which
    // the instruction needs, is part of every x86-64 CPU.
    unsafe { _mm_prefetch::<_MM_HINT_T1>(address) }
}

/// Elsewhere the hardware prefetcher is left to do its best.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn prefetch_line(_address: *const i8) {}

#[cfg(test)]
mod tests {
    use super::{prefetch_following, prefetch_row};

    /// A prefetch is only a hint: asking for the lines after the last row
    /// of a buffer (past its allocation), for an empty row, for a row past
    /// the end or one in the middle neither faults, panics nor changes a
    /// value.
    #[test]
    fn prefetching_past_the_end_or_of_nothing_reads_and_changes_nothing() {
        let values: Vec<f32> = (0..4 * 1040).map(|i| i as f32 * 0.5).collect();
        let before = values.clone();
        for (index, row) in values.chunks(1040).enumerate() {
            prefetch_following(row);
            prefetch_row(&values, index + 1, 1040);
        }
        prefetch_following(&values[values.len()..]);
        prefetch_row(&values, 9, 1040);
        prefetch_row::<f32>(&[], 0, 0);
        assert_eq!(values, before);
    }
}
