//! The webhook configurations Palisade writes for itself, scoped so that the cluster never
//! depends on the webhook more than it must:
//!
//! - `namespaces.palisade.dev` sees every Namespace write and its `status` and `finalize`
//!   subresources (system namespaces included: labelling `kube-system` into a tenant must be
//!   refused), but never from cluster administrators, Palisade, or the controllers that empty
//!   and remove namespaces, named exactly (CEL `matchConditions`), so an outage cannot lock them
//!   out or leave a deleted namespace hanging in Terminating.
//! - `objects.palisade.dev` sees namespaced writes, every subresource included (`*/scale`,
//!   `pods/eviction`, `serviceaccounts/token`, `pods/binding`, ...), only in namespaces carrying
//!   the tenant label, again never from administrators, Palisade or those controllers; status
//!   writes by kubelets and kube-system controllers (the bulk of all writes) are not sent either.
//!   System namespaces are never matched.
//! - `tenants.palisade.dev` validates Tenants, for everyone; failurePolicy Ignore so an outage
//!   never blocks administrators (the CRD's own CEL rules still hold).
//!
//! Tenant writes fail closed (failurePolicy Fail).

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};
use kube::api::{Api, Patch, PatchParams};
use palisade_api::labels;

use crate::Error;

/// How the API server reaches the webhook.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// `https://host:port` (local runs, testenv).
    Url(String),
    /// A Service in the cluster.
    Service { namespace: String, name: String, port: i32 },
}

/// What the configurations are called (tests run several webhooks side by side) and who the API
/// server never sends to the webhook: administrators and Palisade's own controller, exactly as
/// the admission configuration names them, so the CEL pre-filter and the webhook agree.
#[derive(Debug, Clone)]
pub struct WebhookNames {
    pub configuration: String,
    pub exempt_users: Vec<String>,
    pub exempt_groups: Vec<String>,
    /// Controllers that delete and garbage-collect in every namespace, by exact user name.
    pub system_controllers: Vec<String>,
}

impl Default for WebhookNames {
    fn default() -> Self {
        WebhookNames::for_config(&palisade_admission::AdmissionConfig::default())
    }
}

impl WebhookNames {
    /// The standard configuration name, exempting `config`'s administrators and Palisade users.
    pub fn for_config(config: &palisade_admission::AdmissionConfig) -> Self {
        WebhookNames {
            configuration: "palisade".to_string(),
            exempt_users: config
                .palisade_users
                .iter()
                .chain(&config.admin_users)
                .cloned()
                .collect(),
            exempt_groups: config.admin_groups.clone(),
            system_controllers: config.system_controllers.clone(),
        }
    }
}

/// A CEL list literal of strings.
fn cel_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| format!("'{}'", item.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect();
    format!("[{}]", quoted.join(", "))
}

fn client_config(endpoint: &Endpoint, path: &str, ca_pem: &str) -> WebhookClientConfig {
    let ca_bundle = Some(ByteString(ca_pem.as_bytes().to_vec()));
    match endpoint {
        Endpoint::Url(base) => WebhookClientConfig {
            url: Some(format!("{}{path}", base.trim_end_matches('/'))),
            ca_bundle,
            service: None,
        },
        Endpoint::Service { namespace, name, port } => WebhookClientConfig {
            service: Some(ServiceReference {
                namespace: namespace.clone(),
                name: name.clone(),
                path: Some(path.to_string()),
                port: Some(*port),
            }),
            ca_bundle,
            url: None,
        },
    }
}

fn condition(name: &str, expression: &str) -> MatchCondition {
    MatchCondition {
        name: name.to_string(),
        expression: expression.to_string(),
    }
}

/// Administrators, Palisade itself and the namespace-removing controllers never wait on the
/// webhook.
fn exempt_conditions(names: &WebhookNames) -> Vec<MatchCondition> {
    let mut conditions = vec![
        condition(
            "not-cluster-admin",
            &format!(
                "!request.userInfo.groups.exists(g, g in {})",
                cel_list(&names.exempt_groups)
            ),
        ),
        condition(
            "not-palisade",
            &format!("!(request.userInfo.username in {})", cel_list(&names.exempt_users)),
        ),
    ];
    if !names.system_controllers.is_empty() {
        conditions.push(condition(
            "not-namespace-removal-controller",
            &format!(
                "!(request.userInfo.username in {})",
                cel_list(&names.system_controllers)
            ),
        ));
    }
    conditions
}

/// Status written by kubelets and kube-system controllers: most writes of a busy cluster, none of
/// them a tenant's, so the API server keeps them from the webhook.
fn not_system_status() -> MatchCondition {
    condition(
        "not-system-status-write",
        "!(has(request.subResource) && request.subResource == 'status' && (request.userInfo.username.startsWith('system:node:') || request.userInfo.username.startsWith('system:serviceaccount:kube-system:')))",
    )
}

fn rule(groups: &[&str], resources: &[&str], operations: &[&str]) -> RuleWithOperations {
    RuleWithOperations {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        api_versions: Some(vec!["*".to_string()]),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        operations: Some(operations.iter().map(|s| s.to_string()).collect()),
        scope: None,
    }
}

fn tenant_namespaces() -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: labels::TENANT.to_string(),
            operator: "Exists".to_string(),
            values: None,
        }]),
        match_labels: None,
    }
}

/// What one webhook entry of either configuration is made of.
struct Entry {
    name: &'static str,
    rules: Vec<RuleWithOperations>,
    namespace_selector: Option<LabelSelector>,
    match_conditions: Option<Vec<MatchCondition>>,
    failure_policy: &'static str,
}

impl Entry {
    fn validating(self, endpoint: &Endpoint, ca_pem: &str) -> ValidatingWebhook {
        ValidatingWebhook {
            name: self.name.to_string(),
            client_config: client_config(endpoint, "/validate", ca_pem),
            rules: Some(self.rules),
            namespace_selector: self.namespace_selector,
            match_conditions: self.match_conditions,
            failure_policy: Some(self.failure_policy.to_string()),
            side_effects: "None".to_string(),
            admission_review_versions: vec!["v1".to_string()],
            timeout_seconds: Some(5),
            ..ValidatingWebhook::default()
        }
    }

    fn mutating(self, endpoint: &Endpoint, ca_pem: &str) -> MutatingWebhook {
        MutatingWebhook {
            name: self.name.to_string(),
            client_config: client_config(endpoint, "/mutate", ca_pem),
            rules: Some(self.rules),
            namespace_selector: self.namespace_selector,
            match_conditions: self.match_conditions,
            failure_policy: Some(self.failure_policy.to_string()),
            side_effects: "None".to_string(),
            admission_review_versions: vec!["v1".to_string()],
            timeout_seconds: Some(5),
            // Lets in-tree plugins (Priority) see what we set, e.g. recompute a class's priority.
            reinvocation_policy: Some("IfNeeded".to_string()),
            ..MutatingWebhook::default()
        }
    }
}

/// The configurations for `endpoint`, trusting `ca_pem`.
pub fn webhook_configurations(
    names: &WebhookNames,
    endpoint: &Endpoint,
    ca_pem: &str,
) -> (ValidatingWebhookConfiguration, MutatingWebhookConfiguration) {
    let write = ["CREATE", "UPDATE", "DELETE"];
    let metadata = ObjectMeta {
        name: Some(names.configuration.clone()),
        labels: Some([(labels::MANAGED_BY.to_string(), labels::MANAGED_BY_VALUE.to_string())].into()),
        ..ObjectMeta::default()
    };
    let namespaces = |operations: &[&str], resources: &[&str]| Entry {
        name: "namespaces.palisade.dev",
        rules: vec![rule(&[""], resources, operations)],
        namespace_selector: None,
        match_conditions: Some(exempt_conditions(names)),
        failure_policy: "Fail",
    };
    let objects = |groups: &[&str], resources: &[&str], operations: &[&str]| Entry {
        name: "objects.palisade.dev",
        rules: vec![rule(groups, resources, operations)],
        namespace_selector: Some(tenant_namespaces()),
        match_conditions: Some({
            let mut conditions = exempt_conditions(names);
            conditions.push(not_system_status());
            conditions
        }),
        failure_policy: "Fail",
    };
    let tenants = Entry {
        name: "tenants.palisade.dev",
        rules: vec![rule(&["palisade.dev"], &["tenants"], &write)],
        namespace_selector: None,
        match_conditions: None,
        failure_policy: "Ignore",
    };
    let validating = ValidatingWebhookConfiguration {
        metadata: metadata.clone(),
        webhooks: Some(vec![
            namespaces(&write, &["namespaces", "namespaces/status", "namespaces/finalize"])
                .validating(endpoint, ca_pem),
            objects(&["*"], &["*/*"], &write).validating(endpoint, ca_pem),
            tenants.validating(endpoint, ca_pem),
        ]),
    };
    let mutating = MutatingWebhookConfiguration {
        metadata,
        webhooks: Some(vec![
            namespaces(&["CREATE"], &["namespaces"]).mutating(endpoint, ca_pem),
            objects(
                &["", "networking.k8s.io"],
                &["pods", "persistentvolumeclaims", "ingresses"],
                &["CREATE"],
            )
            .mutating(endpoint, ca_pem),
        ]),
    };
    (validating, mutating)
}

pub async fn register_named(
    client: &kube::Client,
    names: &WebhookNames,
    endpoint: &Endpoint,
    ca_pem: &str,
) -> Result<(), Error> {
    let (validating, mutating) = webhook_configurations(names, endpoint, ca_pem);
    let params = PatchParams::apply("palisade").force();
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .patch(&names.configuration, &params, &Patch::Apply(&validating))
        .await
        .map_err(Error::Register)?;
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .patch(&names.configuration, &params, &Patch::Apply(&mutating))
        .await
        .map_err(Error::Register)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exemptions_name_exactly_the_configured_identities() {
        let config = palisade_admission::AdmissionConfig {
            palisade_users: vec!["system:serviceaccount:ops:palisade".to_string()],
            admin_users: vec!["o'neil".to_string()],
            admin_groups: vec!["platform".to_string()],
            ..palisade_admission::AdmissionConfig::default()
        };
        let names = WebhookNames::for_config(&config);
        let expressions: Vec<String> = exempt_conditions(&names).into_iter().map(|c| c.expression).collect();
        assert_eq!(
            expressions,
            vec![
                "!request.userInfo.groups.exists(g, g in ['platform'])".to_string(),
                r"!(request.userInfo.username in ['system:serviceaccount:ops:palisade', 'o\'neil'])".to_string(),
                "!(request.userInfo.username in ['system:serviceaccount:kube-system:namespace-controller', 'system:serviceaccount:kube-system:generic-garbage-collector', 'system:kube-controller-manager'])".to_string(),
            ],
            "no prefix match: another service account in Palisade's namespace is not exempt"
        );
    }
}
