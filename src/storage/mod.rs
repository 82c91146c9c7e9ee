//! Where finished files go: the backends of the pipeline's `Storage` port
//! (a local directory, object stores through OpenDAL). Uploads stream from
//! disk; no file is read whole into memory.

pub mod local;
pub mod object;
pub mod stream_put;

pub use local::LocalStorage;
pub use object::{ObjectStorage, ObjectStore};
