//! What decides the GEMM's bits on this machine, by name.
//!
//! The `gemm` crate picks two things at run time: its microkernels from the
//! CPU's features (AVX-512 when kymo-tensor's `avx512` feature is on and the
//! CPU has it, else AVX2 with FMA, else scalar), and its blocking of the
//! summed dimension from the sizes of the CPU's caches. Both change the
//! order in which a product's terms are added, so the same seed gives the
//! same bits on two machines only when both agree. [`GemmConfiguration`]
//! names them, so that a test can pin bits per configuration and say which
//! configuration it is on.

use std::fmt;

/// One level of the cache hierarchy, as the GEMM sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLevel {
    /// Capacity in bytes.
    pub bytes: usize,
    /// Ways of associativity.
    pub associativity: usize,
    /// Line size in bytes.
    pub line_bytes: usize,
}

/// The GEMM's kernels and the caches it blocks for: two machines with the
/// same configuration give the same bits for the same seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmConfiguration {
    /// The microkernel family it dispatches to: `avx512f`, `fma`, `neon` or
    /// `scalar`.
    pub kernels: &'static str,
    /// L1 data, L2 and L3, as the GEMM reads them (its defaults when the
    /// CPU does not say).
    pub caches: [CacheLevel; 3],
}

impl GemmConfiguration {
    /// The configuration on this machine, in this build.
    pub fn current() -> Self {
        let info = *gemm_common::cache::CACHE_INFO;
        Self {
            kernels: kernels(),
            caches: info.map(|level| CacheLevel {
                bytes: level.cache_bytes,
                associativity: level.associativity,
                line_bytes: level.cache_line_bytes,
            }),
        }
    }
}

impl fmt::Display for GemmConfiguration {
    /// `avx512f L1 32K/8/64 L2 1024K/8/64 L3 32768K/16/64`: kernels, then
    /// each cache's KiB, ways and line bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kernels)?;
        for (level, cache) in self.caches.iter().enumerate() {
            write!(
                f,
                " L{} {}K/{}/{}",
                level + 1,
                cache.bytes / 1024,
                cache.associativity,
                cache.line_bytes
            )?;
        }
        Ok(())
    }
}

/// The microkernels `gemm` dispatches to, by the same test it makes
/// (`gemm-common`'s `init_gemm_fn`).
fn kernels() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if cfg!(feature = "avx512") && std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("fma") {
            return "fma";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            return "neon";
        }
    }
    "scalar"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_kernels_and_three_cache_levels() {
        let configuration = GemmConfiguration::current();
        let name = configuration.to_string();
        assert!(name.starts_with(configuration.kernels), "{name}");
        assert_eq!(name.matches(" L").count(), 3, "{name}");
        // Caches grow outwards on every CPU the GEMM knows.
        let [l1, l2, l3] = configuration.caches;
        assert!(l1.bytes > 0 && l1.bytes <= l2.bytes && l2.bytes <= l3.bytes);
        assert_eq!(configuration, GemmConfiguration::current());
    }
}
