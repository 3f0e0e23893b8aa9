//! A deterministic virtual clock: the driver (the protocol loop) and simulated threads take
//! turns over virtual time, as `harness/runtime/virtual_clock.py` defines it.
//!
//! Exactly one participant runs at a time and gives up its turn only when it waits (a
//! sleep, an event wait with a timeout, a join). When the driver waits, every simulated
//! thread whose wait is over at the current instant runs first (the one that started
//! waiting first goes first); when none is due, time jumps to the earliest deadline. So
//! an `advance` of 60 s runs everything due up to and including second 60 before the
//! reply, and no real time passes.
//!
//! Simulated threads are state machines, not OS threads: the world that owns them
//! implements [`Threads`] (which threads are waiting, and what a thread does when it gets
//! its turn), and the driver blocks through [`block`], [`sleep`] or [`yield_turn`].

use std::fmt;

/// Turns simulated threads may take while the driver waits before the clock calls it a
/// hang (a tiny poll period over a long advance), as the reference's clock does.
const MAX_TURNS_PER_WAIT: u32 = 100_000;

/// The simulated world cannot go on (a testee failure, not an observation).
#[derive(Debug, PartialEq)]
pub enum ClockError {
    /// Every participant waits and no deadline is pending.
    Deadlock,
    /// The simulated threads took too many turns while the driver waited.
    Hang { now: f64 },
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockError::Deadlock => {
                write!(
                    f,
                    "Deadlock: every simulated thread is waiting and no deadline is pending"
                )
            }
            ClockError::Hang { now } => write!(
                f,
                "Hang: the simulated threads took over {MAX_TURNS_PER_WAIT} turns while the \
                 driver waited (virtual time {now})"
            ),
        }
    }
}

/// A pending wait: when it started (its place in line) and when it times out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Wait {
    seq: u64,
    deadline: Option<f64>,
}

impl Wait {
    fn expired(&self, now: f64) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }
}

/// Virtual time, starting at 0.
#[derive(Debug, Default)]
pub struct VirtualClock {
    now: f64,
    next_seq: u64,
}

impl VirtualClock {
    pub fn new() -> VirtualClock {
        VirtualClock::default()
    }

    /// Seconds since the clock started (`time.time()` of the simulated world).
    pub fn time(&self) -> f64 {
        self.now
    }

    /// A wait starting now, timing out after `timeout` seconds (`None`: never).
    pub fn wait(&mut self, timeout: Option<f64>) -> Wait {
        self.next_seq += 1;
        Wait {
            seq: self.next_seq,
            deadline: timeout.map(|t| self.now + t.max(0.0)),
        }
    }
}

/// A world's simulated threads, as the clock sees them.
pub trait Threads {
    fn clock(&mut self) -> &mut VirtualClock;

    /// Every simulated thread that is waiting: its id, its wait, and whether the condition
    /// it waits for already holds (an event set, a thread joined).
    fn waiting(&self) -> Vec<(usize, Wait, bool)>;

    /// Thread `id` gets its turn: it runs until it waits again or finishes.
    fn resume(&mut self, id: usize);
}

/// The driver waits until `ready` holds or `timeout` seconds pass, letting the simulated
/// threads run meanwhile. Returns `ready` at the end (false: timed out). With `force`,
/// threads due now run first even if `ready` already holds.
pub fn block<T: Threads>(
    world: &mut T,
    timeout: Option<f64>,
    ready: impl Fn(&T) -> bool,
    force: bool,
) -> Result<bool, ClockError> {
    if !force && ready(world) {
        return Ok(true);
    }
    let driver = world.clock().wait(timeout);
    let mut turns = 0;
    loop {
        let now = world.clock().now;
        let waiting = world.waiting();
        let due = waiting
            .iter()
            .filter(|(_, w, ready)| *ready || w.expired(now));
        if let Some(&(id, _, _)) = due.min_by_key(|(_, w, _)| w.seq) {
            turns += 1;
            if turns > MAX_TURNS_PER_WAIT {
                return Err(ClockError::Hang { now });
            }
            world.resume(id);
            continue;
        }
        let is_ready = ready(world);
        if is_ready || driver.expired(now) {
            return Ok(is_ready);
        }
        let deadlines = waiting.iter().filter_map(|(_, w, _)| w.deadline);
        match deadlines.chain(driver.deadline).reduce(f64::min) {
            Some(next) => world.clock().now = now.max(next),
            None => return Err(ClockError::Deadlock),
        }
    }
}

/// `time.sleep(seconds)` on the driver.
pub fn sleep<T: Threads>(world: &mut T, seconds: f64) -> Result<(), ClockError> {
    block(world, Some(seconds.max(0.0)), |_| false, false).map(|_| ())
}

/// Lets every simulated thread that can run now do so (after starting a thread: like a
/// real one, it gets going at once and runs until it first waits).
pub fn yield_turn<T: Threads>(world: &mut T) -> Result<(), ClockError> {
    block(world, None, |_| true, true).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pollers that wake every `period` seconds and log (id, time).
    struct Pollers {
        clock: VirtualClock,
        periods: Vec<f64>,
        waits: Vec<Wait>,
        log: Vec<(usize, f64)>,
    }

    impl Threads for Pollers {
        fn clock(&mut self) -> &mut VirtualClock {
            &mut self.clock
        }
        fn waiting(&self) -> Vec<(usize, Wait, bool)> {
            self.waits
                .iter()
                .enumerate()
                .map(|(i, w)| (i, *w, false))
                .collect()
        }
        fn resume(&mut self, id: usize) {
            self.log.push((id, self.clock.time()));
            self.waits[id] = self.clock.wait(Some(self.periods[id]));
        }
    }

    #[test]
    fn due_threads_run_before_the_driver_in_wait_order() {
        let mut clock = VirtualClock::new();
        let waits = vec![clock.wait(Some(3.0)), clock.wait(Some(2.0))];
        let mut world = Pollers {
            clock,
            periods: vec![3.0, 2.0],
            waits,
            log: Vec::new(),
        };
        sleep(&mut world, 6.0).unwrap();
        // At t=6 both are due: poller 0 started waiting (at t=3) before poller 1 (at t=4).
        assert_eq!(
            world.log,
            [(1, 2.0), (0, 3.0), (1, 4.0), (0, 6.0), (1, 6.0)]
        );
        assert_eq!(world.clock.time(), 6.0);
    }

    #[test]
    fn nothing_to_wait_for_is_a_deadlock() {
        let mut world = Pollers {
            clock: VirtualClock::new(),
            periods: vec![],
            waits: vec![],
            log: vec![],
        };
        assert_eq!(
            block(&mut world, None, |_| false, false),
            Err(ClockError::Deadlock)
        );
    }
}
