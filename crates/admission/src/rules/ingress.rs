//! Ingresses: the class allow-list (default mutated in), hostnames within the tenant's patterns,
//! no wildcard hosts unless allowed, and no host and path already served elsewhere in the
//! tenant's collision scope.

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
    let class = spec.ingress_class_name.clone().or_else(|| {
        ingress
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LEGACY_CLASS_ANNOTATION).cloned())
    });
    let context_text = format!(" (Ingress \"{}\")", request.name);
    if let Err(message) = check_class(
        tenant,
        "ingress class",
        policy.classes.as_ref(),
        class.as_deref(),
        &context_text,
    ) {
        return Verdict::deny(message);
    }

    let mut routes = Vec::new();
    for rule in spec.rules.iter().flatten() {
        let host = rule.host.clone().unwrap_or_default();
        if host.starts_with("*.") && !policy.allow_wildcard_hosts {
            return Verdict::deny(format!(
                "tenant \"{tenant}\" does not allow wildcard hosts; Ingress \"{}\" asks for {host}",
                request.name
            ));
        }
        if !policy.hostnames.is_empty() && !policy.hostnames.iter().any(|p| host_matches(p, &host)) {
            let shown = if host.is_empty() {
                "no host (every hostname)".to_string()
            } else {
                host.clone()
            };
            return Verdict::deny(format!(
                "tenant \"{tenant}\" may serve only {}; Ingress \"{}\" asks for {shown}",
                policy.hostnames.join(", "),
                request.name
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

/// `pattern` is an exact host, or `*.suffix` matching exactly one more label.
fn host_matches(pattern: &str, host: &str) -> bool {
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
