//! Port of the chief's side of `monolith/native_training/barrier_ops.py`: `BarrierOp`.
//!
//! A bool vector of `capacity` flags plus an action string: flag 0 says the chief placed
//! the barrier, flag `i > 0` that worker `i` is blocked at it. This example serves no
//! workers, so the vector lives in the chief's `BarrierOp` itself and flags `1..` stay
//! unset; a port with workers keeps it in a store the workers share.

use crate::error::PyError;

/// Called with the action when the barrier is placed (and, in a worker, when it blocks).
pub type BarrierCallback = Box<dyn FnMut(&str)>;

pub struct BarrierOp {
    flags: Vec<bool>,
    action: String,
    callbacks: Vec<BarrierCallback>,
}

impl BarrierOp {
    pub fn new(capacity: usize, callbacks: Vec<BarrierCallback>) -> BarrierOp {
        BarrierOp {
            flags: vec![false; capacity],
            action: String::new(),
            callbacks,
        }
    }

    pub fn capacity(&self) -> usize {
        self.flags.len()
    }

    pub fn is_barrier_placed(&self) -> bool {
        self.flags.first().copied().unwrap_or(false)
    }

    /// Sets flag 0 and the action, then runs every callback with the action.
    pub fn place_barrier(&mut self, action: &str) -> Result<(), PyError> {
        if self.is_barrier_placed() {
            return Err(PyError::with_message("BarrierAlreadyPlacedError", ""));
        }
        let placed = self
            .flags
            .first_mut()
            .ok_or_else(|| PyError::new("IndexError"))?;
        *placed = true;
        self.action = action.to_string();
        for callback in &mut self.callbacks {
            callback(action);
        }
        Ok(())
    }

    /// Clears flag 0 (the action is kept: quirk barrier-action-not-cleared).
    pub fn remove_barrier(&mut self) {
        if let Some(placed) = self.flags.first_mut() {
            *placed = false;
        }
    }

    pub fn is_all_blocked(&self) -> bool {
        self.flags.iter().filter(|&&f| f).count() == self.capacity()
    }
}
