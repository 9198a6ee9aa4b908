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
//! Tests run in parallel against one control plane: give every object a name
//! from [`unique_name`] (or work in a namespace from
//! [`TestEnv::create_namespace`]) and scope cluster-wide objects (webhooks,
//! cluster roles) to the test's own objects.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
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
    /// A kubeconfig or client could not be made.
    #[error("testenv client: {0}")]
    Client(String),
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
    use super::unique_name;

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
