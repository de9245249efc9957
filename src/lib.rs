//! Edge AI aggregation gateway: one key and one endpoint in front of many relay stations.
//!
//! `core` is platform-free and tested natively; `shell` is the thin Workers layer (wasm32 only).

pub mod core;

#[cfg(target_arch = "wasm32")]
mod shell;
