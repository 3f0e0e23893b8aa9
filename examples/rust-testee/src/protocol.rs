//! The testee protocol, version 1 (`docs/protocol.md`), with serde_json: one JSON request
//! per line on stdin, one reply per line on stdout, flushed; logs on stderr.
//!
//! [`Server::handle`] is the only code that knows the message types (`hello`, `setup`,
//! `step`, `teardown`, `bye`); everything a request makes the hooks do is collected as
//! events and sent in its `done` reply. [`serve`] runs the loop on a current-thread tokio
//! runtime whose clock is paused (`start_paused`): the scenario's virtual time is tokio's.
//!
//! Integers stay exact both ways: requests are read into `serde_json::Value`, whose
//! numbers keep a `u64` or `i64` exactly (see `crate::inputs`), and replies are written
//! from `u64` / `i64` values, so `18446744073709551615` and `-9223372036854775808` go
//! through unchanged.

use std::io::{self, BufRead, Write};
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::{ClockRef, TokioClock, VirtualClock};
use crate::error::{ClockError, HookError};
use crate::events::Events;
use crate::families::{HookContext, HookSet};
use crate::inputs;
use crate::worlds::{SetupError, StepError, World};

pub const PROTOCOL_VERSION: u32 = 1;

/// Which clock the scenarios run on (both on tokio's paused time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockKind {
    /// [`VirtualClock`]: the harness's order for simultaneous wake-ups (the default).
    #[default]
    Virtual,
    /// [`TokioClock`]: tokio's own primitives and order.
    Tokio,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Request {
    Hello {},
    Setup { scenario: Value, files_dir: String },
    Step { step: Value },
    Teardown {},
    Bye {},
}

#[derive(Serialize)]
struct Capabilities {
    families: Vec<&'static str>,
    virtual_clock: bool,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Reply {
    Hello {
        seq: Value,
        protocol: u32,
        implementation: String,
        capabilities: Capabilities,
    },
    Done {
        seq: Value,
        events: Vec<Value>,
    },
    NotApplicable {
        seq: Value,
        reason: String,
    },
    Error {
        seq: Value,
        message: String,
    },
}

/// The running scenario.
struct Running {
    world: World,
    clock: ClockRef,
}

/// One testee process: the hooks it serves, its name, and the scenario in progress.
pub struct Server {
    hooks: HookSet,
    implementation: String,
    clock_kind: ClockKind,
    events: Events,
    running: Option<Running>,
}

impl Server {
    pub fn new(hooks: HookSet, implementation: impl Into<String>, clock_kind: ClockKind) -> Server {
        Server {
            hooks,
            implementation: implementation.into(),
            clock_kind,
            events: Events::new(),
            running: None,
        }
    }

    /// The reply to one request line (`None` for `bye`: exit without replying).
    pub async fn handle_line(&mut self, line: &[u8]) -> Option<String> {
        let reply = match serde_json::from_slice::<Value>(line) {
            Ok(request) => self.handle(request).await?,
            Err(e) => Reply::Error {
                seq: Value::Null,
                message: format!("request is not a protocol message: {e}"),
            },
        };
        Some(serde_json::to_string(&reply).expect("replies serialize"))
    }

    async fn handle(&mut self, request: Value) -> Option<Reply> {
        let seq = match request.get("seq") {
            Some(seq @ Value::Number(n)) if n.is_u64() => seq.clone(),
            _ => Value::Null,
        };
        let kind = request
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let request = match serde_json::from_value::<Request>(request) {
            Ok(request) => request,
            Err(e) => {
                return Some(Reply::Error {
                    seq,
                    message: format!("bad request: {e}"),
                })
            }
        };
        self.events.take();
        let outcome = match request {
            Request::Bye {} => return None,
            Request::Hello {} => {
                return Some(Reply::Hello {
                    seq,
                    protocol: PROTOCOL_VERSION,
                    implementation: self.implementation.clone(),
                    capabilities: Capabilities {
                        families: self.hooks.families(),
                        virtual_clock: true,
                    },
                })
            }
            Request::Setup {
                scenario,
                files_dir,
            } => match self.setup(&scenario, &files_dir).await {
                Ok(()) => Ok(()),
                Err(SetupError::NotApplicable(reason)) => {
                    return Some(Reply::NotApplicable { seq, reason })
                }
                Err(SetupError::Failed(message)) => Err(message),
            },
            Request::Step { step } => self.step(&step).await,
            Request::Teardown {} => {
                self.teardown().await;
                Ok(())
            }
        };
        Some(match outcome {
            Ok(()) => Reply::Done {
                seq,
                events: self.events.take(),
            },
            Err(message) => {
                eprintln!("{kind}: {message}");
                Reply::Error {
                    seq,
                    message: format!("{kind}: {message}"),
                }
            }
        })
    }

    async fn setup(&mut self, scenario: &Value, files_dir: &str) -> Result<(), SetupError> {
        self.teardown().await;
        let clock: ClockRef = match self.clock_kind {
            ClockKind::Virtual => Rc::new(VirtualClock::new()),
            ClockKind::Tokio => Rc::new(TokioClock::new()),
        };
        let ctx = HookContext {
            clock: clock.clone(),
            events: self.events.clone(),
        };
        match World::setup(&self.hooks, ctx, scenario, files_dir).await {
            Ok(world) => {
                self.running = Some(Running { world, clock });
                Ok(())
            }
            Err(e) => {
                // Leave nothing half-built behind.
                clock.shutdown().await;
                Err(e)
            }
        }
    }

    async fn step(&mut self, step: &Value) -> Result<(), String> {
        let running = self.running.as_ref().ok_or("step before setup")?;
        let result = if step.get("op").and_then(Value::as_str) == Some("advance") {
            advance(&running.clock, step).await
        } else {
            running.world.step(step).await
        };
        match result {
            Ok(()) => {}
            // An exception escaping the step is an observation.
            Err(StepError::Hook(HookError::Raised(error))) => self.events.error(&error, None),
            // The simulated world cannot go on: the testee failed.
            Err(StepError::Hook(HookError::Clock(error))) => return Err(error.to_string()),
            Err(StepError::Testee(message)) => return Err(message),
        }
        for (thread, error) in running.clock.take_thread_errors() {
            self.events.error(&error, Some(&thread));
        }
        Ok(())
    }

    /// Ends the scenario: every simulated thread unwinds, nothing is left running.
    pub async fn teardown(&mut self) {
        if let Some(running) = self.running.take() {
            running.clock.shutdown().await;
        }
    }
}

/// `{"op": "advance", "seconds": s}` (`count` times): time passes on the clock, and every
/// thread due meanwhile runs before the reply.
async fn advance(clock: &ClockRef, step: &Value) -> Result<(), StepError> {
    let seconds = inputs::float_or(step, "seconds", 0.0)?;
    for _ in 0..inputs::int_or(step, "count", 1)? {
        clock
            .sleep(seconds)
            .await
            .map_err(|e: ClockError| StepError::Hook(e.into()))?;
    }
    Ok(())
}

/// A current-thread tokio runtime with paused time, as the testee runs in.
pub fn paused_runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
}

/// Serves requests from `input` until `bye` or end of input, replies to `output`.
pub async fn serve_lines(
    server: &mut Server,
    input: impl BufRead,
    mut output: impl Write,
) -> io::Result<()> {
    for line in input.split(b'\n') {
        let line = line?;
        let Some(reply) = server.handle_line(&line).await else {
            break; // bye
        };
        output.write_all(reply.as_bytes())?;
        output.write_all(b"\n")?;
        output.flush()?;
    }
    // Input ended (or bye) mid-scenario: stop the simulated threads.
    server.teardown().await;
    Ok(())
}

/// The testee's `main`: serves `hooks` over stdin / stdout as `implementation`.
pub fn serve(hooks: HookSet, implementation: &str, clock_kind: ClockKind) -> io::Result<()> {
    let runtime = paused_runtime()?;
    let mut server = Server::new(hooks, implementation, clock_kind);
    let stdin = io::stdin();
    let stdout = io::stdout();
    tokio::task::LocalSet::new().block_on(
        &runtime,
        serve_lines(&mut server, stdin.lock(), stdout.lock()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(requests: &[&str]) -> Vec<Value> {
        let runtime = paused_runtime().unwrap();
        let mut server = Server::new(HookSet::example(), "rust-example", ClockKind::Virtual);
        let input = requests.join("\n");
        let mut output = Vec::new();
        tokio::task::LocalSet::new()
            .block_on(
                &runtime,
                serve_lines(&mut server, input.as_bytes(), &mut output),
            )
            .unwrap();
        String::from_utf8(output)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn hello_and_bye() {
        let replies = exchange(&[
            r#"{"type":"hello","seq":0,"protocol":1}"#,
            r#"{"type":"bye","seq":1}"#,
            r#"{"type":"hello","seq":2,"protocol":1}"#,
        ]);
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0]["type"], "hello");
        assert_eq!(replies[0]["seq"], 0);
        assert_eq!(
            replies[0]["capabilities"]["families"],
            serde_json::json!([
                "barrier",
                "controller",
                "feature_dump",
                "hook_utils",
                "slot_count"
            ])
        );
    }

    #[test]
    fn extreme_global_steps_round_trip_exactly() {
        let dir = std::env::temp_dir();
        let setup = format!(
            r#"{{"type":"setup","seq":1,"id":"hook_utils/x","scenario":{{"family":"hook_utils","config":{{"listeners":["plain"]}},"steps":[]}},"files_dir":{}}}"#,
            serde_json::to_string(&dir).unwrap()
        );
        let replies = exchange(&[
            r#"{"type":"hello","seq":0,"protocol":1}"#,
            &setup,
            r#"{"type":"step","seq":2,"index":0,"step":{"op":"save","global_step":-9223372036854775808}}"#,
            r#"{"type":"step","seq":18446744073709551615,"index":1,"step":{"op":"end","global_step":9223372036854775807}}"#,
            r#"{"type":"teardown","seq":4}"#,
        ]);
        let line = serde_json::to_string(&replies[2]).unwrap();
        assert!(
            line.contains(r#""global_step":-9223372036854775808"#),
            "{line}"
        );
        let line = serde_json::to_string(&replies[3]).unwrap();
        assert!(
            line.contains(r#""global_step":9223372036854775807"#),
            "{line}"
        );
        assert!(line.contains(r#""seq":18446744073709551615"#), "{line}");
    }

    #[test]
    fn garbage_gets_an_error_reply() {
        let replies = exchange(&["not json", r#"{"type":"step","seq":3,"index":0,"step":{}}"#]);
        assert_eq!(replies[0]["type"], "error");
        assert_eq!(replies[0]["seq"], Value::Null);
        assert_eq!(replies[1]["type"], "error");
        assert_eq!(replies[1]["seq"], 3);
    }
}
