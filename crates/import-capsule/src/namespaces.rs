//! Namespace options: quota, prefix, managed metadata, Pod Security labels.

use std::collections::BTreeMap;

use palisade_api::{PodSecurityLevel, TenantSpec, labels};
use serde_json::{Map, Value};

use crate::classes::selector_text;
use crate::conversion::GapKind;
use crate::cx::{Cx, describe};

pub(crate) fn convert_namespace_options(cx: &mut Cx, spec: &Map<String, Value>, out: &mut TenantSpec, tenant: &str) {
    let path = "spec.namespaceOptions";
    let known = [
        "quota",
        "additionalMetadata",
        "additionalMetadataList",
        "requiredMetadata",
        "forbiddenLabels",
        "forbiddenAnnotations",
        "managedMetadataOnly",
    ];
    let mut metadata_labels = BTreeMap::new();
    let mut metadata_annotations = BTreeMap::new();
    if let Some(options) = spec.get("namespaceOptions")
        && let Some(map) = cx.object(options, path, &known)
    {
        if let Some(quota) = map.get("quota").filter(|v| !v.is_null()) {
            match quota.as_i64() {
                Some(max) if max >= 1 => out.namespaces.max = Some(u32::try_from(max).unwrap_or(u32::MAX)),
                Some(max) => cx.gap(
                    format!("{path}.quota"),
                    GapKind::Dropped,
                    format!("{max} is below Capsule's minimum of 1; left without a namespace limit"),
                ),
                None => cx.error(
                    format!("{path}.quota"),
                    format!("expected an integer, found {}", describe(quota)),
                ),
            }
        }
        if let Some(extra) = map.get("additionalMetadata") {
            let field = format!("{path}.additionalMetadata");
            if let Some(meta) = cx.object(extra, &field, &["labels", "annotations"]) {
                for (key, value) in cx.string_map(meta, "labels", &field) {
                    let origin = format!("{field}.labels[{key}]");
                    metadata_labels.insert(key, (value, origin));
                }
                for (key, value) in cx.string_map(meta, "annotations", &field) {
                    let origin = format!("{field}.annotations[{key}]");
                    metadata_annotations.insert(key, (value, origin));
                }
            }
        }
        for (i, entry) in cx.array(map, "additionalMetadataList", path).iter().enumerate() {
            let field = format!("{path}.additionalMetadataList[{i}]");
            let Some(meta) = cx.object(entry, &field, &["labels", "annotations", "namespaceSelector"]) else {
                continue;
            };
            if let Some(selector) = meta.get("namespaceSelector").and_then(|s| selector_text(cx, s, &field))
                && !selector.is_empty()
            {
                cx.gap(
                    &field,
                    GapKind::Dropped,
                    format!(
                        "applies only to namespaces matching `{selector}`; Palisade puts the same labels and \
                         annotations on every tenant namespace, so this entry was left out"
                    ),
                );
                continue;
            }
            for (kind, target) in [
                ("labels", &mut metadata_labels),
                ("annotations", &mut metadata_annotations),
            ] {
                for (key, value) in cx.string_map(meta, kind, &field) {
                    match expand_template(&value, tenant) {
                        Some(value) => {
                            let origin = format!("{field}.{kind}[{key}]");
                            target.insert(key, (value, origin));
                        }
                        None => cx.gap(
                            format!("{field}.{kind}[{key}]"),
                            GapKind::Dropped,
                            format!(
                                "\"{value}\" uses a per-namespace template; Palisade puts the same value on every \
                                 namespace (only {{{{tenant.name}}}} can be expanded)"
                            ),
                        ),
                    }
                }
            }
        }
        if map.get("requiredMetadata").is_some_and(|v| !v.is_null()) {
            cx.gap(
                format!("{path}.requiredMetadata"),
                GapKind::Dropped,
                "Palisade does not require owners to set labels or annotations; it sets the ones it manages \
                 itself (spec.namespaces.labels/annotations), which tenant users cannot change",
            );
        }
        for field in ["forbiddenLabels", "forbiddenAnnotations"] {
            if map.get(field).is_some_and(|v| !v.is_null()) {
                cx.gap(
                    format!("{path}.{field}"),
                    GapKind::Dropped,
                    "Palisade has no deny-list of namespace metadata keys; the keys it manages (tenant binding, \
                     Pod Security, spec.namespaces.labels/annotations, node selector) cannot be changed by tenant \
                     users, and other keys are free",
                );
            }
        }
        if let Some(only) = cx.bool(map, "managedMetadataOnly", path) {
            cx.gap(
                format!("{path}.managedMetadataOnly"),
                GapKind::Note,
                if only {
                    "Palisade always reconciles only the namespace metadata it manages and leaves the rest alone, \
                     which is what this setting asked for"
                } else {
                    "Palisade reconciles only the namespace metadata it manages and leaves other labels and \
                     annotations alone; it never strips metadata it did not set"
                },
            );
        }
    }
    apply_namespace_metadata(cx, metadata_labels, metadata_annotations, out);
}

/// Expands `{{tenant.name}}`; `None` when another (per-namespace) template remains.
fn expand_template(value: &str, tenant: &str) -> Option<String> {
    let expanded = value
        .replace("{{tenant.name}}", tenant)
        .replace("{{ tenant.name }}", tenant);
    (!expanded.contains("{{")).then_some(expanded)
}

fn apply_namespace_metadata(
    cx: &mut Cx,
    metadata_labels: BTreeMap<String, (String, String)>,
    metadata_annotations: BTreeMap<String, (String, String)>,
    out: &mut TenantSpec,
) {
    let mut pod_security: BTreeMap<&str, (String, String)> = BTreeMap::new();
    for (key, (value, field)) in metadata_labels {
        if let Some(mode) = key.strip_prefix("pod-security.kubernetes.io/") {
            let known = [
                "enforce",
                "enforce-version",
                "audit",
                "audit-version",
                "warn",
                "warn-version",
            ];
            match known.iter().find(|k| **k == mode) {
                Some(mode) => {
                    pod_security.insert(mode, (value, field));
                }
                None => cx.gap(field, GapKind::Dropped, "not a Pod Security Admission label"),
            }
            continue;
        }
        if RESERVED_NAMESPACE_LABELS.contains(&key.as_str()) {
            cx.gap(
                field,
                GapKind::Dropped,
                "binds a namespace to its tenant; Palisade sets its own binding (palisade.dev/tenant) and no spec may set these",
            );
            continue;
        }
        out.namespaces.labels.insert(key, value);
    }
    for (key, (value, field)) in metadata_annotations {
        if key == labels::NODE_SELECTOR_ANNOTATION {
            if out.workloads.node_selector.is_empty() && !value.trim().is_empty() {
                for pair in value.split(',') {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    out.workloads
                        .node_selector
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
                cx.gap(
                    field,
                    GapKind::Note,
                    "converted to spec.workloads.nodeSelector, which Palisade enforces itself",
                );
            } else {
                cx.gap(
                    field,
                    GapKind::Dropped,
                    "Palisade writes this annotation from spec.workloads.nodeSelector",
                );
            }
            continue;
        }
        out.namespaces.annotations.insert(key, value);
    }
    match pod_security.get("enforce").cloned() {
        Some((level, field)) => match parse_pod_security_level(&level) {
            Some(level) => {
                out.pod_security.level = level;
                if let Some((version, _)) = pod_security.get("enforce-version") {
                    out.pod_security.version = version.clone();
                }
            }
            None => cx.gap(
                field,
                GapKind::Dropped,
                format!("\"{level}\" is not privileged, baseline or restricted; spec.podSecurity.level stays baseline"),
            ),
        },
        None => cx.gap(
            "spec.podSecurity",
            GapKind::Note,
            "Capsule sets no Pod Security level, so tenant namespaces had the cluster default (privileged unless \
             the API server's PodSecurity configuration says otherwise). Palisade enforces `baseline` by default, \
             which refuses privileged containers, host namespaces and hostPath volumes. Check a namespace with \
             `kubectl label --dry-run=server --overwrite ns <ns> pod-security.kubernetes.io/enforce=baseline` \
             (it lists pods that would be refused), or set spec.podSecurity.level: privileged to keep the old \
             behaviour",
        ),
    }
    let level = out.pod_security.level.as_str();
    let version = out.pod_security.version.clone();
    for (mode, expected) in [
        ("audit", level),
        ("warn", level),
        ("audit-version", &version),
        ("warn-version", &version),
    ] {
        if let Some((value, field)) = pod_security.get(mode)
            && value != expected
        {
            cx.gap(
                field,
                GapKind::Partial,
                format!("Palisade sets {mode} to the enforced one (\"{expected}\"); \"{value}\" was not kept"),
            );
        }
    }
}

fn parse_pod_security_level(level: &str) -> Option<PodSecurityLevel> {
    match level {
        "privileged" => Some(PodSecurityLevel::Privileged),
        "baseline" => Some(PodSecurityLevel::Baseline),
        "restricted" => Some(PodSecurityLevel::Restricted),
        _ => None,
    }
}

/// Namespace labels that Palisade or Capsule set themselves to bind a namespace; a tenant spec
/// cannot carry them over.
const RESERVED_NAMESPACE_LABELS: [&str; 8] = [
    labels::TENANT,
    labels::CORDONED,
    labels::NAMESPACE_NAME,
    "capsule.clastix.io/tenant",
    "capsule.clastix.io/managed-by",
    "projectcapsule.dev/tenant",
    "projectcapsule.dev/managed-by",
    "projectcapsule.dev/cordoned",
];
