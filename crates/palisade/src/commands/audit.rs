//! `palisade audit`: what already runs in tenant namespaces, judged by today's rules, as one
//! `wgpolicyk8s.io/v1alpha2` PolicyReport per tenant namespace.
//!
//! Every stored object of the audited kinds is judged by `palisade_audit` (the engine `palisade
//! check` uses) as if its tenant's owner created it now: the tenant rules, Pod Security at the
//! namespace's enforced level, and every bound ValidatingAdmissionPolicy. So a tenant tightened
//! from baseline to restricted gets a report naming exactly the pods that would now be refused.
//!
//! Once, or with `--watch` for good: watches keep every audited kind in memory, a change marks
//! its namespace (a change of a Tenant, Namespace, policy or binding marks them all), and every
//! `--debounce-seconds` the marked namespaces are judged again. A report is written only when
//! its content changed, at most `--writes-per-second`, so a busy cluster never floods the API
//! server with reports.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use palisade_admission::{AdmissionConfig, Snapshot, offline, review};
use palisade_api::labels;
use palisade_api::{SubjectKind, Tenant};
use palisade_audit::PolicyState;
use palisade_audit::report::{self, Finding, Resource};
use palisade_runtime::{block_on, init_tracing, shutdown_signal};
use serde_json::Value;

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Keep watching, and judge a namespace again when its objects, the policies or the
    /// tenants change.
    #[arg(long)]
    pub watch: bool,
    /// Print the findings instead of writing PolicyReports.
    #[arg(long)]
    pub dry_run: bool,
    /// How long changes gather before the namespaces they touch are judged again.
    #[arg(long, default_value_t = 2)]
    pub debounce_seconds: u64,
    /// PolicyReport writes per second, at most (and as many at once after a quiet second).
    #[arg(long, default_value_t = 20)]
    pub writes_per_second: u32,
    /// Address of the plain-HTTP /healthz, /readyz and /metrics server (with --watch).
    #[arg(long, default_value = "0.0.0.0:9081")]
    pub metrics_listen: std::net::SocketAddr,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
}

/// What `--watch` reports on /metrics and /readyz.
#[derive(Default)]
struct AuditMetrics {
    synced: std::sync::atomic::AtomicBool,
    namespaces_judged: prometheus_client::metrics::counter::Counter,
    reports_written: prometheus_client::metrics::counter::Counter,
    reports_unchanged: prometheus_client::metrics::counter::Counter,
    write_errors: prometheus_client::metrics::counter::Counter,
    findings:
        prometheus_client::metrics::family::Family<Vec<(String, String)>, prometheus_client::metrics::gauge::Gauge>,
}

impl palisade_runtime::Probe for AuditMetrics {
    fn readiness(&self) -> Result<String, String> {
        if self.synced.load(std::sync::atomic::Ordering::Relaxed) {
            Ok("every audited kind is listed".to_string())
        } else {
            Err("listing the audited kinds".to_string())
        }
    }

    fn metrics(&self) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register(
            "palisade_audit_namespaces_judged",
            "Namespaces judged",
            self.namespaces_judged.clone(),
        );
        registry.register(
            "palisade_audit_reports_written",
            "PolicyReports written",
            self.reports_written.clone(),
        );
        registry.register(
            "palisade_audit_reports_unchanged",
            "PolicyReports not written because nothing changed",
            self.reports_unchanged.clone(),
        );
        registry.register(
            "palisade_audit_write_errors",
            "PolicyReport writes that failed",
            self.write_errors.clone(),
        );
        registry.register(
            "palisade_audit_findings",
            "Findings in the last reports, by result",
            self.findings.clone(),
        );
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            text.clear();
        }
        text
    }
}

/// The kinds whose stored objects are judged: what carries pods, and the namespaced kinds
/// tenant policies most often match. Secrets are left out on purpose: the audit would need to
/// read every tenant's Secrets.
const AUDITED: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Pod", "pods"),
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("apps", "v1", "ReplicaSet", "replicasets"),
    ("batch", "v1", "Job", "jobs"),
    ("batch", "v1", "CronJob", "cronjobs"),
    ("", "v1", "Service", "services"),
    ("", "v1", "ConfigMap", "configmaps"),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("networking.k8s.io", "v1", "Ingress", "ingresses"),
];

/// What the judgement reads besides the objects: a change here changes every namespace's.
const CONTEXT: &[(&str, &str, &str, &str)] = &[
    ("palisade.dev", "v1alpha1", "Tenant", "tenants"),
    ("", "v1", "Namespace", "namespaces"),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
    ),
];

fn api_resource((group, version, kind, plural): (&str, &str, &str, &str)) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn report_resource() -> ApiResource {
    api_resource(("wgpolicyk8s.io", "v1alpha2", report::KIND, "policyreports"))
}

/// Every stored object by kind (index into `CONTEXT` then `AUDITED`) and namespace/name.
#[derive(Default)]
struct Stores {
    kinds: Vec<BTreeMap<(String, String), Value>>,
}

impl Stores {
    fn new() -> Self {
        Self {
            kinds: vec![BTreeMap::new(); CONTEXT.len() + AUDITED.len()],
        }
    }

    fn key(object: &Value) -> (String, String) {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        (
            text(&object["metadata"]["namespace"]),
            text(&object["metadata"]["name"]),
        )
    }

    fn context(&self) -> impl Iterator<Item = &Value> {
        self.kinds[..CONTEXT.len()].iter().flat_map(BTreeMap::values)
    }

    fn audited_in(&self, namespace: &str) -> impl Iterator<Item = &Value> {
        self.kinds[CONTEXT.len()..].iter().flat_map(move |kind| {
            kind.range((namespace.to_string(), String::new())..)
                .take_while(move |((ns, _), _)| ns == namespace)
                .map(|(_, object)| object)
        })
    }
}

/// An object as listed or watched, with the apiVersion and kind lists leave out, and without
/// its managedFields: the field managers' bookkeeping is often the larger part of a stored
/// object, and the audit keeps every audited object in memory. (A policy reading
/// `object.metadata.managedFields` is judged here as if there were none.)
fn as_json(object: DynamicObject, (group, version, kind, _): (&str, &str, &str, &str)) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(object).context("reading a listed object as JSON")?;
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    value["apiVersion"] = Value::String(if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    });
    value["kind"] = Value::String(kind.to_string());
    Ok(value)
}

/// The context of a judgement, built from the stores.
struct World {
    policies: PolicyState,
    snapshot: Snapshot,
    /// Tenant of each tenant namespace, with the namespace's labels.
    namespaces: BTreeMap<String, (String, BTreeMap<String, String>)>,
    tenants: BTreeMap<String, Tenant>,
}

fn world(stores: &Stores) -> World {
    let mut policies = PolicyState::default();
    let mut snapshot = Snapshot::default();
    let mut namespaces = BTreeMap::new();
    let mut tenants = BTreeMap::new();
    for object in stores.context() {
        // A policy that does not parse is left out here and reported by the controller.
        let _ = policies.add(object);
        if object["kind"] == "Tenant" {
            match serde_json::from_value::<Tenant>(object.clone()) {
                Ok(tenant) => {
                    tenants.insert(tenant.metadata.name.clone().unwrap_or_default(), tenant);
                }
                Err(error) => {
                    tracing::warn!(tenant = %object["metadata"]["name"], %error, "Tenant not readable; its namespaces are not audited")
                }
            }
        }
        if object["kind"] == "Namespace"
            && let Some(tenant) = object["metadata"]["labels"][labels::TENANT].as_str()
        {
            let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
            namespaces.insert(
                name,
                (tenant.to_string(), palisade_policy::vap::Request::labels(Some(object))),
            );
        }
        if matches!(object["kind"].as_str(), Some("Tenant" | "Namespace")) {
            let _ = snapshot.apply_object(object);
        }
    }
    namespaces.retain(|_, (tenant, _)| tenants.contains_key(tenant));
    World {
        policies,
        snapshot,
        namespaces,
        tenants,
    }
}

/// Who the objects of `tenant` are judged as: its first owner.
fn owner_identity(tenant: &Tenant) -> (String, Vec<String>) {
    let groups = vec!["system:authenticated".to_string()];
    match tenant.spec.owners.first() {
        Some(owner) => match owner.kind {
            SubjectKind::User => (owner.name.clone(), groups),
            SubjectKind::Group => (
                "palisade:audit".to_string(),
                vec![owner.name.clone(), groups[0].clone()],
            ),
            SubjectKind::ServiceAccount => (
                format!(
                    "system:serviceaccount:{}:{}",
                    owner.namespace.as_deref().unwrap_or_default(),
                    owner.name
                ),
                groups,
            ),
        },
        None => ("palisade:audit".to_string(), groups),
    }
}

/// Every finding of `namespace`, judged in `world`.
fn judge_namespace(world: &World, stores: &Stores, namespace: &str) -> Vec<Finding> {
    let Some((tenant_name, _)) = world.namespaces.get(namespace) else {
        return Vec::new();
    };
    let Some(tenant) = world.tenants.get(tenant_name) else {
        return Vec::new();
    };
    let (user, groups) = owner_identity(tenant);
    let config = AdmissionConfig::default();
    let mut findings = Vec::new();
    for object in stores.audited_in(namespace) {
        let resource = Resource::of(object);
        let request = match offline::create_request(object, &user, &groups) {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(?resource, %error, "object not judged");
                continue;
            }
        };
        let tenant_rules = review(&request, &world.snapshot, &config);
        match palisade_audit::decide(&request, tenant_rules, &world.policies) {
            Ok(decided) => findings.extend(report::findings(&resource, &decided)),
            Err(error) => tracing::warn!(?resource, %error, "object not judged"),
        }
    }
    findings
}

/// The component label that sets the audit's reports apart from other managed objects.
const COMPONENT: (&str, &str) = ("app.kubernetes.io/component", "audit");

fn report_labels(tenant: &str) -> BTreeMap<String, String> {
    let mut result = labels::managed_labels(tenant);
    result.insert(COMPONENT.0.to_string(), COMPONENT.1.to_string());
    result
}

/// Selects every report the audit wrote, in any namespace.
fn report_selector() -> String {
    format!(
        "{}={},{}={}",
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE,
        COMPONENT.0,
        COMPONENT.1
    )
}

pub fn run(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    init_tracing(args.log_json);
    block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the cluster of KUBECONFIG (or in-cluster)")?;
        if args.watch {
            tokio::select! {
                result = watch(&client, args) => result,
                () = shutdown_signal() => Ok(ExitCode::SUCCESS),
            }
        } else {
            once(&client, args).await
        }
    })?
}

/// `palisade check --cluster` without files: the audit's findings, printed, nothing written.
pub fn print_cluster() -> anyhow::Result<ExitCode> {
    let args = AuditArgs {
        watch: false,
        dry_run: true,
        debounce_seconds: 2,
        writes_per_second: 20,
        metrics_listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        log_json: false,
    };
    run(&args)
}

async fn list_all(client: &kube::Client) -> anyhow::Result<Stores> {
    let mut stores = Stores::new();
    for (index, kind) in CONTEXT.iter().chain(AUDITED).enumerate() {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource(*kind));
        let listed = api
            .list(&ListParams::default())
            .await
            .with_context(|| format!("listing {}", kind.3))?;
        for object in listed.items {
            let value = as_json(object, *kind)?;
            stores.kinds[index].insert(Stores::key(&value), value);
        }
    }
    Ok(stores)
}

/// Judge every tenant namespace once; write (or print) the reports.
async fn once(client: &kube::Client, args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let stores = list_all(client).await?;
    let world = world(&stores);
    let mut writer = Writer::new(client, args);
    writer.seed().await?;
    let mut failing = 0;
    for (namespace, (tenant, _)) in &world.namespaces {
        let findings = judge_namespace(&world, &stores, namespace);
        failing += findings.iter().filter(|f| f.result == "fail").count();
        writer.write(namespace, tenant, &findings).await?;
    }
    writer.prune(&world).await?;
    Ok(if failing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes reports: only changed ones, at a bounded rate; prints them under --dry-run.
struct Writer<'a> {
    api: Api<DynamicObject>,
    dry_run: bool,
    bucket: TokenBucket,
    /// The content last written (or found stored) per namespace.
    written: BTreeMap<String, Value>,
    _client: &'a kube::Client,
}

/// At most `rate` writes a second, with bursts of up to `rate` after a quiet second.
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: tokio::time::Instant,
}

impl TokenBucket {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        TokenBucket {
            rate,
            tokens: rate,
            last: tokio::time::Instant::now(),
        }
    }

    async fn take(&mut self) {
        let now = tokio::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.rate);
        self.last = now;
        if self.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / self.rate);
            tokio::time::sleep(wait).await;
            self.tokens = 1.0;
            self.last = tokio::time::Instant::now();
        }
        self.tokens -= 1.0;
    }
}

impl<'a> Writer<'a> {
    fn new(client: &'a kube::Client, args: &AuditArgs) -> Self {
        Writer {
            api: Api::all_with(client.clone(), &report_resource()),
            dry_run: args.dry_run,
            bucket: TokenBucket::new(args.writes_per_second),
            written: BTreeMap::new(),
            _client: client,
        }
    }

    /// Reads the reports already stored, so that a restart rewrites only what changed.
    async fn seed(&mut self) -> anyhow::Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let selector = report_selector();
        let listed = self.api.list(&ListParams::default().labels(&selector)).await.with_context(|| {
            "listing PolicyReports: is the wgpolicyk8s.io CRD installed (deploy/crds/wgpolicyk8s.io_policyreports.yaml)?"
        })?;
        for stored in listed.items {
            let namespace = stored.metadata.namespace.clone().unwrap_or_default();
            let mut value = serde_json::to_value(&stored).context("reading a stored PolicyReport")?;
            // Compared as built: without what the API server adds.
            if let Some(metadata) = value["metadata"].as_object_mut() {
                metadata.retain(|key, _| matches!(key.as_str(), "name" | "namespace" | "labels" | "annotations"));
            }
            value["apiVersion"] = Value::String(report::API_VERSION.to_string());
            value["kind"] = Value::String(report::KIND.to_string());
            self.written.insert(namespace, report::content(&value));
        }
        Ok(())
    }

    /// Writes the report of `namespace` when it changed; whether it did.
    async fn write(&mut self, namespace: &str, tenant: &str, findings: &[Finding]) -> anyhow::Result<bool> {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let built = report::policy_report(namespace, &report_labels(tenant), findings, seconds);
        let content = report::content(&built);
        if self.written.get(namespace) == Some(&content) {
            return Ok(false);
        }
        if self.dry_run {
            print_findings(namespace, &built);
        } else {
            self.bucket.take().await;
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.api.clone().into_client(), namespace, &report_resource());
            let object: DynamicObject = serde_json::from_value(built).context("building the PolicyReport")?;
            api.patch(report::REPORT_NAME, &PatchParams::apply("palisade-audit").force(), &Patch::Apply(&object))
                .await
                .with_context(|| {
                    format!(
                        "writing PolicyReport {namespace}/{}: is the wgpolicyk8s.io CRD installed (deploy/crds/wgpolicyk8s.io_policyreports.yaml)?",
                        report::REPORT_NAME
                    )
                })?;
        }
        self.written.insert(namespace.to_string(), content);
        Ok(true)
    }

    /// Deletes Palisade's reports in namespaces that are no longer a tenant's.
    async fn prune(&mut self, world: &World) -> anyhow::Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let selector = report_selector();
        let listed = self
            .api
            .list(&ListParams::default().labels(&selector))
            .await
            .context("listing PolicyReports")?;
        for stale in listed.items {
            let namespace = stale.metadata.namespace.clone().unwrap_or_default();
            if world.namespaces.contains_key(&namespace) {
                continue;
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.api.clone().into_client(), &namespace, &report_resource());
            let name = stale.metadata.name.clone().unwrap_or_default();
            api.delete(&name, &DeleteParams::default())
                .await
                .with_context(|| format!("deleting PolicyReport {namespace}/{name}"))?;
            self.written.remove(&namespace);
        }
        Ok(())
    }
}

fn print_findings(namespace: &str, built: &Value) {
    let summary = &built["summary"];
    println!(
        "{namespace}: {} pass, {} fail, {} warn, {} error, {} skip",
        summary["pass"], summary["fail"], summary["warn"], summary["error"], summary["skip"]
    );
    for result in built["results"].as_array().into_iter().flatten() {
        let resource = &result["resources"][0];
        println!(
            "  {:5} {} {}: {} ({}): {}",
            result["result"].as_str().unwrap_or_default(),
            resource["kind"].as_str().unwrap_or_default(),
            resource["name"].as_str().unwrap_or_default(),
            result["policy"].as_str().unwrap_or_default(),
            result["rule"].as_str().unwrap_or_default(),
            result["message"].as_str().unwrap_or_default(),
        );
    }
}

/// What a watch event means for the audit.
enum Change {
    /// An audited object changed in this namespace.
    Namespace(String),
    /// The context changed: every namespace is judged again.
    Everything,
}

async fn watch(client: &kube::Client, args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let metrics = std::sync::Arc::new(AuditMetrics::default());
    let health = palisade_runtime::HealthServer::bind(args.metrics_listen).await?;
    let _health = health.serve(metrics.clone());
    let mut stores = Stores::new();
    // One merged stream of every kind's events, tagged with the kind's index.
    let streams = CONTEXT.iter().chain(AUDITED).enumerate().map(|(index, kind)| {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource(*kind));
        watcher(api, watcher::Config::default())
            .map(move |event| (index, *kind, event))
            .boxed()
    });
    let mut events = futures::stream::select_all(streams);
    let mut writer = Writer::new(client, args);
    // Without the stored reports every namespace is written once more; that is all.
    if let Err(error) = writer.seed().await {
        tracing::warn!(
            error = format!("{error:#}"),
            "stored reports not read; each is rewritten once"
        );
    }
    let mut dirty: BTreeSet<String> = BTreeSet::new();
    let mut everything = true;
    let mut current: Option<World> = None;
    // Relists land here until their InitDone, then replace the store.
    let mut relisting: BTreeMap<usize, BTreeMap<(String, String), Value>> = BTreeMap::new();
    let mut synced: BTreeSet<usize> = BTreeSet::new();
    let debounce = Duration::from_secs(args.debounce_seconds.max(1));
    let mut tick = tokio::time::interval(debounce);
    loop {
        tokio::select! {
            event = events.next() => {
                let Some((index, kind, event)) = event else { anyhow::bail!("the watches ended") };
                let event = match event {
                    Ok(event) => event,
                    // The watcher retries by itself; a kind the cluster does not serve stays empty.
                    Err(error) => { tracing::warn!(kind = kind.2, %error, "watch error"); continue; }
                };
                let change = |object: &Value| if index < CONTEXT.len() {
                    Change::Everything
                } else {
                    Change::Namespace(object["metadata"]["namespace"].as_str().unwrap_or_default().to_string())
                };
                let mut changes = Vec::new();
                match event {
                    watcher::Event::Init => { relisting.insert(index, BTreeMap::new()); }
                    watcher::Event::InitApply(object) => {
                        let value = as_json(object, kind)?;
                        relisting.entry(index).or_default().insert(Stores::key(&value), value);
                    }
                    watcher::Event::InitDone => {
                        let fresh = relisting.remove(&index).unwrap_or_default();
                        for value in stores.kinds[index].values().chain(fresh.values()) {
                            changes.push(change(value));
                        }
                        stores.kinds[index] = fresh;
                        synced.insert(index);
                    }
                    watcher::Event::Apply(object) => {
                        let value = as_json(object, kind)?;
                        changes.push(change(&value));
                        stores.kinds[index].insert(Stores::key(&value), value);
                    }
                    watcher::Event::Delete(object) => {
                        let value = as_json(object, kind)?;
                        changes.push(change(&value));
                        stores.kinds[index].remove(&Stores::key(&value));
                    }
                }
                for change in changes {
                    match change {
                        Change::Everything => everything = true,
                        Change::Namespace(namespace) => { dirty.insert(namespace); }
                    }
                }
            }
            _ = tick.tick() => {
                // Judging before every kind is listed would report objects as missing.
                if synced.len() < CONTEXT.len() + AUDITED.len() || (!everything && dirty.is_empty()) {
                    continue;
                }
                metrics.synced.store(true, std::sync::atomic::Ordering::Relaxed);
                // The world is made of the context kinds only: a change of audited objects
                // alone reuses it (rebuilding means typing every policy and binding again).
                if everything || current.is_none() {
                    current = Some(world(&stores));
                }
                let Some(world) = current.as_ref() else { continue };
                let namespaces: Vec<(String, String)> = world
                    .namespaces
                    .iter()
                    .filter(|(namespace, _)| everything || dirty.contains(*namespace))
                    .map(|(namespace, (tenant, _))| (namespace.clone(), tenant.clone()))
                    .collect();
                for (namespace, tenant) in &namespaces {
                    let findings = judge_namespace(world, &stores, namespace);
                    metrics.namespaces_judged.inc();
                    match writer.write(namespace, tenant, &findings).await {
                        Ok(true) => { metrics.reports_written.inc(); }
                        Ok(false) => { metrics.reports_unchanged.inc(); }
                        Err(error) => {
                            metrics.write_errors.inc();
                            tracing::warn!(%namespace, error = format!("{error:#}"), "report not written; retried on the next change");
                        }
                    }
                    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
                    for finding in &findings {
                        *counts.entry(finding.result).or_default() += 1;
                    }
                    for (result, count) in counts {
                        let labels = vec![("namespace".to_string(), namespace.clone()), ("result".to_string(), result.to_string())];
                        metrics.findings.get_or_create(&labels).set(count);
                    }
                }
                if everything && let Err(error) = writer.prune(world).await {
                    tracing::warn!(error = format!("{error:#}"), "stale reports not pruned");
                }
                tracing::info!(namespaces = namespaces.len(), "audited");
                everything = false;
                dirty.clear();
            }
        }
    }
}
