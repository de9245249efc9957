//! The ComfyUI assistant's platform-free core: the server catalogue (`/object_info`), workflow
//! templates with typed parameters, filling and validation before queueing, and availability
//! of a template on a server.

pub mod assistant;
pub mod events;
pub mod fill;
pub mod object_info;
pub mod server;
pub mod template;
