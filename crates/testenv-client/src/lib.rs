//! Integration-test support against a real Kubernetes control plane.
//!
//! [`TestEnv::get`] starts `palisade-testenv` (the Go binary built from
//! `testenv/` by `scripts/build-testenv.sh`: etcd, kube-apiserver and
//! kube-controller-manager v1.37 in one process on 127.0.0.1) once per test
//! binary, or reuses a running one named by `PALISADE_TESTENV_KUBECONFIG`.
//! It hands out [`kube::Client`]s as the cluster admin or as any user and
//! groups (client certificates signed by the testenv CA).
//!
//! Nothing outlives the test binary: the child's stdin is a pipe that only
//! this process holds, and the binary stops and removes its state directory
//! when that pipe closes, which the kernel does when the test process exits,
//! however it exits.
//!
//! The control plane also provides the real `kubectl` of the same Kubernetes
//! release ([`TestEnv::kubectl`], no kubectl needs to be installed) and the
//! API server's audit log ([`TestEnv::audit_events`]: who did what, as whom,
//! with which result).
//!
//! Tests run in parallel against one control plane: give every object a name
//! from [`unique_name`] (or work in a namespace from
//! [`TestEnv::create_namespace`]) and scope cluster-wide objects (webhooks,
//! cluster roles) to the test's own objects.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// Environment variable: the admin kubeconfig of a running testenv to reuse
/// (e.g. one started by `scripts/testenv.sh`). Its directory must also hold
/// the testenv's `ca.crt` and `ca.key`.
pub const KUBECONFIG_ENV: &str = "PALISADE_TESTENV_KUBECONFIG";
/// Environment variable: path of the `palisade-testenv` binary, when not in
/// `testenv/bin/` of this workspace.
pub const BIN_ENV: &str = "PALISADE_TESTENV_BIN";

/// Name of the API server's audit log in the state directory.
pub const AUDIT_LOG_FILE: &str = "audit.log";

/// How long a cold start may take before the tests give up.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Why the control plane or a client could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The Go binary has not been built.
    #[error(
        "the testenv binary {0} does not exist: run scripts/build-testenv.sh \
         (it builds the Kubernetes control plane the integration tests need), \
         or set {BIN_ENV}"
    )]
    BinaryMissing(PathBuf),
    /// Starting or talking to the binary failed.
    #[error("testenv: {0}")]
    Start(String),
    /// A kubeconfig or client could not be made, or kubectl could not be run.
    #[error("testenv client: {0}")]
    Client(String),
    /// The API server's audit log could not be read, or a line of it is not an audit event
    /// (`line` counts from 1).
    #[error("audit log {}{}: {message}", .path.display(), .line.map(|n| format!(" line {n}")).unwrap_or_default())]
    AuditLog {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
}

/// A running control plane, shared by all tests of a test binary.
pub struct TestEnv {
    kubeconfig: PathBuf,
    dir: PathBuf,
    binary: PathBuf,
    /// The child we started, if any: kept so that its stdin stays open.
    child: Option<Mutex<(Child, ChildStdin)>>,
}

static ENV: OnceLock<Result<TestEnv, Error>> = OnceLock::new();

impl TestEnv {
    /// The control plane of this test binary, started on first use (this
    /// blocks for a few seconds) or taken from `PALISADE_TESTENV_KUBECONFIG`.
    pub fn get() -> Result<&'static TestEnv, Error> {
        ENV.get_or_init(Self::init).as_ref().map_err(Clone::clone)
    }

    fn init() -> Result<TestEnv, Error> {
        let binary = binary_path();
        if let Some(kc) = std::env::var_os(KUBECONFIG_ENV).filter(|v| !v.is_empty()) {
            let kubeconfig = PathBuf::from(kc);
            let dir = kubeconfig
                .parent()
                .map(Path::to_path_buf)
                .ok_or_else(|| Error::Start(format!("{KUBECONFIG_ENV} has no directory")))?;
            if !dir.join("ca.key").is_file() {
                return Err(Error::Start(format!(
                    "{KUBECONFIG_ENV}={}: no ca.key beside it (is it a palisade-testenv kubeconfig?)",
                    kubeconfig.display()
                )));
            }
            return Ok(TestEnv {
                kubeconfig,
                dir,
                binary,
                child: None,
            });
        }
        if !binary.is_file() {
            return Err(Error::BinaryMissing(binary));
        }
        start(binary)
    }

    /// The admin kubeconfig (user in `system:masters`), for `kubectl --kubeconfig`.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The testenv's state directory (kubeconfig, CA, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id of the control plane this binary started (`None` when it reuses one from
    /// `PALISADE_TESTENV_KUBECONFIG`), e.g. for benchmarks that report its CPU time.
    pub fn pid(&self) -> Option<u32> {
        let child = self.child.as_ref()?;
        let guard = child.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(guard.0.id())
    }

    /// A client acting as the cluster admin. Call it inside the test's own
    /// runtime: a client belongs to the runtime it was made in.
    pub async fn admin_client(&self) -> Result<Client, Error> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .map_err(|e| Error::Client(format!("{}: {e}", self.kubeconfig.display())))?;
        client(kubeconfig).await
    }

    /// A client authenticated as `user` in `groups` (plus `system:authenticated`).
    pub async fn user_client(&self, user: &str, groups: &[&str]) -> Result<Client, Error> {
        client(self.user_kubeconfig(user, groups).await?).await
    }

    /// A kubeconfig for `user` in `groups`: a client certificate (CN = user,
    /// O = each group) signed by the testenv CA, minted by the Go binary.
    pub async fn user_kubeconfig(&self, user: &str, groups: &[&str]) -> Result<Kubeconfig, Error> {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.arg("kubeconfig")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--user")
            .arg(user);
        for g in groups {
            cmd.arg("--group").arg(g);
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| Error::Client(format!("running {}: {e}", self.binary.display())))?;
        if !out.status.success() {
            return Err(Error::Client(format!(
                "minting a kubeconfig for {user}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let yaml = String::from_utf8_lossy(&out.stdout);
        Kubeconfig::from_yaml(&yaml).map_err(|e| Error::Client(format!("kubeconfig for {user}: {e}")))
    }

    /// Like [`user_kubeconfig`](Self::user_kubeconfig) (the same client certificate for `user`
    /// in `groups`), but the cluster is another server, e.g. a proxy in front of the API server:
    /// `server_url`, trusted through `server_ca_pem` (the PEM of the CA that signed its serving
    /// certificate).
    pub async fn user_kubeconfig_via(
        &self,
        user: &str,
        groups: &[&str],
        server_url: &str,
        server_ca_pem: &str,
    ) -> Result<Kubeconfig, Error> {
        let mut kubeconfig = self.user_kubeconfig(user, groups).await?;
        if kubeconfig.clusters.is_empty() {
            return Err(Error::Client(format!(
                "the kubeconfig minted for {user} has no cluster"
            )));
        }
        for named in &mut kubeconfig.clusters {
            let cluster = named.cluster.get_or_insert_with(Default::default);
            cluster.server = Some(server_url.to_string());
            cluster.certificate_authority = None;
            cluster.certificate_authority_data = Some(base64(server_ca_pem.as_bytes()));
            cluster.insecure_skip_tls_verify = None;
            cluster.tls_server_name = None;
            cluster.proxy_url = None;
        }
        Ok(kubeconfig)
    }

    /// Writes `kubeconfig` to `path` (JSON, which kubectl reads like YAML), readable by this
    /// user only: it holds a private key.
    pub fn write_kubeconfig(&self, kubeconfig: &Kubeconfig, path: &Path) -> Result<(), Error> {
        write_kubeconfig(kubeconfig, path)
    }

    /// Runs the kubectl of the control plane's Kubernetes release (`palisade-testenv kubectl`,
    /// i.e. `k8s.io/kubectl` built into the testenv binary) as
    /// `kubectl --kubeconfig KUBECONFIG ARGS...`, with stdin closed and without the user's
    /// kuberc preferences. Whatever kubectl's exit status, its output is returned: check
    /// `status`, `stdout` and `stderr`. Fails only if the binary cannot be run.
    pub async fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> Result<Output, Error> {
        if !self.binary.is_file() {
            return Err(Error::BinaryMissing(self.binary.clone()));
        }
        tokio::process::Command::new(&self.binary)
            .arg("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .env("KUBERC", "off")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| Error::Client(format!("running {} kubectl: {e}", self.binary.display())))
    }

    /// The API server's audit log: one JSON event per line (`audit.k8s.io/v1`, level Metadata),
    /// for every request once its response is complete (stage `ResponseComplete`; long-running
    /// requests such as watches also have a `ResponseStarted` event). The API server writes the
    /// event before the response completes, so it is there as soon as the request returns.
    pub fn audit_log_path(&self) -> PathBuf {
        self.dir.join(AUDIT_LOG_FILE)
    }

    /// Every event in the audit log so far, oldest first. The log holds the events of every
    /// test sharing the control plane (and of the controllers): pick the test's own by user,
    /// verb and object name. A line the API server is still writing (no newline yet) is left
    /// out; a malformed complete line is an [`Error::AuditLog`] naming it.
    pub async fn audit_events(&self) -> Result<Vec<AuditEvent>, Error> {
        let path = self.audit_log_path();
        let data = tokio::fs::read(&path).await.map_err(|e| Error::AuditLog {
            path: path.clone(),
            line: None,
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!("{e} (was this testenv built before it kept an audit log? run scripts/build-testenv.sh)")
            } else {
                e.to_string()
            },
        })?;
        parse_audit_log(&data).map_err(|(line, message)| Error::AuditLog {
            path,
            line: Some(line),
            message,
        })
    }

    /// Waits (up to 10 s) for an audit event that `matches`, and returns the first one. Events
    /// are written before their response completes, so this rarely needs to wait; it saves a
    /// test from relying on that.
    pub async fn audit_event(&self, what: &str, matches: impl Fn(&AuditEvent) -> bool) -> Result<AuditEvent, Error> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let events = self.audit_events().await?;
            if let Some(event) = events.iter().find(|e| matches(e)) {
                return Ok(event.clone());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::AuditLog {
                    path: self.audit_log_path(),
                    line: None,
                    message: format!("no event for {what} after 10s (among {} events)", events.len()),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates a namespace named `unique_name(prefix)` as the admin, with
    /// `labels`, and returns its name.
    pub async fn create_namespace(&self, prefix: &str, labels: &[(&str, &str)]) -> Result<String, Error> {
        let name = unique_name(prefix);
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.admin_client().await?)
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|e| Error::Client(format!("creating namespace {name}: {e}")))?;
        Ok(name)
    }
}

/// One event of the API server's audit log (`audit.k8s.io/v1` `Event`, level Metadata: no
/// request or response bodies). Fields the API server leaves out are empty or `None`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    #[serde(rename = "auditID", default)]
    pub audit_id: String,
    /// `ResponseComplete`, `ResponseStarted` (long-running requests) or `Panic`.
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub verb: String,
    #[serde(rename = "requestURI", default)]
    pub request_uri: String,
    /// Who authenticated.
    #[serde(default)]
    pub user: AuditUser,
    /// Whom they acted as (`Impersonate-User`), if they impersonated.
    #[serde(default)]
    pub impersonated_user: Option<AuditUser>,
    #[serde(rename = "sourceIPs", default)]
    pub source_ips: Vec<String>,
    #[serde(default)]
    pub user_agent: String,
    #[serde(default)]
    pub object_ref: Option<AuditObjectRef>,
    #[serde(default)]
    pub response_status: Option<AuditResponseStatus>,
    /// E.g. `authorization.k8s.io/decision` (`allow` or `forbid`) and `.../reason`.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub request_received_timestamp: String,
    #[serde(default)]
    pub stage_timestamp: String,
}

impl AuditEvent {
    /// The HTTP status of the response, if the API server recorded one.
    pub fn code(&self) -> Option<i32> {
        self.response_status.as_ref().and_then(|s| s.code)
    }

    /// The user the request acted as: the impersonated user if any, else the authenticated one.
    pub fn effective_user(&self) -> &AuditUser {
        self.impersonated_user.as_ref().unwrap_or(&self.user)
    }
}

/// A user in an audit event (`authentication.k8s.io/v1` `UserInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct AuditUser {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The object a request was about.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditObjectRef {
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub api_group: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub subresource: Option<String>,
}

/// The status of a response (a `meta/v1` `Status`; at level Metadata only its summary).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct AuditResponseStatus {
    #[serde(default)]
    pub code: Option<i32>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Parses an audit log: one JSON event per line; an unterminated last line (being written) is
/// left out. A malformed line gives its number (from 1) and why.
fn parse_audit_log(data: &[u8]) -> Result<Vec<AuditEvent>, (usize, String)> {
    let complete = match data.iter().rposition(|&b| b == b'\n') {
        Some(end) => &data[..end],
        None => return Ok(Vec::new()),
    };
    let mut events = Vec::new();
    for (i, line) in complete.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let event = serde_json::from_slice(line).map_err(|e| {
            let text = String::from_utf8_lossy(line);
            let shown: String = text.chars().take(200).collect();
            (i + 1, format!("{e}: {shown}"))
        })?;
        events.push(event);
    }
    Ok(events)
}

fn write_kubeconfig(kubeconfig: &Kubeconfig, path: &Path) -> Result<(), Error> {
    use std::io::Write;

    let mut kubeconfig = kubeconfig.clone();
    kubeconfig.api_version.get_or_insert_with(|| "v1".to_string());
    kubeconfig.kind.get_or_insert_with(|| "Config".to_string());
    let json = serde_json::to_vec_pretty(&kubeconfig)
        .map_err(|e| Error::Client(format!("serializing a kubeconfig for {}: {e}", path.display())))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(&json))
        .map_err(|e| Error::Client(format!("writing {}: {e}", path.display())))
}

/// Standard base64 with padding (kubeconfig `*-data` fields).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn client(kubeconfig: Kubeconfig) -> Result<Client, Error> {
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Client(e.to_string()))?;
    Client::try_from(config).map_err(|e| Error::Client(e.to_string()))
}

fn binary_path() -> PathBuf {
    match std::env::var_os(BIN_ENV).filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testenv/bin/palisade-testenv"),
    }
}

/// Starts the binary and waits for its `READY kubeconfig=... dir=...` line.
fn start(binary: PathBuf) -> Result<TestEnv, Error> {
    let mut child = Command::new(&binary)
        .arg("--exit-on-stdin-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Start(format!("starting {}: {e}", binary.display())))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        return Err(Error::Start("no pipes to the child".into()));
    };
    // A thread reads stdout for the whole run, so the child never blocks on it.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("READY ") {
                let _ = tx.send(line);
            }
        }
    });
    let line = match rx.recv_timeout(START_TIMEOUT) {
        Ok(line) => line,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            let why = match e {
                mpsc::RecvTimeoutError::Timeout => format!("not ready after {START_TIMEOUT:?}"),
                mpsc::RecvTimeoutError::Disconnected => "exited before it was ready".into(),
            };
            return Err(Error::Start(format!(
                "{}: {why} (its stderr is above)",
                binary.display()
            )));
        }
    };
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(key))
            .map(PathBuf::from)
            .ok_or_else(|| Error::Start(format!("no {key} in {line:?}")))
    };
    Ok(TestEnv {
        kubeconfig: field("kubeconfig=")?,
        dir: field("dir=")?,
        binary,
        child: Some(Mutex::new((child, stdin))),
    })
}

/// Applies every CRD under the workspace's `deploy/crds/` (server-side apply, so the API server
/// validates the schema) and waits until each is Established. Returns their names.
pub async fn install_palisade_crds(client: &Client) -> Result<Vec<String>, Error> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::Client(format!("{}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut names = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| Error::Client(format!("{}: {e}", file.display())))?;
        let documents: Vec<CustomResourceDefinition> =
            serde_saphyr::from_multiple(&text).map_err(|e| Error::Client(format!("{}: {e}", file.display())))?;
        for crd in documents {
            names.push(apply_crd(client, &crd, &file.display().to_string()).await?);
        }
    }
    Ok(names)
}

/// Applies `crd` (from `source`, for messages) and waits until the API server serves it.
async fn apply_crd(
    client: &Client,
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    source: &str,
) -> Result<String, Error> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Patch, PatchParams};

    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let name = crd.metadata.name.clone().unwrap_or_default();
    crds.patch(&name, &PatchParams::apply("palisade-test").force(), &Patch::Apply(crd))
        .await
        .map_err(|e| Error::Client(format!("applying CRD {name} from {source}: {e}")))?;
    eventually(
        &format!("CRD {name} to be established"),
        Duration::from_secs(60),
        || {
            let crds = crds.clone();
            let name = name.clone();
            async move {
                let crd = crds.get(&name).await.ok()?;
                let conditions = crd.status?.conditions?;
                let broken = conditions
                    .iter()
                    .any(|c| c.type_ == "NonStructuralSchema" && c.status == "True");
                let established = conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                (established && !broken).then_some(())
            }
        },
    )
    .await?;
    Ok(name)
}

/// A kind served by a CRD that testenv lacks (Istio, Linkerd, Cilium, Calico, ANP).
#[derive(Debug, Clone, Copy)]
pub struct StandInKind<'a> {
    /// `group/version`.
    pub api_version: &'a str,
    pub kind: &'a str,
    pub plural: &'a str,
    pub namespaced: bool,
}

/// Makes the API server serve `kind` through a schemaless CRD, standing in for the real
/// project's CRD: enough for server-side apply, watches and RBAC, which is what Palisade uses.
/// Kinds sharing a group and plural (Calico's and Kubernetes' NetworkPolicy differ in group)
/// each get their own CRD. Returns the CRD's name.
pub async fn install_stand_in_crd(client: &Client, kind: StandInKind<'_>) -> Result<String, Error> {
    let Some((group, version)) = kind.api_version.split_once('/') else {
        return Err(Error::Client(format!(
            "{}: a CRD needs group/version",
            kind.api_version
        )));
    };
    // The API server refuses CRDs in Kubernetes' own groups without this annotation.
    let protected = group.ends_with(".k8s.io") || group.ends_with(".kubernetes.io");
    let annotations = if protected {
        serde_json::json!({"api-approved.kubernetes.io": "unapproved, a test stand-in"})
    } else {
        serde_json::json!({})
    };
    let crd = serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.{group}", kind.plural), "annotations": annotations},
        "spec": {
            "group": group,
            "scope": if kind.namespaced { "Namespaced" } else { "Cluster" },
            "names": {
                "kind": kind.kind,
                "plural": kind.plural,
                "singular": kind.kind.to_lowercase(),
                "listKind": format!("{}List", kind.kind),
            },
            "versions": [{
                "name": version,
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                }},
            }],
        },
    });
    let crd = serde_json::from_value(crd).map_err(|e| Error::Client(format!("stand-in CRD for {}: {e}", kind.kind)))?;
    apply_crd(client, &crd, "a stand-in").await
}

/// A name unique across the tests of this run, and across test binaries
/// sharing one control plane: `prefix-` followed by 10 lowercase base-36
/// characters (a DNS-1123 label when `prefix` is one and at most 52 long).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut x = u64::from(std::process::id()) << 40
        ^ (nanos as u64).rotate_left(17)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut suffix = String::with_capacity(10);
    for _ in 0..10 {
        let d = (x % 36) as u32;
        suffix.push(char::from_digit(d, 36).unwrap_or('0'));
        x /= 36;
    }
    format!("{prefix}-{suffix}")
}

/// Polls `check` every 200 ms until it yields `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Client(format!("timed out after {timeout:?} waiting for {what}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{base64, parse_audit_log, unique_name};

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }

    #[test]
    fn audit_log_lines_parse_and_a_malformed_one_is_named() {
        let good = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps/x","verb":"get","user":{"username":"admin","groups":["system:masters"]},"impersonatedUser":{"username":"alice","groups":["team-a"]},"sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.37.2","objectRef":{"resource":"configmaps","namespace":"default","name":"x","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":403}}"#;
        let log = format!("{good}\n\n{good}\n{{\"partial\":");
        let events = parse_audit_log(log.as_bytes()).unwrap();
        assert_eq!(events.len(), 2, "the unterminated last line is left out");
        let e = &events[0];
        assert_eq!(
            (e.audit_id.as_str(), e.verb.as_str(), e.user.username.as_str()),
            ("a1", "get", "admin")
        );
        assert_eq!(e.effective_user().username, "alice");
        assert_eq!(e.impersonated_user.as_ref().unwrap().groups, ["team-a"]);
        assert_eq!(e.object_ref.as_ref().unwrap().name.as_deref(), Some("x"));
        assert_eq!(e.code(), Some(403));

        let bad = format!("{good}\nnot json\n{good}\n");
        let (line, message) = parse_audit_log(bad.as_bytes()).unwrap_err();
        assert_eq!(line, 2, "{message}");
        assert!(message.contains("not json"), "{message}");
        let error = super::Error::AuditLog {
            path: "/d/audit.log".into(),
            line: Some(line),
            message,
        };
        assert!(
            error.to_string().starts_with("audit log /d/audit.log line 2: "),
            "{error}"
        );
    }

    #[test]
    fn unique_names_are_dns_labels_and_distinct() {
        let names: std::collections::HashSet<_> = (0..1000).map(|_| unique_name("t")).collect();
        assert_eq!(names.len(), 1000);
        for n in &names {
            assert!(
                n.len() == 12
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
        }
    }
}
