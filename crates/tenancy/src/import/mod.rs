//! Converting other tools' tenants into Palisade Tenants, without I/O.
//!
//! ```text
//!   serde_json::Value (one document) ──capsule::convert_document()──▶ Vec<Conversion>
//!                                                                        ├─ tenant: palisade.dev/v1alpha1 Tenant
//!                                                                        └─ gaps:   what had no exact equivalent, per field
//! ```
//!
//! A conversion never drops a field silently: every input field is either mapped or named in a
//! [`Gap`] that says what Palisade does instead, and every behaviour that would change because the
//! two tools have different defaults is spelled out too. The CLI (`palisade import`) only reads
//! files and prints.

use std::fmt;

use palisade_api::Tenant;

pub mod capsule;

/// One Tenant converted from another tool.
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

/// Why a document could not be converted at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// Dotted path of the field at fault from the document root; empty for the whole document.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}
