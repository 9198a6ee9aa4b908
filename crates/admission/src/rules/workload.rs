//! Workload templates (Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job,
//! CronJob) are checked against the same pod rules, so that a forbidden image is refused at
//! `kubectl apply` and not later in an event nobody reads. Templates are never mutated: the pods
//! get the defaults when they are created, and templates stay as their authors wrote them.

use serde::Deserialize;
use serde_json::Value;

use super::pod::{PodSpecView, check_pod_spec};
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
    match check_pod_spec(context.tenant, context.tenant_name, &spec, &context_text) {
        Ok(()) => Verdict::Allow,
        Err(message) => Verdict::deny(message),
    }
}
