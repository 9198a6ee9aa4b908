//! Text (YAML or JSON, multi-document, `List` objects) → [`Cluster`]. Pure: callers read the files.

mod admin;
mod cilium;
pub mod fields;
mod netpol;
mod network;
pub mod raw;
mod service;
mod workload;

use crate::error::Error;
use crate::model::{Cluster, Namespace, Workload};
use crate::selector::Labels;
use fields::Ctx;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Splits a text into documents: JSON when it starts with `{` or `[`, else multi-document YAML.
pub fn documents(file: &str, text: &str) -> Result<Vec<Value>, Error> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let v: Value = serde_json::from_str(trimmed).map_err(|e| Error::Parse {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        return Ok(match v {
            Value::Array(items) => items,
            other => vec![other],
        });
    }
    // The default budget (1,024 documents, 1M events) is for untrusted configuration files; a
    // cluster dump is large but plain, so the limits grow with the input (aliases stay capped).
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = budget.max_documents.max(text.len() / 16);
    budget.max_events = budget.max_events.max(text.len());
    budget.max_nodes = budget.max_nodes.max(text.len());
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(text.len());
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options).map_err(|e| Error::Parse {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Collects objects from any number of sources into a [`Cluster`].
#[derive(Default)]
pub struct ClusterBuilder {
    namespaces: BTreeMap<String, Labels>,
    workloads: BTreeMap<(String, String, String), Workload>,
    seen: HashMap<String, (Value, String)>,
    probes: Vec<String>,
    /// Objects not analysed, counted per (file, kind) for one note each.
    ignored: BTreeMap<(String, String), usize>,
    cluster: Cluster,
}

/// Name and kind of the label-less pod that stands for "any pod" in a namespace with no workloads.
pub const PROBE_NAME: &str = "(any-pod)";
/// Kind of a probe endpoint.
pub const PROBE_KIND: &str = "Probe";

fn str_field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

impl ClusterBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        ClusterBuilder::default()
    }

    /// Adds every object of one YAML/JSON text named `file`.
    pub fn add_text(&mut self, file: &str, text: &str) -> Result<(), Error> {
        for doc in documents(file, text)? {
            self.add_value(file, doc)?;
        }
        Ok(())
    }

    /// Adds an object Palisade renders (for a Tenant). A Namespace already read gets the rendered
    /// labels merged in, as Palisade enforces them; anything else is added as usual.
    pub fn add_rendered(&mut self, file: &str, v: Value) -> Result<(), Error> {
        if str_field(&v, &["kind"]) == Some("Namespace")
            && let Some(name) = str_field(&v, &["metadata", "name"])
            && let Some(existing) = self.namespaces.get(name).cloned()
        {
            let ctx = Ctx {
                file,
                object: format!("Namespace {name}"),
            };
            let raw: raw::Workload = decode(&ctx, v.clone())?;
            let mut labels = existing;
            labels.extend(fields::labels(&ctx, "metadata.labels", raw.metadata.labels.as_ref())?);
            self.namespaces.insert(name.to_string(), labels);
            return Ok(());
        }
        self.add_value(file, v)
    }

    /// Gives each of these namespaces that ends up with no workload a label-less probe pod
    /// (`ns/(any-pod)[Probe]`), so policies that apply to any pod there are still analysed.
    pub fn add_probes(&mut self, namespaces: impl IntoIterator<Item = String>) {
        self.probes.extend(namespaces);
    }

    /// Adds one object (a `*List` adds its items).
    pub fn add_value(&mut self, file: &str, v: Value) -> Result<(), Error> {
        self.add_value_with_default_kind(file, v, None)
    }

    fn add_value_with_default_kind(
        &mut self,
        file: &str,
        mut v: Value,
        default_kind: Option<&str>,
    ) -> Result<(), Error> {
        let mut kind = str_field(&v, &["kind"]).unwrap_or_default().to_string();
        if kind.is_empty()
            && let Some(k) = default_kind
            && let Some(obj) = v.as_object_mut()
        {
            obj.insert("kind".to_string(), Value::String(k.to_string()));
            kind = k.to_string();
        }
        if (kind.is_empty() || kind.ends_with("List"))
            && let Some(Value::Array(items)) = v.get_mut("items")
        {
            let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty()).map(str::to_string);
            for item in std::mem::take(items) {
                self.add_value_with_default_kind(file, item, item_kind.as_deref())?;
            }
            return Ok(());
        }
        if !v.is_object() {
            self.cluster.notes.push(format!(
                "{file}: a document that is not a mapping is not a Kubernetes object; ignored"
            ));
            return Ok(());
        }
        if kind.is_empty() {
            *self
                .ignored
                .entry((file.to_string(), "(no kind)".to_string()))
                .or_default() += 1;
            return Ok(());
        }
        let name = str_field(&v, &["metadata", "name"])
            .or_else(|| str_field(&v, &["metadata", "generateName"]))
            .unwrap_or_default()
            .to_string();
        let namespace = str_field(&v, &["metadata", "namespace"])
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string();
        let cluster_scoped = matches!(
            kind.as_str(),
            "Namespace"
                | "AdminNetworkPolicy"
                | "BaselineAdminNetworkPolicy"
                | "ClusterUserDefinedNetwork"
                | "CiliumClusterwideNetworkPolicy"
        );
        let object = if cluster_scoped {
            format!("{kind} {name}")
        } else {
            format!("{kind} {namespace}/{name}")
        };
        if name.is_empty() {
            return Err(Error::Validate {
                file: file.to_string(),
                object,
                field: "metadata.name".to_string(),
                message: "required".to_string(),
            });
        }
        let handled = matches!(
            kind.as_str(),
            "Namespace"
                | "Pod"
                | "NetworkPolicy"
                | "AdminNetworkPolicy"
                | "BaselineAdminNetworkPolicy"
                | "Service"
                | "Ingress"
                | "Route"
                | "UserDefinedNetwork"
                | "ClusterUserDefinedNetwork"
                | "NetworkAttachmentDefinition"
                | "MultiNetworkPolicy"
                | "VirtualMachineInstance"
                | "CiliumNetworkPolicy"
                | "CiliumClusterwideNetworkPolicy"
        ) || workload::WORKLOAD_KINDS.contains(&kind.as_str());
        if !handled {
            *self.ignored.entry((file.to_string(), kind)).or_default() += 1;
            return Ok(());
        }
        if let Some((first_value, first_file)) = self.seen.get(&object) {
            if *first_value == v {
                self.cluster.notes.push(format!(
                    "{file}: {object}: identical copy of the object in {first_file}; ignored"
                ));
                return Ok(());
            }
            return Err(Error::Duplicate {
                file: file.to_string(),
                object,
                first: first_file.clone(),
            });
        }
        self.seen.insert(object.clone(), (v.clone(), file.to_string()));
        let ctx = Ctx { file, object };
        match kind.as_str() {
            "Namespace" => {
                let raw: raw::Workload = decode(&ctx, v)?;
                let labels = fields::labels(&ctx, "metadata.labels", raw.metadata.labels.as_ref())?;
                self.namespaces.insert(name, labels);
            }
            "UserDefinedNetwork" | "ClusterUserDefinedNetwork" | "NetworkAttachmentDefinition" => {
                let net = network::network(&ctx, &kind, &v, &namespace, &name)?;
                self.cluster.networks.push(net);
            }
            "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy" => {
                let ns = (kind == "CiliumNetworkPolicy").then_some(namespace.as_str());
                let policies = cilium::convert(&ctx, &v, ns, &name, &mut self.cluster.notes)?;
                self.cluster.network_policies.extend(policies);
            }
            "MultiNetworkPolicy" => {
                let raw: raw::NetworkPolicy = decode(&ctx, v)?;
                let mut p = netpol::convert(&ctx, &raw, &namespace, &name, &mut self.cluster.notes)?;
                p.kind = crate::model::PolicyKind::MultiNetworkPolicy;
                let targets = network::policy_for(&raw.metadata);
                self.cluster.multi_network_policies.push((p, targets));
            }
            "Service" => {
                if let Some(svc) = service::service(&ctx, &v, &namespace, &name)? {
                    self.cluster.services.push(svc);
                }
            }
            "Ingress" => {
                let e = service::ingress(&ctx, &v, &namespace)?;
                self.cluster.exposures.extend(e);
            }
            "Route" => {
                let e = service::route(&ctx, &v, &namespace)?;
                self.cluster.exposures.extend(e);
            }
            "VirtualMachineInstance" => {
                let raw: raw::Pod = decode(&ctx, v)?;
                if let Some(w) = workload::vmi(&ctx, &raw, &namespace, &name, &mut self.cluster.notes)? {
                    self.add_workload(w);
                }
            }
            "Pod" => {
                let raw: raw::Pod = decode(&ctx, v)?;
                let w = workload::pod(&ctx, &raw, &namespace, &name, &mut self.cluster.notes)?;
                self.add_workload(w);
            }
            "NetworkPolicy" => {
                let raw: raw::NetworkPolicy = decode(&ctx, v)?;
                let p = netpol::convert(&ctx, &raw, &namespace, &name, &mut self.cluster.notes)?;
                self.cluster.network_policies.push(p);
            }
            "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy" => {
                let baseline = kind == "BaselineAdminNetworkPolicy";
                let raw: raw::AdminPolicy = decode(&ctx, v)?;
                let p = admin::convert(&ctx, &raw, &name, baseline, &mut self.cluster.notes)?;
                if baseline {
                    if name != "default" {
                        self.cluster.notes.push(format!(
                            "{file}: {}: a BaselineAdminNetworkPolicy must be named `default`; analysed anyway",
                            ctx.object
                        ));
                    }
                    if let Some(first) = &self.cluster.baseline {
                        return Err(Error::Duplicate {
                            file: file.to_string(),
                            object: ctx.object.clone(),
                            first: format!(
                                "{} (BaselineAdminNetworkPolicy {}; it is a singleton)",
                                first.origin.source, first.name
                            ),
                        });
                    }
                    self.cluster.baseline = Some(p);
                } else {
                    self.cluster.admin_policies.push(p);
                }
            }
            _ => {
                let raw: raw::Workload = decode(&ctx, v)?;
                let w = workload::workload(&ctx, &raw, &kind, &namespace, &name, &mut self.cluster.notes)?;
                self.add_workload(w);
            }
        }
        Ok(())
    }

    fn add_workload(&mut self, w: Workload) {
        let key = (w.namespace.clone(), w.kind.clone(), w.name.clone());
        if let Some(first) = self.workloads.get(&key) {
            if first.labels != w.labels {
                self.cluster.notes.push(format!(
                    "{}: pods of {} have different labels; the first one read represents them",
                    w.origin.source,
                    w.display_name()
                ));
            }
            return;
        }
        self.workloads.insert(key, w);
    }

    /// The cluster: namespaces (explicit, then implied by objects in them), workloads, policies.
    pub fn build(mut self) -> Cluster {
        for ((file, kind), n) in std::mem::take(&mut self.ignored) {
            self.cluster.notes.push(if kind == "(no kind)" {
                format!("{file}: {n} document(s) without `kind` (not Kubernetes objects) ignored")
            } else {
                format!("{file}: {n} {kind} object(s) ignored: the kind does not affect reachability")
            });
        }
        let mut by_priority: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        for p in &self.cluster.admin_policies {
            by_priority
                .entry(p.priority.unwrap_or_default())
                .or_default()
                .push(&p.name);
        }
        for (priority, names) in by_priority.iter().filter(|(_, n)| n.len() > 1) {
            self.cluster.notes.push(format!(
                "AdminNetworkPolicies {} share priority {priority}: Kubernetes leaves their order undefined; they are evaluated by name",
                names.join(", ")
            ));
        }
        for ns in std::mem::take(&mut self.probes) {
            if !self.workloads.keys().any(|k| k.0 == ns) {
                let probe = Workload {
                    namespace: ns.clone(),
                    name: PROBE_NAME.to_string(),
                    kind: PROBE_KIND.to_string(),
                    labels: Labels::new(),
                    ports: Vec::new(),
                    ips: Vec::new(),
                    secondary_networks: Vec::new(),
                    secondary_ips: Vec::new(),
                    origin: crate::model::Origin {
                        source: "(probe)".to_string(),
                    },
                };
                self.workloads
                    .insert((ns, PROBE_KIND.to_string(), PROBE_NAME.to_string()), probe);
            }
        }
        let mut implied: Vec<String> = self.workloads.keys().map(|k| k.0.clone()).collect();
        implied.extend(self.cluster.network_policies.iter().map(|p| p.namespace.clone()));
        for ns in implied {
            self.namespaces.entry(ns).or_default();
        }
        self.cluster.namespaces = self
            .namespaces
            .into_iter()
            .map(|(name, mut labels)| {
                labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
                Namespace { name, labels }
            })
            .collect();
        self.cluster.workloads = self.workloads.into_values().collect();
        self.cluster
    }
}

fn decode<T: DeserializeOwned>(ctx: &Ctx<'_>, v: Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| Error::Decode {
        file: ctx.file.to_string(),
        object: ctx.object.clone(),
        message: format!("unexpected structure: {e}"),
    })
}

/// Parses `(file, text)` sources into a cluster.
pub fn parse_sources<'a>(sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Cluster, Error> {
    let mut b = ClusterBuilder::new();
    for (file, text) in sources {
        b.add_text(file, text)?;
    }
    Ok(b.build())
}
