//! Workload templates (Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job,
//! CronJob) are checked against the same pod rules, so that a forbidden image is refused at
//! `kubectl apply` and not later in an event nobody reads: registries, pull policies, classes,
//! node selector, `spec.nodeName`, inline network volumes, the storage class of ephemeral
//! volumes, and a StatefulSet's `volumeClaimTemplates`. Templates are never mutated: the pods
//! get the defaults when they are created, and templates stay as their authors wrote them.

use serde::Deserialize;
use serde_json::Value;

use super::pod::{
    ClaimTemplateView, PodSpecView, check_claim_template, check_node_name, check_pod_spec, check_volumes,
};
use super::{InTenant, described, object_json};
use crate::Verdict;

pub fn review(context: &InTenant<'_>) -> Verdict {
    let request = context.request;
    let Some(object) = object_json(request.object.as_ref()) else {
        return Verdict::deny("the request carries no object");
    };
    let template = if request.kind.kind == "CronJob" {
        &object["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    } else {
        &object["spec"]["template"]["spec"]
    };
    if template == &Value::Null {
        return Verdict::Allow;
    }
    let spec = match PodSpecView::deserialize(template) {
        Ok(spec) => spec,
        Err(error) => {
            return Verdict::deny(format!(
                "cannot read the pod template of {}: {error}",
                described(request)
            ));
        }
    };
    let context_text = format!(" (in the pod template of {})", described(request));
    let (tenant, name) = (context.tenant, context.tenant_name);
    let checked = check_pod_spec(tenant, name, &spec, &context_text)
        .and_then(|()| check_volumes(tenant, name, &spec, &context_text))
        .and_then(|()| check_node_name(name, spec.node_name.as_deref(), &context_text))
        .and_then(|()| check_claim_templates(context, &object));
    match checked {
        Ok(()) => Verdict::Allow,
        Err(message) => Verdict::deny(message),
    }
}

/// A StatefulSet's `volumeClaimTemplates`: the claims its controller will make, checked now.
fn check_claim_templates(context: &InTenant<'_>, object: &Value) -> Result<(), String> {
    if context.request.kind.kind != "StatefulSet" {
        return Ok(());
    }
    let templates = &object["spec"]["volumeClaimTemplates"];
    if templates.is_null() {
        return Ok(());
    }
    let templates = Vec::<ClaimTemplateView>::deserialize(templates).map_err(|error| {
        format!(
            "cannot read the volumeClaimTemplates of {}: {error}",
            described(context.request)
        )
    })?;
    for template in &templates {
        let claim = template
            .metadata
            .as_ref()
            .and_then(|m| m.name.as_deref())
            .unwrap_or_default();
        let what = format!(" (volumeClaimTemplate \"{claim}\" of {})", described(context.request));
        check_claim_template(context.tenant, context.tenant_name, template, &what)?;
    }
    Ok(())
}
