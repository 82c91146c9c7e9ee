//! Drawing a recording: surfaces, compositing, the layer tree, images.

pub mod composite;
pub mod damage;
pub mod decode;
pub mod display;
pub mod limits;
pub mod surface;
pub mod transfer;

pub use display::{Display, DrawError};
pub use limits::Limits;
pub use surface::{Rect, Surface};
