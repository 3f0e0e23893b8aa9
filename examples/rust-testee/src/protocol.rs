//! The testee protocol, version 1 (`docs/protocol.md`): one request in, one reply out.
//!
//! [`Server::handle`] is the only code that knows the message types: `hello`, `setup`,
//! `step`, `teardown`, `bye`. Everything a request makes the hooks do is collected as
//! events and sent in its `done` reply.

use crate::error::{SetupError, StepError};
use crate::events::Events;
use crate::inputs;
use crate::json::Json;
use crate::worlds::{self, World};

pub const PROTOCOL_VERSION: i128 = 1;
pub const IMPLEMENTATION: &str = "rust-example";

#[derive(Default)]
pub struct Server {
    world: Option<Box<dyn World>>,
    events: Events,
}

fn reply(kind: &str, seq: &Json, fields: impl IntoIterator<Item = (&'static str, Json)>) -> Json {
    let mut pairs = vec![("type", Json::str(kind)), ("seq", seq.clone())];
    pairs.extend(fields);
    Json::object(pairs)
}

/// The `error` reply: the testee itself failed.
pub fn error_reply(seq: &Json, message: impl Into<String>) -> Json {
    reply("error", seq, [("message", Json::str(message))])
}

impl Server {
    pub fn new() -> Server {
        Server::default()
    }

    /// The reply to one request (`None` for `bye`: exit without replying).
    pub fn handle(&mut self, request: &Json) -> Option<Json> {
        let seq = request.get("seq").cloned().unwrap_or(Json::Null);
        let kind = request.get("type").and_then(Json::as_str).unwrap_or("");
        self.events.take();
        let outcome = match kind {
            "bye" => return None,
            "hello" => return Some(hello(&seq)),
            "setup" => match self.setup(request) {
                Err(SetupError::NotApplicable(reason)) => {
                    self.world = None;
                    return Some(reply(
                        "not_applicable",
                        &seq,
                        [("reason", Json::str(reason))],
                    ));
                }
                Err(SetupError::Testee(message)) => {
                    self.world = None; // leave nothing half-built behind
                    Err(message)
                }
                Ok(()) => Ok(()),
            },
            "step" => self.step(request),
            "teardown" => {
                self.world = None; // it has no OS threads: dropping it stops everything
                Ok(())
            }
            other => Err(format!("unknown request {other:?}")),
        };
        Some(match outcome {
            Ok(()) => reply("done", &seq, [("events", Json::Array(self.events.take()))]),
            Err(message) => {
                eprintln!("{kind}: {message}");
                error_reply(&seq, format!("{kind}: {message}"))
            }
        })
    }

    fn setup(&mut self, request: &Json) -> Result<(), SetupError> {
        self.world = None;
        let scenario = request
            .get("scenario")
            .ok_or("setup without a scenario".to_string())?;
        let files_dir = request.get("files_dir").and_then(Json::as_str);
        let files_dir = files_dir.ok_or("setup without files_dir".to_string())?;
        self.world = Some(worlds::build(scenario, files_dir, self.events.clone())?);
        Ok(())
    }

    fn step(&mut self, request: &Json) -> Result<(), String> {
        let world = self.world.as_mut().ok_or("step before setup")?;
        let step = request.get("step").ok_or("step without a step")?;
        let op = step
            .get("op")
            .and_then(Json::as_str)
            .ok_or("step without an op")?;
        let count = inputs::int_or(step, "count", 1)?;
        for _ in 0..count {
            let done = if op == "advance" {
                world.advance(inputs::float_or(step, "seconds", 0.0)?)
            } else {
                world.step(op, step)
            };
            match done {
                Ok(()) => {}
                // An exception the hooks raise is an observation; the repetition stops.
                Err(StepError::Raised(error)) => {
                    self.events.emit(error.event());
                    break;
                }
                Err(StepError::Testee(message)) => return Err(message),
            }
        }
        Ok(())
    }
}

fn hello(seq: &Json) -> Json {
    let families = worlds::FAMILIES.iter().map(|f| Json::str(*f)).collect();
    let capabilities = Json::object([
        ("families", Json::Array(families)),
        ("virtual_clock", Json::Bool(true)),
    ]);
    reply(
        "hello",
        seq,
        [
            ("protocol", Json::int(PROTOCOL_VERSION)),
            ("implementation", Json::str(IMPLEMENTATION)),
            ("capabilities", capabilities),
        ],
    )
}
