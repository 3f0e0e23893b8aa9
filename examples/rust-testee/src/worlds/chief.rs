//! The chief's monitored session and the steps that run on it (`run`,
//! `run_while_not_stopped`, `end`) for the controller and feature-dump families
//! (`ChiefSessionWorld` of `reference/testee/world.py`).

use std::future::Future;

use serde_json::{json, Value};

use super::{StepError, StepResult};
use crate::error::{HookError, PyError};
use crate::events::Events;
use crate::inputs;
use crate::runtime::{Fetch, MonitoredSession};

pub struct ChiefSession {
    pub session: MonitoredSession,
    /// A step's `fetch` names and what they run.
    pub fetches: Vec<(&'static str, Fetch)>,
    /// The fetch a `run` step without `fetch` runs.
    pub default_fetch: &'static str,
    /// Fetches that set a flag the hooks read in the same run (`order` applies to them).
    pub assigning: &'static [&'static str],
    pub events: Events,
}

/// The exception a `with` block ends with, by scenario name (`None`: a normal end).
fn close_error(name: Option<&str>) -> Result<Option<HookError>, StepError> {
    let kind = match name {
        None => return Ok(None),
        Some("OutOfRangeError") => "OutOfRangeError",
        Some("StopIteration") => "StopIteration",
        Some("RuntimeError") => "RuntimeError",
        Some("KeyboardInterrupt") => "KeyboardInterrupt",
        Some(_) => return Err(PyError::new("ValueError").into()),
    };
    Ok(Some(HookError::raised(kind)))
}

impl ChiefSession {
    fn fetch(&self, name: &str) -> Result<&Fetch, StepError> {
        self.fetches
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f)
            .ok_or_else(|| PyError::new("KeyError").into())
    }

    async fn run_once(&self, step: &Value) -> StepResult {
        let name = inputs::str_or(step, "fetch", self.default_fetch)?;
        let fetch = self.fetch(name)?;
        let read_first = step.get("order").and_then(Value::as_str) == Some("read_first");
        if self.assigning.contains(&name) && read_first {
            // The hooks read the flags before the caller's assign takes effect, which it
            // still does within this run: the hooked run fetches nothing that assigns,
            // then the assign runs on the raw session.
            self.session.run(self.fetch(self.default_fetch)?).await?;
            self.session.raw_session().run(fetch)?;
        } else {
            // "assign_first" (the harness convention), and "open" resolved so.
            self.session.run(fetch).await?;
        }
        self.events.emit(json!({
            "event": "run", "worker": 0, "fetch": name,
            "should_stop": self.session.should_stop(),
        }));
        Ok(())
    }

    /// Runs `body` (a step's runs) inside the session's `with` block. With
    /// `"on_error": "end"` an exception from it leaves the block: `__exit__` sees it (so
    /// `end` is called and it is swallowed only for `OutOfRangeError` / `StopIteration`)
    /// and, unless swallowed, it is raised on. Without it the block goes on.
    pub async fn in_block(
        &self,
        step: &Value,
        body: impl Future<Output = StepResult>,
    ) -> StepResult {
        if step.get("on_error").and_then(Value::as_str) != Some("end") {
            return body.await;
        }
        match body.await {
            Err(StepError::Hook(HookError::Raised(e))) => {
                let error = HookError::Raised(e);
                if self.session.exit(Some(&error)).await? {
                    Ok(())
                } else {
                    Err(error.into())
                }
            }
            other => other,
        }
    }

    pub async fn op_run(&self, step: &Value) -> StepResult {
        self.in_block(step, self.run_once(step)).await
    }

    /// A training loop: `while not session.should_stop()` (checked before every run, at
    /// most `max_runs` runs).
    pub async fn op_run_while_not_stopped(&self, step: &Value) -> StepResult {
        let max_runs = inputs::int_or(step, "max_runs", 0)?;
        let body = async {
            for _ in 0..max_runs {
                if self.session.should_stop() {
                    break;
                }
                self.run_once(step).await?;
            }
            Ok(())
        };
        self.in_block(step, body).await
    }

    /// The `with` block ends, normally or with the step's error; with `if_open`, only if it
    /// has not ended already.
    pub async fn op_end(&self, step: &Value) -> StepResult {
        if inputs::bool_or(step, "if_open", false)? && self.session.is_closed() {
            return Ok(());
        }
        let error = close_error(step.get("error").and_then(Value::as_str))?;
        self.session.exit(error.as_ref()).await?;
        Ok(())
    }
}
