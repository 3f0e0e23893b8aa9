//! The example testee: the library's protocol loop serving the example hooks of every
//! family. A port's testee looks the same, with its own hooks in the `HookSet`.
//!
//! `monolith-testee [--clock virtual|tokio] [--name NAME]`

use monolith_testee::families::HookSet;
use monolith_testee::protocol::{self, ClockKind};

fn main() {
    let mut clock = ClockKind::Virtual;
    let mut name = "rust-example".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().as_deref()) {
            ("--clock", Some("virtual")) => clock = ClockKind::Virtual,
            ("--clock", Some("tokio")) => clock = ClockKind::Tokio,
            ("--name", Some(value)) => name = value.to_string(),
            _ => {
                eprintln!("usage: monolith-testee [--clock virtual|tokio] [--name NAME]");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = protocol::serve(HookSet::example(), &name, clock) {
        eprintln!("monolith-testee: {e}");
        std::process::exit(1);
    }
}
