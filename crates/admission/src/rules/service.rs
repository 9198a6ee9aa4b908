//! Services: the types a tenant may use, and externalIPs only inside the tenant's CIDRs — an
//! externalIP outside them would let a tenant capture another's traffic (CVE-2020-8554).

use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Service;

use super::{InTenant, typed};
use crate::Verdict;

pub fn review(context: &InTenant<'_>) -> Verdict {
    let service: Service = match typed(context.request.object.as_ref(), "Service") {
        Ok(service) => service,
        Err(denial) => return denial,
    };
    let Some(spec) = service.spec else {
        return Verdict::Allow;
    };
    let tenant = context.tenant_name;
    let name = &context.request.name;
    let policy = &context.tenant.spec.services;
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    let allowed = match kind {
        "NodePort" => policy.allow_node_port,
        "LoadBalancer" => policy.allow_load_balancer,
        "ExternalName" => policy.allow_external_name,
        _ => true,
    };
    if !allowed {
        return Verdict::deny(format!(
            "tenant \"{tenant}\" does not allow Services of type {kind}; Service \"{name}\" asks for one (ClusterIP is always allowed)"
        ));
    }
    let cidrs: Vec<IpNet> = policy.external_ips.iter().filter_map(|c| c.parse().ok()).collect();
    for ip in spec.external_ips.iter().flatten() {
        let inside = ip
            .parse::<IpAddr>()
            .is_ok_and(|ip| cidrs.iter().any(|c| c.contains(&ip)));
        if !inside {
            let allowed = if cidrs.is_empty() {
                "no externalIPs at all".to_string()
            } else {
                format!("externalIPs only in {}", policy.external_ips.join(", "))
            };
            return Verdict::deny(format!(
                "tenant \"{tenant}\" allows {allowed}; Service \"{name}\" uses {ip}"
            ));
        }
    }
    Verdict::Allow
}
