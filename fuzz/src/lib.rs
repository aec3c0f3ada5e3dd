//! The readers (the FTN module, the feed parser) and what they use, compiled on their own for
//! fuzzing.

#[path = "../../src/ftn/mod.rs"]
pub mod ftn;
#[path = "../../src/model.rs"]
pub mod model;
pub mod parse;
