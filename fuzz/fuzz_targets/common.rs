//! Helpers shared by the fuzz targets (included with `#[path]`).
#![allow(dead_code, unused_imports)]

#[path = "../../qga-commands/tests/support/examples.rs"]
mod examples;
#[path = "../../qga-protocol/tests/support/framing.rs"]
mod framing;
#[path = "../../qapi-core/tests/support/shapes.rs"]
mod shapes;

pub use examples::{in_qemu_form, MAX_ARG_ERROR};
pub use framing::{feed_chunks, json_eq, lax, nesting_depth, Out};
pub use shapes::{Mode, A, B, C};
