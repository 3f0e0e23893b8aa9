//! The example's hooks: a port of the Python reference (`reference/*.py`), one module per
//! original module, implementing the family traits of `crate::families`. Quirks the
//! goldens pin are copied, each marked `// Quirk <id>` (`docs/quirks.md`).
//!
//! A port replaces these with its own hooks (or adapters over them), family by family.

pub mod barrier_ops;
pub mod ckpt_info;
pub mod controller_hooks;
pub mod feature_engineering_hooks;
pub mod hook_utils;

/// The example's implementation of every family trait.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExampleHooks;
