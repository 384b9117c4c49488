//! `Runtime`: where kymo's kernels run — a thread pool, the thread count
//! its kernels split work for, and whether a training step keeps the
//! pool's workers warm — and the thread policy every kernel asks.
//!
//! [`Runtime::global`] is rayon's global pool with the process's default
//! count: the machine's cores ([`std::thread::available_parallelism`]),
//! unless [`set_threads`] said otherwise. So an embedder's trainer uses
//! every core without calling anything. [`Runtime::new`] makes a runtime of
//! its own: a private pool whose workers read its thread count, so two
//! runtimes in one process (two tests, an embedder's two models) never see
//! each other's setting. The thread count never changes a result's bits:
//! kernels split only along independent rows, channels or fixed chunks,
//! and the GEMM never splits the summed dimension.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::TensorError;

thread_local! {
    /// The thread count of the runtime whose pool this thread belongs to.
    static POOL_THREADS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The process's default thread count, as [`set_threads`] set it; 0 means
/// the machine's cores.
static DEFAULT_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the thread count of [`Runtime::global`], the runtime every call
/// uses unless it runs inside a [`Runtime`] of its own: 1 keeps kernels on
/// the calling thread, 0 goes back to the machine's cores (the default).
///
/// A thin default for programs that pass a `--threads` flag; an embedder
/// who wants a count of their own makes a [`Runtime::new`] instead. Results
/// have the same bits whatever the count.
pub fn set_threads(threads: usize) {
    DEFAULT_THREADS.store(threads, Ordering::Relaxed);
}

/// The thread count kernels split for on the calling thread: its
/// runtime's, inside a private [`Runtime`], else the process default.
pub fn threads() -> usize {
    POOL_THREADS.get().unwrap_or_else(default_threads)
}

/// Runs `body` with the calling thread's kernels splitting for `threads`
/// (at least 1), then restores the count it had, even if `body` panics.
///
/// For work that is already split across a pool's workers at a coarser
/// grain, each worker with a share of its own (inference split by samples,
/// `kymo_train::predict_on`): with 1, every kernel inside runs on the
/// worker that called it instead of handing pieces to workers that are
/// busy with their own shares. Results have the same bits whatever the
/// count, as everywhere.
pub fn with_threads<R>(threads: usize, body: impl FnOnce() -> R) -> R {
    /// Puts the thread's count back when dropped.
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            POOL_THREADS.set(self.0);
        }
    }
    let _restore = Restore(POOL_THREADS.replace(Some(threads.max(1))));
    body()
}

/// The process default: [`set_threads`]'s count, or the machine's cores.
fn default_threads() -> usize {
    match DEFAULT_THREADS.load(Ordering::Relaxed) {
        0 => machine_cores(),
        set => set,
    }
}

/// The cores this process may use (1 when the platform cannot say), asked
/// once: the answer does not change while the process runs.
fn machine_cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Where kernels run: a thread pool, the thread count its kernels split
/// work for, and whether training steps keep its workers warm. Results
/// have the same bits whatever the thread count.
///
/// ```
/// use kymo_tensor::Runtime;
/// let runtime = Runtime::new(2).unwrap();
/// assert_eq!(runtime.run(kymo_tensor::threads), 2);
/// // Another runtime's setting is its own.
/// assert_eq!(Runtime::new(1).unwrap().run(kymo_tensor::threads), 1);
/// ```
#[derive(Clone)]
pub struct Runtime {
    /// A private pool, or `None` for rayon's global one.
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Whether [`Runtime::run_warm`] keeps the workers spinning.
    warm: bool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("private_pool", &self.pool.is_some())
            .field("threads", &self.threads())
            .field("warm", &self.warm)
            .finish()
    }
}

impl Default for Runtime {
    /// [`Runtime::global`].
    fn default() -> Self {
        Self::global()
    }
}

impl Runtime {
    /// Rayon's global pool and the process default thread count (the
    /// machine's cores unless [`set_threads`] changed it), with warm workers.
    pub fn global() -> Self {
        Self {
            pool: None,
            warm: true,
        }
    }

    /// A runtime of its own: a pool of `threads` workers (at least 1) whose
    /// kernels split for `threads`, with warm workers.
    pub fn new(threads: usize) -> Result<Self, TensorError> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("kymo-{index}"))
            .start_handler(move |_| POOL_THREADS.set(Some(threads)))
            .build()
            .map_err(|e| TensorError::Config {
                kernel: "runtime",
                field: "threads",
                reason: format!("could not start {threads} threads: {e}"),
            })?;
        Ok(Self {
            pool: Some(Arc::new(pool)),
            warm: true,
        })
    }

    /// The same runtime, with warm workers on or off. Warm workers make a
    /// batch-1 step's small kernels use every core; they spin only while a
    /// step runs and stop after [`SPIN_IDLE`](crate::SPIN_IDLE) without work.
    pub fn with_warm_workers(mut self, warm: bool) -> Self {
        self.warm = warm;
        self
    }

    /// The thread count its kernels split for.
    pub fn threads(&self) -> usize {
        match &self.pool {
            Some(pool) => pool.current_num_threads(),
            None => default_threads(),
        }
    }

    /// Runs `body` on this runtime: its kernels use this runtime's pool and
    /// thread count.
    pub fn run<R: Send>(&self, body: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(body),
            None => body(),
        }
    }

    /// [`Runtime::run`] with the other workers kept warm through `body`
    /// (when this runtime's policy says so): what a training step or a
    /// prediction runs in.
    pub fn run_warm<R: Send>(&self, body: impl FnOnce() -> R + Send) -> R {
        if !self.warm {
            return self.run(body);
        }
        match &self.pool {
            // The scope it opens runs `body` on one of the pool's workers,
            // with the others spinning beside it.
            Some(pool) => crate::warm::warm_in(Some(pool), pool.current_num_threads(), body),
            None => crate::warm::with_warm_workers(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_runtime_keeps_its_own_thread_count() {
        let (one, two) = (
            Runtime::new(1).expect("starts"),
            Runtime::new(2).expect("starts"),
        );
        // Side by side, from two threads at once: neither sees the other's.
        std::thread::scope(|scope| {
            let a = scope.spawn(|| (0..200).all(|_| one.run(crate::threads) == 1));
            let b = scope.spawn(|| (0..200).all(|_| two.run(crate::threads) == 2));
            assert!(a.join().expect("runs") && b.join().expect("runs"));
        });
        assert_eq!(two.run_warm(crate::threads), 2);
        assert_eq!(two.threads(), 2);
    }

    #[test]
    fn the_default_runtime_uses_the_machines_cores() {
        // No other test of this crate calls `set_threads`, so the default
        // is untouched here.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(Runtime::global().threads(), cores);
        assert_eq!(threads(), cores);
    }

    #[test]
    fn with_threads_sets_the_count_for_its_body_and_restores_it() {
        let two = Runtime::new(2).expect("starts");
        let (inside, after) = two.run(|| (with_threads(1, crate::threads), crate::threads()));
        assert_eq!((inside, after), (1, 2));
        // A panicking body still gives the count back.
        let after_panic = two.run(|| {
            let unwound = std::panic::catch_unwind(|| with_threads(1, || panic!("body fails")));
            assert!(unwound.is_err());
            crate::threads()
        });
        assert_eq!(after_panic, 2);
    }
}
