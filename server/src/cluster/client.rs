//! The read-only Kubernetes client: every request usher sends to a cluster goes through
//! [`ReadOnlyClient::get`], which only builds `GET` requests (the `get`, `list` and discovery
//! verbs). There is no other way to reach the cluster from usher.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value as Json;

/// Why one request to the cluster failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The API server answered with an error status (401, 403, 404, 500, …).
    #[error("{code} {reason}: {message}")]
    Status {
        code: u16,
        reason: String,
        message: String,
    },
    /// No answer within the time limit.
    #[error("no answer within {0} s")]
    Timeout(u64),
    /// The server could not be reached, or the connection broke (TLS, DNS, refused, reset).
    #[error("cannot reach the API server: {0}")]
    Connection(String),
    /// The answer was not the JSON it should be (truncated, invalid, wrong shape).
    #[error("invalid answer: {0}")]
    Invalid(String),
}

impl FetchError {
    /// Whether the server could not be talked to at all (as opposed to answering with an error).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, FetchError::Timeout(_) | FetchError::Connection(_))
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            FetchError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Counters of what was sent and received.
#[derive(Debug, Default)]
pub struct Traffic {
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
}

/// A `kube` client that can only read.
#[derive(Clone)]
pub struct ReadOnlyClient {
    client: kube::Client,
    timeout: Duration,
    pub traffic: Arc<Traffic>,
}

impl ReadOnlyClient {
    pub fn new(client: kube::Client, timeout: Duration) -> Self {
        ReadOnlyClient {
            client,
            timeout,
            traffic: Arc::new(Traffic::default()),
        }
    }

    /// `GET path` (path and query, e.g. `/apis/apps/v1?limit=5`), with an `Accept` header.
    /// Returns the body as text.
    pub async fn get(&self, path: &str, accept: &str) -> Result<String, FetchError> {
        let request = http::Request::get(path)
            .header(http::header::ACCEPT, accept)
            .body(Vec::new())
            .map_err(|e| FetchError::Invalid(format!("bad request path {path}: {e}")))?;
        self.traffic.requests.fetch_add(1, Ordering::Relaxed);
        let answer = tokio::time::timeout(self.timeout, self.client.request_text(request)).await;
        let text = match answer {
            Err(_) => return Err(FetchError::Timeout(self.timeout.as_secs().max(1))),
            Ok(Err(e)) => return Err(classify(e)),
            Ok(Ok(text)) => text,
        };
        self.traffic
            .bytes
            .fetch_add(text.len() as u64, Ordering::Relaxed);
        Ok(text)
    }

    /// `GET path` as JSON.
    pub async fn get_json(&self, path: &str) -> Result<Json, FetchError> {
        let text = self.get(path, "application/json").await?;
        parse_json(&text)
    }
}

/// Parses an answer, with the position of the first error when it is not JSON.
pub fn parse_json(text: &str) -> Result<Json, FetchError> {
    serde_json::from_str(text).map_err(|e| {
        FetchError::Invalid(if e.is_eof() {
            format!("the JSON ends early (truncated after {} bytes)", text.len())
        } else {
            format!("not JSON: {e}")
        })
    })
}

fn classify(e: kube::Error) -> FetchError {
    match e {
        kube::Error::Api(status) => FetchError::Status {
            code: status.code,
            reason: if status.reason.is_empty() {
                http::StatusCode::from_u16(status.code)
                    .ok()
                    .and_then(|c| c.canonical_reason())
                    .unwrap_or("error")
                    .to_string()
            } else {
                status.reason.clone()
            },
            message: one_line(&status.message),
        },
        kube::Error::SerdeError(e) => FetchError::Invalid(e.to_string()),
        kube::Error::FromUtf8(e) => FetchError::Invalid(format!("not UTF-8 text: {e}")),
        other => {
            // Walk the source chain: the useful part (connection refused, certificate
            // unknown, …) is usually at the bottom.
            let mut message = other.to_string();
            let mut source = std::error::Error::source(&other);
            while let Some(s) = source {
                let m = s.to_string();
                if !message.contains(&m) {
                    message = format!("{message}: {m}");
                }
                source = s.source();
            }
            FetchError::Connection(one_line(&message))
        }
    }
}

fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}
