//! `palisade.dev/` labels are Palisade's word on what belongs to which tenant; NetworkPolicies,
//! AdminNetworkPolicies and mesh policies select by them. A tenant's objects may carry
//! `palisade.dev/tenant` only with their own tenant's name, and no other `palisade.dev/` label,
//! on the object itself and on every template a controller stamps objects from (pods of
//! workloads and Jobs, claims of StatefulSets), so no path leads to a forged label.

use std::collections::BTreeMap;

use kube::core::admission::Operation;
use palisade_api::labels;
use serde_json::Value;

use super::{InTenant, described, object_json};
use crate::Verdict;

/// Where templates keep the labels of the objects made from them.
const TEMPLATE_LABELS: [(&str, &[&str]); 4] = [
    ("the pod template", &["spec", "template", "metadata", "labels"]),
    ("the job template", &["spec", "jobTemplate", "metadata", "labels"]),
    (
        "the job template's pod template",
        &["spec", "jobTemplate", "spec", "template", "metadata", "labels"],
    ),
    (
        "the ephemeral volume claim template",
        &["spec", "volumeClaimTemplate", "metadata", "labels"],
    ),
];

pub fn review(context: &InTenant<'_>) -> Option<Verdict> {
    let request = context.request;
    // Kubernetes' controllers only copy labels users wrote into templates, which were checked
    // when the template was written; their updates (GC, status) must not stall on old objects.
    if context.requester.is_system_component() && request.operation != Operation::Create {
        return None;
    }
    let object = object_json(request.object.as_ref())?;
    let mut places: Vec<(String, &Value)> = vec![("the object".to_string(), &object["metadata"]["labels"])];
    for (place, path) in TEMPLATE_LABELS {
        places.push((place.to_string(), path.iter().fold(&object, |value, key| &value[*key])));
    }
    for (index, claim) in object["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        places.push((format!("volume claim template {index}"), &claim["metadata"]["labels"]));
    }
    for (place, found) in places {
        let Ok(found) = serde_json::from_value::<BTreeMap<String, String>>(found.clone()) else {
            continue;
        };
        for (key, value) in found.iter().filter(|(key, _)| key.starts_with("palisade.dev/")) {
            if key == labels::TENANT && value == context.tenant_name {
                continue;
            }
            return Some(Verdict::deny(format!(
                "tenant \"{}\": {} carries the label {key}={value} on {place}; labels under palisade.dev/ are set by Palisade, and {} may only name this tenant",
                context.tenant_name,
                described(request),
                labels::TENANT
            )));
        }
    }
    None
}
