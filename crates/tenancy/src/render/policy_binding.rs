//! Tenant policies: one ValidatingAdmissionPolicyBinding per tenant for every
//! ValidatingAdmissionPolicy labelled `palisade.dev/tenant-policy: "true"`, with the Tenant as
//! its params, so one policy serves every tenant with that tenant's
//! `spec.policies.parameters`.
//!
//! ```text
//!  ValidatingAdmissionPolicy max-replicas        Tenant shop
//!    paramKind: palisade.dev/v1alpha1 Tenant       spec.policies.parameters.maxReplicas: 4
//!    labels: palisade.dev/tenant-policy: "true"
//!          └──────────────┬──────────────────────────┘
//!  ValidatingAdmissionPolicyBinding palisade-shop.max-replicas
//!    policyName: max-replicas
//!    paramRef: {name: shop, parameterNotFoundAction: Deny}
//!    validationActions: [Deny]
//!    matchResources: namespaceSelector {palisade.dev/tenant: shop}, resourceRules (below)
//! ```
//!
//! **What a binding matches.** The API server evaluates a policy for a request only when both
//! the policy's `matchConstraints` and the binding's `matchResources` match it. A
//! `namespaceSelector` narrows only namespaced objects and Namespaces themselves: the API
//! server never skips a cluster-scoped object other than a Namespace on the namespace selector
//! (it has no namespace whose labels could be tested). A binding with only a namespace
//! selector would therefore enforce tenant A's parameters on every ClusterRole, Node or
//! StorageClass the policy matches, written by anyone, and with N tenants N times over. So the
//! binding also narrows the resources, never widening the policy's:
//!
//! - each of the policy's `resourceRules` again, with `scope: Namespaced` (a rule the policy
//!   scopes to `Cluster` is left out: nothing namespaced could match both);
//! - where a rule of the policy can match Namespaces (its apiGroups hold `""` or `*`, its
//!   resources `namespaces`, `namespaces/<sub>`, `*`, `*/*` or `*/<sub>`), that rule for
//!   `namespaces` only, with `scope: Cluster`: a Namespace is matched on its own labels, so only
//!   the tenant's namespaces are.
//!
//! A binding's `resourceRules` must never be empty: an empty list does not constrain matching
//! at all. A policy that would leave none (it matches only cluster-scoped kinds other than
//! Namespaces) is not bindable, and says so.
//!
//! **Names.** `palisade-<tenant>.<policy>`: a tenant name is a DNS label (no dot), so the first
//! dot separates tenant and policy, and no two (tenant, policy) pairs share a name (with a `-`,
//! tenant `team` with policy `a-limits` and tenant `team-a` with policy `limits` would). Longer
//! than 253 characters, the policy part is cut and a hash of the whole name appended.
//!
//! **Validation actions** for a tenant, first that applies: `spec.policies.overrides[]` naming
//! the policy, `spec.policies.validationActions`, the policy's annotation
//! `palisade.dev/validation-actions`, `Deny`.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MatchResources, NamedRuleWithOperations, ParamRef, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingAdmissionPolicyBindingSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use palisade_api::policies::parse_validation_actions;
use palisade_api::{Tenant, TenantPolicyStatus, ValidationAction, labels};

use super::ManagedObject;
use super::naming::short_hash;

/// Longest object name the API server accepts for a binding (a DNS subdomain).
const MAX_BINDING_NAME: usize = 253;
/// Longest label value.
const MAX_LABEL_VALUE: usize = 63;

/// One ValidatingAdmissionPolicy marked as a tenant policy, as the renderer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkedPolicy {
    pub name: String,
    /// The policy's `spec.matchConstraints.resourceRules`.
    pub resource_rules: Vec<NamedRuleWithOperations>,
    /// From the `palisade.dev/validation-actions` annotation (`None`: no annotation, `Deny`).
    pub actions: Option<Vec<ValidationAction>>,
    /// Why it cannot be bound (wrong paramKind, CEL that does not compile or cannot be
    /// evaluated, a bad annotation, nothing namespaced to match); empty: bindable.
    pub problems: Vec<String>,
}

impl MarkedPolicy {
    /// `policy` with `problems` found in its CEL and paramKind (the controller asks
    /// `palisade_policy::vap::tenant_policy_problems`), plus what keeps Palisade from binding
    /// it per tenant: an unreadable annotation, or resource rules that leave nothing a
    /// tenant's binding could be limited to.
    pub fn from_policy(policy: &ValidatingAdmissionPolicy, mut problems: Vec<String>) -> MarkedPolicy {
        let name = policy.metadata.name.clone().unwrap_or_default();
        let resource_rules = policy
            .spec
            .as_ref()
            .and_then(|spec| spec.match_constraints.as_ref())
            .and_then(|m| m.resource_rules.clone())
            .unwrap_or_default();
        let annotation = policy
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(labels::VALIDATION_ACTIONS));
        let actions = match annotation.map(|text| parse_validation_actions(text)) {
            None => None,
            Some(Ok(actions)) => Some(actions),
            Some(Err(problem)) => {
                problems.push(format!("annotation {}: {problem}", labels::VALIDATION_ACTIONS));
                None
            }
        };
        if binding_rules(&resource_rules).is_empty() {
            problems.push(
                "spec.matchConstraints.resourceRules match no namespaced resource and no Namespace: a tenant's binding can only be limited to objects in the tenant's namespaces and the namespaces themselves (a binding without resourceRules would match cluster-scoped objects of every tenant)"
                    .to_string(),
            );
        }
        MarkedPolicy {
            name,
            resource_rules,
            actions,
            problems,
        }
    }

    pub fn bindable(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Every tenant policy of the cluster, by name.
pub type MarkedPolicies = BTreeMap<String, MarkedPolicy>;

/// Where the validation actions of a tenant's binding come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionsSource {
    Override,
    Tenant,
    Annotation,
    Default,
}

impl ActionsSource {
    fn describe(self) -> &'static str {
        match self {
            ActionsSource::Override => "from the Tenant's spec.policies.overrides",
            ActionsSource::Tenant => "from the Tenant's spec.policies.validationActions",
            ActionsSource::Annotation => "from the policy's annotation palisade.dev/validation-actions",
            ActionsSource::Default => "the default",
        }
    }
}

/// The validation actions of `policy`'s binding for `tenant`, and where they come from.
pub fn effective_actions(tenant: &Tenant, policy: &MarkedPolicy) -> (Vec<ValidationAction>, ActionsSource) {
    let spec = &tenant.spec.policies;
    if let Some(entry) = spec.overrides.iter().find(|o| o.policy == policy.name) {
        return (entry.validation_actions.clone(), ActionsSource::Override);
    }
    if let Some(actions) = &spec.validation_actions {
        return (actions.clone(), ActionsSource::Tenant);
    }
    match &policy.actions {
        Some(actions) => (actions.clone(), ActionsSource::Annotation),
        None => (vec![ValidationAction::Deny], ActionsSource::Default),
    }
}

/// The name of `tenant`'s binding of `policy`: `palisade-<tenant>.<policy>`, cut to 253
/// characters with a hash when longer.
pub fn binding_name(tenant: &str, policy: &str) -> String {
    let full = format!("palisade-{tenant}.{policy}");
    if full.len() <= MAX_BINDING_NAME {
        return full;
    }
    let hash = short_hash(&full);
    let head: String = full.chars().take(MAX_BINDING_NAME - hash.len() - 1).collect();
    let head = head.trim_end_matches(['-', '.']);
    format!("{head}-{hash}")
}

/// The `palisade.dev/policy` label value: the policy's name, or (longer than a label value
/// may be) its first characters and a hash.
pub fn policy_label_value(policy: &str) -> String {
    if policy.len() <= MAX_LABEL_VALUE {
        return policy.to_string();
    }
    let hash = short_hash(policy);
    let head: String = policy.chars().take(MAX_LABEL_VALUE - hash.len() - 1).collect();
    let head = head.trim_end_matches(['-', '.']);
    format!("{head}-{hash}")
}

/// The bindings `tenant` gets: one per bindable policy it does not exclude, sorted by name.
pub fn render(tenant: &Tenant, policies: &MarkedPolicies) -> Vec<ManagedObject> {
    let tenant_name = tenant.metadata.name.as_deref().unwrap_or_default();
    let excluded = &tenant.spec.policies.exclude;
    let mut bindings: Vec<ManagedObject> = policies
        .values()
        .filter(|p| p.bindable() && !excluded.contains(&p.name))
        .map(|policy| {
            let (actions, _) = effective_actions(tenant, policy);
            binding(tenant_name, policy, &actions)
        })
        .collect();
    bindings.sort_by(|a, b| a.name.cmp(&b.name));
    bindings
}

/// `status.policies` of `tenant`: one entry per tenant policy of the cluster, by name.
pub fn policy_statuses(tenant: &Tenant, policies: &MarkedPolicies) -> Vec<TenantPolicyStatus> {
    let tenant_name = tenant.metadata.name.as_deref().unwrap_or_default();
    policies
        .values()
        .map(|policy| {
            if !policy.bindable() {
                return TenantPolicyStatus {
                    policy: policy.name.clone(),
                    bound: false,
                    validation_actions: Vec::new(),
                    message: format!(
                        "not bound for any tenant: {} (see the policy's {} condition)",
                        policy.problems.join("; "),
                        POLICY_CONDITION
                    ),
                };
            }
            if tenant.spec.policies.exclude.contains(&policy.name) {
                return TenantPolicyStatus {
                    policy: policy.name.clone(),
                    bound: false,
                    validation_actions: Vec::new(),
                    message: "not bound: the Tenant lists it in spec.policies.exclude".to_string(),
                };
            }
            let (actions, source) = effective_actions(tenant, policy);
            let words: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
            TenantPolicyStatus {
                policy: policy.name.clone(),
                bound: true,
                message: format!(
                    "bound by ValidatingAdmissionPolicyBinding {} with validationActions [{}] ({})",
                    binding_name(tenant_name, &policy.name),
                    words.join(", "),
                    source.describe()
                ),
                validation_actions: actions,
            }
        })
        .collect()
}

/// The condition type Palisade writes on each tenant policy's status.
pub const POLICY_CONDITION: &str = "PalisadeTenantBindings";

/// The condition Palisade writes on a tenant policy: `(status, reason, message)`.
pub fn policy_condition(policy: &MarkedPolicy) -> (bool, &'static str, String) {
    if policy.bindable() {
        (
            true,
            "Bound",
            "Palisade binds this policy once per tenant (ValidatingAdmissionPolicyBinding palisade-<tenant>.<policy>, params: the Tenant)".to_string(),
        )
    } else {
        (
            false,
            "NotBindable",
            format!(
                "Palisade binds this policy for no tenant: {}",
                policy.problems.join("; ")
            ),
        )
    }
}

fn binding(tenant: &str, policy: &MarkedPolicy, actions: &[ValidationAction]) -> ManagedObject {
    let mut object_labels = labels::managed_labels(tenant);
    object_labels.insert(labels::POLICY.to_string(), policy_label_value(&policy.name));
    let object = ValidatingAdmissionPolicyBinding {
        metadata: ObjectMeta {
            name: Some(binding_name(tenant, &policy.name)),
            labels: Some(object_labels),
            ..ObjectMeta::default()
        },
        spec: ValidatingAdmissionPolicyBindingSpec {
            policy_name: policy.name.clone(),
            // The Tenant is cluster-scoped: no namespace. If it is gone, deny rather than
            // admit without parameters (the binding is pruned right after anyway).
            param_ref: Some(ParamRef {
                name: Some(tenant.to_string()),
                parameter_not_found_action: Some("Deny".to_string()),
                ..ParamRef::default()
            }),
            validation_actions: actions.iter().map(|a| a.as_str().to_string()).collect(),
            match_resources: Some(MatchResources {
                namespace_selector: Some(LabelSelector {
                    match_labels: Some([(labels::TENANT.to_string(), tenant.to_string())].into()),
                    ..LabelSelector::default()
                }),
                resource_rules: Some(binding_rules(&policy.resource_rules)),
                ..MatchResources::default()
            }),
        },
    };
    ManagedObject::from_typed(&object)
}

/// The binding's resourceRules for a policy's (see the module comment): each rule limited to
/// namespaced resources, and a cluster-scoped rule for `namespaces` where the policy's rule can
/// match Namespaces.
pub fn binding_rules(policy_rules: &[NamedRuleWithOperations]) -> Vec<NamedRuleWithOperations> {
    let mut namespaced = Vec::new();
    let mut namespaces = Vec::new();
    for rule in policy_rules {
        let scope = rule.scope.as_deref().unwrap_or("*");
        if scope != "Cluster" {
            namespaced.push(NamedRuleWithOperations {
                scope: Some("Namespaced".to_string()),
                ..rule.clone()
            });
        }
        if scope == "Namespaced" {
            continue;
        }
        let core = rule.api_groups.iter().flatten().any(|g| g.is_empty() || g == "*");
        let resources: Vec<String> = rule
            .resources
            .iter()
            .flatten()
            .filter_map(|r| namespace_resource(r))
            .collect();
        if core && !resources.is_empty() {
            namespaces.push(NamedRuleWithOperations {
                api_groups: Some(vec![String::new()]),
                resources: Some(resources),
                scope: Some("Cluster".to_string()),
                ..rule.clone()
            });
        }
    }
    namespaced.extend(namespaces);
    namespaced
}

/// What of the resource `pattern` (`namespaces`, `*`, `*/*`, `*/status`, ...) names Namespaces
/// or their subresources, as a resource of a rule for `namespaces` only.
fn namespace_resource(pattern: &str) -> Option<String> {
    let (resource, sub) = match pattern.split_once('/') {
        Some((resource, sub)) => (resource, Some(sub)),
        None => (pattern, None),
    };
    if resource != "namespaces" && resource != "*" {
        return None;
    }
    Some(match sub {
        None => "namespaces".to_string(),
        Some(sub) => format!("namespaces/{sub}"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Value, json};

    use super::*;

    fn tenant(policies: Value) -> Tenant {
        serde_json::from_value(json!({
            "apiVersion": "palisade.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": { "name": "shop" },
            "spec": { "owners": [{ "kind": "User", "name": "alice" }], "policies": policies },
        }))
        .unwrap()
    }

    fn vap(name: &str, annotation: Option<&str>, rules: Value) -> ValidatingAdmissionPolicy {
        let mut metadata = json!({ "name": name, "labels": { labels::TENANT_POLICY: "true" } });
        if let Some(a) = annotation {
            metadata["annotations"] = json!({ labels::VALIDATION_ACTIONS: a });
        }
        serde_json::from_value(json!({
            "metadata": metadata,
            "spec": {
                "paramKind": { "apiVersion": "palisade.dev/v1alpha1", "kind": "Tenant" },
                "matchConstraints": { "resourceRules": rules },
                "validations": [{ "expression": "true" }],
            },
        }))
        .unwrap()
    }

    fn deployments() -> Value {
        json!([{ "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["deployments"] }])
    }

    fn rules(value: Value) -> Vec<NamedRuleWithOperations> {
        serde_json::from_value(value).unwrap()
    }

    fn marked(policies: &[MarkedPolicy]) -> MarkedPolicies {
        policies.iter().map(|p| (p.name.clone(), p.clone())).collect()
    }

    #[test]
    fn namespaced_rules_stay_namespaced_and_namespaces_get_a_cluster_rule() {
        let out = binding_rules(&rules(json!([
            { "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"] },
            { "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*", "*/status"], "scope": "*" },
            { "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["nodes"], "scope": "Cluster" },
            { "apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["namespaces"], "scope": "Cluster" },
        ])));
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!([
                { "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"], "scope": "Namespaced" },
                { "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*", "*/status"], "scope": "Namespaced" },
                { "apiGroups": [""], "apiVersions": ["*"], "operations": ["*"], "resources": ["namespaces", "namespaces/status"], "scope": "Cluster" },
                { "apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["namespaces"], "scope": "Cluster" },
            ])
        );
    }

    #[test]
    fn a_policy_on_cluster_scoped_kinds_only_is_not_bindable() {
        let nodes = vap(
            "nodes",
            None,
            json!([{ "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["nodes"], "scope": "Cluster" }]),
        );
        let policy = MarkedPolicy::from_policy(&nodes, Vec::new());
        assert!(!policy.bindable());
        assert!(
            policy.problems[0].contains("match no namespaced resource"),
            "{:?}",
            policy.problems
        );
        assert!(render(&tenant(json!({})), &marked(&[policy])).is_empty());
    }

    #[test]
    fn actions_follow_override_then_tenant_then_annotation_then_deny() {
        let warned = MarkedPolicy::from_policy(&vap("a", Some("Warn,Audit"), deployments()), Vec::new());
        let plain = MarkedPolicy::from_policy(&vap("b", None, deployments()), Vec::new());
        let actions = |t: &Tenant| -> Vec<Vec<String>> {
            render(t, &marked(&[warned.clone(), plain.clone()]))
                .iter()
                .map(|o| serde_json::from_value(o.manifest["spec"]["validationActions"].clone()).unwrap())
                .collect()
        };
        assert_eq!(actions(&tenant(json!({}))), [vec!["Warn", "Audit"], vec!["Deny"]]);
        assert_eq!(
            actions(&tenant(json!({ "validationActions": ["Audit"] }))),
            [vec!["Audit"], vec!["Audit"]]
        );
        assert_eq!(
            actions(&tenant(json!({
                "validationActions": ["Audit"],
                "overrides": [{ "policy": "a", "validationActions": ["Deny"] }],
            }))),
            [vec!["Deny"], vec!["Audit"]]
        );
        let statuses = policy_statuses(&tenant(json!({ "exclude": ["b"] })), &marked(&[warned, plain]));
        assert!(
            statuses[0].bound && statuses[0].message.contains("annotation"),
            "{statuses:?}"
        );
        assert!(
            !statuses[1].bound && statuses[1].message.contains("spec.policies.exclude"),
            "{statuses:?}"
        );
    }

    #[test]
    fn a_bad_annotation_or_problem_keeps_the_policy_unbound_and_says_why() {
        let bad = MarkedPolicy::from_policy(
            &vap("a", Some("Deny,Warn"), deployments()),
            vec!["spec.paramKind is {apiVersion: v1, kind: ConfigMap}; a tenant policy needs ...".into()],
        );
        assert_eq!(bad.problems.len(), 2);
        assert!(
            bad.problems[1].contains("annotation palisade.dev/validation-actions"),
            "{:?}",
            bad.problems
        );
        let t = tenant(json!({}));
        assert!(render(&t, &marked(std::slice::from_ref(&bad))).is_empty());
        let status = &policy_statuses(&t, &marked(std::slice::from_ref(&bad)))[0];
        assert!(!status.bound);
        assert!(status.message.contains("spec.paramKind"), "{}", status.message);
        let (ok, reason, message) = policy_condition(&bad);
        assert!(!ok);
        assert_eq!(reason, "NotBindable");
        assert!(message.contains("Deny,Warn"), "{message}");
    }

    #[test]
    fn names_never_collide_and_stay_valid_subdomains() {
        assert_ne!(binding_name("team", "a-limits"), binding_name("team-a", "limits"));
        assert_eq!(binding_name("shop", "max-replicas"), "palisade-shop.max-replicas");
        // Labels of 50 characters, 260 in all (Kubernetes limits only the whole name).
        let long = vec!["x".repeat(50); 5].join(".") + ".example";
        let name = binding_name("shop", &long);
        assert_eq!(name.len(), 253);
        assert!(crate::validate::dns_subdomain_problem(&name).is_none(), "{name}");
        assert_ne!(name, binding_name("shop", &format!("{long}x")));
        let label = policy_label_value(&long);
        assert!(label.len() <= 63);
        assert!(crate::validate::qualified_name_problem(&label).is_none(), "{label}");
    }
}
