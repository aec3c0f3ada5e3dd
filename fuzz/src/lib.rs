//! The FTN module and what it uses, compiled on their own for fuzzing.

#[path = "../../src/ftn/mod.rs"]
pub mod ftn;
#[path = "../../src/model.rs"]
pub mod model;
pub mod parse;
