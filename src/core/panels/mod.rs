//! Relay-panel adapters: pure request builders and response parsers, one module per panel family.

pub mod new_api;

use std::fmt;

/// An HTTP call to make against a panel, built without touching the network.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelRequest {
    pub method: &'static str,
    /// Path and query, appended to the station's base URL.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

/// Why a panel call failed, as reported on the account (never containing credentials).
#[derive(Debug, Clone, PartialEq)]
pub enum PanelError {
    /// Credentials rejected (HTTP 401/403 or an auth `success:false`).
    Auth(String),
    /// The panel answered `success:false` for another reason.
    Refused(String),
    /// The endpoint does not exist on this panel (HTTP 404 `Invalid URL`).
    NotSupported(String),
    /// Unexpected HTTP status.
    Http(u16),
    /// No HTTP answer at all (connection refused, DNS, reset).
    Unreachable(String),
    /// A body we cannot read.
    Malformed(String),
}

impl fmt::Display for PanelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PanelError::Auth(m) => write!(f, "authentication failed: {m}"),
            PanelError::Refused(m) => write!(f, "panel refused: {m}"),
            PanelError::NotSupported(m) => write!(f, "not supported by this panel: {m}"),
            PanelError::Http(s) => write!(f, "unexpected HTTP status {s}"),
            PanelError::Unreachable(m) => write!(f, "unreachable: {m}"),
            PanelError::Malformed(m) => write!(f, "unreadable response: {m}"),
        }
    }
}
