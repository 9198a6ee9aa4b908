//! What the CRD schema cannot check about a Tenant: cross-field rules, regexes, CIDRs, names that
//! must form valid Kubernetes names. Every problem is returned (not just the first) with the path
//! of the field at fault, so `palisade validate`, the webhook and the controller report the same
//! list in the same words.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ipnet::IpNet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use palisade_api::policies::validation_actions_problem;
use palisade_api::{ClassAllowList, MeshProvider, PortRule, SubjectKind, SubjectRef, Tenant, TenantSpec, labels};

/// One problem with a Tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path from the object root, e.g. `spec.owners[1].namespace`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem with `tenant`; empty when it is valid.
pub fn validate(tenant: &Tenant) -> Vec<FieldError> {
    let mut errors = Errors::default();
    let name = tenant.metadata.name.as_deref().unwrap_or_default();
    validate_name(name, &mut errors);
    validate_spec(name, &tenant.spec, &mut errors);
    errors.0
}

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// The `tenant` of a narrowed grant at `path`: not the granting tenant itself, a valid name, and
/// not also in the list of whole-tenant grants (`whole`, described by `whole_list`).
fn check_granted_tenant(
    path: &str,
    tenant: &str,
    other: &str,
    whole: &[String],
    whole_list: &str,
    errors: &mut Errors,
) {
    if other == tenant {
        errors.push(
            format!("{path}.tenant"),
            "a tenant always reaches itself; remove this grant",
        );
    } else if let Some(problem) = dns_label_problem(other) {
        errors.push(format!("{path}.tenant"), format!("\"{other}\" {problem}"));
    } else if whole.iter().any(|t| t == other) {
        errors.push(
            format!("{path}.tenant"),
            format!("\"{other}\" is also in {whole_list}; remove it from one of the lists"),
        );
    }
}

/// Longest tenant name that still leaves room for `<tenant>-<suffix>` namespace names.
pub const MAX_TENANT_NAME: usize = 52;

fn validate_name(name: &str, errors: &mut Errors) {
    if name.is_empty() {
        errors.push("metadata.name", "a Tenant needs a name");
    } else if let Some(problem) = dns_label_problem(name) {
        errors.push("metadata.name", format!("\"{name}\" {problem}"));
    } else if name.len() > MAX_TENANT_NAME {
        errors.push(
            "metadata.name",
            format!("\"{name}\" is {} characters; a tenant name is at most {MAX_TENANT_NAME} so that namespace names `<tenant>-<suffix>` fit in 63", name.len()),
        );
    }
}

fn validate_spec(tenant: &str, spec: &TenantSpec, errors: &mut Errors) {
    if spec.owners.is_empty() {
        errors.push(
            "spec.owners",
            "a tenant needs at least one owner (a User, Group or ServiceAccount)",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, owner) in spec.owners.iter().enumerate() {
        let path = format!("spec.owners[{i}]");
        validate_subject(&path, &owner.subject(), errors);
        if !seen.insert(owner.subject()) {
            errors.push(&path, format!("{:?} \"{}\" is listed twice", owner.kind, owner.name));
        }
        if owner.cluster_roles.is_empty() {
            errors.push(
                format!("{path}.clusterRoles"),
                "an owner needs at least one ClusterRole (the default is `admin`)",
            );
        }
        for (j, role) in owner.cluster_roles.iter().enumerate() {
            validate_role_name(&format!("{path}.clusterRoles[{j}]"), role, errors);
        }
    }
    validate_namespaces(tenant, spec, errors);
    validate_workloads(spec, errors);
    validate_classes("spec.storage.classes", spec.storage.classes.as_ref(), errors);
    validate_classes("spec.ingress.classes", spec.ingress.classes.as_ref(), errors);
    validate_classes("spec.gateway.classes", spec.gateway.classes.as_ref(), errors);
    for (i, host) in spec.ingress.hostnames.iter().enumerate() {
        if let Some(problem) = hostname_pattern_problem(host) {
            errors.push(format!("spec.ingress.hostnames[{i}]"), format!("\"{host}\" {problem}"));
        }
    }
    for (i, cidr) in spec.services.external_ips.iter().enumerate() {
        if let Err(problem) = parse_cidr(cidr) {
            errors.push(format!("spec.services.externalIPs[{i}]"), problem);
        }
    }
    validate_network(tenant, spec, errors);
    validate_mesh(tenant, spec, errors);
    validate_quota(spec, errors);
    validate_policies(spec, errors);
    for (i, binding) in spec.role_bindings.iter().enumerate() {
        let path = format!("spec.roleBindings[{i}]");
        validate_role_name(&format!("{path}.clusterRole"), &binding.cluster_role, errors);
        if binding.subjects.is_empty() {
            errors.push(format!("{path}.subjects"), "a RoleBinding needs at least one subject");
        }
        for (j, subject) in binding.subjects.iter().enumerate() {
            validate_subject(&format!("{path}.subjects[{j}]"), subject, errors);
        }
        if let Some(name) = &binding.name
            && let Some(problem) = dns_subdomain_problem(name)
        {
            errors.push(format!("{path}.name"), format!("\"{name}\" {problem}"));
        }
    }
}

/// `spec.policies`: every list of validation actions is one the API server accepts in a
/// binding, and each policy is named once, by a valid ValidatingAdmissionPolicy name.
fn validate_policies(spec: &TenantSpec, errors: &mut Errors) {
    let policies = &spec.policies;
    if let Some(actions) = &policies.validation_actions
        && let Some(problem) = validation_actions_problem(actions)
    {
        errors.push("spec.policies.validationActions", problem);
    }
    let mut overridden = BTreeSet::new();
    for (i, entry) in policies.overrides.iter().enumerate() {
        let path = format!("spec.policies.overrides[{i}]");
        if let Some(problem) = dns_subdomain_problem(&entry.policy) {
            errors.push(
                format!("{path}.policy"),
                format!("\"{}\" {problem} (a ValidatingAdmissionPolicy name)", entry.policy),
            );
        } else if !overridden.insert(entry.policy.as_str()) {
            errors.push(
                format!("{path}.policy"),
                format!("policy \"{}\" is overridden twice; give it one entry", entry.policy),
            );
        }
        if let Some(problem) = validation_actions_problem(&entry.validation_actions) {
            errors.push(format!("{path}.validationActions"), problem);
        }
    }
    let mut excluded = BTreeSet::new();
    for (i, policy) in policies.exclude.iter().enumerate() {
        let path = format!("spec.policies.exclude[{i}]");
        if let Some(problem) = dns_subdomain_problem(policy) {
            errors.push(
                path,
                format!("\"{policy}\" {problem} (a ValidatingAdmissionPolicy name)"),
            );
        } else if !excluded.insert(policy.as_str()) {
            errors.push(path, format!("policy \"{policy}\" is listed twice"));
        } else if overridden.contains(policy.as_str()) {
            errors.push(
                path,
                format!(
                    "policy \"{policy}\" is both excluded and overridden in spec.policies.overrides; remove it from one of the lists"
                ),
            );
        }
    }
}

fn validate_subject(path: &str, subject: &SubjectRef, errors: &mut Errors) {
    if subject.name.trim().is_empty() {
        errors.push(format!("{path}.name"), "a subject needs a name");
    }
    match (subject.kind, &subject.namespace) {
        (SubjectKind::ServiceAccount, None) => errors.push(
            format!("{path}.namespace"),
            "a ServiceAccount subject needs the namespace it lives in",
        ),
        (SubjectKind::ServiceAccount, Some(ns)) => {
            if let Some(problem) = dns_label_problem(ns) {
                errors.push(format!("{path}.namespace"), format!("\"{ns}\" {problem}"));
            }
        }
        (kind, Some(_)) => errors.push(
            format!("{path}.namespace"),
            format!("only a ServiceAccount has a namespace; remove it from this {kind:?}"),
        ),
        (_, None) => {}
    }
}

fn validate_role_name(path: &str, role: &str, errors: &mut Errors) {
    if role.is_empty() || role.contains('/') || role.contains('%') || role == "." || role == ".." {
        errors.push(path, format!("\"{role}\" is not a valid ClusterRole name"));
    }
}

fn validate_namespaces(tenant: &str, spec: &TenantSpec, errors: &mut Errors) {
    let policy = &spec.namespaces;
    if let Some(max) = policy.max {
        if max == 0 {
            errors.push(
                "spec.namespaces.max",
                "0 would forbid every namespace; remove the field for no limit",
            );
        }
        if policy.names.len() > max as usize {
            errors.push(
                "spec.namespaces.names",
                format!(
                    "lists {} namespaces but spec.namespaces.max is {max}",
                    policy.names.len()
                ),
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (i, name) in policy.names.iter().enumerate() {
        let path = format!("spec.namespaces.names[{i}]");
        if let Some(problem) = dns_label_problem(name) {
            errors.push(&path, format!("\"{name}\" {problem}"));
        } else if policy.force_prefix && !tenant.is_empty() && !name.starts_with(&format!("{tenant}-")) {
            errors.push(
                &path,
                format!("\"{name}\" must start with \"{tenant}-\" because spec.namespaces.forcePrefix is set"),
            );
        }
        if is_protected_namespace(name) {
            errors.push(
                &path,
                format!("\"{name}\" is a system namespace and cannot belong to a tenant"),
            );
        }
        if !seen.insert(name) {
            errors.push(&path, format!("\"{name}\" is listed twice"));
        }
    }
    if policy.force_prefix && tenant.len() + 2 > 63 {
        errors.push(
            "spec.namespaces.forcePrefix",
            "the tenant name is too long to prefix namespace names",
        );
    }
    for key in policy.labels.keys() {
        let path = format!("spec.namespaces.labels[{key}]");
        if let Some(problem) = qualified_name_problem(key) {
            errors.push(&path, format!("\"{key}\" {problem}"));
        }
        if is_reserved_key(key) {
            errors.push(
                &path,
                format!("\"{key}\" is set by Palisade itself and cannot be overridden"),
            );
        }
    }
    for (key, value) in &policy.labels {
        if value.len() > 63 || !value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            errors.push(
                format!("spec.namespaces.labels[{key}]"),
                format!("\"{value}\" is not a valid label value (at most 63 of a-z, A-Z, 0-9, '-', '_', '.')"),
            );
        }
    }
    for key in policy.annotations.keys() {
        if let Some(problem) = qualified_name_problem(key) {
            errors.push(
                format!("spec.namespaces.annotations[{key}]"),
                format!("\"{key}\" {problem}"),
            );
        }
    }
}

/// Labels Palisade sets from other fields; letting `namespaces.labels` set them would let a spec
/// contradict itself (e.g. a Pod Security level different from `podSecurity.level`).
fn is_reserved_key(key: &str) -> bool {
    key == labels::TENANT
        || key == labels::CORDONED
        || key == labels::NAMESPACE_NAME
        || key.starts_with("pod-security.kubernetes.io/")
}

/// Namespaces that belong to the cluster, never to a tenant.
pub fn is_protected_namespace(name: &str) -> bool {
    name == "default" || name.starts_with("kube-") || name == "palisade-system"
}

fn validate_workloads(spec: &TenantSpec, errors: &mut Errors) {
    let workloads = &spec.workloads;
    for (i, registry) in workloads.registries.iter().enumerate() {
        if registry.trim().is_empty() || registry.contains(char::is_whitespace) {
            errors.push(
                format!("spec.workloads.registries[{i}]"),
                format!("\"{registry}\" is not an image prefix; expected e.g. \"registry.example.com/team/\""),
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (i, policy) in workloads.pull_policies.iter().enumerate() {
        if !seen.insert(policy.as_str()) {
            errors.push(
                format!("spec.workloads.pullPolicies[{i}]"),
                format!("{} is listed twice", policy.as_str()),
            );
        }
    }
    validate_classes(
        "spec.workloads.priorityClasses",
        workloads.priority_classes.as_ref(),
        errors,
    );
    validate_classes(
        "spec.workloads.runtimeClasses",
        workloads.runtime_classes.as_ref(),
        errors,
    );
    for (key, value) in &workloads.node_selector {
        if let Some(problem) = qualified_name_problem(key) {
            errors.push(
                format!("spec.workloads.nodeSelector[{key}]"),
                format!("\"{key}\" {problem}"),
            );
        }
        if value.len() > 63 {
            errors.push(
                format!("spec.workloads.nodeSelector[{key}]"),
                "a label value is at most 63 characters",
            );
        }
    }
}

fn validate_classes(path: &str, list: Option<&ClassAllowList>, errors: &mut Errors) {
    let Some(list) = list else { return };
    if list.allowed.is_empty() {
        errors.push(
            format!("{path}.allowed"),
            "an empty allow-list forbids every class; list the classes, or remove the whole field to allow any",
        );
    }
    for (i, pattern) in list.allowed.iter().enumerate() {
        let name = pattern.strip_suffix('*').unwrap_or(pattern);
        if name.contains('*') || (!name.is_empty() && dns_subdomain_problem(name).is_some() && !name.ends_with('-')) {
            errors.push(
                format!("{path}.allowed[{i}]"),
                format!("\"{pattern}\" is neither a class name nor a `prefix*` pattern"),
            );
        }
    }
    if let Some(default) = &list.default
        && !list.allows(default)
    {
        errors.push(
            format!("{path}.default"),
            format!(
                "default \"{default}\" is not allowed by {path}.allowed ({})",
                list.allowed.join(", ")
            ),
        );
    }
}

fn validate_network(tenant: &str, spec: &TenantSpec, errors: &mut Errors) {
    let network = &spec.network;
    for (i, other) in network.allow_from.tenants.iter().enumerate() {
        let path = format!("spec.network.allowFrom.tenants[{i}]");
        if other == tenant {
            errors.push(&path, "a tenant always reaches itself; remove it from the list");
        } else if let Some(problem) = dns_label_problem(other) {
            errors.push(&path, format!("\"{other}\" {problem}"));
        }
    }
    for (i, grant) in network.allow_from.tenant_grants.iter().enumerate() {
        let path = format!("spec.network.allowFrom.tenantGrants[{i}]");
        check_granted_tenant(
            &path,
            tenant,
            &grant.tenant,
            &network.allow_from.tenants,
            "spec.network.allowFrom.tenants, which already opens every port of every pod",
            errors,
        );
        validate_ports(&format!("{path}.ports"), &grant.ports, errors);
        if let Some(selector) = &grant.pod_selector {
            validate_label_selector(&format!("{path}.podSelector"), selector, errors);
        }
    }
    for (i, namespace) in network.allow_from.namespaces.iter().enumerate() {
        if let Some(problem) = dns_label_problem(namespace) {
            errors.push(
                format!("spec.network.allowFrom.namespaces[{i}]"),
                format!("\"{namespace}\" {problem}"),
            );
        }
    }
    for (i, egress) in network.egress.cidrs.iter().enumerate() {
        let path = format!("spec.network.egress.cidrs[{i}]");
        let cidr = match parse_cidr(&egress.cidr) {
            Ok(cidr) => Some(cidr),
            Err(problem) => {
                errors.push(format!("{path}.cidr"), problem);
                None
            }
        };
        for (j, except) in egress.except.iter().enumerate() {
            match parse_cidr(except) {
                Err(problem) => errors.push(format!("{path}.except[{j}]"), problem),
                Ok(inner) => {
                    if let Some(outer) = cidr
                        && !outer.contains(&inner)
                    {
                        errors.push(
                            format!("{path}.except[{j}]"),
                            format!("{except} is not inside {}", egress.cidr),
                        );
                    }
                }
            }
        }
        validate_ports(&format!("{path}.ports"), &egress.ports, errors);
    }
    if network.isolation == palisade_api::IsolationMode::None
        && (!network.allow_from.tenants.is_empty()
            || !network.allow_from.tenant_grants.is_empty()
            || !network.egress.cidrs.is_empty())
    {
        errors.push(
            "spec.network.isolation",
            "isolation None writes no policy, so allowFrom and egress.cidrs would have no effect; use Strict or remove them",
        );
    }
}

/// Ports of a NetworkPolicy-like rule at `path`: TCP, UDP or SCTP, 1-65535, `endPort` not
/// below `port`.
fn validate_ports(path: &str, ports: &[PortRule], errors: &mut Errors) {
    for (j, port) in ports.iter().enumerate() {
        let port_path = format!("{path}[{j}]");
        if !matches!(port.protocol.as_str(), "TCP" | "UDP" | "SCTP") {
            errors.push(
                format!("{port_path}.protocol"),
                format!("\"{}\" is not TCP, UDP or SCTP", port.protocol),
            );
        }
        if port.port == 0 {
            errors.push(format!("{port_path}.port"), "a port is between 1 and 65535");
        }
        if let Some(end) = port.end_port
            && end < port.port
        {
            errors.push(
                format!("{port_path}.endPort"),
                format!("endPort {end} is below port {}", port.port),
            );
        }
    }
}

/// A pod label selector at `path`: qualified keys, label values, and the four operators with
/// the values each needs.
fn validate_label_selector(path: &str, selector: &LabelSelector, errors: &mut Errors) {
    for (key, value) in selector.match_labels.iter().flatten() {
        let key_path = format!("{path}.matchLabels[\"{key}\"]");
        if let Some(problem) = qualified_name_problem(key) {
            errors.push(&key_path, format!("key \"{key}\" {problem}"));
        }
        if let Some(problem) = label_value_problem(value) {
            errors.push(&key_path, format!("value \"{value}\" {problem}"));
        }
    }
    for (i, expression) in selector.match_expressions.iter().flatten().enumerate() {
        let expression_path = format!("{path}.matchExpressions[{i}]");
        if let Some(problem) = qualified_name_problem(&expression.key) {
            errors.push(
                format!("{expression_path}.key"),
                format!("\"{}\" {problem}", expression.key),
            );
        }
        let values = expression.values.as_deref().unwrap_or_default();
        match expression.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errors.push(
                        format!("{expression_path}.values"),
                        format!("operator {} needs at least one value", expression.operator),
                    );
                }
                for (j, value) in values.iter().enumerate() {
                    if let Some(problem) = label_value_problem(value) {
                        errors.push(
                            format!("{expression_path}.values[{j}]"),
                            format!("\"{value}\" {problem}"),
                        );
                    }
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errors.push(
                        format!("{expression_path}.values"),
                        format!("operator {} takes no values; remove them", expression.operator),
                    );
                }
            }
            other => errors.push(
                format!("{expression_path}.operator"),
                format!("\"{other}\" is not In, NotIn, Exists or DoesNotExist"),
            ),
        }
    }
}

/// Why `value` is not a label value, if it is not.
fn label_value_problem(value: &str) -> Option<&'static str> {
    let valid = value.is_empty()
        || (value.len() <= 63
            && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()));
    (!valid).then_some(
        "is not a label value (at most 63 of a-z, A-Z, 0-9, '-', '_', '.', starting and ending with a letter or digit)",
    )
}

fn validate_mesh(tenant: &str, spec: &TenantSpec, errors: &mut Errors) {
    let mesh = &spec.mesh;
    if mesh.provider == MeshProvider::None {
        if !mesh.allow_from_tenants.is_empty()
            || !mesh.allow_from_tenant_grants.is_empty()
            || !mesh.allow_from_service_accounts.is_empty()
            || !mesh.ports.is_empty()
        {
            errors.push(
                "spec.mesh.provider",
                "mesh grants are set but provider is None, so nothing would enforce them; choose Istio or Linkerd",
            );
        }
        return;
    }
    if mesh.trust_domain.starts_with("spiffe://") {
        errors.push(
            "spec.mesh.trustDomain",
            "write the trust domain without `spiffe://`, e.g. cluster.local",
        );
    } else if let Some(problem) = dns_subdomain_problem(&mesh.trust_domain) {
        errors.push("spec.mesh.trustDomain", format!("\"{}\" {problem}", mesh.trust_domain));
    }
    for (i, other) in mesh.allow_from_tenants.iter().enumerate() {
        if other == tenant {
            errors.push(
                format!("spec.mesh.allowFromTenants[{i}]"),
                "a tenant always reaches itself; remove it from the list",
            );
        }
    }
    let linkerd = mesh.provider == MeshProvider::Linkerd;
    let mesh_name = if linkerd { "Linkerd" } else { "Istio" };
    // Linkerd: the grant (index) whose pod selector holds each port's Server.
    let mut port_servers: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, grant) in mesh.allow_from_tenant_grants.iter().enumerate() {
        let path = format!("spec.mesh.allowFromTenantGrants[{i}]");
        check_granted_tenant(
            &path,
            tenant,
            &grant.tenant,
            &mesh.allow_from_tenants,
            "spec.mesh.allowFromTenants, which already lets it call every port of every workload",
            errors,
        );
        validate_ports(&format!("{path}.ports"), &grant.ports, errors);
        if linkerd && grant.ports.is_empty() {
            errors.push(
                format!("{path}.ports"),
                "Linkerd authorizes per Server, and a Server names one port: list the TCP ports this grant opens (or put the tenant in spec.mesh.allowFromTenants for every port)",
            );
        }
        for (j, port) in grant.ports.iter().enumerate() {
            if port.protocol != "TCP" {
                errors.push(
                    format!("{path}.ports[{j}].protocol"),
                    format!(
                        "{mesh_name} authorizes TCP only; \"{}\" cannot be narrowed here",
                        port.protocol
                    ),
                );
            }
            if port.end_port.is_some() {
                let what = if linkerd {
                    "a Linkerd Server names one port"
                } else {
                    "Istio's AuthorizationPolicy lists single ports"
                };
                errors.push(
                    format!("{path}.ports[{j}].endPort"),
                    format!("{what}; list each port instead of a range"),
                );
            }
            if !linkerd || port.port == 0 {
                continue;
            }
            let selector = grant.narrowing_selector();
            let p = port.port;
            if selector.is_some() && mesh.ports.contains(&p) {
                errors.push(
                    format!("{path}.ports[{j}].port"),
                    format!(
                        "port {p} is in spec.mesh.ports, whose Server selects every pod, and Linkerd lets only one Server select a pod's port; remove {p} from spec.mesh.ports (this grant's Server then covers its pods, for the tenant's own callers too) or remove this grant's podSelector"
                    ),
                );
                continue;
            }
            match port_servers.get(&p) {
                None => {
                    port_servers.insert(p, i);
                }
                Some(&first) if first != i => {
                    let first_selector = mesh.allow_from_tenant_grants[first].narrowing_selector();
                    if first_selector != selector {
                        errors.push(
                            format!("{path}.ports[{j}].port"),
                            format!(
                                "spec.mesh.allowFromTenantGrants[{first}] opens port {p} to other pods, and Linkerd lets only one Server select a pod's port; give every grant of port {p} the same podSelector"
                            ),
                        );
                    }
                }
                Some(_) => {}
            }
        }
        if let Some(selector) = &grant.pod_selector {
            validate_label_selector(&format!("{path}.podSelector"), selector, errors);
            if !linkerd && selector.match_expressions.as_ref().is_some_and(|e| !e.is_empty()) {
                errors.push(
                    format!("{path}.podSelector.matchExpressions"),
                    "Istio selects workloads by matchLabels only; use matchLabels",
                );
            }
        }
    }
    for (i, identity) in mesh.allow_from_service_accounts.iter().enumerate() {
        let valid = identity.split_once('/').is_some_and(|(ns, sa)| {
            dns_label_problem(ns).is_none() && (sa == "*" || dns_subdomain_problem(sa).is_none())
        });
        if !valid {
            errors.push(
                format!("spec.mesh.allowFromServiceAccounts[{i}]"),
                format!("\"{identity}\" is not `<namespace>/<serviceaccount>` (or `<namespace>/*`)"),
            );
        }
    }
    if mesh.provider == MeshProvider::Istio && !mesh.ports.is_empty() {
        errors.push(
            "spec.mesh.ports",
            "ports are used by Linkerd only (for its Server objects); remove them for Istio",
        );
    }
    for (i, port) in mesh.ports.iter().enumerate() {
        if *port == 0 {
            errors.push(format!("spec.mesh.ports[{i}]"), "a port is between 1 and 65535");
        }
    }
}

fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let net: IpNet = text
        .parse()
        .map_err(|_| format!("\"{text}\" is not a CIDR; expected e.g. 10.0.0.0/8 or 2001:db8::/32"))?;
    if net.trunc() != net {
        return Err(format!("\"{text}\" has host bits set; did you mean {}?", net.trunc()));
    }
    Ok(net)
}

/// Why `name` is not an RFC 1123 label (a namespace name), if it is not.
pub fn dns_label_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > 63 {
        return Some("is longer than 63 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("may contain only lowercase letters, digits and '-'");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("must start and end with a letter or digit");
    }
    None
}

pub fn dns_subdomain_problem(name: &str) -> Option<&'static str> {
    if name.len() > 253 {
        return Some("is longer than 253 characters");
    }
    name.split('.').find_map(dns_label_problem)
}

fn hostname_pattern_problem(pattern: &str) -> Option<&'static str> {
    let rest = pattern.strip_prefix("*.").unwrap_or(pattern);
    if rest.contains('*') {
        return Some("may use `*` only as its whole first label, e.g. \"*.apps.example.com\"");
    }
    dns_subdomain_problem(rest)
}

/// Why `key` is not a qualified label/annotation key (`[prefix/]name`), if it is not.
/// Why `key` is not a Kubernetes qualified name (`[prefix/]name`), if it is not.
pub fn qualified_name_problem(key: &str) -> Option<&'static str> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && dns_subdomain_problem(prefix).is_some()
    {
        return Some("has a prefix that is not a DNS subdomain");
    }
    let valid_name = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    (!valid_name).then_some("is not a valid key (`[prefix/]name`, name at most 63 of a-z, 0-9, '-', '_', '.')")
}

/// A problem that involves several tenants, attributed to the tenant at `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetError {
    pub index: usize,
    pub error: FieldError,
}

/// Problems between tenants: two with the same name, or a namespace claimed by two tenants.
pub fn validate_set(tenants: &[&Tenant]) -> Vec<SetError> {
    let mut errors = Vec::new();
    let mut names = std::collections::BTreeMap::new();
    let mut claimed: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for (index, tenant) in tenants.iter().enumerate() {
        let name = tenant.metadata.name.as_deref().unwrap_or_default();
        if names.insert(name, index).is_some() {
            errors.push(SetError {
                index,
                error: FieldError {
                    path: "metadata.name".into(),
                    message: format!("\"{name}\" is the name of another Tenant in the same input"),
                },
            });
        }
        for (i, namespace) in tenant.spec.namespaces.names.iter().enumerate() {
            match claimed.get(namespace.as_str()) {
                Some(other) if *other != name => errors.push(SetError {
                    index,
                    error: FieldError {
                        path: format!("spec.namespaces.names[{i}]"),
                        message: format!("namespace \"{namespace}\" already belongs to tenant \"{other}\""),
                    },
                }),
                _ => {
                    claimed.insert(namespace, name);
                }
            }
        }
    }
    errors
}

// ---- quota resource names and quantities ----

/// Names without a `/` a ResourceQuota accepts (besides `hugepages-<size>` and
/// `requests.hugepages-<size>`).
const STANDARD_QUOTA_NAMES: &[&str] = &[
    "pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "requests.storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "services",
    "services.loadbalancers",
    "services.nodeports",
    "persistentvolumeclaims",
    "configmaps",
    "secrets",
    "replicationcontrollers",
    "resourcequotas",
];

/// Names counted in whole objects (or whole devices): their limits must be whole numbers.
const COUNTED_NAMES: &[&str] = &[
    "pods",
    "services",
    "services.loadbalancers",
    "services.nodeports",
    "persistentvolumeclaims",
    "configmaps",
    "secrets",
    "replicationcontrollers",
    "resourcequotas",
];

/// The largest count that is still a limit rather than a typo.
const MAX_COUNT: i128 = 1_000_000_000;

const ACCEPTED_FORMS: &str = "a ResourceQuota resource name: one of pods, services, services.loadbalancers, \
services.nodeports, persistentvolumeclaims, configmaps, secrets, replicationcontrollers, resourcequotas, \
cpu, memory, ephemeral-storage, requests.{cpu,memory,ephemeral-storage,storage}, \
limits.{cpu,memory,ephemeral-storage}, hugepages-<size>, requests.hugepages-<size>; or \
count/<resource>[.<group>] (e.g. count/deployments.apps), \
<class>.storageclass.storage.k8s.io/requests.storage, \
<class>.storageclass.storage.k8s.io/persistentvolumeclaims, \
requests.<domain>/<name> for an extended resource (e.g. requests.nvidia.com/gpu)";

/// What kind of amount a quota resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaResourceKind {
    /// Objects or devices: whole numbers.
    Count,
    /// CPU: at most millicore precision.
    Cpu,
    /// Bytes or another continuous amount.
    Amount,
}

/// Checks `name` as a key of a ResourceQuota's `hard`: the kind of amount it limits, or why a
/// ResourceQuota would refuse it or never count it.
pub fn quota_resource_name(name: &str) -> Result<QuotaResourceKind, String> {
    let unknown = |hint: Option<String>| {
        let hint = hint.map(|h| format!("; did you mean \"{h}\"?")).unwrap_or_default();
        Err(format!(
            "\"{name}\" is not a resource a quota counts{hint} (expected {ACCEPTED_FORMS})"
        ))
    };
    if name.is_empty() {
        return Err(format!("an empty resource name (expected {ACCEPTED_FORMS})"));
    }
    let Some((prefix, rest)) = name.split_once('/') else {
        if COUNTED_NAMES.contains(&name) {
            return Ok(QuotaResourceKind::Count);
        }
        if matches!(name, "cpu" | "requests.cpu" | "limits.cpu") {
            return Ok(QuotaResourceKind::Cpu);
        }
        if STANDARD_QUOTA_NAMES.contains(&name) {
            return Ok(QuotaResourceKind::Amount);
        }
        if let Some(size) = name
            .strip_prefix("requests.hugepages-")
            .or_else(|| name.strip_prefix("hugepages-"))
        {
            return match crate::quantity::parse(size) {
                Some(amount) if amount.0 > 0 => Ok(QuotaResourceKind::Amount),
                _ => Err(format!(
                    "\"{name}\" does not name a huge page size after `hugepages-` (expected e.g. hugepages-2Mi or hugepages-1Gi)"
                )),
            };
        }
        if name.starts_with("limits.hugepages-") {
            return Err(format!(
                "\"{name}\": huge pages are counted by their requests only; use \"{}\"",
                name.replacen("limits.", "requests.", 1)
            ));
        }
        if name == "storage" {
            return unknown(Some("requests.storage".to_string()));
        }
        return unknown(closest(name, STANDARD_QUOTA_NAMES));
    };
    if let Some(problem) = qualified_name_problem(name) {
        return Err(format!("\"{name}\" {problem} (expected {ACCEPTED_FORMS})"));
    }
    if prefix == "count" {
        let (resource, group) = rest.split_once('.').unwrap_or((rest, ""));
        let resource_ok = !resource.is_empty()
            && resource
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !resource.starts_with('-')
            && !resource.ends_with('-');
        if !resource_ok || (!group.is_empty() && dns_subdomain_problem(group).is_some()) {
            return Err(format!(
                "\"{name}\" is not count/<resource>[.<group>] with a lowercase plural resource (e.g. count/pods, count/deployments.apps, count/widgets.example.com)"
            ));
        }
        return Ok(QuotaResourceKind::Count);
    }
    if let Some(class) = prefix.strip_suffix(".storageclass.storage.k8s.io") {
        if dns_subdomain_problem(class).is_some() {
            return Err(format!("\"{name}\": \"{class}\" is not a StorageClass name"));
        }
        return match rest {
            "requests.storage" => Ok(QuotaResourceKind::Amount),
            "persistentvolumeclaims" => Ok(QuotaResourceKind::Count),
            _ => Err(format!(
                "\"{name}\": per storage class a quota counts only \"{prefix}/requests.storage\" and \"{prefix}/persistentvolumeclaims\""
            )),
        };
    }
    if let Some(class) = prefix.strip_suffix(".deviceclass.resource.k8s.io") {
        if dns_subdomain_problem(class).is_some() || rest != "devices" {
            return Err(format!(
                "\"{name}\": per device class a quota counts only \"<class>.deviceclass.resource.k8s.io/devices\""
            ));
        }
        return Ok(QuotaResourceKind::Count);
    }
    if let Some(extended) = name.strip_prefix("requests.") {
        if extended.contains("kubernetes.io/") {
            return Err(format!(
                "\"{name}\": resources in the kubernetes.io domain are not extended resources and a quota does not count them"
            ));
        }
        return Ok(QuotaResourceKind::Count);
    }
    if let Some(extended) = name.strip_prefix("limits.") {
        return Err(format!(
            "\"{name}\": extended resources are counted by their requests only (a container's limit must equal its request); use \"requests.{extended}\""
        ));
    }
    if !name.contains("kubernetes.io/") {
        return Err(format!(
            "\"{name}\": an extended resource is limited as \"requests.{name}\", never by its bare name"
        ));
    }
    unknown(None)
}

/// Problems with `quantity` as the limit of quota resource `kind`.
fn quota_quantity_problem(kind: QuotaResourceKind, text: &str) -> Option<String> {
    let Some(amount) = crate::quantity::parse(text) else {
        return Some(format!(
            "\"{text}\" is not a Kubernetes quantity (expected e.g. \"8\", \"500m\", \"64Gi\", \"1.5T\")"
        ));
    };
    if amount.0 < 0 {
        return Some(format!("\"{text}\" is negative; a limit is zero or more"));
    }
    // Beyond 2^63-1 whole units Kubernetes cannot hold the value exactly; nothing real is that big.
    if amount.whole_units() > i128::from(i64::MAX) {
        return Some(format!(
            "\"{text}\" is absurdly large (more than 2^63-1 units, which Kubernetes cannot hold exactly); leave the resource out to not limit it"
        ));
    }
    match kind {
        QuotaResourceKind::Count if !amount.is_whole() => Some(format!(
            "\"{text}\" is not a whole number; this resource counts objects or devices"
        )),
        QuotaResourceKind::Count if amount.whole_units() > MAX_COUNT => Some(format!(
            "\"{text}\" objects is absurd (more than {MAX_COUNT}); leave the resource out to not limit it"
        )),
        QuotaResourceKind::Cpu if amount.0 % 1_000_000 != 0 => Some(format!(
            "\"{text}\" is finer than a millicore (1m), the smallest amount of CPU Kubernetes counts"
        )),
        _ => None,
    }
}

fn validate_quota(spec: &TenantSpec, errors: &mut Errors) {
    let Some(quota) = &spec.quota else { return };
    for (field, hard) in [("namespace", &quota.namespace), ("tenant", &quota.tenant)] {
        for (name, quantity) in hard {
            let path = format!("spec.quota.{field}[\"{name}\"]");
            match quota_resource_name(name) {
                Err(problem) => errors.push(path, problem),
                Ok(kind) => {
                    if let Some(problem) = quota_quantity_problem(kind, &quantity.0) {
                        errors.push(path, problem);
                    }
                }
            }
        }
    }
}

/// The candidate within two edits of `name`, if exactly one is that close.
fn closest(name: &str, candidates: &[&str]) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(name, candidate);
        if distance <= 2 && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            let insert = current[j] + 1;
            let delete = previous[j + 1] + 1;
            current.push(substitute.min(insert).min(delete));
        }
        previous = current;
    }
    previous[b.len()]
}
