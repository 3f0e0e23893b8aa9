//! `controller` family: ControllerHook, StopHelper, QueryActionHook on the chief, an
//! optional barrier, and workers.

use std::rc::Rc;

use serde_json::{json, Value};

use super::chief::ChiefSession;
use super::workers::{barrier_config, controller_workers, Workers};
use super::{Scenario, StepError, StepResult};
use crate::families::{ControllerHooks, PlaceRace, SessionRunHookRef};
use crate::inputs;
use crate::runtime::{Fetch, MonitoredSession};

pub struct ControllerWorld {
    chief: ChiefSession,
    workers: Workers,
}

impl ControllerWorld {
    pub async fn setup(
        scenario: Scenario,
        hooks: Rc<dyn ControllerHooks>,
    ) -> Result<Self, StepError> {
        let c = &scenario.config;
        let ctx = &scenario.ctx;
        let helper = inputs::bool_or(c, "stop_helper", false)?.then(|| hooks.stop_helper(ctx));
        let barrier_cfg = c.get("barrier").filter(|b| !b.is_null());
        // place_race "together": every racer's first check comes before any sets the flag
        // ("first", the default, and "open" resolved so: nothing to arrange).
        let race = match (c.get("place_race").and_then(Value::as_str), barrier_cfg) {
            (Some("together"), Some(_)) => {
                Some(PlaceRace::new(&ctx.clock, 1 + controller_workers(c)?))
            }
            _ => None,
        };
        let barrier = match barrier_cfg {
            None => None,
            Some(spec) => {
                let mut callbacks = vec![scenario.recorder(0)];
                if let Some(helper) = &helper {
                    callbacks.push(helper.create_barrier_callback());
                }
                let config = barrier_config(&scenario, spec, true, callbacks, race.clone())?;
                Some(hooks.barrier_op(ctx, config))
            }
        };
        let trigger_save: Option<Rc<dyn Fn()>> = if inputs::bool_or(c, "trigger_save", true)? {
            let events = scenario.events().clone();
            Some(Rc::new(move || {
                events.emit(json!({"event": "trigger_save"}))
            }))
        } else {
            None
        };
        let num_ps = inputs::int_or(c, "num_ps", 0)?;
        let controller = hooks.controller_hook(ctx, num_ps, barrier, trigger_save);
        let mut session_hooks: Vec<SessionRunHookRef> = vec![controller.clone()];
        if let Some(helper) = &helper {
            session_hooks.push(helper.create_stop_hook());
        }
        if inputs::bool_or(c, "query_action", false)? {
            let interval = inputs::float_or(c, "query_interval", 60.0)?;
            session_hooks.push(hooks.query_action_hook(
                ctx,
                &scenario.model_dir,
                controller.clone(),
                interval,
            ));
        }
        let fetches = vec![
            ("dummy", Fetch::Nothing),
            ("stop_op", controller.stop_op()),
            ("trigger_save_op", controller.trigger_save_op()),
        ];
        let empty = json!({});
        let workers = Workers::build(&scenario, &hooks, barrier_cfg.unwrap_or(&empty), race)?;
        let session = MonitoredSession::create(session_hooks, scenario.plain_session(0)).await?;
        workers.start().await?;
        Ok(ControllerWorld {
            chief: ChiefSession {
                session,
                fetches,
                default_fetch: "dummy",
                assigning: &["stop_op", "trigger_save_op"],
                events: scenario.events().clone(),
            },
            workers,
        })
    }

    pub async fn step(&self, op: &str, step: &Value) -> Option<StepResult> {
        Some(match op {
            "run" => self.chief.op_run(step).await,
            "run_while_not_stopped" => self.chief.op_run_while_not_stopped(step).await,
            "end" => self.chief.op_end(step).await,
            "join_workers" => self.workers.join().await.map_err(Into::into),
            _ => return None,
        })
    }
}
