//! ResourceQuotas and LimitRanges.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::LimitRangeItem;
use palisade_api::{QuotaPolicy, TenantSpec};
use serde_json::{Map, Value};

use crate::conversion::GapKind;
use crate::cx::Cx;

pub(crate) fn convert_quotas(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    let mut quota = QuotaPolicy {
        tenant: std::mem::take(&mut cx.counted_resources),
        ..QuotaPolicy::default()
    };
    if let Some(quotas) = spec.get("resourceQuotas") {
        let path = "spec.resourceQuotas";
        if let Some(map) = cx.object(quotas, path, &["scope", "items"]) {
            let scope = cx.string(map, "scope", path).unwrap_or_else(|| "Tenant".to_string());
            let tenant_scope = match scope.as_str() {
                "Tenant" => true,
                "Namespace" => false,
                other => {
                    cx.error(
                        format!("{path}.scope"),
                        format!("\"{other}\" is not Tenant or Namespace"),
                    );
                    true
                }
            };
            let (target, target_path) = if tenant_scope {
                (&mut quota.tenant, "spec.quota.tenant")
            } else {
                (&mut quota.namespace, "spec.quota.namespace")
            };
            let mut origin: BTreeMap<String, usize> = BTreeMap::new();
            let items = cx.array(map, "items", path);
            for (i, item) in items.iter().enumerate() {
                let field = format!("{path}.items[{i}]");
                let Some(item) = cx.object(item, &field, &["hard", "scopes", "scopeSelector"]) else {
                    continue;
                };
                if item.get("scopes").is_some_and(|v| !v.is_null())
                    || item.get("scopeSelector").is_some_and(|v| !v.is_null())
                {
                    cx.gap(
                        &field,
                        GapKind::Dropped,
                        "Palisade's quota has no scopes (BestEffort, PriorityClass, ...); this item was not converted",
                    );
                    continue;
                }
                for (resource, value) in cx.quantity_map(item, "hard", &field) {
                    if let Some(first) = origin.get(&resource) {
                        let earlier = target.get(&resource).cloned().unwrap_or_else(|| value.clone());
                        if earlier != value {
                            let field = format!("{field}.hard[{resource}]");
                            match (parse_quantity(&earlier.0), parse_quantity(&value.0)) {
                                (Some(a), Some(b)) => {
                                    let lower = if b < a { value.clone() } else { earlier.clone() };
                                    cx.gap(
                                        field,
                                        GapKind::Note,
                                        format!(
                                            "also set by items[{first}] ({} and {}); Capsule enforced both, so the \
                                             lower one ({}) was kept",
                                            earlier.0, value.0, lower.0
                                        ),
                                    );
                                    target.insert(resource, lower);
                                }
                                _ => cx.gap(
                                    field,
                                    GapKind::Partial,
                                    format!(
                                        "also set by items[{first}]; kept that value ({}), dropped {}. Capsule \
                                         enforced both, so keep the lower one in {target_path}",
                                        earlier.0, value.0
                                    ),
                                ),
                            }
                        }
                        continue;
                    }
                    origin.insert(resource.clone(), i);
                    target.insert(resource, value);
                }
            }
            if !origin.is_empty() {
                let message = if tenant_scope {
                    "scope Tenant: converted to spec.quota.tenant, a hard limit over the sum of all the tenant's \
                     namespaces. Capsule's per-namespace ResourceQuotas (with `hard` rewritten to what is left) \
                     are not recreated"
                } else {
                    "scope Namespace: converted to spec.quota.namespace, the ResourceQuota `palisade-quota` in \
                     every tenant namespace"
                };
                let kind = if items.len() > 1 {
                    GapKind::Partial
                } else {
                    GapKind::Note
                };
                let merged = if items.len() > 1 {
                    " The items were merged into one."
                } else {
                    ""
                };
                cx.gap(path, kind, format!("{message}.{merged}"));
            }
        }
    }
    if let Some(ranges) = spec.get("limitRanges") {
        let path = "spec.limitRanges";
        if let Some(map) = cx.object(ranges, path, &["items"]) {
            let items = cx.array(map, "items", path);
            for (i, item) in items.iter().enumerate() {
                let field = format!("{path}.items[{i}]");
                let Some(item) = cx.object(item, &field, &["limits"]) else {
                    continue;
                };
                for (j, limit) in cx.array(item, "limits", &field).iter().enumerate() {
                    match serde_json::from_value::<LimitRangeItem>(limit.clone()) {
                        Ok(limit) => quota.limits.push(limit),
                        Err(problem) => cx.error(
                            format!("{field}.limits[{j}]"),
                            format!("not a LimitRangeItem: {problem}"),
                        ),
                    }
                }
            }
            if items.len() > 1 {
                cx.gap(
                    path,
                    GapKind::Note,
                    format!(
                        "Capsule created {} LimitRanges per namespace; their limits were merged into the one LimitRange \
                         `palisade-limits` (spec.quota.limits)",
                        items.len()
                    ),
                );
            }
        }
    }
    if quota != QuotaPolicy::default() {
        out.quota = Some(quota);
    }
}

/// A Kubernetes quantity as a number, for comparing two limits (`500m`, `2`, `16Gi`, `1e3`).
fn parse_quantity(text: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let text = text.trim();
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    text.parse::<f64>().ok()
}
