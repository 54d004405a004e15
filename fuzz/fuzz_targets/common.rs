//! Helpers shared by the fuzz targets (included with `#[path]`).
#![allow(dead_code, unused_imports)]

#[path = "../../qga-protocol/tests/support/framing.rs"]
mod framing;
#[path = "../../qapi-core/tests/support/shapes.rs"]
mod shapes;

pub use framing::{feed_chunks, json_eq, lax, nesting_depth, Out};
pub use shapes::{Mode, A, B, C};

/// True when `text` is in one of the forms QEMU words argument errors in.
pub fn in_qemu_form(text: &str) -> bool {
    if let Some(rest) = text.strip_prefix("Invalid parameter type for '") {
        return rest.contains("', expected: ");
    }
    let Some(rest) = text.strip_prefix("Parameter '") else {
        return false;
    };
    rest.ends_with("' is missing")
        || rest.ends_with("' is unexpected")
        || (rest.ends_with('\'') && rest.contains("' does not accept value '"))
        || rest.contains("' expects ")
}
