//! Palisade's reachability engine.
//!
//! Given namespaces, workloads (pods collapse into their owner), NetworkPolicies,
//! AdminNetworkPolicies, the BaselineAdminNetworkPolicy and Cilium policies (L3/L4), compute for
//! every ordered pair of endpoints (workloads and external IPv4 ranges) the set of allowed
//! connections, as port-range sets per protocol.
//!
//! - [`parse`] turns YAML/JSON text into a [`model::Cluster`] (pure: the caller reads the files);
//! - [`engine::Analysis`] compiles the policies once, groups workloads that no selector tells apart
//!   into classes, and evaluates each direction with Kubernetes semantics: AdminNetworkPolicy by
//!   priority (Allow/Deny/Pass), then NetworkPolicy (when the pod is isolated), then the
//!   BaselineAdminNetworkPolicy, then allow; a connection needs egress at the source AND ingress at
//!   the destination;
//! - [`report`] prints the netpol-analyzer corpus format (per network when UDN/NAD/VMs are used),
//!   [`explain`] says which rule decides each direction, [`matrix`] builds the tenant × tenant view
//!   and the isolation check.
//!
//! No I/O, no async: everything here is a function of its inputs.

mod bitset;
pub mod engine;
pub mod error;
pub mod explain;
pub mod ipv4;
pub mod matrix;
pub mod model;
pub mod parse;
pub mod ports;
pub mod report;
pub mod selector;

pub use engine::{Analysis, Connection, Options};
pub use error::{Error, Result};
pub use model::Cluster;
