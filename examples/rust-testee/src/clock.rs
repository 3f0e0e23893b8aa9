//! Time and threads behind one interface, [`Clock`], so hooks never name a clock.
//!
//! A hook that sleeps, polls, waits on an event, takes a lock or starts a thread does it
//! through the `Clock` it was given (`Rc<dyn Clock>`, [`ClockRef`]), as the reference's
//! hooks do through `reference/runtime/clock.py`. Two implementations:
//!
//! * [`VirtualClock`], what the testee uses: virtual time on **tokio's paused clock**.
//!   The testee's runtime is a current-thread tokio runtime built with `start_paused`
//!   (`tokio::time::pause`), and when virtual time moves the clock moves tokio's with
//!   `tokio::time::advance`, so `tokio::time::Instant::now()` inside a hook reads virtual
//!   time too. On top of it a turn scheduler gives the reference's order
//!   (`reference/runtime/virtual_clock.py`): exactly one participant (the protocol loop,
//!   the *driver*, or a simulated thread, a tokio task) runs at a time, and gives up its
//!   turn only when it blocks on the clock; the next to run is one whose wait is over at
//!   the current virtual time, simulated threads before the driver and, among them, the
//!   one that started waiting first; when none can go on, time jumps to the earliest
//!   deadline. So `advance 60` runs everything due up to second 60 before the reply, costs
//!   no real time, and every run interleaves its threads identically. (tokio alone orders
//!   timers that fire at the same instant by its timer wheel; the harness pins an order,
//!   so the turns are kept here.)
//! * [`TokioClock`], a port's production clock: plain `tokio::time` sleeps, `Notify`,
//!   a semaphore and `spawn_local`. Under a paused runtime it also runs in virtual time
//!   (`monolith-testee --clock tokio`), with tokio's own order for simultaneous wake-ups.
//!
//! A port whose hooks take a `ClockRef` (or are generic over `Clock`) runs the corpus in
//! virtual time: the corpus adds up to about 4,260 s of simulated time, a few seconds here.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::error::{ClockError, HookError, HookResult, PyError};

pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A thread body: the hook's code, run as a tokio task.
pub type ThreadBody = LocalBoxFuture<'static, HookResult>;

/// What hooks need from time: now, sleep, events, a lock and threads.
pub trait Clock {
    /// Seconds since the scenario began (`time.time()` of the simulated world).
    fn time(&self) -> f64;
    /// `time.sleep(seconds)`: gives up the turn until `seconds` of (virtual) time passed.
    fn sleep(&self, seconds: f64) -> LocalBoxFuture<'_, Result<(), ClockError>>;
    /// A `threading.Event`.
    fn event(&self) -> Rc<dyn Event>;
    /// A `threading.Lock`.
    fn lock(&self) -> Rc<dyn Lock>;
    /// Starts `body` on a new thread named `name` (like `threading.Thread(...).start()`:
    /// it gets going at once and runs until it first blocks). An error escaping the body
    /// is recorded for [`Clock::take_thread_errors`].
    fn spawn(
        &self,
        name: &str,
        body: ThreadBody,
    ) -> LocalBoxFuture<'_, Result<Rc<dyn Thread>, ClockError>>;
    /// Errors that escaped threads since the last call, with the thread's name.
    fn take_thread_errors(&self) -> Vec<(String, PyError)>;
    /// Ends the scenario: every thread still waiting unwinds (with `ClockError::Shutdown`),
    /// and this returns once they all have.
    fn shutdown(&self) -> LocalBoxFuture<'_, ()>;
}

pub type ClockRef = Rc<dyn Clock>;

pub trait Event {
    fn set(&self);
    fn is_set(&self) -> bool;
    /// Waits until set or `timeout` seconds passed; returns whether it is set.
    fn wait(&self, timeout: Option<f64>) -> LocalBoxFuture<'_, Result<bool, ClockError>>;
}

pub trait Lock {
    fn acquire(&self) -> LocalBoxFuture<'_, Result<(), ClockError>>;
    fn release(&self);
}

/// `with lock:`: acquired by [`LockGuard::acquire`], released when dropped.
pub struct LockGuard(Rc<dyn Lock>);

impl LockGuard {
    pub async fn acquire(lock: &Rc<dyn Lock>) -> Result<LockGuard, ClockError> {
        lock.acquire().await?;
        Ok(LockGuard(lock.clone()))
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.0.release();
    }
}

pub trait Thread {
    /// Waits until the thread finished (or `timeout` seconds passed).
    fn join(&self, timeout: Option<f64>) -> LocalBoxFuture<'_, Result<(), ClockError>>;
    fn is_alive(&self) -> bool;
}

/// Records a finished thread body's error (an exception escaping it is the trace's `error`
/// event with `thread`; the clock's shutdown is not an error).
fn record(errors: &RefCell<Vec<(String, PyError)>>, name: &str, result: HookResult) {
    match result {
        Ok(()) | Err(HookError::Clock(ClockError::Shutdown)) => {}
        Err(HookError::Raised(e)) => errors.borrow_mut().push((name.to_string(), e)),
        Err(HookError::Clock(e)) => errors.borrow_mut().push((
            name.to_string(),
            PyError::with_message("ClockError", e.to_string()),
        )),
    }
}

// ---------------------------------------------------------------------------------------
// The virtual clock: turns over tokio's paused time.

/// The driver (the protocol loop) is participant 0; simulated threads get 1, 2, ...
const DRIVER: usize = 0;
/// Turns simulated threads may take while the driver waits before the clock calls it a
/// hang (a tiny poll period over a long advance), as the reference's clock does.
const MAX_TURNS_PER_WAIT: u32 = 100_000;

tokio::task_local! {
    /// Which participant the running task is (unset: the driver).
    static PARTICIPANT: usize;
}

fn current() -> usize {
    PARTICIPANT.try_with(|p| *p).unwrap_or(DRIVER)
}

struct Waiter {
    seq: u64,
    pid: usize,
    ready: Rc<dyn Fn() -> bool>,
    deadline: Option<f64>,
}

#[derive(Default)]
struct Sched {
    now: f64,
    next_seq: u64,
    next_pid: usize,
    runner: Option<usize>,
    waiters: Vec<Waiter>,
    wakers: HashMap<usize, Waker>,
    woke_by_deadline: HashMap<usize, bool>,
    shutdown: bool,
    failure: Option<ClockError>,
    turns_without_driver: u32,
}

impl Sched {
    fn expired(now: f64, w: &Waiter) -> bool {
        w.deadline.is_some_and(|d| d <= now)
    }

    /// Picks the next runner and wakes it (`_schedule` of the reference's clock).
    fn schedule(&mut self) {
        self.runner = None;
        if self.turns_without_driver >= MAX_TURNS_PER_WAIT {
            self.fail(ClockError::Hang(format!(
                "the simulated threads took over {MAX_TURNS_PER_WAIT} turns while the driver \
                 waited (virtual time {}): a poll period too short for the wait?",
                self.now
            )));
            self.turns_without_driver = 0;
            return;
        }
        let now = self.now;
        let mut due: Vec<usize> = (0..self.waiters.len())
            .filter(|&i| (self.waiters[i].ready)() || Sched::expired(now, &self.waiters[i]))
            .collect();
        if due.is_empty() {
            let next = self
                .waiters
                .iter()
                .filter_map(|w| w.deadline)
                .reduce(f64::min);
            let Some(next) = next else {
                self.fail(ClockError::Deadlock);
                return;
            };
            self.now = self.now.max(next);
            let now = self.now;
            due = (0..self.waiters.len())
                .filter(|&i| Sched::expired(now, &self.waiters[i]))
                .collect();
        }
        let chosen = due
            .into_iter()
            .min_by_key(|&i| (self.waiters[i].pid == DRIVER, self.waiters[i].seq))
            .expect("a due waiter");
        let waiter = self.waiters.remove(chosen);
        self.turns_without_driver = if waiter.pid == DRIVER {
            0
        } else {
            self.turns_without_driver + 1
        };
        self.woke_by_deadline.insert(waiter.pid, !(waiter.ready)());
        self.give_turn(waiter.pid);
    }

    fn fail(&mut self, error: ClockError) {
        self.failure = Some(error);
        self.give_turn(DRIVER);
    }

    fn give_turn(&mut self, pid: usize) {
        self.runner = Some(pid);
        if let Some(waker) = self.wakers.remove(&pid) {
            waker.wake();
        }
    }

    fn remove_waiter(&mut self, pid: usize) {
        self.waiters.retain(|w| w.pid != pid);
    }
}

/// Resolves when participant `pid` holds the turn (or the clock failed or shut down).
struct Turn {
    sched: Rc<RefCell<Sched>>,
    pid: usize,
}

impl Future for Turn {
    type Output = Result<(), ClockError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.sched.borrow_mut();
        if s.shutdown && self.pid != DRIVER {
            s.remove_waiter(self.pid);
            return Poll::Ready(Err(ClockError::Shutdown));
        }
        if self.pid == DRIVER {
            if let Some(failure) = s.failure.take() {
                s.remove_waiter(DRIVER);
                s.runner = Some(DRIVER);
                return Poll::Ready(Err(failure));
            }
        }
        if s.runner == Some(self.pid) {
            return Poll::Ready(Ok(()));
        }
        s.wakers.insert(self.pid, cx.waker().clone());
        Poll::Pending
    }
}

struct Shared {
    sched: Rc<RefCell<Sched>>,
    /// tokio's (paused) instant at virtual time 0.
    origin: tokio::time::Instant,
    thread_errors: RefCell<Vec<(String, PyError)>>,
    tasks: RefCell<Vec<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    /// Gives up the turn until `ready()` or `timeout` seconds; true if ready, false on
    /// timeout. With `force`, waits its turn even if `ready()` already holds.
    async fn block(
        &self,
        ready: Rc<dyn Fn() -> bool>,
        timeout: Option<f64>,
        force: bool,
    ) -> Result<bool, ClockError> {
        let me = current();
        {
            let mut s = self.sched.borrow_mut();
            if s.shutdown {
                return Err(ClockError::Shutdown);
            }
            if !force && ready() {
                return Ok(true);
            }
            let deadline = timeout.map(|t| s.now + t);
            let seq = s.next_seq;
            s.next_seq += 1;
            s.waiters.push(Waiter {
                seq,
                pid: me,
                ready,
                deadline,
            });
            s.schedule();
        }
        Turn {
            sched: self.sched.clone(),
            pid: me,
        }
        .await?;
        self.sync_tokio_time().await;
        let by_deadline = self.sched.borrow_mut().woke_by_deadline.remove(&me);
        Ok(!by_deadline.unwrap_or(false))
    }

    /// Moves tokio's paused clock to the virtual time (it only ever moves forward).
    async fn sync_tokio_time(&self) {
        let target = Duration::from_secs_f64(self.sched.borrow().now);
        let elapsed = self.origin.elapsed();
        if target > elapsed {
            tokio::time::advance(target - elapsed).await;
        }
    }
}

/// The testee's clock (see the module documentation). Make one per scenario, inside a
/// tokio current-thread runtime whose time is paused, within a `LocalSet`.
pub struct VirtualClock(Rc<Shared>);

impl VirtualClock {
    pub fn new() -> VirtualClock {
        let sched = Sched {
            next_pid: DRIVER + 1,
            runner: Some(DRIVER),
            ..Sched::default()
        };
        VirtualClock(Rc::new(Shared {
            sched: Rc::new(RefCell::new(sched)),
            origin: tokio::time::Instant::now(),
            thread_errors: RefCell::default(),
            tasks: RefCell::default(),
        }))
    }

    /// Lets every participant that is ready now run first.
    pub async fn yield_turn(&self) -> Result<(), ClockError> {
        self.0.block(Rc::new(|| true), None, true).await.map(|_| ())
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        VirtualClock::new()
    }
}

struct VirtualEvent {
    shared: Rc<Shared>,
    flag: Rc<Cell<bool>>,
}

impl Event for VirtualEvent {
    fn set(&self) {
        // Nothing to wake: the runner keeps its turn until it blocks, and the scheduler
        // then sees the waiter ready.
        self.flag.set(true);
    }

    fn is_set(&self) -> bool {
        self.flag.get()
    }

    fn wait(&self, timeout: Option<f64>) -> LocalBoxFuture<'_, Result<bool, ClockError>> {
        Box::pin(async move {
            let flag = self.flag.clone();
            self.shared
                .block(Rc::new(move || flag.get()), timeout, false)
                .await?;
            Ok(self.flag.get())
        })
    }
}

struct VirtualLock {
    shared: Rc<Shared>,
    owner: Rc<Cell<Option<usize>>>,
}

impl Lock for VirtualLock {
    fn acquire(&self) -> LocalBoxFuture<'_, Result<(), ClockError>> {
        Box::pin(async move {
            let owner = self.owner.clone();
            self.shared
                .block(Rc::new(move || owner.get().is_none()), None, false)
                .await?;
            self.owner.set(Some(current()));
            Ok(())
        })
    }

    fn release(&self) {
        self.owner.set(None);
    }
}

struct VirtualThread {
    shared: Rc<Shared>,
    done: Rc<Cell<bool>>,
}

impl Thread for VirtualThread {
    fn join(&self, timeout: Option<f64>) -> LocalBoxFuture<'_, Result<(), ClockError>> {
        Box::pin(async move {
            let done = self.done.clone();
            self.shared
                .block(Rc::new(move || done.get()), timeout, false)
                .await
                .map(|_| ())
        })
    }

    fn is_alive(&self) -> bool {
        !self.done.get()
    }
}

impl Clock for VirtualClock {
    fn time(&self) -> f64 {
        self.0.sched.borrow().now
    }

    fn sleep(&self, seconds: f64) -> LocalBoxFuture<'_, Result<(), ClockError>> {
        Box::pin(async move {
            self.0
                .block(Rc::new(|| false), Some(seconds.max(0.0)), false)
                .await
                .map(|_| ())
        })
    }

    fn event(&self) -> Rc<dyn Event> {
        Rc::new(VirtualEvent {
            shared: self.0.clone(),
            flag: Rc::default(),
        })
    }

    fn lock(&self) -> Rc<dyn Lock> {
        Rc::new(VirtualLock {
            shared: self.0.clone(),
            owner: Rc::default(),
        })
    }

    fn spawn(
        &self,
        name: &str,
        body: ThreadBody,
    ) -> LocalBoxFuture<'_, Result<Rc<dyn Thread>, ClockError>> {
        let name = name.to_string();
        Box::pin(async move {
            let shared = self.0.clone();
            let pid = {
                let mut s = shared.sched.borrow_mut();
                if s.shutdown {
                    return Err(ClockError::Shutdown);
                }
                let pid = s.next_pid;
                s.next_pid += 1;
                // The new thread waits for its first turn, ready at once.
                let seq = s.next_seq;
                s.next_seq += 1;
                s.waiters.push(Waiter {
                    seq,
                    pid,
                    ready: Rc::new(|| true),
                    deadline: None,
                });
                pid
            };
            let done = Rc::new(Cell::new(false));
            let task = {
                let shared = shared.clone();
                let done = done.clone();
                PARTICIPANT.scope(pid, async move {
                    let turn = Turn {
                        sched: shared.sched.clone(),
                        pid,
                    };
                    if turn.await.is_ok() {
                        shared.sync_tokio_time().await;
                        let result = body.await;
                        record(&shared.thread_errors, &name, result);
                    }
                    done.set(true);
                    let mut s = shared.sched.borrow_mut();
                    if s.runner == Some(pid) && !s.shutdown {
                        s.schedule();
                    }
                })
            };
            shared
                .tasks
                .borrow_mut()
                .push(tokio::task::spawn_local(task));
            // Like a real thread, the new one gets going at once.
            self.yield_turn().await?;
            Ok(Rc::new(VirtualThread { shared, done }) as Rc<dyn Thread>)
        })
    }

    fn take_thread_errors(&self) -> Vec<(String, PyError)> {
        std::mem::take(&mut *self.0.thread_errors.borrow_mut())
    }

    fn shutdown(&self) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            {
                let mut s = self.0.sched.borrow_mut();
                s.shutdown = true;
                for (_, waker) in s.wakers.drain() {
                    waker.wake();
                }
            }
            let tasks = std::mem::take(&mut *self.0.tasks.borrow_mut());
            for task in tasks {
                let _ = task.await;
            }
        })
    }
}

// ---------------------------------------------------------------------------------------
// tokio's own clock.

/// A port's production clock: `tokio::time` and tokio's primitives, nothing else. Under a
/// paused runtime (`start_paused`) it runs in virtual time as well; simultaneous wake-ups
/// then run in tokio's order, not necessarily the harness's.
pub struct TokioClock {
    origin: tokio::time::Instant,
    thread_errors: Rc<RefCell<Vec<(String, PyError)>>>,
    tasks: RefCell<Vec<tokio::task::JoinHandle<()>>>,
    stop: Rc<tokio::sync::Notify>,
    stopped: Rc<Cell<bool>>,
}

impl TokioClock {
    pub fn new() -> TokioClock {
        TokioClock {
            origin: tokio::time::Instant::now(),
            thread_errors: Rc::default(),
            tasks: RefCell::default(),
            stop: Rc::default(),
            stopped: Rc::default(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

fn duration(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX / 4)
}

/// Lets every task woken at this instant run before the caller goes on (a few rounds of
/// the scheduler: tokio offers no "run until idle").
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

struct TokioEvent {
    flag: Cell<bool>,
    notify: tokio::sync::Notify,
}

impl Event for TokioEvent {
    fn set(&self) {
        self.flag.set(true);
        self.notify.notify_waiters();
    }

    fn is_set(&self) -> bool {
        self.flag.get()
    }

    fn wait(&self, timeout: Option<f64>) -> LocalBoxFuture<'_, Result<bool, ClockError>> {
        Box::pin(async move {
            if self.flag.get() {
                return Ok(true);
            }
            match timeout {
                None => self.notify.notified().await,
                Some(t) => {
                    let _ = tokio::time::timeout(duration(t), self.notify.notified()).await;
                    settle().await;
                }
            }
            Ok(self.flag.get())
        })
    }
}

struct TokioLock(tokio::sync::Semaphore);

impl Lock for TokioLock {
    fn acquire(&self) -> LocalBoxFuture<'_, Result<(), ClockError>> {
        Box::pin(async move {
            match self.0.acquire().await {
                Ok(permit) => {
                    permit.forget();
                    Ok(())
                }
                Err(_) => Err(ClockError::Shutdown),
            }
        })
    }

    fn release(&self) {
        self.0.add_permits(1);
    }
}

struct TokioThread {
    done: Rc<Cell<bool>>,
    finished: Rc<tokio::sync::Notify>,
}

impl Thread for TokioThread {
    fn join(&self, timeout: Option<f64>) -> LocalBoxFuture<'_, Result<(), ClockError>> {
        Box::pin(async move {
            let wait = async {
                while !self.done.get() {
                    self.finished.notified().await;
                }
            };
            match timeout {
                None => wait.await,
                Some(t) => {
                    let _ = tokio::time::timeout(duration(t), wait).await;
                }
            }
            Ok(())
        })
    }

    fn is_alive(&self) -> bool {
        !self.done.get()
    }
}

impl Clock for TokioClock {
    fn time(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    fn sleep(&self, seconds: f64) -> LocalBoxFuture<'_, Result<(), ClockError>> {
        Box::pin(async move {
            if self.stopped.get() {
                return Err(ClockError::Shutdown);
            }
            tokio::select! {
                _ = tokio::time::sleep(duration(seconds)) => {}
                _ = self.stop.notified() => return Err(ClockError::Shutdown),
            }
            settle().await;
            Ok(())
        })
    }

    fn event(&self) -> Rc<dyn Event> {
        Rc::new(TokioEvent {
            flag: Cell::new(false),
            notify: tokio::sync::Notify::new(),
        })
    }

    fn lock(&self) -> Rc<dyn Lock> {
        Rc::new(TokioLock(tokio::sync::Semaphore::new(1)))
    }

    fn spawn(
        &self,
        name: &str,
        body: ThreadBody,
    ) -> LocalBoxFuture<'_, Result<Rc<dyn Thread>, ClockError>> {
        let name = name.to_string();
        Box::pin(async move {
            let done = Rc::new(Cell::new(false));
            let finished = Rc::new(tokio::sync::Notify::new());
            let errors = self.thread_errors.clone();
            let stop = self.stop.clone();
            let (task_done, task_finished) = (done.clone(), finished.clone());
            let task = async move {
                let result = tokio::select! {
                    result = body => result,
                    _ = stop.notified() => Ok(()),
                };
                record(&errors, &name, result);
                task_done.set(true);
                task_finished.notify_waiters();
            };
            self.tasks.borrow_mut().push(tokio::task::spawn_local(task));
            settle().await;
            Ok(Rc::new(TokioThread { done, finished }) as Rc<dyn Thread>)
        })
    }

    fn take_thread_errors(&self) -> Vec<(String, PyError)> {
        std::mem::take(&mut *self.thread_errors.borrow_mut())
    }

    fn shutdown(&self) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            self.stopped.set(true);
            self.stop.notify_waiters();
            let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
            for task in tasks {
                task.abort();
                let _ = task.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `body` as the driver on a paused current-thread runtime, as the testee does.
    fn run<F: Future<Output = ()>>(body: F) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, body);
    }

    fn poller(
        clock: &Rc<VirtualClock>,
        log: &Rc<RefCell<Vec<(usize, f64)>>>,
        id: usize,
        period: f64,
        times: usize,
    ) -> ThreadBody {
        let (clock, log) = (clock.clone(), log.clone());
        Box::pin(async move {
            for _ in 0..times {
                clock.sleep(period).await?;
                log.borrow_mut().push((id, clock.time()));
            }
            Ok(())
        })
    }

    #[test]
    fn due_threads_run_before_the_driver_in_wait_order() {
        run(async {
            let clock = Rc::new(VirtualClock::new());
            let log = Rc::new(RefCell::new(Vec::new()));
            clock
                .spawn("a", poller(&clock, &log, 0, 3.0, 2))
                .await
                .unwrap();
            clock
                .spawn("b", poller(&clock, &log, 1, 2.0, 3))
                .await
                .unwrap();
            let started = tokio::time::Instant::now();
            clock.sleep(6.0).await.unwrap();
            // At t=6 both are due: a started waiting (at t=3) before b (at t=4).
            assert_eq!(
                *log.borrow(),
                [(1, 2.0), (0, 3.0), (1, 4.0), (0, 6.0), (1, 6.0)]
            );
            assert_eq!(clock.time(), 6.0);
            // tokio's paused clock moved with it; no real time passed.
            assert_eq!(started.elapsed(), Duration::from_secs(6));
            clock.shutdown().await;
        });
    }

    #[test]
    fn events_locks_and_joins() {
        run(async {
            let clock = Rc::new(VirtualClock::new());
            let event = clock.event();
            let waited = Rc::new(Cell::new(None));
            let (c, e, w) = (clock.clone(), event.clone(), waited.clone());
            let thread = clock
                .spawn(
                    "waiter",
                    Box::pin(async move {
                        let set = e.wait(Some(100.0)).await?;
                        w.set(Some((set, c.time())));
                        Ok(())
                    }),
                )
                .await
                .unwrap();
            clock.sleep(5.0).await.unwrap();
            event.set();
            thread.join(None).await.unwrap();
            assert_eq!(waited.get(), Some((true, 5.0)));
            assert!(!thread.is_alive());
            let lock = clock.lock();
            let guard = LockGuard::acquire(&lock).await.unwrap();
            drop(guard);
            LockGuard::acquire(&lock).await.unwrap();
            clock.shutdown().await;
        });
    }

    #[test]
    fn nothing_to_wait_for_is_a_deadlock() {
        run(async {
            let clock = VirtualClock::new();
            let event = clock.event();
            assert_eq!(event.wait(None).await, Err(ClockError::Deadlock));
        });
    }

    #[test]
    fn shutdown_unwinds_waiting_threads_and_errors_are_recorded() {
        run(async {
            let clock = Rc::new(VirtualClock::new());
            let c = clock.clone();
            clock
                .spawn(
                    "sleeper",
                    Box::pin(async move {
                        c.sleep(1e9).await?;
                        Err(PyError::new("ValueError").into())
                    }),
                )
                .await
                .unwrap();
            clock
                .spawn(
                    "raiser",
                    Box::pin(async { Err(PyError::new("TypeError").into()) }),
                )
                .await
                .unwrap();
            assert_eq!(
                clock.take_thread_errors(),
                [("raiser".to_string(), PyError::new("TypeError"))]
            );
            clock.shutdown().await;
            assert!(clock.take_thread_errors().is_empty());
        });
    }

    #[test]
    fn tokio_clock_sleeps_in_paused_time() {
        run(async {
            let clock = TokioClock::new();
            clock.sleep(3600.0).await.unwrap();
            assert_eq!(clock.time(), 3600.0);
            clock.shutdown().await;
        });
    }
}
