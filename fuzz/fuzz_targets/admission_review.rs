//! Any bytes, as an AdmissionReview body: decoding, the decision for every kind of request and the
//! encoding of the response must never panic, whatever the API server (or an attacker able to
//! reach the port) sends.

#![no_main]

use std::sync::OnceLock;

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use libfuzzer_sys::fuzz_target;
use palisade_admission::{AdmissionConfig, Snapshot, review};

const TENANTS: [&str; 4] = [
    include_str!("../../examples/payments.yaml"),
    include_str!("../../examples/catalog.yaml"),
    include_str!("../../examples/storefront.yaml"),
    include_str!("../../examples/analytics.yaml"),
];

fn view() -> &'static (Snapshot, AdmissionConfig) {
    static VIEW: OnceLock<(Snapshot, AdmissionConfig)> = OnceLock::new();
    VIEW.get_or_init(|| {
        let mut snapshot = Snapshot::default().with_namespace("kube-system", None).with_namespace("default", None);
        for text in TENANTS {
            let tenant: palisade_api::Tenant = serde_saphyr::from_str(text).expect("examples parse");
            let name = tenant.metadata.name.clone().unwrap_or_default();
            for namespace in &tenant.spec.namespaces.names {
                snapshot = snapshot.with_namespace(namespace, Some(&name));
            }
            snapshot = snapshot.with_tenant(tenant);
        }
        let config = AdmissionConfig { pod_cidrs: vec!["10.244.0.0/16".parse().expect("cidr")], ..AdmissionConfig::default() };
        (snapshot, config)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(review_in) = serde_json::from_slice::<AdmissionReview<DynamicObject>>(data) else {
        return;
    };
    let Ok(request): Result<AdmissionRequest<DynamicObject>, _> = review_in.try_into() else {
        return;
    };
    let (snapshot, config) = view();
    let verdict = review(&request, snapshot, config);
    let response = verdict.into_response(&request).into_review();
    let _ = serde_json::to_vec(&response);
});
