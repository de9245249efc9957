//! Platform-free core: everything here compiles and is unit-tested natively (no `worker` types).

pub mod convert;
pub mod cooldown;
pub mod cors;
pub mod crypto;
pub mod dialect;
pub mod endpoint;
pub mod error;
pub mod gateway_key;
pub mod headers;
pub mod invitation;
pub mod model_list;
pub mod multipart;
pub mod organization;
pub mod outbound;
pub mod panels;
pub mod plans;
pub mod redact;
pub mod request_head;
pub mod roles;
pub mod routing;
pub mod schedule;
pub mod session;
pub mod sse;
pub mod station;
pub mod usage;
