//! Byte budgets: how much memory one kind of holder may take, all holders together (request
//! bodies being read, the live stream's waiting frames). What a holder takes is counted when it
//! takes it and given back when its `Reservation` drops, so a slow client that is dropped, a
//! request that ends or a panic all return their bytes. An atomic count, no lock: taking bytes
//! costs one compare-and-swap, and nobody ever waits on a budget.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A limit in bytes shared by every holder that takes from it.
#[derive(Debug, Clone)]
pub struct ByteBudget(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    limit: usize,
    taken: AtomicUsize,
}

impl ByteBudget {
    pub fn new(limit: usize) -> ByteBudget {
        ByteBudget(Arc::new(Shared {
            limit,
            taken: AtomicUsize::new(0),
        }))
    }

    /// The most bytes all holders may take together.
    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// The bytes taken now.
    pub fn taken(&self) -> usize {
        self.0.taken.load(Ordering::Acquire)
    }

    /// `bytes` from the budget, or `None` when they would take it past its limit.
    pub fn try_take(&self, bytes: usize) -> Option<Reservation> {
        let mut reservation = self.nothing();
        reservation.try_grow(bytes).then_some(reservation)
    }

    /// A reservation of no bytes, to grow as a holder needs more.
    pub fn nothing(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }

    fn add(&self, bytes: usize) -> bool {
        let limit = self.0.limit;
        self.0
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                taken.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok()
    }
}

/// Bytes taken from a budget, given back when this drops.
#[derive(Debug)]
pub struct Reservation {
    budget: ByteBudget,
    bytes: usize,
}

impl Reservation {
    /// The bytes this reservation holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes `more` bytes into this reservation; `false`, and nothing taken, when the budget
    /// has no room for them.
    pub fn try_grow(&mut self, more: usize) -> bool {
        if more == 0 {
            return true;
        }
        let grown = self.budget.add(more);
        if grown {
            self.bytes += more;
        }
        grown
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.0.taken.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_up_to_the_limit_and_gives_back_on_drop() {
        let budget = ByteBudget::new(100);
        let first = budget.try_take(60).expect("60 of 100 fit");
        assert!(budget.try_take(41).is_none(), "101 would not fit");
        let second = budget.try_take(40).expect("exactly 100 fits");
        assert_eq!(budget.taken(), 100);
        drop(first);
        assert_eq!(budget.taken(), 40);
        drop(second);
        assert_eq!(budget.taken(), 0);
    }

    #[test]
    fn a_reservation_grows_only_while_there_is_room() {
        let budget = ByteBudget::new(10);
        let mut growing = budget.nothing();
        assert!(growing.try_grow(4));
        assert!(growing.try_grow(6));
        assert!(!growing.try_grow(1), "the budget is full");
        assert_eq!((growing.bytes(), budget.taken()), (10, 10));
        assert!(growing.try_grow(0), "nothing always fits");
        drop(growing);
        assert_eq!(budget.taken(), 0);
    }

    #[test]
    fn no_overflow_past_usize() {
        let budget = ByteBudget::new(usize::MAX);
        let _most = budget.try_take(usize::MAX - 1).expect("fits");
        assert!(budget.try_take(2).is_none());
    }

    #[test]
    fn holders_on_many_threads_never_take_more_than_the_limit() {
        let budget = ByteBudget::new(1000);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || {
                    let mut most = 0;
                    for _ in 0..10_000 {
                        if let Some(held) = budget.try_take(7) {
                            most = most.max(budget.taken());
                            drop(held);
                        }
                    }
                    most
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().expect("no panic") <= 1000);
        }
        assert_eq!(budget.taken(), 0);
    }
}
