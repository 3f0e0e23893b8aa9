//! `feature_dump` family: FeatureEngineeringSaveHook over the scenario's dataset iterator.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::{json, Value};

use super::chief::ChiefSession;
use super::{Scenario, StepError, StepResult};
use crate::error::{HookError, PyError};
use crate::families::{FeatureDumpHooks, RunConfig};
use crate::inputs::{self, Batch};
use crate::runtime::{Fetch, MonitoredSession, Read, Session, Value as Val};

/// Bounds run_until_end (a dataset in this format always ends).
const MAX_RUNS: usize = 1_000_000;

/// The k-th (0-based) uuid after the configured ones: `0000000k-0000-1000-8000-000000000000`.
pub fn default_uuid(k: usize) -> String {
    format!("{k:08x}-0000-1000-8000-000000000000")
}

/// The iterator's `get_next()` over the scenario's batches, one element per read.
struct Dataset {
    elements: Vec<Rc<Batch>>,
    position: Cell<usize>,
}

impl Read for Dataset {
    fn read(&self, _session: &Session) -> Result<Val, PyError> {
        let position = self.position.get();
        let element = self
            .elements
            .get(position)
            .ok_or(PyError::new("OutOfRangeError"))?; // End of sequence
        self.position.set(position + 1);
        Ok(Val::Batch(element.clone()))
    }
}

pub struct FeatureDumpWorld {
    chief: ChiefSession,
}

impl FeatureDumpWorld {
    pub async fn setup(
        scenario: Scenario,
        hooks: Rc<dyn FeatureDumpHooks>,
    ) -> Result<Self, StepError> {
        let c = &scenario.config;
        let uuids: Vec<String> = inputs::list(c, "uuids")?
            .iter()
            .map(|u| {
                u.as_str()
                    .map(str::to_string)
                    .ok_or("uuids: expected strings")
            })
            .collect::<Result<_, _>>()?;
        let taken = RefCell::new(0usize);
        let uuid_fn = Box::new(move || {
            let k = taken.replace_with(|k| *k + 1);
            uuids.get(k).cloned().unwrap_or_else(|| default_uuid(k))
        });
        let config = RunConfig {
            model_dir: scenario.model_dir.to_string_lossy().into_owned(),
            server_type: inputs::str_or(c, "server_type", "worker")?.to_string(),
            index: inputs::int_or(c, "index", 0)?,
        };
        let elements = inputs::list(c, "batches")?
            .iter()
            .map(|b| inputs::batch(b).map(Rc::new))
            .collect::<Result<_, _>>()?;
        let next_element = Fetch::Read(Rc::new(Dataset {
            elements,
            position: Cell::new(0),
        }));
        let cap = inputs::int_or(c, "cap", 100)?;
        let hook = hooks.feature_hook(&scenario.ctx, config, next_element.clone(), cap, uuid_fn);
        let session = MonitoredSession::create(vec![hook], scenario.plain_session(0)).await?;
        Ok(FeatureDumpWorld {
            chief: ChiefSession {
                session,
                // The model's train op consumes the element the hook fetches in that run.
                fetches: vec![("train_op", next_element), ("dummy", Fetch::Nothing)],
                default_fetch: "train_op",
                assigning: &[],
                events: scenario.events().clone(),
            },
        })
    }

    /// `with session: while True: session.run(train_op)` until the data runs out.
    async fn run_until_end(&self) -> StepResult {
        let session = &self.chief.session;
        let train_op = &self.chief.fetches[0].1;
        let mut runs = 0;
        while runs < MAX_RUNS {
            match session.run(train_op).await {
                Ok(_) => runs += 1,
                Err(HookError::Raised(e)) if e.kind == "OutOfRangeError" => {
                    self.chief
                        .events
                        .emit(json!({"event": "runs", "count": runs}));
                    session.exit(Some(&HookError::Raised(e))).await?;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub async fn step(&self, op: &str, step: &Value) -> Option<StepResult> {
        Some(match op {
            "run" => self.chief.op_run(step).await,
            "run_while_not_stopped" => self.chief.op_run_while_not_stopped(step).await,
            "end" => self.chief.op_end(step).await,
            "run_until_end" => self.run_until_end().await,
            _ => return None,
        })
    }
}
