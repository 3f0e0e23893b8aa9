//! Ports of the Monolith hooks, one module per original file, and the listener interface
//! of TensorFlow's checkpoint saver they plug into.

pub mod barrier_ops;
pub mod ckpt_info;
pub mod controller_hooks;
pub mod feature_engineering_hooks;
pub mod hook_utils;

use crate::error::PyError;

/// `tf.estimator.CheckpointSaverListener`: every method is a no-op unless overridden.
/// `S` is what the listener can read from the session at a save.
pub trait CheckpointSaverListener<S: ?Sized> {
    fn begin(&mut self) -> Result<(), PyError> {
        Ok(())
    }
    fn before_save(&mut self, _session: &S, _global_step: i128) -> Result<(), PyError> {
        Ok(())
    }
    fn after_save(&mut self, _session: &S, _global_step: i128) -> Result<(), PyError> {
        Ok(())
    }
    fn end(&mut self, _session: &S, _global_step: i128) -> Result<(), PyError> {
        Ok(())
    }
}

/// Calls its listeners around each save, like `CheckpointSaverHook`: `begin` once (at
/// the first save if not before), then `before_save` on all, then `after_save` on all.
pub struct CheckpointSaver<S: ?Sized> {
    listeners: Vec<Box<dyn CheckpointSaverListener<S>>>,
    begun: bool,
}

impl<S: ?Sized> CheckpointSaver<S> {
    pub fn new(listeners: Vec<Box<dyn CheckpointSaverListener<S>>>) -> Self {
        CheckpointSaver {
            listeners,
            begun: false,
        }
    }

    pub fn listener(&mut self, index: usize) -> Option<&mut dyn CheckpointSaverListener<S>> {
        Some(self.listeners.get_mut(index)?.as_mut())
    }

    pub fn begin(&mut self) -> Result<(), PyError> {
        self.begun = true;
        self.listeners.iter_mut().try_for_each(|l| l.begin())
    }

    pub fn save(&mut self, session: &S, global_step: i128) -> Result<(), PyError> {
        if !self.begun {
            self.begin()?;
        }
        self.listeners
            .iter_mut()
            .try_for_each(|l| l.before_save(session, global_step))?;
        self.listeners
            .iter_mut()
            .try_for_each(|l| l.after_save(session, global_step))
    }

    pub fn end(&mut self, session: &S, global_step: i128) -> Result<(), PyError> {
        self.listeners
            .iter_mut()
            .try_for_each(|l| l.end(session, global_step))
    }
}
