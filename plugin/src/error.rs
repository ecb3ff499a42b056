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
    /// The incident (or other object) does not exist in this tenant.
    #[error("not found: {0}")]
    NotFound(String),
    /// Someone changed the incident since the version the caller saw; nothing was changed.
    #[error("conflict: {message}")]
    Conflict {
        /// The version the caller based its change on.
        expected_version: String,
        /// The incident's version now.
        current_version: String,
        /// What changed and what to do.
        message: String,
    },
    /// The caller's request is invalid (e.g. a classification/determination pair); nothing was sent.
    #[error("invalid request (`{field}`): {message}")]
    InvalidRequest {
        /// The offending field.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An advanced hunting query failed.
    #[error("hunting query failed ({kind}, HTTP {status}{}): {message}", request_id.as_deref().map(|r| format!(", request-id {r}")).unwrap_or_default())]
    Query {
        /// Why, as far as the service said.
        kind: QueryFailure,
        /// HTTP status of the answer.
        status: u16,
        /// Graph `request-id` of the failed call, for Microsoft support.
        request_id: Option<String>,
        /// When the quota allows the next query, if the service said.
        retry_after_ms: Option<u64>,
        /// What happened and what to do.
        message: String,
    },
}

/// Why a hunting query failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFailure {
    /// The KQL was rejected (syntax, unknown table or column).
    InvalidQuery,
    /// The tenant's hunting quota (calls or CPU) is used up: wait, then retry.
    QuotaExceeded,
    /// The query ran out of time in the service.
    Timeout,
    /// The result is larger than the service returns.
    TooLarge,
    /// The service failed in another way.
    Failed,
}

impl std::fmt::Display for QueryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QueryFailure::InvalidQuery => "invalid query",
            QueryFailure::QuotaExceeded => "quota exceeded",
            QueryFailure::Timeout => "timeout",
            QueryFailure::TooLarge => "result too large",
            QueryFailure::Failed => "failed",
        })
    }
}

impl ConnectorError {
    /// A configuration error for `key`.
    pub fn config(key: &str, message: impl Into<String>) -> Self {
        ConnectorError::Config { key: key.to_string(), message: message.into() }
    }

    /// An invalid-request error for `field`.
    pub fn invalid_request(field: &str, message: impl Into<String>) -> Self {
        ConnectorError::InvalidRequest { field: field.to_string(), message: message.into() }
    }

    /// An invalid-response error.
    pub fn invalid(status: u16, message: impl Into<String>) -> Self {
        ConnectorError::InvalidResponse { status, message: message.into() }
    }
}
