//! Port of `monolith/native_training/hooks/hook_utils.py`: listener wrappers that pass on
//! only one of the save callbacks.

use std::rc::Rc;

use super::ExampleHooks;
use crate::error::PyError;
use crate::families::HookUtilsHooks;
use crate::runtime::{CheckpointSaverListener, Session};

/// Forwards only `before_save` to the wrapped listener (`begin`, `after_save` and `end`
/// are the base class's no-ops).
pub struct BeforeSaveListener {
    listener: Rc<dyn CheckpointSaverListener>,
}

impl CheckpointSaverListener for BeforeSaveListener {
    fn before_save(&self, session: &Session, global_step: i64) -> Result<(), PyError> {
        self.listener.before_save(session, global_step)
    }

    fn repr(&self) -> String {
        // `super().__repr__() + repr(self._listener)`
        format!("<BeforeSaveListener>{}", self.listener.repr())
    }
}

/// Forwards only `after_save` to the wrapped listener.
pub struct AfterSaveListener {
    listener: Rc<dyn CheckpointSaverListener>,
}

impl CheckpointSaverListener for AfterSaveListener {
    fn after_save(&self, session: &Session, global_step: i64) -> Result<(), PyError> {
        self.listener.after_save(session, global_step)
    }

    fn repr(&self) -> String {
        format!("<AfterSaveListener>{}", self.listener.repr())
    }
}

impl HookUtilsHooks for ExampleHooks {
    fn before_save_listener(
        &self,
        listener: Rc<dyn CheckpointSaverListener>,
    ) -> Rc<dyn CheckpointSaverListener> {
        Rc::new(BeforeSaveListener { listener })
    }

    fn after_save_listener(
        &self,
        listener: Rc<dyn CheckpointSaverListener>,
    ) -> Rc<dyn CheckpointSaverListener> {
        Rc::new(AfterSaveListener { listener })
    }
}
