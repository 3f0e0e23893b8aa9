//! `hook_utils` family: Before/AfterSaveListener around recording listeners.

use crate::error::{PyError, StepError};
use crate::events::Events;
use crate::hooks::hook_utils::wrap;
use crate::hooks::{CheckpointSaver, CheckpointSaverListener};
use crate::inputs;
use crate::json::Json;

/// Reports every call it receives as a `listener` event.
struct RecordingListener {
    index: usize,
    events: Events,
}

impl RecordingListener {
    fn record(&self, method: &str, global_step: Option<i128>) {
        let mut pairs = vec![
            ("event", Json::str("listener")),
            ("listener", Json::int(self.index as i128)),
            ("method", Json::str(method)),
        ];
        if let Some(step) = global_step {
            pairs.push(("global_step", Json::int(step)));
        }
        self.events.emit(Json::object(pairs));
    }
}

impl CheckpointSaverListener<()> for RecordingListener {
    fn begin(&mut self) -> Result<(), PyError> {
        self.record("begin", None);
        Ok(())
    }
    fn before_save(&mut self, _: &(), global_step: i128) -> Result<(), PyError> {
        self.record("before_save", Some(global_step));
        Ok(())
    }
    fn after_save(&mut self, _: &(), global_step: i128) -> Result<(), PyError> {
        self.record("after_save", Some(global_step));
        Ok(())
    }
    fn end(&mut self, _: &(), global_step: i128) -> Result<(), PyError> {
        self.record("end", Some(global_step));
        Ok(())
    }
}

pub struct HookUtilsWorld {
    saver: CheckpointSaver<()>,
    kinds: Vec<String>,
    events: Events,
}

impl HookUtilsWorld {
    pub fn new(config: &Json, events: Events) -> Result<Self, String> {
        let default = Json::Array(vec![Json::str("before"), Json::str("after")]);
        let kinds = config.get("listeners").unwrap_or(&default);
        let mut listeners = Vec::new();
        let mut names = Vec::new();
        for (index, kind) in kinds
            .as_array()
            .ok_or("listeners: expected a list")?
            .iter()
            .enumerate()
        {
            let recorder = Box::new(RecordingListener {
                index,
                events: events.clone(),
            });
            listeners.push(wrap(kind.as_str().unwrap_or(""), recorder)?);
            names.push(kind.as_str().unwrap_or("").to_string());
        }
        Ok(HookUtilsWorld {
            saver: CheckpointSaver::new(listeners),
            kinds: names,
            events,
        })
    }
}

fn global_step(step: &Json) -> Result<i128, StepError> {
    inputs::parse_int(step.get("global_step").unwrap_or(&Json::Null)).map_err(StepError::Testee)
}

impl super::World for HookUtilsWorld {
    fn step(&mut self, op: &str, step: &Json) -> Result<(), StepError> {
        match op {
            "begin" => self.saver.begin()?,
            "save" => self.saver.save(&(), global_step(step)?)?,
            "end" => self.saver.end(&(), global_step(step)?)?,
            "call" => {
                // One method called directly on one wrapper.
                let index = inputs::int_or(step, "listener", 0).map_err(StepError::Testee)?;
                let listener = usize::try_from(index)
                    .ok()
                    .and_then(|i| self.saver.listener(i))
                    .ok_or(StepError::Raised(PyError::new("IndexError")))?;
                match step.get("method").and_then(Json::as_str).unwrap_or("") {
                    "begin" => listener.begin()?,
                    "before_save" => listener.before_save(&(), global_step(step)?)?,
                    "after_save" => listener.after_save(&(), global_step(step)?)?,
                    "end" => listener.end(&(), global_step(step)?)?,
                    _ => return Err(StepError::Raised(PyError::new("AttributeError"))),
                }
            }
            "repr" => {
                // docs/scenarios.md: default object reprs shown address-free as <Class>.
                let index = inputs::int_or(step, "listener", 0).map_err(StepError::Testee)?;
                let kind = usize::try_from(index)
                    .ok()
                    .and_then(|i| self.kinds.get(i))
                    .ok_or(StepError::Raised(PyError::new("IndexError")))?;
                let text = match kind.as_str() {
                    "before" => "<BeforeSaveListener><RecordingListener>",
                    "after" => "<AfterSaveListener><RecordingListener>",
                    _ => "<RecordingListener>",
                };
                self.events.emit(Json::object([
                    ("event", Json::str("repr")),
                    ("listener", Json::int(index)),
                    ("repr", Json::str(text)),
                ]));
            }
            _ => return Err(super::unknown_op(op)),
        }
        Ok(())
    }

    fn advance(&mut self, _seconds: f64) -> Result<(), StepError> {
        Ok(()) // no threads: nothing is due
    }
}
