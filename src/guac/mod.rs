//! The Guacamole protocol as found in session recordings: opening files,
//! parsing instructions, and giving them types. No drawing happens here.

pub mod base64;
pub mod input;
pub mod instruction;
pub mod limits;
pub mod parser;

pub use instruction::{Instruction, LayerIndex};
pub use parser::{Event, IssueKind, ParseIssue, Parser, RawInstruction};
