//! Keeping rayon's workers awake through a training step.
//!
//! Between two kernels rayon's idle workers fall asleep within
//! microseconds, and waking one costs more than a small kernel takes, so
//! [`parallel`](crate::parallel) keeps small kernels on the calling thread.
//! A training step at batch 1 is all small kernels: the answer's model ran
//! its convolutions on one core. [`with_warm_workers`] runs a step while the
//! other workers spin, looking for blocks to steal, so that splitting a
//! kernel costs about a cache miss and kernels split down to far smaller
//! sizes. On the machine of `docs/performance.md` that made the answer's
//! batch-1 step 22% faster and its convolutions reach the sgemm rate.
//!
//! A worker that spins inside a rayon job must never sit above a frame that
//! the body waits for, or neither would finish. So a worker spins only if
//! it checks in before the body starts (when none of the body's jobs
//! exist yet), the body waits a bounded time for them to check in, and a
//! call from inside a rayon worker (a parallel loop over seeds, say) runs
//! its body plainly.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

thread_local! {
    /// Whether this thread is running the body of [`with_warm_workers`].
    static WARM: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread runs a [`with_warm_workers`] body.
pub(crate) fn is_warm() -> bool {
    WARM.get()
}

/// How long a body waits for the workers to check in before it starts
/// without those that have not (a sleeping worker wakes in well under this;
/// one busy with other work may not).
const CHECK_IN: Duration = Duration::from_millis(1);

/// How long a warm worker spins without finding work before it parks: far
/// above the gaps between a training step's kernels (microseconds), far
/// below anything a user would see as an idle process using a core.
pub const SPIN_IDLE: Duration = Duration::from_millis(2);

/// Set in the check-in count once the body has started: later workers do
/// not spin.
const STARTED: usize = 1 << (usize::BITS - 1);

/// Runs `body` with rayon's other workers kept awake: up to
/// [`threads`](crate::threads)` - 1` of them spin, looking for blocks to
/// steal, until `body` returns, and inside it kymo's kernels split their
/// work down to a few thousand elements, so that the small kernels of a
/// batch-1 step use every core. With one thread, or when called from a
/// rayon worker, this is `body()`. Where work is split never changes a
/// result's bits.
///
/// [`Trainer::train_on_batch`](../kymo_train/struct.Trainer.html) wraps
/// each step in this; an embedder driving layers itself can wrap its own.
/// The spinning workers keep their cores busy until `body` returns.
///
/// ```
/// let sum: f32 = kymo_tensor::with_warm_workers(|| (1..=4).map(|v| v as f32).sum());
/// assert_eq!(sum, 10.0);
/// ```
pub fn with_warm_workers<R: Send>(body: impl FnOnce() -> R + Send) -> R {
    warm_in(None, crate::threads(), body)
}

/// [`with_warm_workers`] on `pool` (the global pool if `None`) with
/// `threads` threads. A call from one of that pool's workers (a nested
/// call from a body among them) runs `body()` plainly.
pub(crate) fn warm_in<R: Send>(
    pool: Option<&rayon::ThreadPool>,
    threads: usize,
    body: impl FnOnce() -> R + Send,
) -> R {
    let (workers, in_a_worker) = match pool {
        Some(pool) => (pool.current_num_threads(), pool.current_thread_index()),
        None => (rayon::current_num_threads(), rayon::current_thread_index()),
    };
    let helpers = threads.min(workers).max(1) - 1;
    if helpers == 0 || in_a_worker.is_some() {
        return body();
    }
    let checked_in = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let (checked_in, done) = (&checked_in, &done);
    match pool {
        Some(pool) => pool.scope(|scope| spin_and_run(scope, helpers, checked_in, done, body)),
        None => rayon::scope(|scope| spin_and_run(scope, helpers, checked_in, done, body)),
    }
}

/// Inside `scope`, on the worker that will run `body`: sends every other
/// worker a spinner, waits up to [`CHECK_IN`] for `helpers` of them to
/// check in, then runs `body` with this thread marked warm and stops the
/// spinners when it ends.
fn spin_and_run<'scope, R>(
    scope: &rayon::Scope<'scope>,
    helpers: usize,
    checked_in: &'scope AtomicUsize,
    done: &'scope AtomicBool,
    body: impl FnOnce() -> R,
) -> R {
    let caller = rayon::current_thread_index();
    scope.spawn_broadcast(move |_, context| {
        if Some(context.index()) == caller || !check_in(checked_in, helpers) {
            return;
        }
        // Spin while there is work; after SPIN_IDLE without any, park
        // (go back to rayon's sleep): a long stretch of one-thread work
        // inside the body does not keep this core busy.
        let mut last_work = Instant::now();
        while !done.load(Ordering::Acquire) {
            if rayon::yield_now() == Some(rayon::Yield::Executed) {
                last_work = Instant::now();
            } else if last_work.elapsed() > SPIN_IDLE {
                #[cfg(test)]
                tests::PARKED.fetch_add(1, Ordering::Relaxed);
                return;
            } else {
                std::hint::spin_loop();
            }
        }
    });
    let deadline = Instant::now() + CHECK_IN;
    while checked_in.load(Ordering::Acquire) < helpers && Instant::now() < deadline {
        std::hint::spin_loop();
    }
    checked_in.fetch_or(STARTED, Ordering::AcqRel);
    let _release = Release(done);
    WARM.set(true);
    body()
}

/// Counts a worker in if the body has not started and fewer than
/// `helpers` have checked in; says whether it did.
fn check_in(checked_in: &AtomicUsize, helpers: usize) -> bool {
    checked_in
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
            (count & STARTED == 0 && count < helpers).then_some(count + 1)
        })
        .is_ok()
}

/// Ends a [`with_warm_workers`] body, even one that panics: the spinners
/// stop, so the scope can end and the panic go on.
struct Release<'a>(&'a AtomicBool);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        WARM.set(false);
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// Spinners that parked after [`SPIN_IDLE`] without work.
    pub(super) static PARKED: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn a_warm_worker_without_work_parks_before_the_body_ends() {
        let runtime = crate::Runtime::new(2).expect("threads start");
        let before = PARKED.load(Ordering::Relaxed);
        // One-thread work far longer than SPIN_IDLE: the other worker must
        // stop spinning and park rather than burn its core to the end. A
        // worker that did not check in within CHECK_IN (a busy machine)
        // never spun, so a few bodies are allowed for one to.
        let parked = (0..50).any(|_| {
            runtime.run_warm(|| {
                std::thread::sleep(SPIN_IDLE * 5);
                PARKED.load(Ordering::Relaxed) > before
            })
        });
        assert!(parked, "no idle spinner ever parked");
    }

    fn two_workers() -> rayon::ThreadPool {
        // Invariant: building a 2-thread pool fails only if the OS refuses
        // to start threads, which a test cannot recover from.
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a 2-thread pool")
    }

    /// A split the body waits for: the spinning worker must take a half or
    /// leave it, never hold it up.
    fn split_sum() -> u64 {
        (0..8u64)
            .into_par_iter()
            .map(|part| (part * 1000..(part + 1) * 1000).sum::<u64>())
            .sum()
    }

    #[test]
    fn the_body_runs_warm_and_leaves_no_worker_warm() {
        let pool = two_workers();
        let (inside, nested, sum) = warm_in(Some(&pool), 2, || {
            let nested = warm_in(Some(&pool), 2, is_warm);
            (is_warm(), nested, split_sum())
        });
        assert!(inside && nested);
        assert_eq!(sum, (0..8000u64).sum::<u64>());
        assert!(!is_warm());
        assert_eq!(pool.broadcast(|_| is_warm()), vec![false, false]);
    }

    #[test]
    fn one_thread_and_calls_from_a_worker_run_the_body_cold() {
        let pool = two_workers();
        assert!(!warm_in(Some(&pool), 1, is_warm));
        assert!(!pool.install(|| warm_in(Some(&pool), 2, is_warm)));
    }

    #[test]
    fn many_short_bodies_in_a_row_all_finish() {
        // A spinner that took one of the body's jobs before checking in
        // would hang this loop; the check-in makes that impossible.
        // The rounds run on a thread of their own so that a hang fails the
        // test instead of stalling it.
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let pool = two_workers();
            let sums: Vec<u64> = (0..2000)
                .map(|_| warm_in(Some(&pool), 2, split_sum))
                .collect();
            sender.send(sums)
        });
        let sums = receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("2000 warm bodies finish within a minute");
        assert!(sums.iter().all(|&sum| sum == (0..8000u64).sum::<u64>()));
    }

    #[test]
    fn a_panicking_body_stops_the_spinners_and_the_panic_goes_on() {
        let pool = two_workers();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            warm_in(Some(&pool), 2, || panic!("the body failed"))
        }));
        assert!(outcome.is_err());
        // Had a spinner kept going, the pool's second worker would never
        // take this broadcast and the test would hang.
        assert_eq!(pool.broadcast(|_| is_warm()), vec![false, false]);
    }

    #[test]
    fn only_as_many_workers_as_helpers_check_in_and_none_after_the_start() {
        let count = AtomicUsize::new(0);
        assert!(check_in(&count, 2));
        assert!(check_in(&count, 2));
        assert!(!check_in(&count, 2));
        let late = AtomicUsize::new(STARTED);
        assert!(!check_in(&late, 2));
    }
}
