//! One simulated world per scenario family: the hooks, a stand-in session and inputs,
//! built from a scenario's `config` (`docs/scenarios.md`, "Families").

mod controller;
mod feature_dump;
mod hook_utils;
mod slot_count;

use crate::error::{PyError, SetupError, StepError};
use crate::events::Events;
use crate::json::Json;

/// The families this testee serves (hello's `capabilities.families`). `barrier` is not
/// among them: this example has no simulated workers.
pub const FAMILIES: [&str; 4] = ["controller", "feature_dump", "hook_utils", "slot_count"];

/// A family's world for one scenario.
pub trait World {
    /// Performs one implementation step (`count` is handled by the caller).
    fn step(&mut self, op: &str, step: &Json) -> Result<(), StepError>;

    /// `seconds` of virtual time pass; simulated threads due meanwhile run.
    fn advance(&mut self, seconds: f64) -> Result<(), StepError>;
}

/// Builds the family's world and creates its session (`begin`, `after_create_session`).
pub fn build(
    scenario: &Json,
    files_dir: &str,
    events: Events,
) -> Result<Box<dyn World>, SetupError> {
    let steps = scenario.get("steps").and_then(Json::as_array);
    if steps.is_some_and(|steps| steps.iter().any(|step| step.get("on_error").is_some())) {
        return Err(SetupError::NotApplicable(
            "the Rust example testee does not let a run's own exception end the session's \
             with block (a step's \"on_error\": \"end\")"
                .into(),
        ));
    }
    let family = scenario.get("family").and_then(Json::as_str).unwrap_or("");
    let empty = Json::Object(Vec::new());
    let config = scenario.get("config").unwrap_or(&empty);
    let model_dir = model_dir(files_dir, config)?;
    Ok(match family {
        "hook_utils" => Box::new(hook_utils::HookUtilsWorld::new(config, events)?),
        "slot_count" => Box::new(slot_count::SlotCountWorld::new(config, model_dir)?),
        "feature_dump" => Box::new(feature_dump::FeatureDumpWorld::new(
            config, model_dir, events,
        )?),
        "controller" => Box::new(controller::ControllerWorld::new(config, model_dir, events)?),
        other => {
            return Err(SetupError::Testee(format!(
                "family {other:?} is not served"
            )))
        }
    })
}

/// An op the family does not have: the reference raises `ValueError` for it.
fn unknown_op(op: &str) -> StepError {
    eprintln!("family does not support op {op:?}");
    StepError::Raised(PyError::new("ValueError"))
}

/// `os.path.normpath(os.path.join(files_dir, config.model_dir))`.
fn model_dir(files_dir: &str, config: &Json) -> Result<String, String> {
    let relative = crate::inputs::str_or(config, "model_dir", ".")?;
    let joined = if relative.starts_with('/') {
        relative.to_string()
    } else {
        format!("{files_dir}/{relative}")
    };
    Ok(normpath(&joined))
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
