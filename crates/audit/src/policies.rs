//! The ValidatingAdmissionPolicies in force: policies and bindings (from files, a cluster dump or
//! the cluster's watches), and the facts they read (namespaces, params), so each object gets
//! every binding's verdict.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    ParamRef, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use palisade_policy::vap::{
    BindingVerdict, Environment, Facts, LoadedPolicy, Lookup, Match, NamespaceLookup, Outcome, Request, Subject,
    evaluate, policy_matches, selector_matches,
};
use serde_json::Value;

const ADMISSION_API_VERSION: &str = "admissionregistration.k8s.io/v1";

/// Policies, bindings and the objects they read.
#[derive(Default)]
pub struct PolicyState {
    policies: BTreeMap<String, LoadedPolicy>,
    bindings: BTreeMap<String, ValidatingAdmissionPolicyBinding>,
    namespaces: BTreeMap<String, Value>,
    /// Whether `namespaces` is every namespace of the cluster (a cluster state was given) or
    /// only those declared by Tenants.
    namespaces_complete: bool,
    /// Candidate params by (apiVersion, kind).
    params: BTreeMap<(String, String), Vec<Value>>,
    environment: Environment,
    /// Which bindings can select which namespaces, built on first use.
    index: std::cell::OnceCell<BindingIndex>,
}

/// Bindings by a label their namespaceSelector requires: a binding whose `matchLabels` has
/// `k: v` can only select a namespace labelled `k=v`, so a request looks at the bindings of
/// its namespace's labels (and those without such a requirement) instead of all of them. One
/// binding per tenant and policy makes this the difference between a few and tens of
/// thousands of selector tests per object.
#[derive(Default)]
struct BindingIndex {
    by_label: BTreeMap<(String, String), Vec<String>>,
    unconditional: Vec<String>,
}

impl BindingIndex {
    fn build(bindings: &BTreeMap<String, ValidatingAdmissionPolicyBinding>) -> Self {
        let mut index = BindingIndex::default();
        for (name, binding) in bindings {
            let required = binding
                .spec
                .match_resources
                .as_ref()
                .and_then(|m| m.namespace_selector.as_ref())
                .and_then(|s| s.match_labels.as_ref())
                .and_then(|labels| labels.iter().next());
            match required {
                Some((key, value)) => index
                    .by_label
                    .entry((key.clone(), value.clone()))
                    .or_default()
                    .push(name.clone()),
                None => index.unconditional.push(name.clone()),
            }
        }
        index
    }

    /// The bindings that may select a request in a namespace labelled `labels` (every binding
    /// for a cluster-scoped request, whose namespace selector is not consulted).
    fn candidates<'a>(&'a self, labels: Option<&BTreeMap<String, String>>) -> Vec<&'a str> {
        let Some(labels) = labels else {
            let all = self.by_label.values().flatten().chain(&self.unconditional);
            return all.map(String::as_str).collect();
        };
        let mut names: Vec<&str> = self.unconditional.iter().map(String::as_str).collect();
        for (key, value) in labels {
            if let Some(bound) = self.by_label.get(&(key.clone(), value.clone())) {
                names.extend(bound.iter().map(String::as_str));
            }
        }
        names
    }
}

impl PolicyState {
    /// Takes `object` when it is a policy, a binding, a namespace or a possible param; returns
    /// whether it was a policy or binding (nothing else for the admission snapshot to read), or
    /// the field that is not what its kind says.
    pub fn add(&mut self, object: &Value) -> Result<bool, String> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        match (api_version, kind) {
            (ADMISSION_API_VERSION, "ValidatingAdmissionPolicy") => {
                let policy: ValidatingAdmissionPolicy = typed(object)?;
                self.policies.insert(name, LoadedPolicy::new(policy));
                Ok(true)
            }
            (ADMISSION_API_VERSION, "ValidatingAdmissionPolicyBinding") => {
                self.bindings.insert(name, typed(object)?);
                self.index = std::cell::OnceCell::new();
                Ok(true)
            }
            ("v1", "Namespace") => {
                self.namespaces_complete = true;
                self.namespaces.insert(name, object.clone());
                Ok(false)
            }
            _ => {
                self.add_param(object);
                Ok(false)
            }
        }
    }

    /// Any object a binding's paramRef may name.
    pub fn add_param(&mut self, object: &Value) {
        let api_version = object["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let name = object["metadata"]["name"].as_str();
        let list = self.params.entry((api_version, kind)).or_default();
        list.retain(|existing| existing["metadata"]["name"].as_str() != name);
        list.push(object.clone());
    }

    /// A namespace known only from a Tenant's declaration, labelled as Palisade labels it.
    pub fn declare_namespace(&mut self, name: &str, labels: BTreeMap<String, String>) {
        self.namespaces.entry(name.to_string()).or_insert_with(|| {
            serde_json::json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name, "labels": labels } })
        });
    }

    /// The labels of the namespace `request` is in (or of the Namespace it is), when known.
    pub fn namespace_labels(&self, request: &Request) -> Option<BTreeMap<String, String>> {
        if request.namespace.is_empty() {
            return None;
        }
        match self.namespace(&request.namespace) {
            Lookup::Found(namespace) => Some(Request::labels(Some(&namespace))),
            // Not stored: PodSecurity would refuse nothing (the namespace does not exist).
            Lookup::Missing => Some(BTreeMap::new()),
            Lookup::Unknown(_) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} ValidatingAdmissionPolicies, {} bindings",
            self.policies.len(),
            self.bindings.len()
        )
    }

    /// The verdict of every binding that selects `request`, by policy then binding name.
    /// Bindings that do not select it are left out (the API server skips them too), and a
    /// policy whose own constraints do not select it is not looked at further. Bindings of a
    /// policy not given are left out: the API server ignores them as well.
    pub fn evaluate(&self, request: &Request) -> Vec<BindingVerdict> {
        let namespace = NamespaceLookup::of(request, self);
        let index = self.index.get_or_init(|| BindingIndex::build(&self.bindings));
        // A Namespace is selected on its own labels; an unknown namespace must still reach
        // every binding, to be reported as undecidable rather than skipped.
        let labels = match (&namespace, request.object.as_ref().or(request.old_object.as_ref())) {
            (NamespaceLookup::Known(value), _) => Some(Request::labels(Some(value))),
            (NamespaceLookup::ClusterScoped, Some(object)) if request.resource == "namespaces" => {
                Some(Request::labels(Some(object)))
            }
            _ => None,
        };
        let mut policy_selects: BTreeMap<&str, bool> = BTreeMap::new();
        let mut verdicts = Vec::new();
        // Converted to CEL on the first binding that gets as far as evaluating.
        let mut subject: Option<Subject<'_>> = None;
        for binding in index
            .candidates(labels.as_ref())
            .into_iter()
            .filter_map(|name| self.bindings.get(name))
        {
            let name = binding.spec.policy_name.as_str();
            let Some(policy) = self.policies.get(name) else {
                continue;
            };
            let selects = *policy_selects
                .entry(name)
                .or_insert_with(|| !matches!(policy_matches(policy, request, namespace.fact()), Match::No(_)));
            if !selects {
                continue;
            }
            let subject = subject.get_or_insert_with(|| Subject::new(request, namespace.fact()));
            let verdict = evaluate(&self.environment, policy, binding, subject, self);
            if !matches!(verdict.outcome, Outcome::NotMatched(_)) {
                verdicts.push(verdict);
            }
        }
        verdicts.sort_by(|a, b| (&a.policy, &a.binding).cmp(&(&b.policy, &b.binding)));
        verdicts
    }

    /// Problems of the policies themselves (CEL this engine cannot evaluate), once per policy.
    pub fn policy_problems(&self) -> Vec<String> {
        self.policies
            .values()
            .flat_map(|policy| {
                policy
                    .compiled
                    .problems
                    .iter()
                    .map(move |problem| format!("ValidatingAdmissionPolicy {}: {problem}", policy.name()))
            })
            .collect()
    }
}

impl Facts for PolicyState {
    fn namespace(&self, name: &str) -> Lookup<Value> {
        match self.namespaces.get(name) {
            Some(namespace) => Lookup::Found(namespace.clone()),
            None if self.namespaces_complete => Lookup::Missing,
            None => Lookup::Unknown(format!(
                "namespace {name:?} is neither in the cluster state nor declared by a Tenant"
            )),
        }
    }

    fn params(
        &self,
        api_version: &str,
        kind: &str,
        reference: &ParamRef,
        request_namespace: &str,
    ) -> Lookup<Vec<Value>> {
        let Some(candidates) = self.params.get(&(api_version.to_string(), kind.to_string())) else {
            return Lookup::Unknown(format!(
                "no {kind} ({api_version}) was given, so the binding's params cannot be read (add them to --cluster-state or --policies)"
            ));
        };
        // A namespaced param is looked up in paramRef.namespace, else in the request's namespace.
        let in_scope = |candidate: &&Value| match candidate["metadata"]["namespace"].as_str() {
            None => true,
            Some(namespace) => namespace == reference.namespace.as_deref().unwrap_or(request_namespace),
        };
        let found: Vec<Value> = match (&reference.name, &reference.selector) {
            (Some(name), _) => candidates
                .iter()
                .filter(in_scope)
                .filter(|c| c["metadata"]["name"].as_str() == Some(name))
                .cloned()
                .collect(),
            (None, Some(selector)) => candidates
                .iter()
                .filter(in_scope)
                .filter(|c| selector_matches(selector, &Request::labels(Some(c))))
                .cloned()
                .collect(),
            (None, None) => Vec::new(),
        };
        if found.is_empty() {
            Lookup::Missing
        } else {
            Lookup::Found(found)
        }
    }
}

fn typed<K: serde::de::DeserializeOwned>(object: &Value) -> Result<K, String> {
    serde_path_to_error::deserialize(object).map_err(|error| format!("{}: {}", error.path(), error.inner()))
}

/// Why an admission request could not be read as the admission policies see it.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the request's {what} as JSON: {source}")]
pub struct PolicyRequestError {
    what: &'static str,
    source: serde_json::Error,
}

/// The request `palisade_admission` reviews, as the admission policies see it.
pub fn policy_request(
    request: &kube::core::admission::AdmissionRequest<kube::core::DynamicObject>,
) -> Result<Request, PolicyRequestError> {
    let to_json = |what: &'static str, object: &Option<kube::core::DynamicObject>| {
        let mut value = object
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|source| PolicyRequestError { what, source })?;
        if let Some(value) = value.as_mut() {
            palisade_policy::vap::as_admitted(value);
        }
        Ok(value)
    };
    let operation = serde_json::to_value(&request.operation)
        .map_err(|source| PolicyRequestError {
            what: "operation",
            source,
        })?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let is_namespace = request.resource.resource == "namespaces" && request.resource.group.is_empty();
    Ok(Request {
        uid: request.uid.clone(),
        operation,
        group_version: palisade_policy::vap::GroupVersion {
            group: request.kind.group.clone(),
            version: request.kind.version.clone(),
        },
        kind: request.kind.kind.clone(),
        resource: request.resource.resource.clone(),
        sub_resource: request.sub_resource.clone().unwrap_or_default(),
        name: request.name.clone(),
        // The API server gives a Namespace's own requests the namespace's name.
        namespace: if is_namespace {
            request.name.clone()
        } else {
            request.namespace.clone().unwrap_or_default()
        },
        user: palisade_policy::vap::UserInfo {
            username: request.user_info.username.clone().unwrap_or_default(),
            uid: request.user_info.uid.clone().unwrap_or_default(),
            groups: request.user_info.groups.clone().unwrap_or_default(),
            extra: request.user_info.extra.clone().unwrap_or_default(),
        },
        // The answer is for the request as it would really be sent, not as a dry run.
        dry_run: false,
        object: to_json("object", &request.object)?,
        old_object: to_json("oldObject", &request.old_object)?,
        options: None,
    })
}
