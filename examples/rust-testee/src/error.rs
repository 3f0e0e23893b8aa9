//! Errors: the exceptions the original (Python) hooks raise, the clock's failures, and how
//! the two travel together through a hook's code.

use std::fmt;
use std::io;

/// An exception as the original hooks raise it: its class name, and its message only
/// where the hooks define the text themselves (`docs/trace.md`: the slot-count listener's
/// `Unable to find hash tables. ...`, the barrier's `Index [i] must be ...`,
/// `BarrierAlreadyPlacedError`'s empty message). Any other wording belongs to Python or
/// protobuf, and only the type is compared, so a port says only which kind of error.
#[derive(Clone, Debug, PartialEq, Eq)]
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

    /// An error whose text is part of the contract (reported in the `error` event).
    pub fn with_message(kind: &'static str, message: impl Into<String>) -> PyError {
        PyError {
            kind,
            message: Some(message.into()),
        }
    }

    /// The exception Python's `open` / `os` functions raise for an I/O error.
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

    /// Python's `list[index]` bounds error.
    pub fn index_error() -> PyError {
        PyError::new("IndexError")
    }

    /// Whether this ends a session's `with` block normally: TensorFlow calls `end` on the
    /// hooks and swallows it (`docs/scenarios.md`, "A run's own exception").
    pub fn ends_block_normally(&self) -> bool {
        matches!(self.kind, "OutOfRangeError" | "StopIteration")
    }
}

impl fmt::Display for PyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => write!(f, "{}: {}", self.kind, message),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl From<io::Error> for PyError {
    fn from(error: io::Error) -> PyError {
        PyError::from_io(&error)
    }
}

/// The clock cannot go on: a testee failure, never an observation (`docs/protocol.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockError {
    /// The scenario is being torn down: every simulated thread unwinds.
    Shutdown,
    /// Every participant waits and no deadline is pending.
    Deadlock,
    /// The simulated threads took too many turns while the driver waited.
    Hang(String),
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockError::Shutdown => write!(f, "Shutdown: the clock was shut down"),
            ClockError::Deadlock => write!(
                f,
                "Deadlock: every simulated thread is waiting and no deadline is pending"
            ),
            ClockError::Hang(what) => write!(f, "Hang: {what}"),
        }
    }
}

/// What a hook's code returns: an exception the original would raise (an observation), or
/// the clock's failure (which unwinds through the hook untouched).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookError {
    Raised(PyError),
    Clock(ClockError),
}

impl HookError {
    pub fn raised(kind: &'static str) -> HookError {
        HookError::Raised(PyError::new(kind))
    }
}

impl From<PyError> for HookError {
    fn from(error: PyError) -> HookError {
        HookError::Raised(error)
    }
}

impl From<ClockError> for HookError {
    fn from(error: ClockError) -> HookError {
        HookError::Clock(error)
    }
}

impl From<io::Error> for HookError {
    fn from(error: io::Error) -> HookError {
        HookError::Raised(PyError::from_io(&error))
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookError::Raised(e) => write!(f, "{e}"),
            HookError::Clock(e) => write!(f, "{e}"),
        }
    }
}

pub type HookResult<T = ()> = Result<T, HookError>;
