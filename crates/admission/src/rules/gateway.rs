//! Gateway API (`gateway.networking.k8s.io`): a Gateway's `gatewayClassName` must be on the
//! tenant's `spec.gateway.classes` allow-list, and the hostnames of HTTPRoutes, GRPCRoutes and
//! TLSRoutes — and of Gateway listeners — follow the tenant's ingress hostname rules
//! (`spec.ingress.hostnames`, `allowWildcardHosts`). A route attached to a Gateway in another
//! namespace (a shared Gateway) must list its hostnames: without them it takes every hostname
//! the listener accepts, other tenants' included.
//!
//! Host ownership across tenants (wildcards included) and host-and-path collisions of HTTPRoutes
//! inside the tenant's collision scope are decided by the webhook's host claims
//! (`palisade_webhook`'s `hosts.rs`), which read and write the cluster.

use serde_json::Value;

use super::pod::check_class;
use super::{InTenant, object_json};
use crate::Verdict;

pub fn review(context: &InTenant<'_>) -> Verdict {
    let request = context.request;
    let Some(object) = object_json(request.object.as_ref()) else {
        return Verdict::deny(format!("the request carries no {}", request.kind.kind));
    };
    let tenant = context.tenant_name;
    let kind = request.kind.kind.as_str();
    let what = format!("{kind} \"{}\"", request.name);
    let spec = &object["spec"];
    let result = match kind {
        "Gateway" => check_gateway(context, spec, &what),
        _ => check_route(context, spec, &what),
    };
    match result {
        Ok(()) => Verdict::Allow,
        Err(message) => Verdict::deny(format!("tenant \"{tenant}\" {message}")),
    }
}

fn check_gateway(context: &InTenant<'_>, spec: &Value, what: &str) -> Result<(), String> {
    let class = spec["gatewayClassName"].as_str();
    let context_text = format!(" ({what})");
    if let (Some(_), None) = (context.tenant.spec.gateway.classes.as_ref(), class) {
        return Err(format!(
            "allows only listed gateway classes; {what} names no gatewayClassName"
        ));
    }
    check_class(
        context.tenant_name,
        "gateway class",
        context.tenant.spec.gateway.classes.as_ref(),
        class,
        &context_text,
    )
    // check_class starts with `tenant "<name>"`; the caller adds it again.
    .map_err(|message| strip_tenant(context, message))?;
    for listener in spec["listeners"].as_array().into_iter().flatten() {
        if let Some(host) = listener["hostname"].as_str() {
            check_host(context, host, "spec.listeners[].hostname", what)?;
        }
    }
    Ok(())
}

fn check_route(context: &InTenant<'_>, spec: &Value, what: &str) -> Result<(), String> {
    let hostnames: Vec<&str> = spec["hostnames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let shared_parent = spec["parentRefs"].as_array().into_iter().flatten().any(|parent| {
        parent["namespace"]
            .as_str()
            .is_some_and(|namespace| namespace != context.namespace)
    });
    if hostnames.is_empty() && shared_parent {
        return Err(format!(
            "requires routes on a Gateway in another namespace to list spec.hostnames: {what} lists none, so it would take every hostname the shared listener accepts, other tenants' included"
        ));
    }
    for host in hostnames {
        check_host(context, host, "spec.hostnames", what)?;
    }
    Ok(())
}

fn check_host(context: &InTenant<'_>, host: &str, field: &str, what: &str) -> Result<(), String> {
    let policy = &context.tenant.spec.ingress;
    if host.starts_with('*') && !policy.allow_wildcard_hosts {
        return Err(format!(
            "does not allow wildcard hosts; {what} asks for {host} in {field}"
        ));
    }
    if !policy.hostnames.is_empty() && !policy.hostnames.iter().any(|p| super::ingress::host_matches(p, host)) {
        return Err(format!(
            "may serve only {}; {what} asks for {host} in {field}",
            policy.hostnames.join(", ")
        ));
    }
    Ok(())
}

fn strip_tenant(context: &InTenant<'_>, message: String) -> String {
    let prefix = format!("tenant \"{}\" ", context.tenant_name);
    message.strip_prefix(&prefix).map(str::to_string).unwrap_or(message)
}
