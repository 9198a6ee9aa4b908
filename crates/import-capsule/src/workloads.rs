//! Services, registries and pull policies.

use std::net::IpAddr;

use ipnet::IpNet;
use palisade_api::{PullPolicy, TenantSpec};
use serde_json::{Map, Value};

use crate::conversion::GapKind;
use crate::cx::Cx;
use crate::regex::{RegexTarget, translate_regex};

pub(crate) fn convert_services(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    let path = "spec.serviceOptions";
    let known = [
        "additionalMetadata",
        "allowedServices",
        "externalIPs",
        "forbiddenLabels",
        "forbiddenAnnotations",
    ];
    let empty = Map::new();
    let map = match spec.get("serviceOptions") {
        Some(options) => cx.object(options, path, &known).unwrap_or(&empty),
        None => &empty,
    };
    let allowed_path = format!("{path}.allowedServices");
    let allowed = match map.get("allowedServices") {
        Some(allowed) => cx
            .object(allowed, &allowed_path, &["nodePort", "externalName", "loadBalancer"])
            .unwrap_or(&empty),
        None => &empty,
    };
    let mut defaulted = Vec::new();
    for (field, target) in [
        ("nodePort", &mut out.services.allow_node_port),
        ("loadBalancer", &mut out.services.allow_load_balancer),
        ("externalName", &mut out.services.allow_external_name),
    ] {
        match cx.bool(allowed, field, &allowed_path) {
            Some(value) => *target = value,
            None => {
                *target = true;
                defaulted.push(field);
            }
        }
    }
    if !defaulted.is_empty() {
        let kept: Vec<String> = defaulted
            .iter()
            .map(|f| format!("spec.services.allow{}: true", capitalize(f)))
            .collect();
        cx.gap(
            allowed_path,
            GapKind::Note,
            format!(
                "Capsule allows NodePort, LoadBalancer and ExternalName Services unless told otherwise, and this \
                 tenant does not say for {}; kept {} so nothing changes. Palisade denies them by default: set \
                 them to false to close them",
                defaulted.join(", "),
                kept.join(", ")
            ),
        );
    }
    let ips_path = format!("{path}.externalIPs");
    match map.get("externalIPs") {
        Some(ips) if !ips.is_null() => {
            if let Some(ips) = cx.object(ips, &ips_path, &["allowed"]) {
                for (i, entry) in cx.strings(ips, "allowed", &ips_path).into_iter().enumerate() {
                    let field = format!("{ips_path}.allowed[{i}]");
                    match to_cidr(&entry) {
                        Some((cidr, changed)) => {
                            if changed {
                                cx.gap(field, GapKind::Note, format!("\"{entry}\" written as the CIDR {cidr}"));
                            }
                            if !out.services.external_ips.contains(&cidr) {
                                out.services.external_ips.push(cidr);
                            }
                        }
                        None => cx.gap(
                            field,
                            GapKind::Dropped,
                            format!("\"{entry}\" is neither an IP address nor a CIDR"),
                        ),
                    }
                }
            }
        }
        _ => cx.gap(
            ips_path,
            GapKind::Note,
            "behaviour change: Capsule left Service externalIPs unrestricted for this tenant, which lets a tenant \
             intercept traffic meant for other addresses (CVE-2020-8554). Palisade allows no externalIPs unless \
             listed; list the CIDRs the tenant needs in spec.services.externalIPs",
        ),
    }
    if map.get("additionalMetadata").is_some_and(|v| !v.is_null()) {
        cx.gap(
            format!("{path}.additionalMetadata"),
            GapKind::Dropped,
            "Palisade does not add labels or annotations to tenant Services and EndpointSlices; set them in the \
             Service manifests",
        );
    }
    for field in ["forbiddenLabels", "forbiddenAnnotations"] {
        if map.get(field).is_some_and(|v| !v.is_null()) {
            cx.gap(
                format!("{path}.{field}"),
                GapKind::Dropped,
                "Palisade has no deny-list of Service metadata keys",
            );
        }
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// `entry` as a CIDR, and whether it had to be rewritten (a bare IP, or host bits set).
fn to_cidr(entry: &str) -> Option<(String, bool)> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        let net = IpNet::from(ip);
        return Some((net.to_string(), true));
    }
    let net: IpNet = entry.parse().ok()?;
    let truncated = net.trunc();
    Some((truncated.to_string(), truncated != net))
}

pub(crate) fn convert_registries(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    let path = "spec.containerRegistries";
    let Some(registries) = spec.get("containerRegistries") else {
        return;
    };
    let Some(map) = cx.object(registries, path, &["allowed", "allowedRegex"]) else {
        return;
    };
    let listed = cx.strings(map, "allowed", path);
    let mut converted = Vec::new();
    for (i, registry) in listed.iter().enumerate() {
        let host = registry.trim_end_matches('/');
        let prefix = format!("{host}/");
        if host.contains('/') {
            cx.gap(
                format!("{path}.allowed[{i}]"),
                GapKind::Partial,
                format!(
                    "Capsule compared only the registry host of an image, so \"{registry}\" never matched any image; \
                     converted to the prefix `{prefix}`, which now allows the images under it"
                ),
            );
        }
        if !converted.contains(&prefix) {
            converted.push(prefix);
        }
    }
    let exact = !converted.is_empty();
    if exact {
        cx.gap(
            format!("{path}.allowed"),
            GapKind::Note,
            "registries became image prefixes ending in `/` (`docker.io` → `docker.io/`), matched against the \
             fully qualified image. Capsule refused images without a registry (`nginx`); Palisade reads them as \
             `docker.io/library/nginx`, so they are allowed where `docker.io/` is",
        );
    }
    let mut unrestricted = false;
    if let Some(regex) = cx.string(map, "allowedRegex", path).filter(|r| !r.is_empty()) {
        let field = format!("{path}.allowedRegex");
        match translate_regex(&regex, RegexTarget::Registry) {
            Some(translation) if translation.everything => {
                unrestricted = true;
                cx.gap(
                    field,
                    GapKind::Note,
                    format!("`{regex}` allows every registry; spec.workloads.registries left empty (any)"),
                );
            }
            Some(translation) => {
                for pattern in &translation.patterns {
                    if !converted.contains(pattern) {
                        converted.push(pattern.clone());
                    }
                }
                cx.gap(
                    field,
                    GapKind::Partial,
                    translation.describe(&regex, "spec.workloads.registries"),
                );
            }
            None => {
                let kept = if exact {
                    "the exact registries were kept; add the others the expression matched"
                } else {
                    "no registry was listed, so the converted tenant may pull from ANY registry until you list them"
                };
                cx.gap(
                    field,
                    GapKind::Dropped,
                    format!(
                        "regular expression `{regex}` has no equivalent: Palisade takes image prefixes \
                         (`registry.example.com/team/`) in spec.workloads.registries; {kept}"
                    ),
                );
            }
        }
    }
    if !unrestricted {
        out.workloads.registries = converted;
    }
}

pub(crate) fn convert_pull_policies(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    for (i, policy) in cx.strings(spec, "imagePullPolicies", "spec").into_iter().enumerate() {
        let policy = match policy.as_str() {
            "Always" => PullPolicy::Always,
            "IfNotPresent" => PullPolicy::IfNotPresent,
            "Never" => PullPolicy::Never,
            other => {
                cx.error(
                    format!("spec.imagePullPolicies[{i}]"),
                    format!("\"{other}\" is not Always, IfNotPresent or Never"),
                );
                continue;
            }
        };
        if !out.workloads.pull_policies.contains(&policy) {
            out.workloads.pull_policies.push(policy);
        }
    }
}
