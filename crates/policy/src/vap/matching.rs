//! Whether a request is one a policy or binding cares about: `matchConstraints` (policy) and
//! `matchResources` (binding), in the API server's order: namespace selector, object selector,
//! excluded resource rules, resource rules.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{MatchResources, NamedRuleWithOperations};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use super::value::Request;

/// The namespace a request is in, as far as the caller knows it.
#[derive(Debug, Clone, Copy)]
pub enum NamespaceFact<'a> {
    /// The request is for a cluster-scoped object other than a Namespace.
    ClusterScoped,
    /// The namespace as stored.
    Known(&'a Value),
    /// The caller does not know the namespace: a namespace selector cannot be decided.
    Unknown,
}

/// Why a request is or is not matched, or why that cannot be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Yes,
    No(String),
    Undecidable(String),
}

/// Whether `constraints` select `request`. `binding` says whether these are a binding's
/// matchResources, where no resource rules means no constraint on resources.
pub fn matches(constraints: &MatchResources, request: &Request, namespace: NamespaceFact<'_>, binding: bool) -> Match {
    if let Some(selector) = &constraints.namespace_selector
        && !selector_is_empty(selector)
    {
        let labels = if request.resource == "namespaces" && request.group_version.group.is_empty() {
            // A Namespace is matched on its own labels (the old ones when it is deleted).
            Some(Request::labels(request.object.as_ref().or(request.old_object.as_ref())))
        } else {
            match namespace {
                NamespaceFact::ClusterScoped => None,
                NamespaceFact::Known(namespace) => Some(Request::labels(Some(namespace))),
                NamespaceFact::Unknown => {
                    return Match::Undecidable(format!(
                        "namespace {:?} is not in the cluster state given, so the namespaceSelector cannot be decided",
                        request.namespace
                    ));
                }
            }
        };
        if let Some(labels) = labels
            && !selector_matches(selector, &labels)
        {
            return Match::No("the namespaceSelector does not select the namespace".into());
        }
    }
    if let Some(selector) = &constraints.object_selector
        && !selector_is_empty(selector)
    {
        let new = request
            .object
            .as_ref()
            .is_some_and(|o| selector_matches(selector, &Request::labels(Some(o))));
        let old = request
            .old_object
            .as_ref()
            .is_some_and(|o| selector_matches(selector, &Request::labels(Some(o))));
        if !new && !old {
            return Match::No("the objectSelector does not select the object".into());
        }
    }
    if constraints
        .exclude_resource_rules
        .iter()
        .flatten()
        .any(|rule| rule_matches(rule, request))
    {
        return Match::No("excludeResourceRules exclude the request".into());
    }
    let rules = constraints.resource_rules.as_deref().unwrap_or_default();
    if (binding && rules.is_empty()) || rules.iter().any(|rule| rule_matches(rule, request)) {
        Match::Yes
    } else {
        Match::No(format!(
            "no resourceRule matches {} of {}",
            request.operation,
            resource_with_sub(request)
        ))
    }
}

fn resource_with_sub(request: &Request) -> String {
    if request.sub_resource.is_empty() {
        request.resource.clone()
    } else {
        format!("{}/{}", request.resource, request.sub_resource)
    }
}

/// One rule against one request: operation, group, version, resource (with subresource), scope
/// and resource names.
pub fn rule_matches(rule: &NamedRuleWithOperations, request: &Request) -> bool {
    let listed = |values: &Option<Vec<String>>, wanted: &str| {
        values.iter().flatten().any(|value| value == "*" || value == wanted)
    };
    if !listed(&rule.operations, &request.operation)
        || !listed(&rule.api_groups, &request.group_version.group)
        || !listed(&rule.api_versions, &request.group_version.version)
    {
        return false;
    }
    let resource_listed = rule
        .resources
        .iter()
        .flatten()
        .any(|pattern| resource_pattern_matches(pattern, request));
    if !resource_listed {
        return false;
    }
    if let Some(names) = &rule.resource_names
        && !names.is_empty()
        && !names.contains(&request.name)
    {
        return false;
    }
    let is_namespace_object = request.resource == "namespaces" && request.group_version.group.is_empty();
    match rule.scope.as_deref() {
        Some("Namespaced") => !is_namespace_object && !request.namespace.is_empty(),
        Some("Cluster") => is_namespace_object || request.namespace.is_empty(),
        _ => true,
    }
}

/// `*` is every resource but no subresource, `pods/*` every subresource of pods, `*/status`
/// the status of everything, `*/*` everything.
fn resource_pattern_matches(pattern: &str, request: &Request) -> bool {
    let (resource, sub) = match pattern.split_once('/') {
        Some((resource, sub)) => (resource, Some(sub)),
        None => (pattern, None),
    };
    let resource_ok = resource == "*" || resource == request.resource;
    let sub_ok = match sub {
        None => request.sub_resource.is_empty(),
        Some("*") => true,
        Some(sub) => sub == request.sub_resource,
    };
    resource_ok && sub_ok
}

fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// A label selector against a label set: every matchLabels pair and every expression must hold.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let pairs_hold = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let expressions_hold = selector.match_expressions.iter().flatten().all(|requirement| {
        let values = requirement.values.as_deref().unwrap_or_default();
        let value = labels.get(&requirement.key);
        match requirement.operator.as_str() {
            "In" => value.is_some_and(|value| values.contains(value)),
            "NotIn" => value.is_none_or(|value| !values.contains(value)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            // The API server refuses other operators when the policy is written.
            _ => false,
        }
    });
    pairs_hold && expressions_hold
}
