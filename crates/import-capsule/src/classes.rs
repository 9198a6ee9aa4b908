//! Class allow-lists (storage, ingress, gateway, priority, runtime) and ingress options.

use palisade_api::{ClassAllowList, CollisionScope, TenantSpec};
use serde_json::{Map, Value};

use crate::conversion::GapKind;
use crate::cx::Cx;
use crate::regex::{RegexTarget, translate_regex};

/// What a class allow-list is about, for messages.
pub(crate) struct ClassKind {
    /// `StorageClass`
    kind: &'static str,
    /// `storageclasses`, for kubectl hints.
    resource: &'static str,
    /// Where it goes in the Palisade spec.
    target: &'static str,
}

pub(crate) const CLASS_STORAGE: ClassKind = ClassKind {
    kind: "StorageClass",
    resource: "storageclasses",
    target: "spec.storage.classes",
};
const CLASS_INGRESS: ClassKind = ClassKind {
    kind: "IngressClass",
    resource: "ingressclasses",
    target: "spec.ingress.classes",
};
pub(crate) const CLASS_GATEWAY: ClassKind = ClassKind {
    kind: "GatewayClass",
    resource: "gatewayclasses",
    target: "spec.gateway.classes",
};
pub(crate) const CLASS_PRIORITY: ClassKind = ClassKind {
    kind: "PriorityClass",
    resource: "priorityclasses",
    target: "spec.workloads.priorityClasses",
};
pub(crate) const CLASS_RUNTIME: ClassKind = ClassKind {
    kind: "RuntimeClass",
    resource: "runtimeclasses",
    target: "spec.workloads.runtimeClasses",
};

/// A Capsule allow-list of class names (exact names, a regex, a label selector, a default).
pub(crate) fn class_list(cx: &mut Cx, value: Option<&Value>, path: &str, class: ClassKind) -> Option<ClassAllowList> {
    let known = ["allowed", "allowedRegex", "default", "matchLabels", "matchExpressions"];
    let map = cx.object(value?, path, &known)?;
    let mut allowed = Vec::new();
    for name in cx.strings(map, "allowed", path) {
        if !allowed.contains(&name) {
            allowed.push(name);
        }
    }
    let default = cx.string(map, "default", path).filter(|d| !d.is_empty());
    // Whether Capsule restricted by something Palisade could not carry over.
    let mut lost_restriction = false;
    if let Some(regex) = cx.string(map, "allowedRegex", path).filter(|r| !r.is_empty()) {
        let field = format!("{path}.allowedRegex");
        match translate_regex(&regex, RegexTarget::Class) {
            Some(translation) if translation.everything => {
                allowed.push("*".to_string());
                cx.gap(
                    field,
                    GapKind::Note,
                    format!("`{regex}` matches every name; converted to `*`"),
                );
            }
            Some(translation) => {
                for pattern in &translation.patterns {
                    if !allowed.contains(pattern) {
                        allowed.push(pattern.clone());
                    }
                }
                cx.gap(field, GapKind::Partial, translation.describe(&regex, class.target));
            }
            None => {
                lost_restriction = true;
                cx.gap(
                    field,
                    GapKind::Dropped,
                    format!(
                        "regular expression `{regex}` has no equivalent: Palisade takes exact {} names and \
                         `prefix*` patterns. List the classes it matched in {}.allowed",
                        class.kind, class.target
                    ),
                );
            }
        }
    }
    if let Some(selector) = selector_text(cx, &Value::Object(map.clone()), path)
        && !selector.is_empty()
    {
        lost_restriction = true;
        cx.gap(
            format!("{path}.matchLabels/matchExpressions"),
            GapKind::Dropped,
            format!(
                "Palisade allow-lists name classes; a label selector over {} objects has no equivalent. List \
                 the matching ones by name in {}.allowed (`kubectl get {} -l '{selector}' -o name`)",
                class.kind, class.target, class.resource
            ),
        );
    }
    if allowed.is_empty() {
        if lost_restriction {
            cx.gap(
                path,
                GapKind::Partial,
                format!(
                    "nothing that restricted this list could be converted, so the converted tenant may use any \
                     {}{}. List the allowed ones in {}.allowed",
                    class.kind,
                    if default.is_some() {
                        " (`*`), with the same default"
                    } else {
                        ""
                    },
                    class.target
                ),
            );
        } else if default.is_some() {
            cx.gap(
                path,
                GapKind::Note,
                format!(
                    "the Capsule list names no {} besides its default; the converted list allows any (`*`) and \
                     keeps the default. List the allowed ones in {}.allowed to restrict it",
                    class.kind, class.target
                ),
            );
        } else {
            cx.gap(
                path,
                GapKind::Note,
                format!("empty in Capsule; left out, so any {} may be used", class.kind),
            );
            return None;
        }
        return default.map(|default| ClassAllowList {
            allowed: vec!["*".to_string()],
            default: Some(default),
        });
    }
    let mut list = ClassAllowList { allowed, default };
    if let Some(default) = list.default.clone()
        && !list.allows(&default)
    {
        list.allowed.push(default.clone());
        cx.gap(
            format!("{path}.default"),
            GapKind::Note,
            format!("default \"{default}\" was not in the allowed list; added it, as Palisade requires the default to be allowed"),
        );
    }
    Some(list)
}

pub(crate) fn convert_ingress(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec) {
    let path = "spec.ingressOptions";
    let known = [
        "allowedClasses",
        "allowedHostnames",
        "hostnameCollisionScope",
        "allowWildcardHostnames",
    ];
    let map = match spec.get("ingressOptions") {
        Some(options) => cx.object(options, path, &known),
        None => None,
    };
    let empty = Map::new();
    let map = map.unwrap_or(&empty);
    out.ingress.classes = class_list(
        cx,
        map.get("allowedClasses"),
        &format!("{path}.allowedClasses"),
        CLASS_INGRESS,
    );
    if let Some(hosts) = map.get("allowedHostnames") {
        let field = format!("{path}.allowedHostnames");
        if let Some(hosts) = cx.object(hosts, &field, &["allowed", "allowedRegex"]) {
            out.ingress.hostnames = cx.strings(hosts, "allowed", &field);
            for (i, host) in out.ingress.hostnames.iter().enumerate() {
                if host.starts_with("*.") {
                    cx.gap(
                        format!("{field}.allowed[{i}]"),
                        GapKind::Partial,
                        format!(
                            "Capsule compared hostnames literally, so \"{host}\" allowed only that wildcard host; in \
                             Palisade it also allows every name one label below it"
                        ),
                    );
                }
            }
            if let Some(regex) = cx.string(hosts, "allowedRegex", &field).filter(|r| !r.is_empty()) {
                let regex_field = format!("{field}.allowedRegex");
                match translate_regex(&regex, RegexTarget::Hostname) {
                    Some(translation) if translation.everything => {
                        out.ingress.hostnames.clear();
                        cx.gap(
                            regex_field,
                            GapKind::Note,
                            format!("`{regex}` matches every hostname; spec.ingress.hostnames left empty (any)"),
                        );
                    }
                    Some(translation) => {
                        for pattern in &translation.patterns {
                            if !out.ingress.hostnames.contains(pattern) {
                                out.ingress.hostnames.push(pattern.clone());
                            }
                        }
                        cx.gap(
                            regex_field,
                            GapKind::Partial,
                            translation.describe(&regex, "spec.ingress.hostnames"),
                        );
                    }
                    None => {
                        let kept = if out.ingress.hostnames.is_empty() {
                            "no hostname was listed, so the converted tenant may use ANY hostname until you list them \
                             in spec.ingress.hostnames"
                        } else {
                            "listed hostnames were kept; add the others the expression matched to spec.ingress.hostnames"
                        };
                        cx.gap(
                            regex_field,
                            GapKind::Dropped,
                            format!(
                                "regular expression `{regex}` has no equivalent: Palisade takes exact hostnames and \
                                 `*.domain` wildcards (one label); {kept}"
                            ),
                        );
                    }
                }
            }
        }
    }
    match cx.string(map, "hostnameCollisionScope", path).as_deref() {
        Some("Cluster") => out.ingress.collision_scope = CollisionScope::Cluster,
        Some("Tenant") => out.ingress.collision_scope = CollisionScope::Tenant,
        Some("Namespace") => out.ingress.collision_scope = CollisionScope::Namespace,
        Some("Disabled") => out.ingress.collision_scope = CollisionScope::Disabled,
        Some(other) => cx.error(
            format!("{path}.hostnameCollisionScope"),
            format!("\"{other}\" is not Cluster, Tenant, Namespace or Disabled"),
        ),
        None => {
            out.ingress.collision_scope = CollisionScope::Disabled;
            cx.gap(
                format!("{path}.hostnameCollisionScope"),
                GapKind::Note,
                "not set: Capsule does no collision check by default, so collisionScope is set to Disabled to \
                 change nothing. Palisade's default is Cluster (a host and path can be used once in the \
                 cluster), which stops one tenant from taking another's traffic: consider removing it",
            );
        }
    }
    if let Some(wildcard) = cx.bool(map, "allowWildcardHostnames", path) {
        out.ingress.allow_wildcard_hosts = wildcard;
    }
}

/// A label selector as `kubectl -l` text; `Some("")` for an empty selector, `None` when absent.
pub(crate) fn selector_text(cx: &mut Cx, selector: &Value, path: &str) -> Option<String> {
    let map = selector.as_object()?;
    if !map.contains_key("matchLabels") && !map.contains_key("matchExpressions") {
        return Some(String::new());
    }
    let mut parts = Vec::new();
    for (key, value) in cx.string_map(map, "matchLabels", path) {
        parts.push(format!("{key}={value}"));
    }
    for expression in cx.array(map, "matchExpressions", path) {
        let key = expression.get("key").and_then(Value::as_str).unwrap_or_default();
        let operator = expression.get("operator").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(match operator {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other} ({})", values.join(",")),
        });
    }
    Some(parts.join(","))
}
