//! Fixtures and the AdmissionReview builder the rule tests share.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use palisade_admission::{AdmissionConfig, IngressRoute, Snapshot, Verdict, VolumeOwner, review};
use palisade_api::Tenant;
use serde_json::{Value, json};

pub const PAYMENTS: &str = r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: payments, uid: 0b7c6f1e-0000-4000-8000-000000000001 }
spec:
  owners:
    - { kind: User, name: alice }
    - { kind: Group, name: payments-admins }
  namespaces: { max: 3, forcePrefix: true, labels: { cost-center: cc-1 } }
  podSecurity: { level: restricted }
  workloads:
    registries: [registry.example.com/payments/]
    pullPolicies: [Always, IfNotPresent]
    priorityClasses: { allowed: [tenant-normal, tenant-high], default: tenant-normal }
    runtimeClasses: { allowed: [gvisor], default: gvisor }
    nodeSelector: { pool: regulated }
  storage: { classes: { allowed: [encrypted-ssd], default: encrypted-ssd } }
  ingress:
    classes: { allowed: [internal], default: internal }
    hostnames: [pay.example.com, "*.pay.example.com"]
    collisionScope: Cluster
  services: { allowLoadBalancer: true, externalIPs: [203.0.113.0/28] }
  network: { allowFrom: { tenants: [storefront] } }
"#;

pub const STOREFRONT: &str = r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: storefront, uid: 0b7c6f1e-0000-4000-8000-000000000002 }
spec:
  owners: [{ kind: User, name: bob }, { kind: User, name: alice }]
  namespaces: { forcePrefix: true }
"#;

pub const FROZEN: &str = r#"
apiVersion: palisade.dev/v1alpha1
kind: Tenant
metadata: { name: frozen }
spec:
  owners: [{ kind: User, name: carol }]
  cordoned: true
"#;

pub fn tenant(yaml: &str) -> Tenant {
    serde_saphyr::from_str(yaml).unwrap()
}

pub fn cluster() -> Snapshot {
    let mut snapshot = Snapshot::default()
        .with_tenant(tenant(PAYMENTS))
        .with_tenant(tenant(STOREFRONT))
        .with_tenant(tenant(FROZEN))
        .with_namespace("payments-api", Some("payments"))
        .with_namespace("payments-jobs", Some("payments"))
        .with_namespace("storefront-web", Some("storefront"))
        .with_namespace("frozen-a", Some("frozen"))
        .with_namespace("kube-system", None)
        .with_namespace("default", None)
        .with_namespace("monitoring", None);
    snapshot.volumes.insert(
        "pv-storefront".into(),
        VolumeOwner {
            tenant: Some("storefront".into()),
            claim_namespace: None,
        },
    );
    snapshot.volumes.insert(
        "pv-reserved".into(),
        VolumeOwner {
            tenant: None,
            claim_namespace: Some("monitoring".into()),
        },
    );
    snapshot.ingress_routes.push(IngressRoute {
        namespace: "storefront-web".into(),
        name: "shop".into(),
        host: "pay.example.com".into(),
        path: "/taken".into(),
    });
    snapshot
}

/// An AdmissionReview v1 exactly as the API server sends it.
pub struct Review {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub resource: &'static str,
    pub sub_resource: Option<&'static str>,
    pub operation: &'static str,
    pub namespace: Option<&'static str>,
    pub name: &'static str,
    pub user: &'static str,
    pub groups: Vec<&'static str>,
    pub object: Option<Value>,
    pub old_object: Option<Value>,
}

impl Review {
    pub fn new(
        kind: &'static str,
        operation: &'static str,
        namespace: Option<&'static str>,
        name: &'static str,
    ) -> Self {
        let (group, version, resource) = match kind {
            "Namespace" => ("", "v1", "namespaces"),
            "Pod" => ("", "v1", "pods"),
            "Service" => ("", "v1", "services"),
            "PersistentVolumeClaim" => ("", "v1", "persistentvolumeclaims"),
            "ConfigMap" => ("", "v1", "configmaps"),
            "RoleBinding" => ("rbac.authorization.k8s.io", "v1", "rolebindings"),
            "Deployment" => ("apps", "v1", "deployments"),
            "CronJob" => ("batch", "v1", "cronjobs"),
            "Ingress" => ("networking.k8s.io", "v1", "ingresses"),
            "NetworkPolicy" => ("networking.k8s.io", "v1", "networkpolicies"),
            "Tenant" => ("palisade.dev", "v1alpha1", "tenants"),
            "StatefulSet" => ("apps", "v1", "statefulsets"),
            "Gateway" => ("gateway.networking.k8s.io", "v1", "gateways"),
            "HTTPRoute" => ("gateway.networking.k8s.io", "v1", "httproutes"),
            // Subresources: the kind of what is sent, and the resource it is a subresource of.
            "Eviction" => ("policy", "v1", "pods"),
            "Binding" => ("", "v1", "pods"),
            "Scale" => ("autoscaling", "v1", "deployments"),
            "TokenRequest" => ("authentication.k8s.io", "v1", "serviceaccounts"),
            other => panic!("add {other} to the test's kind table"),
        };
        Review {
            group,
            version,
            kind,
            resource,
            sub_resource: None,
            operation,
            namespace,
            name,
            user: "alice",
            groups: vec!["system:authenticated"],
            object: None,
            old_object: None,
        }
    }

    pub fn by(mut self, user: &'static str, groups: &[&'static str]) -> Self {
        self.user = user;
        self.groups = groups.to_vec();
        self
    }

    pub fn object(mut self, object: Value) -> Self {
        self.object = Some(self.complete(object));
        self
    }

    pub fn old(mut self, object: Value) -> Self {
        self.old_object = Some(self.complete(object));
        self
    }

    pub fn sub(mut self, sub_resource: &'static str) -> Self {
        self.sub_resource = Some(sub_resource);
        self
    }

    pub fn complete(&self, mut object: Value) -> Value {
        let api_version = if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        object["apiVersion"] = json!(api_version);
        object["kind"] = json!(self.kind);
        object["metadata"]["name"] = json!(self.name);
        if let Some(ns) = self.namespace {
            object["metadata"]["namespace"] = json!(ns);
        }
        object
    }

    pub fn json(&self) -> Value {
        let gvk = json!({ "group": self.group, "version": self.version, "kind": self.kind });
        let (resource_group, resource_version) = match self.kind {
            "Eviction" | "Binding" | "TokenRequest" => ("", "v1"),
            "Scale" => ("apps", "v1"),
            _ => (self.group, self.version),
        };
        let gvr = json!({ "group": resource_group, "version": resource_version, "resource": self.resource });
        let mut request = json!({
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": self.name,
            "operation": self.operation,
            "userInfo": { "username": self.user, "groups": self.groups },
            "object": self.object, "oldObject": self.old_object,
            "dryRun": false,
        });
        if let Some(ns) = self.namespace {
            request["namespace"] = json!(ns);
        }
        if let Some(sub) = self.sub_resource {
            request["subResource"] = json!(sub);
            request["requestSubResource"] = json!(sub);
        }
        json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request })
    }

    /// The verdict against another view of the cluster than [`cluster`].
    pub fn decide_in(&self, snapshot: &Snapshot) -> Verdict {
        let sent: AdmissionReview<DynamicObject> = serde_json::from_value(self.json()).expect("valid AdmissionReview");
        let request: AdmissionRequest<DynamicObject> = sent.try_into().expect("has a request");
        let config = AdmissionConfig {
            pod_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
            service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
            ..AdmissionConfig::default()
        };
        review(&request, snapshot, &config)
    }

    pub fn decide(&self) -> Verdict {
        let review: AdmissionReview<DynamicObject> =
            serde_json::from_value(self.json()).expect("valid AdmissionReview");
        let request: AdmissionRequest<DynamicObject> = review.try_into().expect("has a request");
        review_request(&request)
    }
}

pub fn review_request(request: &AdmissionRequest<DynamicObject>) -> Verdict {
    let config = AdmissionConfig {
        pod_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
        ..AdmissionConfig::default()
    };
    review(request, &cluster(), &config)
}

#[track_caller]
pub fn denied(verdict: Verdict, fragments: &[&str]) {
    let Verdict::Deny(message) = verdict else {
        panic!("expected a denial, got {verdict:?}")
    };
    for fragment in fragments {
        assert!(message.contains(fragment), "denial {message:?} lacks {fragment:?}");
    }
}

/// A denial that names none of `secrets` (another tenant, its namespaces or objects).
#[track_caller]
pub fn never_names(verdict: Verdict, secrets: &[&str]) {
    let Verdict::Deny(message) = verdict else {
        panic!("expected a denial, got {verdict:?}")
    };
    for secret in secrets {
        assert!(!message.contains(secret), "denial {message:?} names {secret:?}");
    }
}

#[track_caller]
pub fn allowed(verdict: Verdict) {
    assert_eq!(verdict, Verdict::Allow);
}

/// Applies the verdict's patch to `object` and returns the result.
#[track_caller]
pub fn patched(verdict: Verdict, mut object: Value) -> Value {
    let Verdict::Patch(patch) = verdict else {
        panic!("expected a patch, got {verdict:?}")
    };
    json_patch_apply(&mut object, &patch);
    object
}

pub fn json_patch_apply(object: &mut Value, patch: &json_patch::Patch) {
    json_patch::patch(object, patch).expect("patch applies");
}

pub fn pod(image: &str) -> Value {
    json!({ "spec": { "containers": [{ "name": "api", "image": image, "imagePullPolicy": "Always" }] } })
}
