//! The I/O half of the tenant-wide quota: one ledger ConfigMap per tenant, written with
//! optimistic concurrency. The design and why it neither overshoots nor leaks is in
//! `palisade_admission::quota`; this module reads, checks, reserves and retries.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::core::admission::{AdmissionRequest, Operation};
use kube::{Api, Client};
use palisade_admission::quantity::{self, Amount};
use palisade_admission::quota::{self, Ledger, Request, Reservation};
use palisade_admission::usage::{self, Counted, Usage};
use palisade_admission::{ClusterView, Verdict};
use palisade_api::{Tenant, labels};

use crate::Index;

/// The kinds whose usage the webhook's watches keep (crate::index); every other kind is counted
/// by listing it live when a request adds one.
const WATCHED: [(&str, &str); 3] = [("", "pods"), ("", "persistentvolumeclaims"), ("", "services")];

/// The key in the ConfigMap's data holding the ledger as JSON.
const DATA_KEY: &str = "ledger.json";
/// Attempts at the compare-and-swap before giving up; each conflict means another admission of
/// the same tenant got in first, so this bounds a burst, not a steady state.
const ATTEMPTS: usize = 40;

/// The ledgers of all tenants.
pub struct Ledgers {
    client: Client,
    /// Where the ledger ConfigMaps live (Palisade's own namespace).
    namespace: String,
    /// How long a reservation is trusted before it is checked against the API server: longer
    /// than every admission step after ours can take.
    grace: Duration,
    /// One admission per tenant at a time in this replica: replicas contend through the
    /// ledger, but a replica never contends with itself.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What the quota step is asked: the tenant, its limits, and the request in quota terms.
struct Asked {
    tenant: String,
    hard: BTreeMap<String, Amount>,
    key: String,
    described: String,
    new: Usage,
    old: Usage,
    namespace: String,
    /// `<apiVersion>|<kind>|<plural>|<name>`, to find the object again.
    object: String,
    /// A kind the watches do not follow (counted only by number, `count/<resource>.<group>`):
    /// its objects in the tenant's namespaces are listed live at each admission.
    listed_live: Option<ApiResource>,
}

impl Ledgers {
    pub fn new(client: Client, namespace: String, grace: Duration) -> Self {
        Ledgers {
            client,
            namespace,
            grace,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The quota step of a validating review that everything else allowed.
    pub async fn admit(&self, index: &Index, request: &AdmissionRequest<DynamicObject>) -> Verdict {
        let asked = {
            let view = index.read();
            match asked(request, &*view) {
                Ok(Some(asked)) => asked,
                Ok(None) => return Verdict::Allow,
                Err(denial) => return denial,
            }
        };
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(asked.tenant.clone()).or_default().clone()
        };
        let _serialised = lock.lock().await;
        for _ in 0..ATTEMPTS {
            match self.attempt(index, &asked, request.dry_run).await {
                Attempt::Done(verdict) => return verdict,
                Attempt::Conflict => {
                    // Another replica wrote first; spread the retries a little.
                    let jitter = u64::from(
                        SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.subsec_nanos())
                            % 20,
                    );
                    tokio::time::sleep(Duration::from_millis(5 + jitter)).await;
                }
            }
        }
        Verdict::deny(format!(
            "tenant \"{}\": too many concurrent requests competing for its quota right now; retry in a moment",
            asked.tenant
        ))
    }

    async fn attempt(&self, index: &Index, asked: &Asked, dry_run: bool) -> Attempt {
        let api = Api::<ConfigMap>::namespaced(self.client.clone(), &self.namespace);
        let name = ledger_name(&asked.tenant);
        let stored = match api.get_opt(&name).await {
            Ok(stored) => stored,
            Err(error) => return Attempt::Done(cannot("read", &asked.tenant, &error)),
        };
        let mut ledger = match stored
            .as_ref()
            .and_then(|c| c.data.as_ref())
            .and_then(|d| d.get(DATA_KEY))
        {
            Some(json) => match serde_json::from_str::<Ledger>(json) {
                Ok(ledger) => ledger,
                Err(error) => {
                    tracing::warn!(tenant = %asked.tenant, %error, "unreadable quota ledger; starting a new one");
                    Ledger::default()
                }
            },
            None => Ledger::default(),
        };
        let now = unix_now();
        self.settle_old_reservations(index, &asked.tenant, &mut ledger, now)
            .await;
        let mut observed = index.read().observed_usage(&asked.tenant);
        if let Some(resource) = &asked.listed_live {
            match self.list_live(index, &asked.tenant, resource).await {
                Ok(listed) => observed.extend(listed),
                Err(error) => return Attempt::Done(cannot("count the objects of", &asked.tenant, &error)),
            }
        }
        let used = quota::tenant_usage(&observed, &ledger, &asked.key);
        let namespaces = index.read().namespaces_of(&asked.tenant).len();
        let request = Request {
            tenant: &asked.tenant,
            key: &asked.key,
            described: &asked.described,
            new: &asked.new,
            old: &asked.old,
        };
        if let Err(message) = quota::check(&asked.hard, &used, namespaces, &request) {
            return Attempt::Done(Verdict::deny(message));
        }
        if dry_run {
            return Attempt::Done(Verdict::Allow);
        }
        let limited: BTreeMap<String, String> = asked
            .new
            .iter()
            .filter(|(resource, _)| asked.hard.contains_key(*resource))
            .map(|(resource, amount)| (resource.clone(), quantity::format(*amount)))
            .collect();
        ledger.reservations.insert(
            asked.key.clone(),
            Reservation {
                namespace: asked.namespace.clone(),
                object: asked.object.clone(),
                since: now,
                usage: limited,
            },
        );
        let json = match serde_json::to_string(&ledger) {
            Ok(json) => json,
            Err(error) => return Attempt::Done(Verdict::deny(format!("cannot encode the quota ledger: {error}"))),
        };
        let mut config_map = stored.unwrap_or_else(|| ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels::managed_labels(&asked.tenant)),
                ..Default::default()
            },
            ..Default::default()
        });
        config_map.data = Some(BTreeMap::from([(DATA_KEY.to_string(), json)]));
        let written = if config_map.metadata.resource_version.is_some() {
            api.replace(&name, &PostParams::default(), &config_map).await
        } else {
            api.create(&PostParams::default(), &config_map).await
        };
        match written {
            Ok(_) => Attempt::Done(Verdict::Allow),
            Err(kube::Error::Api(status)) if status.code == 409 => Attempt::Conflict,
            Err(error) => Attempt::Done(cannot("write", &asked.tenant, &error)),
        }
    }

    /// The objects of a kind the watches do not follow, in every namespace of the tenant, as
    /// observed usage (each counts one of its kind).
    async fn list_live(
        &self,
        index: &Index,
        tenant: &str,
        resource: &ApiResource,
    ) -> Result<BTreeMap<String, Usage>, kube::Error> {
        let namespaces = index.read().namespaces_of(tenant);
        let counted = Counted {
            group: &resource.group,
            kind: &resource.kind,
            resource: &resource.plural,
        };
        let mut observed = BTreeMap::new();
        for namespace in namespaces {
            let api = Api::<DynamicObject>::namespaced_with(self.client.clone(), &namespace, resource);
            for object in api.list_metadata(&Default::default()).await?.items {
                let Some(uid) = object.metadata.uid.clone() else {
                    continue;
                };
                let value = serde_json::json!({ "metadata": object.metadata });
                if let Ok(used) = usage::usage(&counted, &value) {
                    observed.insert(quota::object_key(&resource.plural, &uid), used);
                }
            }
        }
        Ok(observed)
    }

    /// Reservations past the grace period are settled against the API server: the object exists
    /// and the watch counts it, or it never came to be (a later admission step refused it); in
    /// both cases the reservation goes. One that exists but that the watch has not delivered
    /// yet stays.
    async fn settle_old_reservations(&self, index: &Index, tenant: &str, ledger: &mut Ledger, now: i64) {
        let grace = i64::try_from(self.grace.as_secs()).unwrap_or(i64::MAX);
        let old: Vec<(String, Reservation)> = ledger
            .reservations
            .iter()
            .filter(|(_, r)| now.saturating_sub(r.since) >= grace)
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        for (key, reservation) in old {
            let observed = index.read().observed_usage(tenant).contains_key(&key);
            if observed || !self.still_pending(&key, &reservation).await {
                ledger.reservations.remove(&key);
            }
        }
    }

    /// Whether the reserved object exists with the reserved identity (so the reservation must
    /// stay until the watch delivers it). A failed read keeps it: never undercount.
    async fn still_pending(&self, key: &str, reservation: &Reservation) -> bool {
        let mut parts = reservation.object.splitn(4, '|');
        let (Some(api_version), Some(kind), Some(plural), Some(name)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        if kind == "Namespace" {
            return match Api::<Namespace>::all(self.client.clone()).get_opt(name).await {
                Ok(found) => found.is_some(),
                Err(_) => true,
            };
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api = Api::<DynamicObject>::namespaced_with(self.client.clone(), &reservation.namespace, &resource);
        match api.get_opt(name).await {
            Ok(Some(object)) => object
                .metadata
                .uid
                .is_some_and(|uid| quota::object_key(plural, &uid) == key),
            Ok(None) => false,
            Err(_) => true,
        }
    }
}

enum Attempt {
    Done(Verdict),
    Conflict,
}

fn cannot(verb: &str, tenant: &str, error: &kube::Error) -> Verdict {
    Verdict::deny(format!(
        "Palisade cannot {verb} the quota ledger of tenant \"{tenant}\" ({error}), so it cannot tell whether this request fits the tenant's quota; retry in a moment"
    ))
}

fn ledger_name(tenant: &str) -> String {
    format!("palisade-quota-ledger-{tenant}")
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn parse_limits(tenant: &Tenant, tenant_name: &str) -> Result<BTreeMap<String, Amount>, Verdict> {
    let Some(policy) = tenant.spec.quota.as_ref() else {
        return Ok(BTreeMap::new());
    };
    policy
        .tenant
        .iter()
        .map(|(resource, limit)| match quantity::parse(&limit.0) {
            Some(amount) => Ok((resource.clone(), amount)),
            None => Err(Verdict::deny(format!(
                "tenant \"{tenant_name}\" has spec.quota.tenant[\"{resource}\"] = \"{}\", which is not a quantity, so no request can be measured against it; ask your platform team to fix the Tenant",
                limit.0
            ))),
        })
        .collect()
}

/// The request in quota terms, or `None` when it cannot add to a limited resource.
fn asked(request: &AdmissionRequest<DynamicObject>, view: &dyn ClusterView) -> Result<Option<Asked>, Verdict> {
    let Some(object) = request.object.as_ref() else {
        return Ok(None);
    };
    let api_version = if request.kind.group.is_empty() {
        request.kind.version.clone()
    } else {
        format!("{}/{}", request.kind.group, request.kind.version)
    };
    let plural = request.resource.resource.as_str();
    if request.kind.group.is_empty() && request.kind.kind == "Namespace" {
        if request.operation != Operation::Create {
            return Ok(None);
        }
        let Some(tenant_name) = object.metadata.labels.as_ref().and_then(|l| l.get(labels::TENANT)) else {
            return Ok(None);
        };
        let Some(max) = view.tenant(tenant_name).and_then(|t| t.spec.namespaces.max) else {
            return Ok(None);
        };
        let counted = Usage::from([(quota::NAMESPACES.to_string(), Amount::units(1))]);
        return Ok(Some(Asked {
            tenant: tenant_name.clone(),
            hard: BTreeMap::from([(quota::NAMESPACES.to_string(), Amount::units(i64::from(max)))]),
            key: quota::namespace_key(&request.name),
            described: format!("new namespace \"{}\"", request.name),
            new: counted,
            old: Usage::new(),
            namespace: request.name.clone(),
            object: format!("{api_version}|Namespace|namespaces|{}", request.name),
            listed_live: None,
        }));
    }
    let Some(namespace) = request.namespace.as_deref() else {
        return Ok(None);
    };
    let Some(tenant_name) = view.tenant_of_namespace(namespace) else {
        return Ok(None);
    };
    let Some(tenant) = view.tenant(tenant_name) else {
        return Ok(None);
    };
    let hard = parse_limits(tenant, tenant_name)?;
    if hard.is_empty() {
        return Ok(None);
    }
    let counted = Counted {
        group: &request.kind.group,
        kind: &request.kind.kind,
        resource: plural,
    };
    let operation = match request.operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete | Operation::Connect => return Ok(None),
    };
    if !usage::charged_on(
        &counted,
        operation,
        request.sub_resource.as_deref().filter(|s| !s.is_empty()),
    ) {
        return Ok(None);
    }
    let measure = |object: Option<&DynamicObject>| -> Result<Usage, Verdict> {
        let Some(object) = object else {
            return Ok(Usage::new());
        };
        let value = serde_json::to_value(object)
            .map_err(|e| Verdict::deny(format!("cannot read the {}: {e}", request.kind.kind)))?;
        usage::usage(&counted, &value).map_err(|error| {
            Verdict::deny(format!(
                "tenant \"{tenant_name}\" limits its quota across namespaces, and the quota use of {} \"{}\" cannot be measured: {error}",
                request.kind.kind, request.name
            ))
        })
    };
    let new = measure(Some(object))?;
    let old = measure(request.old_object.as_ref())?;
    let probe = Request {
        tenant: tenant_name,
        key: "",
        described: "",
        new: &new,
        old: &old,
    };
    if quota::growing(&hard, &probe).is_empty() {
        return Ok(None);
    }
    let Some(uid) = object.metadata.uid.clone() else {
        // The API server assigns uids before validating admission; a request without one
        // cannot be tied to its object, so it cannot be reserved.
        return Err(Verdict::deny(format!(
            "{} \"{}\" reached Palisade's quota check without a uid; retry, and report this if it persists",
            request.kind.kind, request.name
        )));
    };
    Ok(Some(Asked {
        tenant: tenant_name.to_string(),
        hard,
        key: quota::object_key(plural, &uid),
        described: format!("{} \"{}\"", request.kind.kind, request.name),
        new,
        old,
        namespace: namespace.to_string(),
        object: format!("{api_version}|{}|{plural}|{}", request.kind.kind, request.name),
        listed_live: (!WATCHED.contains(&(request.kind.group.as_str(), plural))).then(|| {
            ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(&request.kind.group, &request.kind.version, &request.kind.kind),
                plural,
            )
        }),
    }))
}
