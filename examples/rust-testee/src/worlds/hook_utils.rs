//! `hook_utils` family: Before/AfterSaveListener around recording listeners.

use std::rc::Rc;

use serde_json::{json, Value};

use super::{global_step, Scenario, StepResult};
use crate::error::PyError;
use crate::events::Events;
use crate::families::HookUtilsHooks;
use crate::inputs;
use crate::runtime::{CheckpointSaver, CheckpointSaverListener, Session};

/// Reports every call it receives as a `listener` event.
struct RecordingListener {
    index: usize,
    events: Events,
}

impl RecordingListener {
    fn record(&self, method: &str, global_step: Option<i64>) {
        let mut event = json!({"event": "listener", "listener": self.index, "method": method});
        if let Some(step) = global_step {
            event["global_step"] = json!(step);
        }
        self.events.emit(event);
    }
}

impl CheckpointSaverListener for RecordingListener {
    fn begin(&self) -> Result<(), PyError> {
        self.record("begin", None);
        Ok(())
    }
    fn before_save(&self, _: &Session, global_step: i64) -> Result<(), PyError> {
        self.record("before_save", Some(global_step));
        Ok(())
    }
    fn after_save(&self, _: &Session, global_step: i64) -> Result<(), PyError> {
        self.record("after_save", Some(global_step));
        Ok(())
    }
    fn end(&self, _: &Session, global_step: i64) -> Result<(), PyError> {
        self.record("end", Some(global_step));
        Ok(())
    }
    fn repr(&self) -> String {
        "<RecordingListener>".to_string()
    }
}

/// `listener` as the scenario's `wrap` / `listeners` kind names it.
pub fn wrap_listener(
    hooks: &dyn HookUtilsHooks,
    kind: Option<&str>,
    listener: Rc<dyn CheckpointSaverListener>,
) -> Result<Rc<dyn CheckpointSaverListener>, PyError> {
    Ok(match kind {
        None | Some("plain") => listener,
        Some("before") => hooks.before_save_listener(listener),
        Some("after") => hooks.after_save_listener(listener),
        Some(_) => return Err(PyError::new("ValueError")),
    })
}

pub struct HookUtilsWorld {
    scenario: Scenario,
    session: Rc<Session>,
    listeners: Vec<Rc<dyn CheckpointSaverListener>>,
    saver: CheckpointSaver,
}

impl HookUtilsWorld {
    pub fn setup(
        scenario: Scenario,
        hooks: Rc<dyn HookUtilsHooks>,
    ) -> Result<Self, super::StepError> {
        let session = scenario.plain_session(0);
        let default = json!(["before", "after"]);
        let kinds = scenario.config.get("listeners").unwrap_or(&default);
        let mut listeners = Vec::new();
        for (index, kind) in kinds
            .as_array()
            .ok_or("listeners: expected a list".to_string())?
            .iter()
            .enumerate()
        {
            let recorder = Rc::new(RecordingListener {
                index,
                events: scenario.events().clone(),
            });
            let kind = kind
                .as_str()
                .ok_or("listeners: expected strings".to_string())?;
            listeners.push(wrap_listener(&*hooks, Some(kind), recorder)?);
        }
        let saver = CheckpointSaver::new(listeners.clone(), session.clone());
        Ok(HookUtilsWorld {
            scenario,
            session,
            listeners,
            saver,
        })
    }

    fn listener(
        &self,
        step: &Value,
    ) -> Result<(i64, &Rc<dyn CheckpointSaverListener>), super::StepError> {
        let index = inputs::int_or(step, "listener", 0)?;
        let at = inputs::py_index(self.listeners.len(), index).ok_or_else(PyError::index_error)?;
        Ok((index, &self.listeners[at]))
    }

    pub fn step(&self, op: &str, step: &Value) -> Option<StepResult> {
        let result = || -> StepResult {
            match op {
                "begin" => self.saver.begin()?,
                "save" => self.saver.save(global_step(step)?)?,
                "end" => self.saver.end(global_step(step)?)?,
                "repr" => {
                    let (index, listener) = self.listener(step)?;
                    self.scenario
                        .events()
                        .emit(json!({"event": "repr", "listener": index, "repr": listener.repr()}));
                }
                "call" => {
                    // One method called directly on one wrapper.
                    let (_, listener) = self.listener(step)?;
                    match inputs::str_or(step, "method", "")? {
                        "begin" => listener.begin()?,
                        "before_save" => listener.before_save(&self.session, global_step(step)?)?,
                        "after_save" => listener.after_save(&self.session, global_step(step)?)?,
                        "end" => listener.end(&self.session, global_step(step)?)?,
                        _ => return Err(PyError::new("AttributeError").into()),
                    }
                }
                _ => unreachable!(),
            }
            Ok(())
        };
        match op {
            "begin" | "save" | "end" | "repr" | "call" => Some(result()),
            _ => None,
        }
    }
}
