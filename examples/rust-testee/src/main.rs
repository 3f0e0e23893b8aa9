//! An example testee: Monolith's training hooks ported to Rust, served over the parity
//! harness's JSON-lines testee protocol (`docs/protocol.md`).
//!
//! Reads one JSON request per line from stdin, writes one JSON reply per line to stdout
//! and flushes it; logs go to stderr. Exits on `bye` or at the end of input.

mod clock;
mod error;
mod events;
mod hooks;
mod inputs;
mod json;
mod proto;
mod protocol;
mod text_format;
mod worlds;

use std::io::{self, BufRead, Write};

use json::Json;

fn main() -> io::Result<()> {
    let mut server = protocol::Server::new();
    let mut out = io::stdout().lock();
    for line in io::stdin().lock().split(b'\n') {
        let line = line?;
        let request = std::str::from_utf8(&line)
            .map_err(|e| e.to_string())
            .and_then(Json::parse);
        let reply = match request {
            Ok(request @ Json::Object(_)) => match server.handle(&request) {
                Some(reply) => reply,
                None => break, // bye
            },
            Ok(_) => protocol::error_reply(&Json::Null, "request is not an object"),
            Err(e) => protocol::error_reply(&Json::Null, format!("request is not JSON: {e}")),
        };
        writeln!(out, "{}", reply.to_json())?;
        out.flush()?;
    }
    Ok(())
}
