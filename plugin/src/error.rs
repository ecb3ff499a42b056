//! The connector's typed errors; each maps one-to-one onto the WIT `connector-error` variant.

use thiserror::Error;

/// Everything that can stop a connector call, in a form a host can act on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectorError {
    /// A setting is missing or invalid.
    #[error("configuration error in `{key}`: {message}")]
    Config {
        /// The offending key.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Entra ID refused to sign in.
    #[error("sign-in failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Auth {
        /// `AADSTS…` code when Entra gave one.
        code: Option<String>,
        /// OAuth error class, e.g. `invalid_client`.
        error: String,
        /// Customer-facing explanation.
        message: String,
    },
    /// An app role is missing.
    #[error("missing permission {permission}: {message}")]
    Permission {
        /// The permission to grant.
        permission: String,
        /// Customer-facing explanation.
        message: String,
    },
    /// The service throttled us.
    #[error("throttled{}: {message}", retry_after_ms.map(|ms| format!(" (retry after {ms} ms)")).unwrap_or_default())]
    Throttled {
        /// How long to wait, when the service said.
        retry_after_ms: Option<u64>,
        /// What was throttled.
        message: String,
    },
    /// A failure that may go away on retry (5xx, network).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The answer could not be used; nothing from it was consumed.
    #[error("invalid response (HTTP {status}): {message}")]
    InvalidResponse {
        /// HTTP status (0 when the status was fine).
        status: u16,
        /// What was wrong.
        message: String,
    },
    /// The sandbox refused a request.
    #[error("refused by the sandbox: {0}")]
    DeniedBySandbox(String),
}

impl ConnectorError {
    /// A configuration error for `key`.
    pub fn config(key: &str, message: impl Into<String>) -> Self {
        ConnectorError::Config { key: key.to_string(), message: message.into() }
    }

    /// An invalid-response error.
    pub fn invalid(status: u16, message: impl Into<String>) -> Self {
        ConnectorError::InvalidResponse { status, message: message.into() }
    }
}
