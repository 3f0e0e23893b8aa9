//! The observations a request produces, in order (`docs/trace.md`).
//!
//! Hooks, worlds and simulated threads all report into one shared list; the protocol loop
//! takes it after each request and sends it in the reply. Everything runs on one OS
//! thread (tokio's current-thread runtime), so the list is an `Rc<RefCell<..>>`.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{json, Value};

use crate::error::PyError;

#[derive(Clone, Default)]
pub struct Events(Rc<RefCell<Vec<Value>>>);

impl Events {
    pub fn new() -> Events {
        Events::default()
    }

    pub fn emit(&self, event: Value) {
        self.0.borrow_mut().push(event);
    }

    /// Everything reported since the last call.
    pub fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    /// A hook's `log.info(message)` (the harness compares INFO and above).
    pub fn info(&self, message: impl Into<String>) {
        self.emit(json!({"event": "log", "level": "INFO", "message": message.into()}));
    }

    /// A thread caught and logged an exception of type `kind` (its traceback's wording is
    /// the interpreter's, so only the type is compared).
    pub fn logged_error(&self, kind: &str) {
        self.emit(json!({"event": "logged_error", "type": kind}));
    }

    /// An exception escaped a step (`thread`: raised on that simulated thread).
    pub fn error(&self, error: &PyError, thread: Option<&str>) {
        let mut event = json!({"event": "error", "type": error.kind});
        if let Some(message) = &error.message {
            event["message"] = json!(message);
        }
        if let Some(thread) = thread {
            event["thread"] = json!(thread);
        }
        self.emit(event);
    }
}
