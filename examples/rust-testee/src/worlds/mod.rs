//! One simulated world per scenario family (`reference/testee/worlds/`): it builds the
//! family's hooks through the [`HookSet`]'s traits from the scenario's `config`, and runs
//! the steps against them on the simulated runtime. This is harness code: a port keeps it
//! and swaps the hooks (`crate::families`).

mod barrier;
mod chief;
mod controller;
mod feature_dump;
mod hook_utils;
mod slot_count;
mod workers;

use std::path::PathBuf;
use std::rc::Rc;

use serde_json::{json, Value};

use crate::error::{ClockError, HookError, PyError};
use crate::events::Events;
use crate::families::{BarrierCallback, HookContext, HookSet};
use crate::inputs;
use crate::runtime::{Session, VariableStore};

/// Why a step did not complete.
#[derive(Debug)]
pub enum StepError {
    /// The hooks raised (an observation: an `error` event), or the clock failed.
    Hook(HookError),
    /// The testee itself cannot go on (bad input it cannot read): an `error` reply.
    Testee(String),
}

impl From<HookError> for StepError {
    fn from(error: HookError) -> StepError {
        StepError::Hook(error)
    }
}

impl From<PyError> for StepError {
    fn from(error: PyError) -> StepError {
        StepError::Hook(HookError::Raised(error))
    }
}

impl From<ClockError> for StepError {
    fn from(error: ClockError) -> StepError {
        StepError::Hook(HookError::Clock(error))
    }
}

impl From<&str> for StepError {
    fn from(message: &str) -> StepError {
        StepError::Testee(message.to_string())
    }
}

impl From<String> for StepError {
    fn from(message: String) -> StepError {
        StepError::Testee(message)
    }
}

pub type StepResult = Result<(), StepError>;

/// What every world of a scenario shares.
pub struct Scenario {
    pub hooks: HookSet,
    pub ctx: HookContext,
    pub config: Value,
    /// `os.path.normpath(os.path.join(files_dir, config.model_dir))`.
    pub model_dir: PathBuf,
    /// What every simulated session of the scenario shares (the job's variables).
    pub store: Rc<VariableStore>,
}

impl Scenario {
    pub fn events(&self) -> &Events {
        &self.ctx.events
    }

    /// A session without hooks: worker `worker`'s view of the shared variables.
    pub fn plain_session(&self, worker: usize) -> Rc<Session> {
        Session::new(self.store.clone(), worker)
    }

    /// A barrier callback reporting each call as a `barrier_callback` event.
    pub fn recorder(&self, worker: i64) -> BarrierCallback {
        let events = self.events().clone();
        Rc::new(move |action: &str, _session: &Session| {
            events.emit(json!({"event": "barrier_callback", "worker": worker, "action": action}));
        })
    }
}

/// A family's world for one scenario.
pub enum World {
    HookUtils(hook_utils::HookUtilsWorld),
    SlotCount(slot_count::SlotCountWorld),
    FeatureDump(feature_dump::FeatureDumpWorld),
    Controller(controller::ControllerWorld),
    Barrier(barrier::BarrierWorld),
}

/// Why `setup` did not build a world.
#[derive(Debug)]
pub enum SetupError {
    /// The scenario needs something these hooks cannot express: `not_applicable`.
    NotApplicable(String),
    /// The set-up failed (an exception building the world, bad input): `error`.
    Failed(String),
}

impl World {
    /// Builds the family's world and creates its session (`begin`, `after_create_session`).
    pub async fn setup(
        hooks: &HookSet,
        ctx: HookContext,
        scenario: &Value,
        files_dir: &str,
    ) -> Result<World, SetupError> {
        let family = scenario.get("family").and_then(Value::as_str).unwrap_or("");
        let config = scenario.get("config").cloned().unwrap_or_else(|| json!({}));
        let relative = inputs::str_or(&config, "model_dir", ".").map_err(SetupError::Failed)?;
        let scenario = Scenario {
            hooks: hooks.clone(),
            ctx,
            model_dir: PathBuf::from(normpath(&join(files_dir, relative))),
            config,
            store: Rc::default(),
        };
        let not_served = || SetupError::NotApplicable(format!("family {family:?} is not served"));
        let failed = |e: StepError| match e {
            StepError::Hook(HookError::Raised(e)) => SetupError::Failed(e.to_string()),
            StepError::Hook(HookError::Clock(e)) => SetupError::Failed(e.to_string()),
            StepError::Testee(message) => SetupError::Failed(message),
        };
        Ok(match family {
            "hook_utils" => {
                let hooks = hooks.hook_utils.clone().ok_or_else(not_served)?;
                World::HookUtils(
                    hook_utils::HookUtilsWorld::setup(scenario, hooks).map_err(failed)?,
                )
            }
            "slot_count" => {
                let hooks = hooks.slot_count.clone().ok_or_else(not_served)?;
                World::SlotCount(
                    slot_count::SlotCountWorld::setup(scenario, hooks).map_err(failed)?,
                )
            }
            "feature_dump" => {
                let hooks = hooks.feature_dump.clone().ok_or_else(not_served)?;
                let world = feature_dump::FeatureDumpWorld::setup(scenario, hooks).await;
                World::FeatureDump(world.map_err(failed)?)
            }
            "controller" => {
                let hooks = hooks.controller.clone().ok_or_else(not_served)?;
                let world = controller::ControllerWorld::setup(scenario, hooks).await;
                World::Controller(world.map_err(failed)?)
            }
            "barrier" => {
                let hooks = hooks.controller.clone().ok_or_else(not_served)?;
                World::Barrier(barrier::BarrierWorld::setup(scenario, hooks).map_err(failed)?)
            }
            other => return Err(SetupError::Failed(format!("unknown family {other:?}"))),
        })
    }

    /// One implementation step (not `advance`), `count` times, stopping at the first error.
    pub async fn step(&self, step: &Value) -> StepResult {
        let op = step.get("op").and_then(Value::as_str).unwrap_or("");
        let count = inputs::int_or(step, "count", 1)?;
        for _ in 0..count {
            let handled = match self {
                World::HookUtils(w) => w.step(op, step),
                World::SlotCount(w) => w.step(op, step),
                World::FeatureDump(w) => w.step(op, step).await,
                World::Controller(w) => w.step(op, step).await,
                World::Barrier(w) => w.step(op, step).await,
            };
            match handled {
                Some(result) => result?,
                // The reference: `ValueError: family does not support op ...`.
                None => return Err(PyError::new("ValueError").into()),
            }
        }
        Ok(())
    }
}

fn join(base: &str, relative: &str) -> String {
    if relative.starts_with('/') {
        relative.to_string()
    } else {
        format!("{base}/{relative}")
    }
}

/// POSIX `os.path.normpath`: no empty or `.` components, `..` resolved lexically.
pub fn normpath(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// A step's global step (int64).
fn global_step(step: &Value) -> Result<i64, StepError> {
    Ok(inputs::parse_i64(
        step.get("global_step").unwrap_or(&Value::Null),
    )?)
}

#[cfg(test)]
mod tests {
    use super::normpath;

    #[test]
    fn normpath_like_python() {
        assert_eq!(normpath("/tmp/x/files/."), "/tmp/x/files");
        assert_eq!(
            normpath("/tmp/x/files/jobs/a/../b//model/"),
            "/tmp/x/files/jobs/b/model"
        );
        assert_eq!(normpath("/../a"), "/a");
        assert_eq!(normpath("a/../.."), "..");
    }
}
