//! Tenants themselves: refused when invalid (the same `validate` as `palisade validate`), and
//! never deleted while `preventDeletion` is set, not even by an administrator.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, Operation};
use palisade_api::Tenant;

use super::typed;
use crate::{ClusterView, Verdict};

pub fn review(request: &AdmissionRequest<DynamicObject>, view: &dyn ClusterView) -> Verdict {
    if let Some(verdict) = always_checked(request, view) {
        return verdict;
    }
    Verdict::Allow
}

/// Rules that hold for administrators too.
pub fn always_checked(request: &AdmissionRequest<DynamicObject>, _view: &dyn ClusterView) -> Option<Verdict> {
    if request.kind.group != "palisade.dev" || request.kind.kind != "Tenant" {
        return None;
    }
    match request.operation {
        Operation::Delete => {
            let tenant: Tenant = typed(request.old_object.as_ref(), "Tenant").ok()?;
            tenant.spec.prevent_deletion.then(|| {
                Verdict::deny(format!(
                    "tenant \"{}\" has spec.preventDeletion set; set it to false first if you really mean to delete the tenant and all its namespaces",
                    request.name
                ))
            })
        }
        Operation::Create | Operation::Update => {
            let tenant: Tenant = match typed(request.object.as_ref(), "Tenant") {
                Ok(tenant) => tenant,
                Err(denial) => return Some(denial),
            };
            let errors = palisade_tenancy::validate(&tenant);
            (!errors.is_empty()).then(|| {
                let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
                Verdict::deny(format!("tenant \"{}\" is invalid: {}", request.name, listed.join("; ")))
            })
        }
        Operation::Connect => None,
    }
}
