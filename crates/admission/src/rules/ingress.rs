//! Ingresses: the class allow-list (default mutated in) for `spec.ingressClassName` and the legacy
//! `kubernetes.io/ingress.class` annotation alike (controllers still honour it, so adding it by an
//! update is checked too); hostnames within the tenant's patterns, in rules and in `spec.tls`; no
//! wildcard hosts unless allowed; no catch-all (a `defaultBackend`, or a rule without a host,
//! would take every request a shared controller matches nowhere else, other tenants' included);
//! and collisions:
//!
//! - **host ownership** (collision scope `Cluster`, the default): a host served by an Ingress
//!   outside the tenant belongs to that holder, for every path — `/admin` on a host another tenant
//!   serves at `/` would take part of its traffic, and a TLS entry for it would offer a
//!   certificate on its behalf;
//! - **host and path** inside the scope (`Cluster`, `Tenant`, `Namespace`): once only.
//!
//! The holder is named only when it is the tenant's own Ingress.

use k8s_openapi::api::networking::v1::Ingress;
use palisade_api::CollisionScope;

use super::pod::check_class;
use super::{InTenant, default_class, typed};
use crate::Verdict;

const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

pub fn review(context: &InTenant<'_>) -> Verdict {
    let request = context.request;
    let ingress: Ingress = match typed(request.object.as_ref(), "Ingress") {
        Ok(ingress) => ingress,
        Err(denial) => return denial,
    };
    let tenant = context.tenant_name;
    let policy = &context.tenant.spec.ingress;
    let spec = ingress.spec.clone().unwrap_or_default();
    let annotated = ingress
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LEGACY_CLASS_ANNOTATION).cloned());
    let class = spec.ingress_class_name.clone().or_else(|| annotated.clone());
    let context_text = format!(" (Ingress \"{}\")", request.name);
    if let Err(message) = check_class(
        tenant,
        "ingress class",
        policy.classes.as_ref(),
        spec.ingress_class_name.as_deref(),
        &context_text,
    ) {
        return Verdict::deny(message);
    }
    let annotation_text = format!(
        " (annotation {LEGACY_CLASS_ANNOTATION} of Ingress \"{}\")",
        request.name
    );
    if let Err(message) = check_class(
        tenant,
        "ingress class",
        policy.classes.as_ref(),
        annotated.as_deref(),
        &annotation_text,
    ) {
        return Verdict::deny(message);
    }
    if spec.default_backend.is_some() {
        return Verdict::deny(format!(
            "tenant \"{tenant}\" may not set spec.defaultBackend (Ingress \"{}\"): on a shared ingress controller it catches requests for every host, other tenants' included; route your hosts with spec.rules[].host instead",
            request.name
        ));
    }
    let mut routes = Vec::new();
    let mut hosts: Vec<(String, &str)> = Vec::new();
    for rule in spec.rules.iter().flatten() {
        let host = rule.host.clone().unwrap_or_default();
        if host.is_empty() {
            return Verdict::deny(format!(
                "tenant \"{tenant}\": Ingress \"{}\" has a rule without a host, which serves every hostname on a shared ingress controller, other tenants' included; set spec.rules[].host{}",
                request.name,
                allowed_hosts(&policy.hostnames)
            ));
        }
        let paths: Vec<String> = rule
            .http
            .iter()
            .flat_map(|http| http.paths.iter())
            .map(|p| p.path.clone().unwrap_or_else(|| "/".to_string()))
            .collect();
        for path in if paths.is_empty() { vec!["/".to_string()] } else { paths } {
            routes.push((host.clone(), path));
        }
        hosts.push((host, "spec.rules[].host"));
    }
    for tls in spec.tls.iter().flatten() {
        for host in tls.hosts.iter().flatten() {
            hosts.push((host.clone(), "spec.tls[].hosts"));
        }
    }
    for (host, field) in &hosts {
        if host.starts_with("*.") && !policy.allow_wildcard_hosts {
            return Verdict::deny(format!(
                "tenant \"{tenant}\" does not allow wildcard hosts; Ingress \"{}\" asks for {host} in {field}",
                request.name
            ));
        }
        if !policy.hostnames.is_empty() && !policy.hostnames.iter().any(|p| host_matches(p, host)) {
            return Verdict::deny(format!(
                "tenant \"{tenant}\" may serve only {}; Ingress \"{}\" asks for {host} in {field}",
                policy.hostnames.join(", "),
                request.name
            ));
        }
    }
    if let Some(message) = owned_elsewhere(context, policy.collision_scope, &hosts) {
        return Verdict::deny(message);
    }
    if let Some(message) = collision(context, policy.collision_scope, &routes) {
        return Verdict::deny(message);
    }

    default_class(
        request,
        class.as_deref(),
        policy.classes.as_ref(),
        &["spec", "ingressClassName"],
    )
}

fn allowed_hosts(hostnames: &[String]) -> String {
    if hostnames.is_empty() {
        String::new()
    } else {
        format!(" (allowed: {})", hostnames.join(", "))
    }
}

/// A host (in a rule or a TLS entry) already served by an Ingress outside the tenant belongs to
/// that holder for every path, when the tenant's collision scope is the cluster.
fn owned_elsewhere(context: &InTenant<'_>, scope: CollisionScope, hosts: &[(String, &str)]) -> Option<String> {
    if scope != CollisionScope::Cluster {
        return None;
    }
    let request = context.request;
    for existing in context.view.ingress_routes() {
        let same_object = existing.namespace == context.namespace && existing.name == request.name;
        let own = context.view.tenant_of_namespace(&existing.namespace) == Some(context.tenant_name);
        if same_object || own || existing.host.is_empty() {
            continue;
        }
        if let Some((host, field)) = hosts.iter().find(|(host, _)| *host == existing.host) {
            return Some(format!(
                "host {host} ({field} of Ingress \"{}\") is already served outside this tenant, and a host belongs to one tenant for every path; tenant \"{}\" requires hosts to be unique in the cluster",
                request.name, context.tenant_name
            ));
        }
    }
    None
}

/// `pattern` is an exact host, or `*.suffix` matching exactly one more label.
pub(crate) fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            if host == pattern {
                return true;
            }
            host.strip_suffix(suffix)
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.'))
        }
        None => pattern == host,
    }
}

fn collision(context: &InTenant<'_>, scope: CollisionScope, routes: &[(String, String)]) -> Option<String> {
    let request = context.request;
    let in_scope = |namespace: &str| match scope {
        CollisionScope::Disabled => false,
        CollisionScope::Cluster => true,
        CollisionScope::Tenant => context.view.tenant_of_namespace(namespace) == Some(context.tenant_name),
        CollisionScope::Namespace => namespace == context.namespace,
    };
    for existing in context.view.ingress_routes() {
        let same_object = existing.namespace == context.namespace && existing.name == request.name;
        if same_object || !in_scope(&existing.namespace) {
            continue;
        }
        if routes
            .iter()
            .any(|(host, path)| *host == existing.host && *path == existing.path)
        {
            // The holder is named only when it is this tenant's own Ingress.
            let holder = if context.view.tenant_of_namespace(&existing.namespace) == Some(context.tenant_name) {
                format!("Ingress {}/{}", existing.namespace, existing.name)
            } else {
                "another Ingress outside this tenant".to_string()
            };
            return Some(format!(
                "{}{} is already served by {holder}; tenant \"{}\" requires hosts and paths to be unique in the {}",
                existing.host,
                existing.path,
                context.tenant_name,
                match scope {
                    CollisionScope::Cluster => "cluster",
                    CollisionScope::Tenant => "tenant",
                    _ => "namespace",
                }
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::host_matches;

    #[test]
    fn wildcard_patterns_match_one_label() {
        assert!(host_matches("shop.example.com", "shop.example.com"));
        assert!(host_matches("*.shop.example.com", "eu.shop.example.com"));
        assert!(!host_matches("*.shop.example.com", "shop.example.com"));
        assert!(!host_matches("*.shop.example.com", "a.b.shop.example.com"));
        assert!(!host_matches("*.shop.example.com", "evilshop.example.com"));
        assert!(host_matches("*.shop.example.com", "*.shop.example.com"));
    }
}
