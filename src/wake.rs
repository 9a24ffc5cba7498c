//! A doorbell between threads: one side rings, the other sleeps until a ring or a timeout.
//!
//! The registry's refresher polls on a timer; a store that hears of changes sooner (PostgreSQL's
//! `NOTIFY` from another node) rings instead, so the poll becomes the fallback, not the delay.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Wake {
    rung: Mutex<bool>,
    bell: Condvar,
}

impl Wake {
    /// Wakes the waiter, or the next wait if none is waiting now.
    pub fn ring(&self) {
        *self.rung.lock().expect("wake lock") = true;
        self.bell.notify_all();
    }

    /// Sleeps until a ring or `timeout`; answers whether it was rung. A ring is used up.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut rung = self.rung.lock().expect("wake lock");
        while !*rung {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            rung = self.bell.wait_timeout(rung, left).expect("wake lock").0;
        }
        *rung = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_wait_without_a_ring_times_out() {
        let started = Instant::now();
        assert!(!Wake::default().wait(Duration::from_millis(20)));
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn a_ring_before_the_wait_is_kept_for_it_and_used_once() {
        let wake = Wake::default();
        wake.ring();
        assert!(wake.wait(Duration::from_secs(5)));
        assert!(!wake.wait(Duration::ZERO));
    }

    #[test]
    fn a_ring_wakes_a_waiter_at_once() {
        let wake = Arc::new(Wake::default());
        let waiter = {
            let wake = wake.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                (wake.wait(Duration::from_secs(30)), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        wake.ring();
        let (rung, waited) = waiter.join().unwrap();
        assert!(rung);
        assert!(waited < Duration::from_secs(30));
    }
}
