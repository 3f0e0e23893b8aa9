//! Port of `monolith/native_training/hooks/controller_hooks.py`.
//!
//! * [`ControllerHook`] keeps a two-flag control variable `[stop, trigger_save]`. After
//!   each run it reacts to the flags: a set stop flag places the barrier with action
//!   `"Stop"` and waits (up to 30 s, polling every 2 s) for every worker to block, then
//!   removes it; otherwise a set trigger-save flag is reset and the trigger-save callback
//!   called. The stop flag is never cleared, so it also shadows trigger-save from then on.
//! * [`StopHelper`] turns a `"Stop"` barrier action into a stop request.
//! * [`QueryActionHook`] polls `<model_dir>/monolith_action` from a thread and runs the
//!   action the file asks for, answering in `monolith_action_response`.
//!
//! The hooks see the session through [`ChiefSession`], so the same code runs over the
//! example's simulated session and over a port's real one.

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::barrier_ops::{BarrierCallback, BarrierOp};
use crate::clock::ClockError;
use crate::error::{PyError, StepError};
use crate::events::Events;
use crate::text_format;

pub const STOP_ACTION: &str = "Stop";
/// How long the chief waits for all workers to block, and how often it checks.
pub const STOP_WAIT_SECONDS: f64 = 30.0;
pub const STOP_POLL_SECONDS: f64 = 2.0;
pub const ACTION_FILE: &str = "monolith_action";
pub const RESPONSE_FILE: &str = "monolith_action_response";

/// The ops of the controller's control variable a session can run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ControlOp {
    Stop,
    TriggerSave,
    ResetTriggerSave,
}

/// What the controller's hooks need from the chief's session and its clock.
pub trait ChiefSession {
    /// `session.run(op)`; a closed session raises `RuntimeError`.
    fn run_op(&mut self, op: ControlOp) -> Result<(), PyError>;
    fn events(&self) -> &Events;
    fn time(&mut self) -> f64;
    fn sleep(&mut self, seconds: f64) -> Result<(), ClockError>;
}

/// Reacts to the stop and trigger-save flags after every run.
pub struct ControllerHook {
    barrier_op: Option<BarrierOp>,
    trigger_save: Option<Box<dyn FnMut()>>,
}

impl ControllerHook {
    /// `num_ps` only decides where the control variable lives (`/job:ps/task:0` with
    /// parameter servers), which changes nothing observable, so it is not taken here.
    pub fn new(barrier_op: Option<BarrierOp>, trigger_save: Option<Box<dyn FnMut()>>) -> Self {
        ControllerHook {
            barrier_op,
            trigger_save,
        }
    }

    /// `after_run` with the control variable as this run fetched it.
    pub fn after_run(
        &mut self,
        session: &mut impl ChiefSession,
        stop: bool,
        trigger_save: bool,
    ) -> Result<(), StepError> {
        // Quirk stop-flag-never-cleared: nothing resets `stop`, so every later run stops
        // again; quirk stop-shadows-trigger-save: trigger-save is only looked at without it.
        if stop {
            // Quirk stop-ignored-without-barrier: without a barrier op nothing happens.
            if let Some(barrier) = &mut self.barrier_op {
                barrier.place_barrier(STOP_ACTION)?;
                session.events().log_info("Trying to stop all workers.");
                let start = session.time();
                while session.time() - start < STOP_WAIT_SECONDS && !barrier.is_all_blocked() {
                    session.sleep(STOP_POLL_SECONDS).map_err(StepError::from)?;
                }
                barrier.remove_barrier();
            }
        } else if trigger_save {
            session.run_op(ControlOp::ResetTriggerSave)?;
            if let Some(callback) = &mut self.trigger_save {
                callback();
            }
        }
        Ok(())
    }
}

/// Links a barrier callback (a `"Stop"` action sets should-stop) to a stop hook.
#[derive(Clone, Default)]
pub struct StopHelper {
    should_stop: Rc<Cell<bool>>,
}

impl StopHelper {
    pub fn create_barrier_callback(&self, events: Events) -> BarrierCallback {
        let should_stop = self.should_stop.clone();
        Box::new(move |action| {
            if action != STOP_ACTION {
                return;
            }
            should_stop.set(true);
            events.log_info("Receive the request to stop the training.");
        })
    }

    /// The stop hook's `after_run`: whether to request a stop.
    pub fn stop_requested(&self) -> bool {
        self.should_stop.get()
    }
}

/// What the query thread does next after a turn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    /// Wait on the close event for this many seconds.
    Wait(f64),
    Finish,
}

/// Polls `<model_dir>/monolith_action` every `query_interval` seconds on its own thread
/// (`QuertActionHookThread` in the original), until `end` sets its close event.
pub struct QueryActionHook {
    query_path: PathBuf,
    resp_path: PathBuf,
    query_interval: f64,
    closed: bool,
}

impl QueryActionHook {
    pub fn new(model_dir: &Path, query_interval: f64) -> QueryActionHook {
        QueryActionHook {
            query_path: model_dir.join(ACTION_FILE),
            resp_path: model_dir.join(RESPONSE_FILE),
            query_interval,
            closed: false,
        }
    }

    /// `after_create_session` starts the thread: it first waits one interval.
    pub fn start(&self) -> Next {
        Next::Wait(self.query_interval)
    }

    /// `end` sets the close event (the caller then joins the thread).
    pub fn end(&mut self) {
        self.closed = true;
    }

    /// Whether the close event is set (what the thread's wait waits for).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The thread's turn: its wait returned (close event set, or the interval passed).
    /// It polls once, logging any exception, and waits again.
    pub fn on_turn(&mut self, session: &mut impl ChiefSession) -> Next {
        if self.closed {
            return Next::Finish;
        }
        if let Err(error) = self.query(session) {
            session.events().logged_error(error.kind); // the original logs the traceback
        }
        Next::Wait(self.query_interval)
    }

    fn query(&mut self, session: &mut impl ChiefSession) -> Result<(), PyError> {
        if !self.query_path.exists() {
            return Ok(());
        }
        // Read as strict UTF-8 before the cleanup guard: quirk non-utf8-action-file-left.
        let bytes = fs::read(&self.query_path)?;
        let text = String::from_utf8(bytes).map_err(|_| PyError::new("UnicodeDecodeError"))?;
        let result = self.answer(session, &text);
        // `finally: os.remove(...)`: an error there replaces the body's.
        fs::remove_file(&self.query_path)?;
        result
    }

    fn answer(&mut self, session: &mut impl ChiefSession, text: &str) -> Result<(), PyError> {
        match text_format::parse_controller_hooks_proto(text) {
            Err(parse_error) => self.write_resp(&parse_error.to_string()),
            Ok(text_format::TRIGGER_SAVE) => {
                session.run_op(ControlOp::TriggerSave)?;
                self.write_resp("OK")
            }
            Ok(text_format::STOP) => {
                session.run_op(ControlOp::Stop)?;
                self.write_resp("OK")
            }
            // Quirk unknown-action-typeerror: the original calls its response writer with
            // one argument too many, so no response is written.
            Ok(_) => Err(PyError::new("TypeError")),
        }
    }

    fn write_resp(&self, content: &str) -> Result<(), PyError> {
        fs::write(&self.resp_path, content).map_err(PyError::from)
    }
}
