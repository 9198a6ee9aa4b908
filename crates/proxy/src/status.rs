//! Kubernetes `Status` answers: every refusal the proxy makes itself reads like one from the
//! API server, so kubectl prints it as it prints the API server's own.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{ProxyBody, full};

/// A refusal or failure the proxy answers itself. Messages never name another tenant or its
/// objects: they say what the caller sent and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            reason,
            message: message.into(),
        }
    }
    pub fn unauthorized(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }
    pub fn not_acceptable(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::NOT_ACCEPTABLE, "NotAcceptable", message)
    }
    pub fn too_large(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", message)
    }
    pub fn expired(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::GONE, "Expired", message)
    }
    /// The API server could not be reached or answered something unreadable.
    pub fn upstream(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", message)
    }

    /// The `Status` object, as JSON.
    pub fn status_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        })
    }

    pub fn into_response(self) -> Response<ProxyBody> {
        let body = Bytes::from(self.status_json().to_string());
        let mut response = Response::new(full(body));
        *response.status_mut() = self.code;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_kubernetes_status() {
        let status = Refusal::forbidden("no").status_json();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["code"], 403);
        assert_eq!(status["reason"], "Forbidden");
        assert_eq!(status["status"], "Failure");
    }
}
