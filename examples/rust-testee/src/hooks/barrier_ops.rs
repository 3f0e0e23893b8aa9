//! Port of `monolith/native_training/barrier_ops.py`: `BarrierOp`, a barrier the chief
//! places and workers block at, and `BarrierHook`, which blocks a worker after each run
//! while it is placed.
//!
//! A bool vector of `capacity` flags plus an action string, both on the parameter server
//! (shared variables of the job's store): flag 0 says the barrier is placed, flag `i > 0`
//! that worker `i` is blocked at it. Every worker holds its own `BarrierOp` object (own
//! lock, own callbacks, own wait-log throttle) over the shared variables.

use std::cell::Cell;
use std::rc::Rc;

use super::ExampleHooks;
use crate::clock::{ClockRef, LocalBoxFuture, Lock, LockGuard};
use crate::error::{HookResult, PyError};
use crate::events::Events;
use crate::families::{BarrierConfig, BarrierOp, HookContext};
use crate::runtime::{Fetch, RunContext, Session, SessionRunHook, Value, Var, Variable};

/// How often a blocked worker repeats its "waits until barrier removed" log line.
pub const WAIT_LOG_EVERY_SECONDS: f64 = 60.0;

pub struct ExampleBarrierOp {
    config: BarrierConfig,
    clock: ClockRef,
    events: Events,
    barrier_vars: Var,
    action: Var,
    lock: Rc<dyn Lock>,
    last_wait_log: Cell<Option<f64>>,
    raced: Cell<bool>,
}

impl ExampleBarrierOp {
    pub fn new(ctx: &HookContext, config: BarrierConfig) -> ExampleBarrierOp {
        let scope = format!("{}_barrier_op", config.name_prefix);
        let capacity = usize::try_from(config.capacity).unwrap_or(0);
        ExampleBarrierOp {
            barrier_vars: Variable::new(
                format!("{scope}/barrier_var"),
                Value::Bools(vec![false; capacity]),
                false,
            ),
            action: Variable::new(
                format!("{scope}/barrier_op_action"),
                Value::Str(String::new()),
                false,
            ),
            lock: ctx.clock.lock(),
            clock: ctx.clock.clone(),
            events: ctx.events.clone(),
            last_wait_log: Cell::new(None),
            raced: Cell::new(false),
            config,
        }
    }

    fn run_barrier_callbacks(&self, action: &str, session: &Session) {
        for callback in &self.config.callbacks {
            callback(action, session);
        }
    }

    fn flags(&self, session: &Session) -> Result<Vec<bool>, PyError> {
        Ok(session
            .run(&Fetch::Variable(self.barrier_vars.clone()))?
            .as_bools()?
            .to_vec())
    }

    /// `session.run(self._barrier_vars[index].assign(value))`.
    fn set_flag(&self, session: &Session, index: i64, value: bool) -> Result<(), PyError> {
        let vars = self.barrier_vars.clone();
        session.run(&Fetch::op(move |s| s.assign_element(&vars, index, value)))?;
        Ok(())
    }

    /// Like absl's `log_every_n_seconds`: the first call logs, then at most once a period.
    fn log_waiting(&self, index: i64) {
        let now = self.clock.time();
        let due = match self.last_wait_log.get() {
            None => true,
            Some(last) => now - last >= WAIT_LOG_EVERY_SECONDS,
        };
        if due {
            self.last_wait_log.set(Some(now));
            self.events
                .info(format!("The worker {index} waits until barrier removed."));
        }
    }
}

impl BarrierOp for ExampleBarrierOp {
    fn capacity(&self) -> i64 {
        self.config.capacity
    }

    fn barrier_placed_tensor(&self) -> Fetch {
        Fetch::Element(self.barrier_vars.clone(), 0)
    }

    fn place_barrier<'a>(
        &'a self,
        session: &'a Session,
        action: &'a str,
    ) -> LocalBoxFuture<'a, HookResult> {
        Box::pin(async move {
            let _guard = LockGuard::acquire(&self.lock).await?;
            let placed = self.is_barrier_placed(session)?;
            if let Some(race) = &self.config.race {
                if !self.raced.replace(true) {
                    race.checked().await?;
                }
            }
            if placed {
                return Err(PyError::with_message("BarrierAlreadyPlacedError", "").into());
            }
            // One run of [place_op, action_assign]: flag 0, then the action.
            let (vars, var, text) = (
                self.barrier_vars.clone(),
                self.action.clone(),
                action.to_string(),
            );
            session.run(&Fetch::op(move |s| {
                s.assign_element(&vars, 0, true)?;
                s.raw_write(&var, Value::Str(text.clone()));
                Ok(())
            }))?;
            self.run_barrier_callbacks(action, session);
            Ok(())
        })
    }

    /// Clears flag 0 under the lock, without checking that it was set; the action stays
    /// (quirk barrier-action-not-cleared).
    fn remove_barrier<'a>(&'a self, session: &'a Session) -> LocalBoxFuture<'a, HookResult> {
        Box::pin(async move {
            let _guard = LockGuard::acquire(&self.lock).await?;
            self.set_flag(session, 0, false)?;
            Ok(())
        })
    }

    fn is_barrier_placed(&self, session: &Session) -> Result<bool, PyError> {
        Ok(session.run(&self.barrier_placed_tensor())?.truthy())
    }

    fn is_barrier_removed(&self, session: &Session) -> Result<bool, PyError> {
        Ok(!self.is_barrier_placed(session)?)
    }

    fn is_all_blocked(&self, session: &Session) -> Result<bool, PyError> {
        let flags = self.flags(session)?;
        Ok(flags.iter().filter(|&&f| f).count() as i64 == self.config.capacity)
    }

    fn is_none_blocked(&self, session: &Session) -> Result<bool, PyError> {
        Ok(!self.flags(session)?.iter().any(|&f| f))
    }

    fn get_blocked_indices(&self, session: &Session) -> Result<Vec<i64>, PyError> {
        let flags = self.flags(session)?;
        Ok((0..self.config.capacity)
            .filter(|&i| flags.get(i as usize).copied().unwrap_or(false))
            .collect())
    }

    fn get_unblocked_indices(&self, session: &Session) -> Result<Vec<i64>, PyError> {
        let flags = self.flags(session)?;
        Ok((0..self.config.capacity)
            .filter(|&i| !flags.get(i as usize).copied().unwrap_or(false))
            .collect())
    }

    fn wait_until_barrier_removed<'a>(
        &'a self,
        session: &'a Session,
        index: i64,
    ) -> LocalBoxFuture<'a, HookResult> {
        Box::pin(async move {
            {
                let _guard = LockGuard::acquire(&self.lock).await?;
                if index <= 0 || index >= self.config.capacity {
                    return Err(PyError::with_message(
                        "ValueError",
                        format!(
                            "Index [{index}] must be non-negative and less than capacity [{}]. ",
                            self.config.capacity
                        ),
                    )
                    .into());
                }
                self.set_flag(session, index, true)?;
                let action = match session.run(&Fetch::Variable(self.action.clone()))? {
                    Value::Str(action) => action,
                    _ => String::new(),
                };
                self.run_barrier_callbacks(&action, session);
            }
            // The poll and the clearing of the own flag run without the lock, so another
            // waiter on this object can arrive, and remove_barrier is not blocked meanwhile.
            while !self.is_barrier_removed(session)? {
                self.log_waiting(index);
                self.clock.sleep(self.config.wait_seconds).await?;
            }
            self.set_flag(session, index, false)?;
            Ok(())
        })
    }

    fn init_locals(&self, session: &Session) {
        session.raw_write(&self.action, self.action.initial.clone());
    }
}

/// Blocks a worker (index > 0) after each run while the barrier is placed.
pub struct BarrierHook {
    index: i64,
    op: Rc<dyn BarrierOp>,
}

impl SessionRunHook for BarrierHook {
    fn before_run(&self, _context: &RunContext) -> Result<Fetch, PyError> {
        Ok(self.op.barrier_placed_tensor())
    }

    fn after_run<'a>(
        &'a self,
        context: &'a RunContext,
        value: Value,
    ) -> LocalBoxFuture<'a, HookResult> {
        Box::pin(async move {
            if self.index > 0 && value.truthy() {
                self.op
                    .wait_until_barrier_removed(&context.session, self.index)
                    .await?;
            }
            Ok(())
        })
    }
}

impl ExampleHooks {
    pub fn new_barrier_hook(index: i64, op: Rc<dyn BarrierOp>) -> BarrierHook {
        BarrierHook { index, op }
    }
}
