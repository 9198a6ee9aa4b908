//! Capsule `capsule.clastix.io/v1beta2` Tenants (as of Capsule v0.14) → Palisade Tenants, with no
//! client, no async runtime and no I/O: the caller reads and parses the documents (the CLI's
//! `palisade import capsule` only reads files and prints).
//!
//! ```text
//!   serde_json::Value (one document: a Tenant, or a List / TenantList of them)
//!        ──convert_document()──▶ Ok(Vec<Conversion>)
//!                                  ├─ tenant: palisade.dev/v1alpha1 Tenant
//!                                  └─ gaps:   what had no exact equivalent, per field
//!                              or Err(Vec<ImportError>): every field that stopped the conversion
//! ```
//!
//! A conversion never drops a field silently: every input field is either mapped or named in a
//! [`Gap`] that says what Palisade does instead, and every behaviour that would change because the
//! two tools have different defaults is spelled out too. The converted Tenant is checked with
//! [`palisade_tenancy::validate()`]; what fails is a [`GapKind::Invalid`] gap.
//!
//! `convert` reads the document and dispatches the Tenant's fields to one module per field group
//! (`owners`, `namespaces`, `classes`, `quota`, `network`, `workloads`); `regex` translates
//! Capsule's simple regular expressions into Palisade's name patterns, and `cx` holds the typed
//! field readers that collect gaps and errors.

mod classes;
mod conversion;
mod convert;
mod cx;
mod namespaces;
mod network;
mod owners;
mod quota;
mod regex;
mod workloads;

pub use conversion::{Conversion, Gap, GapKind, ImportError};
pub use convert::{API_VERSION, Options, convert_document, convert_document_with, convert_tenant, convert_tenant_with};
