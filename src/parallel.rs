//! Work spread over a few threads: uploads and syncs that wait on the
//! network or the disk (several in flight hide most of each one's latency),
//! and compression that wants every core.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::Result;

/// Runs `job` on every item with up to `workers` threads; stops taking new
/// items after the first failure and returns it.
pub fn parallel<T: Sync>(
    items: &[T],
    workers: usize,
    job: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers.min(items.len()) {
            s.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    if let Err(e) = job(item) {
                        stop.store(true, Ordering::SeqCst);
                        first_error
                            .lock()
                            .expect("no thread panics holding this lock")
                            .get_or_insert(e);
                    }
                }
            });
        }
    });
    match first_error.into_inner().expect("no thread panicked") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `f` of every item, in the items' order, computed by up to `workers`
/// threads.
pub fn map<T: Sync, R: Send + Sync>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let out: Vec<OnceLock<R>> = items.iter().map(|_| OnceLock::new()).collect();
    let numbered: Vec<(usize, &T)> = items.iter().enumerate().collect();
    parallel(&numbered, workers, |&(i, item)| {
        let _ = out[i].set(f(item));
        Ok(())
    })
    .expect("the jobs cannot fail");
    out.into_iter()
        .map(|r| r.into_inner().expect("every item was computed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_runs_once() {
        let items: Vec<usize> = (0..100).collect();
        let seen: Vec<AtomicUsize> = items.iter().map(|_| AtomicUsize::new(0)).collect();
        parallel(&items, 8, |&i| {
            seen[i].fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        assert!(seen.iter().all(|n| n.load(Ordering::SeqCst) == 1));
    }

    #[test]
    fn map_keeps_the_order() {
        let items: Vec<u64> = (0..500).collect();
        let squares = map(&items, 8, |&i| i * i);
        assert_eq!(squares, items.iter().map(|i| i * i).collect::<Vec<_>>());
        assert!(map(&[] as &[u64], 8, |&i| i).is_empty());
    }

    #[test]
    fn the_first_failure_stops_the_rest() {
        let items: Vec<usize> = (0..1000).collect();
        // One worker: nothing after the failed item runs.
        let ran = AtomicUsize::new(0);
        let err = parallel(&items, 1, |&i| {
            ran.fetch_add(1, Ordering::SeqCst);
            anyhow::ensure!(i != 10, "item {i} failed");
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "item 10 failed");
        assert_eq!(ran.load(Ordering::SeqCst), 11);
        // Several: the failure is returned, whatever the others were doing
        // (how many more they start before seeing it depends on the
        // scheduler, so it is not counted here).
        let err = parallel(&items, 4, |&i| {
            anyhow::ensure!(i != 10, "item {i} failed");
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "item 10 failed");
    }
}
