//! The observations a request produces, in order (`docs/trace.md`).
//!
//! Hooks and simulated threads all report into one shared list; the protocol loop takes
//! it after each request and sends it in the reply.

use std::cell::RefCell;
use std::rc::Rc;

use crate::json::Json;

#[derive(Clone, Default)]
pub struct Events(Rc<RefCell<Vec<Json>>>);

impl Events {
    pub fn emit(&self, event: Json) {
        self.0.borrow_mut().push(event);
    }

    /// Everything reported since the last call.
    pub fn take(&self) -> Vec<Json> {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    /// A hook's `log.info(message)`.
    pub fn log_info(&self, message: impl Into<String>) {
        let pairs = [
            ("event", Json::str("log")),
            ("level", Json::str("INFO")),
            ("message", Json::str(message)),
        ];
        self.emit(Json::object(pairs));
    }

    /// The query thread caught and logged an exception of type `kind`.
    pub fn logged_error(&self, kind: &str) {
        self.emit(Json::object([
            ("event", Json::str("logged_error")),
            ("type", Json::str(kind)),
        ]));
    }
}
