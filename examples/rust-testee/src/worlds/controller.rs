//! `controller` family: ControllerHook, StopHelper and QueryActionHook on the chief, with
//! an optional barrier. Scenarios with `workers` are not applicable (no simulated
//! workers in this example).

use std::path::PathBuf;

use super::feature_dump::ends_normally;
use crate::clock::{self, ClockError, Threads, VirtualClock, Wait};
use crate::error::{PyError, SetupError, StepError};
use crate::events::Events;
use crate::hooks::barrier_ops::{BarrierCallback, BarrierOp};
use crate::hooks::controller_hooks::{
    ChiefSession, ControlOp, ControllerHook, Next, QueryActionHook, StopHelper,
};
use crate::inputs;
use crate::json::Json;

/// The query thread's id for the clock (the only simulated thread here).
const QUERY_THREAD: usize = 0;

/// The chief's plain session and everything the query thread touches: the clock, the
/// controller's control variable `[stop, trigger_save]`, the query hook and its thread.
struct Chief {
    clock: VirtualClock,
    events: Events,
    stop: bool,
    trigger_save: bool,
    closed: bool,
    query: Option<QueryActionHook>,
    /// The query thread's pending wait (`None`: not started, or finished).
    query_wait: Option<Wait>,
}

impl Chief {
    fn query_finished(&self) -> bool {
        self.query_wait.is_none()
    }
}

impl ChiefSession for Chief {
    fn run_op(&mut self, op: ControlOp) -> Result<(), PyError> {
        if self.closed {
            return Err(PyError::new("RuntimeError")); // "Attempted to use a closed Session."
        }
        match op {
            ControlOp::Stop => self.stop = true,
            ControlOp::TriggerSave => self.trigger_save = true,
            ControlOp::ResetTriggerSave => self.trigger_save = false,
        }
        Ok(())
    }

    fn events(&self) -> &Events {
        &self.events
    }

    fn time(&mut self) -> f64 {
        self.clock.time()
    }

    fn sleep(&mut self, seconds: f64) -> Result<(), ClockError> {
        clock::sleep(self, seconds)
    }
}

impl Threads for Chief {
    fn clock(&mut self) -> &mut VirtualClock {
        &mut self.clock
    }

    fn waiting(&self) -> Vec<(usize, Wait, bool)> {
        let closed = self.query.as_ref().is_some_and(QueryActionHook::is_closed);
        self.query_wait
            .iter()
            .map(|w| (QUERY_THREAD, *w, closed))
            .collect()
    }

    fn resume(&mut self, _id: usize) {
        let Some(mut query) = self.query.take() else {
            return;
        };
        let next = query.on_turn(self);
        self.query = Some(query);
        self.query_wait = match next {
            Next::Wait(seconds) => Some(self.clock.wait(Some(seconds))),
            Next::Finish => None,
        };
    }
}

pub struct ControllerWorld {
    chief: Chief,
    controller: ControllerHook,
    stop_helper: Option<StopHelper>,
    should_stop: bool,
    closed: bool,
}

impl ControllerWorld {
    pub fn new(config: &Json, model_dir: String, events: Events) -> Result<Self, SetupError> {
        if !inputs::list(config, "workers")?.is_empty() {
            return Err(SetupError::NotApplicable(
                "the Rust example testee simulates no workers (BarrierHook sessions on \
                 their own threads)"
                    .into(),
            ));
        }
        let stop_helper = inputs::bool_or(config, "stop_helper", false)?.then(StopHelper::default);
        let barrier = match config.get("barrier") {
            None | Some(Json::Null) => None,
            Some(spec) => {
                let capacity = usize::try_from(inputs::int_or(spec, "capacity", 1)?)
                    .map_err(|_| "barrier.capacity: expected a non-negative integer".to_string())?;
                let recorder_events = events.clone();
                let mut callbacks: Vec<BarrierCallback> = vec![Box::new(move |action: &str| {
                    recorder_events.emit(Json::object([
                        ("event", Json::str("barrier_callback")),
                        ("worker", Json::int(0)),
                        ("action", Json::str(action)),
                    ]))
                })];
                if let Some(helper) = &stop_helper {
                    callbacks.push(helper.create_barrier_callback(events.clone()));
                }
                Some(BarrierOp::new(capacity, callbacks))
            }
        };
        let trigger_save: Option<Box<dyn FnMut()>> =
            if inputs::bool_or(config, "trigger_save", true)? {
                let events = events.clone();
                Some(Box::new(move || {
                    events.emit(Json::object([("event", Json::str("trigger_save"))]))
                }))
            } else {
                None
            };
        inputs::int_or(config, "num_ps", 0)?; // validated; see ControllerHook::new
        let controller = ControllerHook::new(barrier, trigger_save);
        let query = if inputs::bool_or(config, "query_action", false)? {
            let interval = inputs::float_or(config, "query_interval", 60.0)?;
            Some(QueryActionHook::new(&PathBuf::from(model_dir), interval))
        } else {
            None
        };
        let chief = Chief {
            clock: VirtualClock::new(),
            events,
            stop: false,
            trigger_save: false,
            closed: false,
            query,
            query_wait: None,
        };
        let mut world = ControllerWorld {
            chief,
            controller,
            stop_helper,
            should_stop: false,
            closed: false,
        };
        // The monitored session's constructor: `begin` (no-ops here), then
        // `after_create_session`, which starts the query thread.
        if let Some(query) = &world.chief.query {
            let Next::Wait(seconds) = query.start() else {
                unreachable!()
            };
            world.chief.query_wait = Some(world.chief.clock.wait(Some(seconds)));
            clock::yield_turn(&mut world.chief).map_err(|e| SetupError::Testee(e.to_string()))?;
        }
        Ok(world)
    }

    /// One monitored-session run: the caller's fetch first, then the controller's fetch
    /// of the control variable, then every hook's `after_run` in order.
    fn run(&mut self, fetch: &str) -> Result<(), StepError> {
        if self.closed {
            return Err(PyError::new("AttributeError").into()); // TF dropped its session
        }
        if self.should_stop {
            return Err(PyError::new("RuntimeError").into()); // "Run called even after should_stop requested."
        }
        match fetch {
            "dummy" => {}
            "stop_op" => self.chief.run_op(ControlOp::Stop)?,
            "trigger_save_op" => self.chief.run_op(ControlOp::TriggerSave)?,
            other => return Err(StepError::Testee(format!("unknown fetch {other:?}"))),
        }
        let (stop, trigger_save) = (self.chief.stop, self.chief.trigger_save);
        self.controller
            .after_run(&mut self.chief, stop, trigger_save)?;
        if self
            .stop_helper
            .as_ref()
            .is_some_and(StopHelper::stop_requested)
        {
            self.should_stop = true; // the stop hook's request_stop
        }
        Ok(())
    }

    /// Leaves the session's `with` block (see `feature_dump`'s `close`): on a normal
    /// close, `end` sets the query hook's close event and joins its thread.
    fn close(&mut self, ended_normally: bool) -> Result<(), StepError> {
        let mut ended = Ok(());
        if ended_normally {
            if let Some(query) = &mut self.chief.query {
                query.end();
            }
            if self.chief.query.is_some() {
                ended = clock::block(&mut self.chief, None, Chief::query_finished, false)
                    .map(|_| ())
                    .map_err(StepError::from);
            }
        }
        if self.closed {
            return Err(PyError::new("RuntimeError").into()); // "Session is already closed."
        }
        self.closed = true;
        self.chief.closed = true;
        ended
    }
}

impl ControllerWorld {
    /// One chief run of the step's fetch, reported as a `run` event.
    fn run_step(&mut self, step: &Json) -> Result<(), StepError> {
        let fetch = step.get("fetch").and_then(Json::as_str).unwrap_or("dummy");
        self.run(fetch)?;
        self.chief.events.emit(Json::object([
            ("event", Json::str("run")),
            ("worker", Json::int(0)),
            ("fetch", Json::str(fetch)),
            ("should_stop", Json::Bool(self.closed || self.should_stop)),
        ]));
        Ok(())
    }
}

impl super::World for ControllerWorld {
    fn step(&mut self, op: &str, step: &Json) -> Result<(), StepError> {
        match op {
            "run" => self.run_step(step)?,
            "run_while_not_stopped" => {
                // A training loop: should_stop is checked before every run.
                let most = inputs::int_or(step, "max_runs", 0).map_err(StepError::Testee)?;
                for _ in 0..most {
                    if self.closed || self.should_stop {
                        break;
                    }
                    self.run_step(step)?;
                }
            }
            "end" => {
                let normal = ends_normally(step.get("error").and_then(Json::as_str))?;
                self.close(normal)?;
            }
            "join_workers" => {} // there are none
            _ => return Err(super::unknown_op(op)),
        }
        Ok(())
    }

    fn advance(&mut self, seconds: f64) -> Result<(), StepError> {
        clock::sleep(&mut self.chief, seconds).map_err(StepError::from)
    }
}
