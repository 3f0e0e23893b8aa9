//! Errors: the exceptions the original hooks raise, and failures of the testee itself.

use std::io;

use crate::json::Json;

/// An exception as the original (Python) hooks raise it: its class name, and its message
/// only where the hooks define the text themselves (`docs/trace.md`); any other wording
/// belongs to the Python interpreter or protobuf, and only the type is compared.
#[derive(Clone, Debug, PartialEq)]
pub struct PyError {
    pub kind: &'static str,
    pub message: Option<String>,
}

impl PyError {
    pub fn new(kind: &'static str) -> PyError {
        PyError {
            kind,
            message: None,
        }
    }

    pub fn with_message(kind: &'static str, message: impl Into<String>) -> PyError {
        PyError {
            kind,
            message: Some(message.into()),
        }
    }

    /// The exception Python's `open`/`os` functions raise for an I/O error.
    pub fn from_io(error: &io::Error) -> PyError {
        PyError::new(match error.kind() {
            io::ErrorKind::NotFound => "FileNotFoundError",
            io::ErrorKind::PermissionDenied => "PermissionError",
            io::ErrorKind::AlreadyExists => "FileExistsError",
            io::ErrorKind::IsADirectory => "IsADirectoryError",
            io::ErrorKind::NotADirectory => "NotADirectoryError",
            _ => "OSError",
        })
    }

    /// The trace's `error` event.
    pub fn event(&self) -> Json {
        let mut pairs = vec![
            ("event", Json::str("error")),
            ("type", Json::str(self.kind)),
        ];
        if let Some(message) = &self.message {
            pairs.push(("message", Json::str(message.clone())));
        }
        Json::object(pairs)
    }
}

impl From<io::Error> for PyError {
    fn from(error: io::Error) -> PyError {
        PyError::from_io(&error)
    }
}

/// Why a step did not complete.
#[derive(Debug)]
pub enum StepError {
    /// The hooks raised: an observation, reported as an `error` event.
    Raised(PyError),
    /// The testee itself failed (bad input, a clock that cannot go on): an `error` reply.
    Testee(String),
}

impl From<PyError> for StepError {
    fn from(error: PyError) -> StepError {
        StepError::Raised(error)
    }
}

/// Why `setup` did not build a world.
#[derive(Debug)]
pub enum SetupError {
    /// The scenario needs something this port does not do: a `not_applicable` reply.
    NotApplicable(String),
    /// The testee failed (unknown family, bad config): an `error` reply.
    Testee(String),
}

impl From<String> for SetupError {
    fn from(message: String) -> SetupError {
        SetupError::Testee(message)
    }
}

impl From<crate::clock::ClockError> for StepError {
    fn from(error: crate::clock::ClockError) -> StepError {
        StepError::Testee(error.to_string())
    }
}
