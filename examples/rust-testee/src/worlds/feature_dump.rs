//! `feature_dump` family: FeatureEngineeringSaveHook over a simulated dataset iterator,
//! in a monitored session that follows TensorFlow's rules for closing.

use crate::error::{PyError, StepError};
use crate::events::Events;
use crate::hooks::feature_engineering_hooks::{FeatureEngineeringSaveHook, RunConfig};
use crate::inputs::{self, Batch};
use crate::json::Json;

/// Bounds `run_until_end` (a dataset in this format always ends).
const MAX_RUNS: usize = 1_000_000;

/// The k-th (0-based) uuid after the configured ones: `0000000k-0000-1000-8000-000000000000`.
pub fn default_uuid(k: usize) -> String {
    format!("{k:08x}-0000-1000-8000-000000000000")
}

/// How a session's `with` block ends (`docs/scenarios.md`, `end`).
pub fn ends_normally(error: Option<&str>) -> Result<bool, StepError> {
    match error {
        None | Some("OutOfRangeError") | Some("StopIteration") => Ok(true),
        Some("RuntimeError") | Some("KeyboardInterrupt") => Ok(false),
        Some(other) => Err(StepError::Testee(format!("unknown close error {other:?}"))),
    }
}

pub struct FeatureDumpWorld {
    dataset: Vec<Batch>,
    position: usize,
    hook: FeatureEngineeringSaveHook,
    closed: bool,
    events: Events,
}

impl FeatureDumpWorld {
    pub fn new(config: &Json, model_dir: String, events: Events) -> Result<Self, String> {
        let dataset = inputs::list(config, "batches")?
            .iter()
            .map(inputs::batch)
            .collect::<Result<_, _>>()?;
        let uuids: Vec<String> = inputs::list(config, "uuids")?
            .iter()
            .map(|u| {
                u.as_str()
                    .map(str::to_string)
                    .ok_or("uuids: expected strings")
            })
            .collect::<Result<_, _>>()?;
        let mut k = 0;
        let uuid_fn = Box::new(move || {
            k += 1;
            uuids
                .get(k - 1)
                .cloned()
                .unwrap_or_else(|| default_uuid(k - 1))
        });
        let run_config = RunConfig {
            model_dir,
            server_type: inputs::str_or(config, "server_type", "worker")?.to_string(),
            index: inputs::int_or(config, "index", 0)?,
        };
        let cap = inputs::int_or(config, "cap", 100)?;
        let mut hook = FeatureEngineeringSaveHook::new(run_config, cap, uuid_fn, events.clone());
        hook.begin(); // the monitored session's constructor begins its hooks
        Ok(FeatureDumpWorld {
            dataset,
            position: 0,
            hook,
            closed: false,
            events,
        })
    }

    /// `IteratorGetNext`.
    fn next_element(&mut self) -> Result<Batch, PyError> {
        let element = self
            .dataset
            .get(self.position)
            .ok_or(PyError::new("OutOfRangeError"))?;
        self.position += 1;
        Ok(element.clone())
    }

    /// One monitored-session run fetching `train_op` (the next element) or `dummy`.
    /// Within a run the caller's fetches are evaluated first; the hook fetches the same
    /// element the train op consumed, or (with `dummy`) consumes one itself.
    fn run(&mut self, fetch: &str) -> Result<(), PyError> {
        if self.closed {
            return Err(PyError::new("AttributeError")); // TF dropped its session object
        }
        let hook_fetches = self.hook.before_run();
        let consumed = if fetch == "train_op" {
            Some(self.next_element()?)
        } else {
            None
        };
        let for_hook = match (hook_fetches, consumed) {
            (false, _) => None,
            (true, Some(element)) => Some(element),
            (true, None) => Some(self.next_element()?),
        };
        self.hook.after_run(for_hook)
    }

    /// Leaves the session's `with` block: `end` on a normal close (an exception from it
    /// propagates), then the session is closed; closing it twice raises `RuntimeError`.
    fn close(&mut self, ended_normally: bool) -> Result<(), PyError> {
        let ended = if ended_normally {
            self.hook.end()
        } else {
            Ok(())
        };
        if self.closed {
            return Err(PyError::new("RuntimeError")); // raised in `finally`: replaces any
        }
        self.closed = true;
        ended
    }
}

impl super::World for FeatureDumpWorld {
    fn step(&mut self, op: &str, step: &Json) -> Result<(), StepError> {
        match op {
            "run" => {
                let fetch = step
                    .get("fetch")
                    .and_then(Json::as_str)
                    .unwrap_or("train_op");
                if fetch != "train_op" && fetch != "dummy" {
                    return Err(StepError::Testee(format!("unknown fetch {fetch:?}")));
                }
                self.run(fetch)?;
                self.events.emit(Json::object([
                    ("event", Json::str("run")),
                    ("worker", Json::int(0)),
                    ("fetch", Json::str(fetch)),
                    ("should_stop", Json::Bool(false)),
                ]));
            }
            "run_until_end" => {
                let mut runs = 0;
                while runs < MAX_RUNS {
                    match self.run("train_op") {
                        Ok(()) => runs += 1,
                        Err(e) if e.kind == "OutOfRangeError" => {
                            self.events.emit(Json::object([
                                ("event", Json::str("runs")),
                                ("count", Json::int(runs as i128)),
                            ]));
                            self.close(true)?;
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            "end" => {
                let normal = ends_normally(step.get("error").and_then(Json::as_str))?;
                self.close(normal)?;
            }
            _ => return Err(super::unknown_op(op)),
        }
        Ok(())
    }

    fn advance(&mut self, _seconds: f64) -> Result<(), StepError> {
        Ok(())
    }
}
