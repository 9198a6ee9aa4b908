//! The outcome of a review.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse};

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Allow,
    /// Refused, with a sentence for the developer who sent the request.
    Deny(String),
    /// Allowed once these changes are made.
    Patch(json_patch::Patch),
}

impl Verdict {
    pub fn deny(message: impl Into<String>) -> Self {
        Verdict::Deny(message.into())
    }

    /// A patch turning `before` into `after`, or a plain allow when they are equal.
    pub fn patch_between(before: &serde_json::Value, after: &serde_json::Value) -> Self {
        let patch = json_patch::diff(before, after);
        if patch.0.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Patch(patch)
        }
    }

    /// A patch from operations built by hand, for hot paths where diffing whole objects would
    /// cost more than the decision itself.
    pub fn patch(operations: Vec<json_patch::PatchOperation>) -> Self {
        if operations.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Patch(json_patch::Patch(operations))
        }
    }

    pub fn is_allowed(&self) -> bool {
        !matches!(self, Verdict::Deny(_))
    }

    pub fn into_response(self, request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
        let response = AdmissionResponse::from(request);
        match self {
            Verdict::Allow => response,
            Verdict::Deny(message) => response.deny(message),
            Verdict::Patch(patch) => match response.clone().with_patch(patch) {
                Ok(patched) => patched,
                // A patch that cannot be serialized must not turn into an allow without it.
                Err(error) => response.deny(format!("internal error: cannot encode the patch: {error}")),
            },
        }
    }
}

/// `add` of `value` at the path made of `tokens` (escaped as RFC 6901 requires).
pub fn add(tokens: &[&str], value: serde_json::Value) -> json_patch::PatchOperation {
    json_patch::PatchOperation::Add(json_patch::AddOperation {
        path: json_patch::jsonptr::PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

/// `remove` of the path made of `tokens`.
pub fn remove(tokens: &[&str]) -> json_patch::PatchOperation {
    json_patch::PatchOperation::Remove(json_patch::RemoveOperation {
        path: json_patch::jsonptr::PointerBuf::from_tokens(tokens.iter().copied()),
    })
}
