//! The watches that keep an inventory ([`InventoryUpdates`]): nodes (metadata only: name and
//! labels), PersistentVolumes (reduced to the namespace of their claim), and the five class
//! kinds (metadata only: the name). GatewayClass is a CRD that may be absent, so its watch is
//! optional: it fills the inventory once the CRD is installed, and never holds the start back.
//! Whoever holds the inventory ([`InventoryHolder`]) decides what else a change means (the
//! controller wakes tenants, the proxy re-plans open watches).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume};
use kube::api::{ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use kube::{Api, Client};
use palisade_tenancy::render::ClassKind;

use crate::driver::{Driver, Needed, Sink, WatchTask};
use crate::inventory::{InventoryUpdates, Labels};

/// Whoever keeps an inventory, and makes each change under its own lock.
pub trait InventoryHolder: Send + Sync + 'static {
    type Inventory: InventoryUpdates;
    fn change_inventory(&self, change: impl FnOnce(&mut Self::Inventory));
}

/// How one watched kind changes the inventory.
trait Part<V>: Send + Sync {
    fn apply(&self, inventory: &mut impl InventoryUpdates, value: V);
    fn delete(&self, inventory: &mut impl InventoryUpdates, value: V);
    fn reset(&self, inventory: &mut impl InventoryUpdates, values: Vec<V>);
}

struct Nodes;

impl Part<(String, Labels)> for Nodes {
    fn apply(&self, inventory: &mut impl InventoryUpdates, (name, labels): (String, Labels)) {
        inventory.node_applied(name, labels);
    }
    fn delete(&self, inventory: &mut impl InventoryUpdates, (name, _): (String, Labels)) {
        inventory.node_deleted(&name);
    }
    fn reset(&self, inventory: &mut impl InventoryUpdates, nodes: Vec<(String, Labels)>) {
        inventory.nodes_reset(nodes);
    }
}

struct Volumes;

impl Part<(String, Option<String>)> for Volumes {
    fn apply(&self, inventory: &mut impl InventoryUpdates, (name, namespace): (String, Option<String>)) {
        inventory.volume_applied(name, namespace);
    }
    fn delete(&self, inventory: &mut impl InventoryUpdates, (name, _): (String, Option<String>)) {
        inventory.volume_deleted(&name);
    }
    fn reset(&self, inventory: &mut impl InventoryUpdates, volumes: Vec<(String, Option<String>)>) {
        inventory.volumes_reset(volumes);
    }
}

/// The classes of one kind (a relist may be empty, so the kind cannot come from the values).
struct Classes(ClassKind);

impl Part<String> for Classes {
    fn apply(&self, inventory: &mut impl InventoryUpdates, name: String) {
        inventory.class_applied(self.0, name);
    }
    fn delete(&self, inventory: &mut impl InventoryUpdates, name: String) {
        inventory.class_deleted(self.0, &name);
    }
    fn reset(&self, inventory: &mut impl InventoryUpdates, names: Vec<String>) {
        inventory.classes_reset(self.0, names.into_iter().collect());
    }
}

/// Each change into the holder's inventory.
struct InventorySink<H, P> {
    holder: Arc<H>,
    part: P,
}

impl<V, H: InventoryHolder, P: Part<V>> Sink<V> for InventorySink<H, P> {
    fn apply(&self, value: V) {
        self.holder.change_inventory(|i| self.part.apply(i, value));
    }
    fn delete(&self, value: V) {
        self.holder.change_inventory(|i| self.part.delete(i, value));
    }
    fn reset(&self, values: Vec<V>) {
        self.holder.change_inventory(|i| self.part.reset(i, values));
    }
}

fn sink<V: 'static, H: InventoryHolder, P: Part<V> + 'static>(holder: &Arc<H>, part: P) -> Vec<Arc<dyn Sink<V>>> {
    vec![Arc::new(InventorySink {
        holder: holder.clone(),
        part,
    })]
}

fn class_resource(kind: ClassKind) -> ApiResource {
    // v1 of every kind: GatewayClass since Gateway API 1.0, the others long before.
    ApiResource {
        group: kind.api_group().to_string(),
        version: "v1".to_string(),
        api_version: format!("{}/v1", kind.api_group()),
        kind: kind.kind().to_string(),
        plural: kind.resource().to_string(),
    }
}

/// Starts the inventory's watches. Returns them (dropping one stops it) and the names of the
/// required ones, for [`crate::driver::Synced::listed`]: the controller's first reconciles wait
/// for them, or every owner ClusterRole would be written once without the names and again with.
pub fn watch_inventory<H: InventoryHolder>(
    driver: &Driver,
    client: &Client,
    holder: &Arc<H>,
) -> (Vec<WatchTask>, Vec<String>) {
    let mut tasks = Vec::new();
    let mut required = Vec::new();
    let name = "Node (inventory)";
    let nodes = Api::<PartialObjectMeta<Node>>::all(client.clone());
    let reduce = |node: PartialObjectMeta<Node>| {
        let metadata = node.metadata;
        (metadata.name.unwrap_or_default(), metadata.labels.unwrap_or_default())
    };
    tasks.push(driver.watch(
        name,
        Needed::Required,
        nodes,
        watcher::Config::default(),
        reduce,
        sink(holder, Nodes),
    ));
    required.push(name.to_string());

    let name = "PersistentVolume (inventory)";
    let volumes = Api::<PersistentVolume>::all(client.clone());
    let reduce = |volume: PersistentVolume| {
        let claimed = volume.spec.and_then(|s| s.claim_ref).and_then(|c| c.namespace);
        (volume.metadata.name.unwrap_or_default(), claimed)
    };
    tasks.push(driver.watch(
        name,
        Needed::Required,
        volumes,
        watcher::Config::default(),
        reduce,
        sink(holder, Volumes),
    ));
    required.push(name.to_string());

    for kind in ClassKind::ALL {
        let name = format!("{} (inventory)", kind.kind());
        let needed = match kind {
            ClassKind::Gateway => Needed::Optional,
            _ => Needed::Required,
        };
        let api = Api::<PartialObjectMeta<DynamicObject>>::all_with(client.clone(), &class_resource(kind));
        let reduce = |class: PartialObjectMeta<DynamicObject>| class.metadata.name.unwrap_or_default();
        let sinks = sink(holder, Classes(kind));
        tasks.push(driver.watch(&name, needed, api, watcher::Config::default(), reduce, sinks));
        if needed == Needed::Required {
            required.push(name);
        }
    }
    (tasks, required)
}
