//! Port of `monolith/native_training/hooks/controller_hooks.py`.
//!
//! * [`ExampleControllerHook`] keeps a two-flag control variable `[stop, trigger_save]`.
//!   After each run it reacts to the flags: a set stop flag places the barrier with action
//!   `"Stop"` and waits (up to 30 s, polling every 2 s) for every worker to block, then
//!   removes it; otherwise a set trigger-save flag is reset and the callback called. The
//!   stop flag is never cleared, so it also shadows trigger-save from then on.
//! * [`ExampleStopHelper`] turns a `"Stop"` barrier action into a stop request.
//! * [`QueryActionHook`] polls `<model_dir>/monolith_action` from a thread and runs the
//!   action the file asks for (a `monolith.ControllerHooksProto` in text format), answering
//!   in `monolith_action_response`.

use std::cell::{Cell, RefCell};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::barrier_ops::ExampleBarrierOp;
use super::ExampleHooks;
use crate::clock::{ClockRef, Event, LocalBoxFuture, Thread};
use crate::error::{HookResult, PyError};
use crate::events::Events;
use crate::families::{
    BarrierCallback, BarrierConfig, BarrierOp, ControllerHook, ControllerHooks, HookContext,
    StopHelper,
};
use crate::proto::monolith::controller_hooks_proto::Action;
use crate::runtime::{Fetch, RunContext, Session, SessionRunHook, Value, Var, Variable};
use crate::text_format;

pub const STOP_ACTION: &str = "Stop";
/// How long the chief waits for all workers to block, and how often it checks.
pub const STOP_WAIT_SECONDS: f64 = 30.0;
pub const STOP_POLL_SECONDS: f64 = 2.0;
pub const ACTION_FILE: &str = "monolith_action";
pub const RESPONSE_FILE: &str = "monolith_action_response";

/// Reacts to the stop and trigger-save flags after every run.
pub struct ExampleControllerHook {
    clock: ClockRef,
    events: Events,
    barrier: Option<Rc<dyn BarrierOp>>,
    trigger_save: Option<Rc<dyn Fn()>>,
    /// `[stop, trigger_save]`: local to the task, or on the parameter server (shared by
    /// every task's ControllerHook) when `num_ps > 0`.
    control_var: Var,
}

impl ExampleControllerHook {
    fn assign(&self, index: i64, value: bool) -> Fetch {
        let var = self.control_var.clone();
        Fetch::op(move |s| s.assign_element(&var, index, value))
    }
}

impl SessionRunHook for ExampleControllerHook {
    fn before_run(&self, _context: &RunContext) -> Result<Fetch, PyError> {
        Ok(Fetch::Variable(self.control_var.clone()))
    }

    fn after_run<'a>(
        &'a self,
        context: &'a RunContext,
        value: Value,
    ) -> LocalBoxFuture<'a, HookResult> {
        Box::pin(async move {
            let flags = value.as_bools()?;
            let (stop, trigger_save) = (flags[0], flags[1]);
            // Quirk stop-flag-never-cleared: nothing resets `stop`, so every later run stops
            // again; quirk stop-shadows-trigger-save: trigger-save is only looked at without.
            if stop {
                // Quirk stop-ignored-without-barrier: without a barrier op nothing happens.
                if let Some(barrier) = &self.barrier {
                    let session = &context.session;
                    barrier.place_barrier(session, STOP_ACTION).await?;
                    self.events.info("Trying to stop all workers.");
                    let start = self.clock.time();
                    while self.clock.time() - start < STOP_WAIT_SECONDS
                        && !barrier.is_all_blocked(session)?
                    {
                        self.clock.sleep(STOP_POLL_SECONDS).await?;
                    }
                    barrier.remove_barrier(session).await?;
                }
            } else if trigger_save {
                context.session.run(&self.assign(1, false))?;
                if let Some(callback) = &self.trigger_save {
                    callback();
                }
            }
            Ok(())
        })
    }
}

impl ControllerHook for ExampleControllerHook {
    fn stop_op(&self) -> Fetch {
        self.assign(0, true)
    }

    fn trigger_save_op(&self) -> Fetch {
        self.assign(1, true)
    }

    fn init_locals(&self, session: &Session) {
        session.raw_write(&self.control_var, self.control_var.initial.clone());
    }
}

/// Links a barrier callback (a `"Stop"` action sets should-stop) to a stop hook.
pub struct ExampleStopHelper {
    should_stop: Rc<Cell<bool>>,
    events: Events,
}

struct StopHook {
    should_stop: Rc<Cell<bool>>,
}

impl SessionRunHook for StopHook {
    fn after_run<'a>(
        &'a self,
        context: &'a RunContext,
        _value: Value,
    ) -> LocalBoxFuture<'a, HookResult> {
        Box::pin(async move {
            if self.should_stop.get() {
                context.request_stop();
            }
            Ok(())
        })
    }
}

impl StopHelper for ExampleStopHelper {
    fn create_barrier_callback(&self) -> BarrierCallback {
        let (should_stop, events) = (self.should_stop.clone(), self.events.clone());
        Rc::new(move |action: &str, _session: &Session| {
            if action != STOP_ACTION {
                return;
            }
            should_stop.set(true);
            events.info("Receive the request to stop the training.");
        })
    }

    fn create_stop_hook(&self) -> Rc<dyn SessionRunHook> {
        Rc::new(StopHook {
            should_stop: self.should_stop.clone(),
        })
    }
}

/// What the query thread shares with the hook.
struct Query {
    query_path: PathBuf,
    resp_path: PathBuf,
    controller: Rc<dyn ControllerHook>,
    query_interval: f64,
    events: Events,
    close: Rc<dyn Event>,
    session: RefCell<Option<Rc<Session>>>,
}

/// Polls `<model_dir>/monolith_action` every `query_interval` seconds on its own thread
/// (`QuertActionHookThread`, the original's spelling), until `end` sets its close event.
pub struct QueryActionHook {
    clock: ClockRef,
    query: Rc<Query>,
    thread: RefCell<Option<Rc<dyn Thread>>>,
}

impl SessionRunHook for QueryActionHook {
    fn after_create_session<'a>(
        &'a self,
        session: &'a Rc<Session>,
    ) -> LocalBoxFuture<'a, HookResult> {
        Box::pin(async move {
            *self.query.session.borrow_mut() = Some(session.clone());
            let query = self.query.clone();
            let thread = self
                .clock
                .spawn("QuertActionHookThread", Box::pin(query_loop(query)))
                .await?;
            *self.thread.borrow_mut() = Some(thread);
            Ok(())
        })
    }

    fn end<'a>(&'a self, _session: &'a Rc<Session>) -> LocalBoxFuture<'a, HookResult> {
        Box::pin(async move {
            self.query.close.set();
            let thread = self.thread.borrow().clone();
            if let Some(thread) = thread {
                thread.join(None).await?;
            }
            Ok(())
        })
    }
}

async fn query_loop(query: Rc<Query>) -> HookResult {
    loop {
        if query.close.wait(Some(query.query_interval)).await? {
            return Ok(());
        }
        // The original logs every exception (its traceback) and keeps polling.
        if let Err(error) = query.query() {
            query.events.logged_error(error.kind);
        }
    }
}

impl Query {
    fn query(&self) -> Result<(), PyError> {
        if fs::metadata(&self.query_path).is_err() {
            return Ok(()); // os.path.exists
        }
        // Read as strict UTF-8 before the cleanup guard: quirk non-utf8-action-file-left.
        let bytes = fs::read(&self.query_path)?;
        let text = String::from_utf8(bytes).map_err(|_| PyError::new("UnicodeDecodeError"))?;
        let result = self.answer(&text);
        // `finally: os.remove(...)`: an error there replaces the body's.
        fs::remove_file(&self.query_path)?;
        result
    }

    fn answer(&self, text: &str) -> Result<(), PyError> {
        let proto = match text_format::parse_controller_hooks_proto(text) {
            Ok(proto) => proto,
            Err(parse_error) => return self.write_resp(&parse_error.to_string()),
        };
        let session = self
            .session
            .borrow()
            .clone()
            .ok_or(PyError::new("AttributeError"))?;
        match Action::from_i32(proto.action.unwrap_or_default()) {
            Some(Action::TriggerSave) => {
                session.run(&self.controller.trigger_save_op())?;
            }
            Some(Action::Stop) => {
                session.run(&self.controller.stop_op())?;
            }
            // Quirk unknown-action-typeerror: the original calls its response writer with
            // one argument too many, so a TypeError and no response.
            _ => return Err(PyError::new("TypeError")),
        }
        self.write_resp("OK")
    }

    fn write_resp(&self, content: &str) -> Result<(), PyError> {
        fs::write(&self.resp_path, content).map_err(PyError::from)
    }
}

impl ControllerHooks for ExampleHooks {
    fn barrier_op(&self, ctx: &HookContext, config: BarrierConfig) -> Rc<dyn BarrierOp> {
        Rc::new(ExampleBarrierOp::new(ctx, config))
    }

    fn barrier_hook(
        &self,
        _ctx: &HookContext,
        index: i64,
        op: Rc<dyn BarrierOp>,
    ) -> Rc<dyn SessionRunHook> {
        Rc::new(ExampleHooks::new_barrier_hook(index, op))
    }

    fn stop_helper(&self, ctx: &HookContext) -> Rc<dyn StopHelper> {
        Rc::new(ExampleStopHelper {
            should_stop: Rc::default(),
            events: ctx.events.clone(),
        })
    }

    fn controller_hook(
        &self,
        ctx: &HookContext,
        num_ps: i64,
        barrier: Option<Rc<dyn BarrierOp>>,
        trigger_save: Option<Rc<dyn Fn()>>,
    ) -> Rc<dyn ControllerHook> {
        Rc::new(ExampleControllerHook {
            clock: ctx.clock.clone(),
            events: ctx.events.clone(),
            barrier,
            trigger_save,
            control_var: Variable::new(
                "monolith_controller_hook/control_var",
                Value::Bools(vec![false, false]),
                num_ps == 0,
            ),
        })
    }

    fn query_action_hook(
        &self,
        ctx: &HookContext,
        model_dir: &Path,
        controller: Rc<dyn ControllerHook>,
        query_interval: f64,
    ) -> Rc<dyn SessionRunHook> {
        Rc::new(QueryActionHook {
            clock: ctx.clock.clone(),
            query: Rc::new(Query {
                query_path: model_dir.join(ACTION_FILE),
                resp_path: model_dir.join(RESPONSE_FILE),
                controller,
                query_interval,
                events: ctx.events.clone(),
                close: ctx.clock.event(),
                session: RefCell::new(None),
            }),
            thread: RefCell::new(None),
        })
    }
}
