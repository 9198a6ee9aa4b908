//! Label and annotation keys Palisade owns. Every other crate reads them from here so that the
//! webhook, the controller and the CLI can never disagree about what marks a tenant namespace.

/// Binds a namespace (and every object Palisade creates) to its tenant.
pub const TENANT: &str = "palisade.dev/tenant";
/// Standard label on everything Palisade creates; the controller prunes by it.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "palisade";
/// Set on the namespaces of a cordoned tenant; the webhook freezes writes there.
pub const CORDONED: &str = "palisade.dev/cordoned";
/// Annotation on every object the controller applies: a hash of the manifest it applied. With
/// managedFields showing no other writer, it tells a restarted controller the object is
/// already as desired, so a restart or failover does not re-apply every object.
pub const APPLIED_HASH: &str = "palisade.dev/applied";
/// Label on a ValidatingAdmissionPolicy (value `"true"`) that asks Palisade to bind it once per
/// tenant, with the Tenant as its params (see [`crate::policies`]).
pub const TENANT_POLICY: &str = "palisade.dev/tenant-policy";
/// Value of [`TENANT_POLICY`].
pub const TENANT_POLICY_VALUE: &str = "true";
/// Annotation on a tenant policy: its validation actions, a comma-separated subset of `Deny`,
/// `Warn`, `Audit` (not Deny with Warn); `Deny` when absent. A Tenant can override it.
pub const VALIDATION_ACTIONS: &str = "palisade.dev/validation-actions";
/// Label on each ValidatingAdmissionPolicyBinding Palisade writes: the policy it binds.
pub const POLICY: &str = "palisade.dev/policy";
/// Set by Kubernetes itself on every namespace (immutable, equal to the name).
pub const NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";

/// Pod Security Admission labels.
pub const PSA_ENFORCE: &str = "pod-security.kubernetes.io/enforce";
pub const PSA_ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
pub const PSA_AUDIT: &str = "pod-security.kubernetes.io/audit";
pub const PSA_AUDIT_VERSION: &str = "pod-security.kubernetes.io/audit-version";
pub const PSA_WARN: &str = "pod-security.kubernetes.io/warn";
pub const PSA_WARN_VERSION: &str = "pod-security.kubernetes.io/warn-version";

/// Read by the PodNodeSelector admission plugin; the webhook enforces the same selector itself.
pub const NODE_SELECTOR_ANNOTATION: &str = "scheduler.alpha.kubernetes.io/node-selector";
/// Linkerd's per-namespace default inbound policy.
pub const LINKERD_DEFAULT_INBOUND_POLICY: &str = "config.linkerd.io/default-inbound-policy";

/// Labels every object created by Palisade for `tenant` carries.
pub fn managed_labels(tenant: &str) -> std::collections::BTreeMap<String, String> {
    [
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (TENANT.to_string(), tenant.to_string()),
    ]
    .into_iter()
    .collect()
}
