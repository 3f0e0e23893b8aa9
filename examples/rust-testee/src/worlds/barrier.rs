//! `barrier` family: a BarrierOp driven directly by the chief, BarrierHooks on worker
//! threads, and `wait` threads.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{json, Value};

use super::workers::{barrier_config, Workers};
use super::{Scenario, StepResult};
use crate::clock::Thread;
use crate::error::PyError;
use crate::families::{BarrierOp, ControllerHooks};
use crate::inputs;
use crate::runtime::Session;

pub struct BarrierWorld {
    scenario: Scenario,
    op: Rc<dyn BarrierOp>,
    session: Rc<Session>,
    workers: Workers,
    waiters: RefCell<Vec<Rc<dyn Thread>>>,
}

impl BarrierWorld {
    pub fn setup(
        scenario: Scenario,
        hooks: Rc<dyn ControllerHooks>,
    ) -> Result<Self, super::StepError> {
        let config = barrier_config(
            &scenario,
            &scenario.config,
            true,
            vec![scenario.recorder(0)],
            None,
        )?;
        let op = hooks.barrier_op(&scenario.ctx, config);
        let workers = Workers::build(&scenario, &hooks, &scenario.config, None)?;
        Ok(BarrierWorld {
            session: scenario.plain_session(0),
            scenario,
            op,
            workers,
            waiters: RefCell::default(),
        })
    }

    fn query(&self, what: &str) -> Result<Value, PyError> {
        let s = &self.session;
        Ok(match what {
            "is_barrier_placed" => json!(self.op.is_barrier_placed(s)?),
            "is_barrier_removed" => json!(self.op.is_barrier_removed(s)?),
            "is_all_blocked" => json!(self.op.is_all_blocked(s)?),
            "is_none_blocked" => json!(self.op.is_none_blocked(s)?),
            "get_blocked_indices" => json!(self.op.get_blocked_indices(s)?),
            "get_unblocked_indices" => json!(self.op.get_unblocked_indices(s)?),
            _ => return Err(PyError::new("ValueError")),
        })
    }

    /// `wait_until_barrier_removed(index)` on its own thread, like a blocked worker, with
    /// the chief's BarrierOp object.
    async fn wait(&self, step: &Value) -> StepResult {
        let index = inputs::int_or(step, "index", 0)?;
        let op = self.op.clone();
        let session = self.scenario.plain_session(index as usize);
        let events = self.scenario.events().clone();
        let body = async move {
            op.wait_until_barrier_removed(&session, index).await?;
            events.emit(json!({"event": "wait_returned", "index": index}));
            Ok(())
        };
        let clock = &self.scenario.ctx.clock;
        let thread = clock.spawn(&format!("wait{index}"), Box::pin(body)).await?;
        self.waiters.borrow_mut().push(thread);
        Ok(())
    }

    pub async fn step(&self, op: &str, step: &Value) -> Option<StepResult> {
        let s = &self.session;
        Some(match op {
            "place" => {
                let action = inputs::str_or(step, "action", "");
                match action {
                    Ok(action) => self.op.place_barrier(s, action).await.map_err(Into::into),
                    Err(e) => Err(e.into()),
                }
            }
            "remove" => self.op.remove_barrier(s).await.map_err(Into::into),
            "query" => {
                let what = inputs::str_or(step, "what", "").unwrap_or("");
                match self.query(what) {
                    Ok(value) => {
                        self.scenario
                            .events()
                            .emit(json!({"event": "result", "what": what, "value": value}));
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            }
            "wait" => self.wait(step).await,
            "start_workers" => self.workers.start().await.map_err(Into::into),
            "join_workers" => {
                let joined = async {
                    self.workers.join().await?;
                    let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
                    for thread in waiters {
                        thread.join(None).await?;
                    }
                    Ok(())
                };
                joined.await
            }
            _ => return None,
        })
    }
}
