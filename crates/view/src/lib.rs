//! One view of the cluster for every part of Palisade.
//!
//! ```text
//!   kube watcher ──▶ driver (feature `driver`): backoff, synced, per-kind metrics
//!                      │ apply / delete / reset
//!                      ▼
//!   Index<K> ── TenantDirectory (tenants ↔ namespaces, grants, mesh callers, wake-ups)
//!            ── admission's Snapshot (what the webhook decides from)
//!            ── the controller's cache (fingerprints of what Palisade applied)
//!   inventory ── nodes, classes, volumes, for the owners' views (controller and proxy)
//!   Memberships ── who a RoleBinding names where (the proxy's views of role holders)
//! ```
//!
//! Where a watch event becomes state: an [`Index`] implementation. Everything here but
//! [`driver`] is pure, and every index is tested by driving it with apply / delete / reset
//! sequences, without a cluster.

mod directory;
#[cfg(feature = "driver")]
pub mod driver;
mod index;
pub mod inventory;
#[cfg(feature = "driver")]
pub mod inventory_watch;
mod members;

pub use directory::{NamespaceEntry, TenantDirectory, Usage};
pub use index::Index;
pub use members::{Binding, Member, Memberships};
