//! Alternative rendering engines.

pub mod guacenc;
