//! Port of `monolith/native_training/hooks/hook_utils.py`: listener wrappers that pass on
//! only one of the save callbacks.

use super::CheckpointSaverListener;
use crate::error::PyError;

/// Forwards only `before_save` to the wrapped listener (`begin`, `after_save` and `end`
/// are the base class's no-ops).
pub struct BeforeSaveListener<S: ?Sized> {
    listener: Box<dyn CheckpointSaverListener<S>>,
}

impl<S: ?Sized> BeforeSaveListener<S> {
    pub fn new(listener: Box<dyn CheckpointSaverListener<S>>) -> Self {
        BeforeSaveListener { listener }
    }
}

impl<S: ?Sized> CheckpointSaverListener<S> for BeforeSaveListener<S> {
    fn before_save(&mut self, session: &S, global_step: i128) -> Result<(), PyError> {
        self.listener.before_save(session, global_step)
    }
}

/// Forwards only `after_save` to the wrapped listener.
pub struct AfterSaveListener<S: ?Sized> {
    listener: Box<dyn CheckpointSaverListener<S>>,
}

impl<S: ?Sized> AfterSaveListener<S> {
    pub fn new(listener: Box<dyn CheckpointSaverListener<S>>) -> Self {
        AfterSaveListener { listener }
    }
}

impl<S: ?Sized> CheckpointSaverListener<S> for AfterSaveListener<S> {
    fn after_save(&mut self, session: &S, global_step: i128) -> Result<(), PyError> {
        self.listener.after_save(session, global_step)
    }
}

/// A listener wrapped as a scenario names it: `"before"`, `"after"` or `"plain"` (none).
pub fn wrap<S: ?Sized + 'static>(
    kind: &str,
    listener: Box<dyn CheckpointSaverListener<S>>,
) -> Result<Box<dyn CheckpointSaverListener<S>>, String> {
    Ok(match kind {
        "plain" => listener,
        "before" => Box::new(BeforeSaveListener::new(listener)),
        "after" => Box::new(AfterSaveListener::new(listener)),
        other => return Err(format!("unknown listener wrapper {other:?}")),
    })
}
