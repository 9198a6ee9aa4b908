//! What a conversion gives: the converted Tenant with its gaps, or the errors that stopped it.

use std::fmt;

use palisade_api::Tenant;

use crate::cx::join;

/// One Capsule Tenant converted into a Palisade Tenant.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// Where the input came from, as given by the caller (e.g. `tenants.yaml:1: document 1`).
    pub source: String,
    pub tenant: Tenant,
    /// Everything the user must know about the conversion, in input-field order.
    pub gaps: Vec<Gap>,
}

/// How far a field made it into the Palisade Tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GapKind {
    /// The field has no Palisade equivalent and was left out.
    Dropped,
    /// The field was converted, but not exactly (narrower, wider, or only part of it).
    Partial,
    /// The field was converted; the note explains a difference in defaults or behaviour.
    Note,
    /// The converted Tenant does not pass `palisade validate` here; fix it before applying.
    Invalid,
}

impl GapKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GapKind::Dropped => "dropped",
            GapKind::Partial => "partial",
            GapKind::Note => "note",
            GapKind::Invalid => "invalid",
        }
    }
}

impl fmt::Display for GapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field of the input that did not map one to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// Dotted path of the input field (`spec.ingressOptions.allowedHostnames.allowedRegex`); for
    /// [`GapKind::Invalid`], the path in the converted Tenant.
    pub field: String,
    pub kind: GapKind,
    /// What Palisade does instead, or why the field was left out.
    pub message: String,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.field, self.kind, self.message)
    }
}

/// Why a document could not be converted at all, by the step that failed.
///
/// Every variant names the field at fault ([`ImportError::field`], a dotted path from the document
/// root, empty for the whole document) and says why ([`ImportError::message`]); it displays as
/// `field: message`, or the message alone when the field is empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Reading a `kind: List` / `TenantList` document: its `items` is not a list, or is empty.
    #[error("{}", located(.field, .message))]
    SplitList { field: String, message: String },
    /// Checking what the document is: not a mapping, or not a Capsule `v1beta2` Tenant (another
    /// version, another kind, or already a Palisade object).
    #[error("{}", located(.field, .message))]
    CheckType { field: String, message: String },
    /// Converting a Capsule Tenant's fields: a required field is missing, or a value has the wrong
    /// type or is not one Capsule accepts.
    #[error("{}", located(.field, .message))]
    ConvertField { field: String, message: String },
}

impl ImportError {
    /// Dotted path of the field at fault from the document root; empty for the whole document.
    pub fn field(&self) -> &str {
        match self {
            ImportError::SplitList { field, .. }
            | ImportError::CheckType { field, .. }
            | ImportError::ConvertField { field, .. } => field,
        }
    }

    /// What is wrong, without the field.
    pub fn message(&self) -> &str {
        match self {
            ImportError::SplitList { message, .. }
            | ImportError::CheckType { message, .. }
            | ImportError::ConvertField { message, .. } => message,
        }
    }

    /// The same error with `parent` (e.g. `items[1]`) put in front of its field, for an error
    /// inside an item of a list.
    pub(crate) fn within(mut self, parent: &str) -> Self {
        let (ImportError::SplitList { field, .. }
        | ImportError::CheckType { field, .. }
        | ImportError::ConvertField { field, .. }) = &mut self;
        *field = join(parent, field);
        self
    }
}

/// `field: message`, or the message alone for the whole document.
fn located(field: &str, message: &str) -> String {
    if field.is_empty() {
        message.to_string()
    } else {
        format!("{field}: {message}")
    }
}
