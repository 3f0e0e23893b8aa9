//! Simulated non-chief workers: each runs its own hooked session on its own thread
//! (`reference/testee/worlds/workers.py`).
//!
//! Every worker has its own `BarrierOp` object (own lock and callbacks) over the chief's
//! barrier variables, its `BarrierHook` and, with `stop_helper`, a `StopHelper`'s callback
//! and stop hook; with `"controller": true`, its own `ControllerHook` (no trigger-save
//! callback) last. A worker's session starts `start_seconds` after its thread does, and
//! then re-initialises the worker's local variables, as a real task's local init op does:
//! the barrier's action is among them and is shared, so a worker that starts while the
//! barrier is placed empties it (and the `Stop` is lost).

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{json, Value};

use super::{Scenario, StepError};
use crate::clock::{ClockRef, Thread};
use crate::error::{ClockError, HookResult};
use crate::events::Events;
use crate::families::{
    BarrierConfig, BarrierOp, ControllerHook, ControllerHooks, PlaceRace, SessionRunHookRef,
};
use crate::inputs;
use crate::runtime::{Fetch, MonitoredSession, Session, VariableStore};

#[derive(Clone)]
struct Spec {
    index: i64,
    runs: i64,
    run_seconds: f64,
    start_seconds: f64,
}

/// One worker's hooks and the objects whose variables its local init resets.
struct Built {
    hooks: Vec<SessionRunHookRef>,
    barrier: Rc<dyn BarrierOp>,
    controller: Option<Rc<dyn ControllerHook>>,
}

pub struct Workers {
    specs: Vec<Spec>,
    built: Vec<(i64, Rc<Built>)>,
    threads: RefCell<Vec<Rc<dyn Thread>>>,
    clock: ClockRef,
    events: Events,
    store: Rc<VariableStore>,
}

/// The barrier settings the workers' ops share (the chief's `barrier` config, or the
/// `barrier` family's config).
pub fn barrier_config(
    scenario: &Scenario,
    barrier: &Value,
    is_chief: bool,
    callbacks: Vec<crate::families::BarrierCallback>,
    race: Option<Rc<PlaceRace>>,
) -> Result<BarrierConfig, StepError> {
    let capacity = barrier
        .get("capacity")
        .ok_or_else(|| crate::error::PyError::new("KeyError"))?;
    let _ = scenario;
    Ok(BarrierConfig {
        capacity: inputs::parse_i64(capacity)?,
        is_chief,
        wait_seconds: inputs::float_or(barrier, "wait_seconds", 1.0)?,
        name_prefix: inputs::str_or(barrier, "name_prefix", "default")?.to_string(),
        callbacks,
        race,
    })
}

/// How many workers build their own ControllerHook (they race the chief to place).
pub fn controller_workers(config: &Value) -> Result<usize, StepError> {
    let mut n = 0;
    for spec in inputs::list(config, "workers")? {
        if inputs::bool_or(spec, "controller", false)? {
            n += 1;
        }
    }
    Ok(n)
}

impl Workers {
    /// Builds the hooks of every worker of `config.workers` (at set-up, as a tier on
    /// TensorFlow must before the graph is finalized).
    pub fn build(
        scenario: &Scenario,
        hooks: &Rc<dyn ControllerHooks>,
        barrier: &Value,
        race: Option<Rc<PlaceRace>>,
    ) -> Result<Workers, StepError> {
        let c = &scenario.config;
        let stop_helper = inputs::bool_or(c, "stop_helper", false)?;
        let num_ps = inputs::int_or(c, "num_ps", 0)?;
        let mut specs = Vec::new();
        let mut built = Vec::new();
        for spec in inputs::list(c, "workers")? {
            let index = inputs::parse_i64(spec.get("index").unwrap_or(&Value::Null))?;
            specs.push(Spec {
                index,
                runs: inputs::int_or(spec, "runs", 1)?,
                run_seconds: inputs::float_or(spec, "run_seconds", 1.0)?,
                start_seconds: inputs::float_or(spec, "start_seconds", 0.0)?,
            });
            let controller = inputs::bool_or(spec, "controller", false)?;
            let ctx = &scenario.ctx;
            let helper = stop_helper.then(|| hooks.stop_helper(ctx));
            let mut callbacks = vec![scenario.recorder(index)];
            if let Some(helper) = &helper {
                callbacks.push(helper.create_barrier_callback());
            }
            let race = if controller { race.clone() } else { None };
            let op = hooks.barrier_op(
                ctx,
                barrier_config(scenario, barrier, false, callbacks, race)?,
            );
            let mut worker_hooks: Vec<SessionRunHookRef> =
                vec![hooks.barrier_hook(ctx, index, op.clone())];
            if let Some(helper) = &helper {
                worker_hooks.push(helper.create_stop_hook());
            }
            let controller = controller.then(|| {
                // Its own ControllerHook over the chief's stop flags (shared on the ps),
                // last among its hooks; it places the barrier with the worker's own op.
                hooks.controller_hook(ctx, num_ps, Some(op.clone()), None)
            });
            if let Some(hook) = &controller {
                worker_hooks.push(hook.clone());
            }
            // A later worker of the same index replaces an earlier one's hooks.
            built.retain(|(i, _): &(i64, Rc<Built>)| *i != index);
            built.push((
                index,
                Rc::new(Built {
                    hooks: worker_hooks,
                    barrier: op,
                    controller,
                }),
            ));
        }
        Ok(Workers {
            specs,
            built,
            threads: RefCell::default(),
            clock: scenario.ctx.clock.clone(),
            events: scenario.events().clone(),
            store: scenario.store.clone(),
        })
    }

    /// Starts every worker's thread (each runs until it first blocks).
    pub async fn start(&self) -> Result<(), ClockError> {
        for spec in &self.specs {
            let built = self
                .built
                .iter()
                .find(|(i, _)| *i == spec.index)
                .map(|(_, b)| b.clone())
                .expect("built at set-up");
            let body = worker_loop(
                spec.clone(),
                built,
                self.clock.clone(),
                self.events.clone(),
                self.store.clone(),
            );
            let name = format!("worker{}", spec.index);
            let thread = self.clock.spawn(&name, Box::pin(body)).await?;
            self.threads.borrow_mut().push(thread);
        }
        Ok(())
    }

    /// Waits until every started worker finished.
    pub async fn join(&self) -> Result<(), ClockError> {
        let threads = std::mem::take(&mut *self.threads.borrow_mut());
        for thread in threads {
            thread.join(None).await?;
        }
        Ok(())
    }
}

async fn worker_loop(
    spec: Spec,
    built: Rc<Built>,
    clock: ClockRef,
    events: Events,
    store: Rc<VariableStore>,
) -> HookResult {
    if spec.start_seconds > 0.0 {
        clock.sleep(spec.start_seconds).await?;
    }
    let session = Session::new(store, spec.index as usize);
    let sess = MonitoredSession::create(built.hooks.clone(), session).await?;
    // `with sess:`
    let body = async {
        // The worker's local init op, when its session starts.
        built.barrier.init_locals(sess.raw_session());
        if let Some(controller) = &built.controller {
            controller.init_locals(sess.raw_session());
        }
        for _ in 0..spec.runs {
            if sess.should_stop() {
                break;
            }
            clock.sleep(spec.run_seconds).await?;
            sess.run(&Fetch::Nothing).await?;
            events.emit(json!({
                "event": "run", "worker": spec.index, "should_stop": sess.should_stop(),
            }));
        }
        Ok(())
    };
    match body.await {
        Ok(()) => {
            sess.exit(None).await?;
        }
        Err(error) => {
            if !sess.exit(Some(&error)).await? {
                return Err(error);
            }
        }
    }
    events.emit(json!({"event": "worker_done", "worker": spec.index}));
    Ok(())
}
