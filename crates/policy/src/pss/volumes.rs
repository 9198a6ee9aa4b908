//! Restricted volumes: only the volume types that carry no node or network storage access of
//! their own (and so need no separate trust) may be inlined in a pod.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PodSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Violation;
use super::util::{join_quote, pluralize};

/// Whether a volume's source is one restricted admits. A volume naming no source at all is an
/// emptyDir: the API server defaults it so before admission sees it.
fn allowed(v: &Volume) -> bool {
    any_allowed_source(v) || no_source(v)
}

fn any_allowed_source(v: &Volume) -> bool {
    v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.image.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some()
}

/// Through serde rather than a field list, so that a source k8s-openapi adds later is not
/// mistaken for no source.
fn no_source(v: &Volume) -> bool {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(v) else {
        return false;
    };
    fields.keys().all(|k| k == "name")
}

/// The name PSA gives the forbidden source; a volume with none of the known sources is
/// "unknown" (e.g. a source newer than these checks).
fn forbidden_type(v: &Volume) -> &'static str {
    let sources: [(bool, &'static str); 21] = [
        (v.host_path.is_some(), "hostPath"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.nfs.is_some(), "nfs"),
        (v.iscsi.is_some(), "iscsi"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.rbd.is_some(), "rbd"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.cinder.is_some(), "cinder"),
        (v.cephfs.is_some(), "cephfs"),
        (v.flocker.is_some(), "flocker"),
        (v.fc.is_some(), "fc"),
        (v.azure_file.is_some(), "azureFile"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
        (v.quobyte.is_some(), "quobyte"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.storageos.is_some(), "storageos"),
    ];
    sources
        .into_iter()
        .find(|(set, _)| *set)
        .map_or("unknown", |(_, name)| name)
}

pub(crate) fn restricted_volumes(_: &ObjectMeta, spec: &PodSpec) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for v in spec.volumes.iter().flatten().filter(|v| !allowed(v)) {
        bad.push(v.name.as_str());
        types.insert(forbidden_type(v));
    }
    (!bad.is_empty()).then(|| {
        let types: Vec<&str> = types.into_iter().collect();
        Violation::new(
            "restricted volume types",
            format!(
                "{} {} {} {} {}",
                pluralize("volume", "volumes", bad.len()),
                join_quote(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("restricted volume type", "restricted volume types", types.len()),
                join_quote(&types)
            ),
        )
    })
}
