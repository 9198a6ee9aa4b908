//! Scale bench: generates a synthetic cluster (default 500 namespaces, 5,000 workloads, 2,000
//! policies), parses it, analyses it, and prints the time of each step and the peak RSS.
//!
//! `cargo bench -p palisade-reach --bench scale [-- NAMESPACES WORKLOADS POLICIES]`

use palisade_reach::parse::ClusterBuilder;
use palisade_reach::{Analysis, Options};
use std::fmt::Write as _;
use std::time::Instant;

/// A small deterministic generator (xorshift64*), so every run analyses the same cluster.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const KINDS: [&str; 6] = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"];
const TIERS: [&str; 4] = ["web", "api", "db", "cache"];

/// Namespaces `ns-i` belong to tenant `t-(i/5)`; workloads spread evenly; each namespace gets
/// default-deny, allow-same-tenant, allow-DNS and tier policies until `policies` are written, plus
/// three AdminNetworkPolicies and a BaselineAdminNetworkPolicy.
fn generate(namespaces: usize, workloads: usize, policies: usize) -> String {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut y = String::new();
    let _ = writeln!(
        y,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-system\n---"
    );
    for i in 0..namespaces {
        let env = if i % 3 == 0 { "prod" } else { "dev" };
        let _ = writeln!(
            y,
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-{i}\n  labels:\n    palisade.dev/tenant: t-{}\n    env: {env}\n---",
            i / 5
        );
    }
    let _ = writeln!(
        y,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: coredns\n  namespace: kube-system\nspec:\n  template:\n    metadata:\n      labels:\n        k8s-app: kube-dns\n    spec:\n      containers:\n      - name: dns\n        ports:\n        - name: dns\n          containerPort: 53\n          protocol: UDP\n---"
    );
    for w in 0..workloads {
        let ns = w % namespaces;
        let kind = KINDS[rng.below(KINDS.len())];
        let tier = TIERS[rng.below(TIERS.len())];
        let template = format!(
            "    metadata:\n      labels:\n        app: app-{w}\n        tier: {tier}\n        version: v{}\n    spec:\n      containers:\n      - name: main\n        ports:\n        - name: http\n          containerPort: {}\n        - name: metrics\n          containerPort: 9090\n",
            rng.below(3),
            8000 + rng.below(100)
        );
        let spec = if kind == "CronJob" {
            format!(
                "spec:\n  jobTemplate:\n    spec:\n      template:\n{}",
                template
                    .replace("\n    ", "\n        ")
                    .replacen("    metadata", "        metadata", 1)
            )
        } else {
            format!("spec:\n  template:\n{template}")
        };
        let _ = writeln!(
            y,
            "apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: wl-{w}\n  namespace: ns-{ns}\n{spec}---"
        );
    }
    let mut written = 0;
    let mut round = 0;
    while written < policies {
        for i in 0..namespaces {
            if written >= policies {
                break;
            }
            let body = match round {
                0 => "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n".to_string(),
                1 => format!(
                    "  podSelector: {{}}\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          palisade.dev/tenant: t-{}\n  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels:\n          palisade.dev/tenant: t-{}\n",
                    i / 5,
                    i / 5
                ),
                2 => "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: kube-system\n      podSelector:\n        matchLabels:\n          k8s-app: kube-dns\n    ports:\n    - protocol: UDP\n      port: dns\n  - to:\n    - ipBlock:\n        cidr: 10.0.0.0/8\n        except: [10.96.0.0/12]\n    ports:\n    - port: 443\n".to_string(),
                _ => {
                    let tier = TIERS[(round + i) % TIERS.len()];
                    let from = TIERS[(round + i + 1) % TIERS.len()];
                    format!(
                        "  podSelector:\n    matchLabels:\n      tier: {tier}\n  ingress:\n  - from:\n    - podSelector:\n        matchExpressions:\n        - key: tier\n          operator: In\n          values: [{from}]\n      namespaceSelector:\n        matchExpressions:\n        - key: env\n          operator: NotIn\n          values: [prod]\n    ports:\n    - port: http\n    - port: {}\n      endPort: {}\n      protocol: TCP\n",
                        9000 + round,
                        9100 + round
                    )
                }
            };
            let _ = writeln!(
                y,
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np-{round}\n  namespace: ns-{i}\nspec:\n{body}---"
            );
            written += 1;
        }
        round += 1;
    }
    let _ = writeln!(
        y,
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata:\n  name: allow-monitoring\nspec:\n  priority: 10\n  subject:\n    namespaces: {{}}\n  ingress:\n  - name: metrics\n    action: Allow\n    from:\n    - namespaces:\n        matchLabels:\n          kubernetes.io/metadata.name: kube-system\n    ports:\n    - portNumber:\n        protocol: TCP\n        port: 9090\n---"
    );
    let _ = writeln!(
        y,
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata:\n  name: pass-prod\nspec:\n  priority: 20\n  subject:\n    namespaces:\n      matchLabels:\n        env: prod\n  egress:\n  - name: pass-cluster\n    action: Pass\n    to:\n    - namespaces: {{}}\n  - name: deny-metadata\n    action: Deny\n    to:\n    - networks: [169.254.169.254/32]\n---"
    );
    let _ = writeln!(
        y,
        "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\nmetadata:\n  name: default\nspec:\n  subject:\n    namespaces: {{}}\n  ingress:\n  - name: deny-other-tenants\n    action: Deny\n    from:\n    - namespaces:\n        matchExpressions:\n        - key: palisade.dev/tenant\n          operator: DoesNotExist\n"
    );
    y
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (namespaces, workloads, policies) = match args.as_slice() {
        [n, w, p, ..] => (*n, *w, *p),
        _ => (500, 5000, 2000),
    };
    let t0 = Instant::now();
    let text = generate(namespaces, workloads, policies);
    let t_gen = t0.elapsed();

    let t1 = Instant::now();
    let docs = match palisade_reach::parse::documents("synthetic.yaml", &text) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("generated cluster does not parse: {e}");
            std::process::exit(1);
        }
    };
    let t_yaml = t1.elapsed();
    let t1b = Instant::now();
    let mut builder = ClusterBuilder::new();
    for doc in docs {
        if let Err(e) = builder.add_value("synthetic.yaml", doc) {
            eprintln!("generated cluster is invalid: {e}");
            std::process::exit(1);
        }
    }
    let cluster = builder.build();
    let t_model = t1b.elapsed();
    let yaml_bytes = text.len();
    drop(text);

    let t2 = Instant::now();
    let analysis = Analysis::new(&cluster, Options::default());
    let t_compile = t2.elapsed();

    let t3 = Instant::now();
    let mut class_pairs = 0u64;
    let mut endpoint_pairs = 0u64;
    let mut all_connections = 0u64;
    analysis.for_each_class_pair(|src, dst, conn| {
        class_pairs += 1;
        let n = |t| match t {
            palisade_reach::engine::Target::Class(c) => analysis.classes[c].members.len() as u64,
            _ => 1,
        };
        let mut pairs = n(src) * n(dst);
        if src == dst {
            pairs -= n(src);
        }
        endpoint_pairs += pairs;
        if conn.is_all() {
            all_connections += pairs;
        }
    });
    let t_pairs = t3.elapsed();

    let t4 = Instant::now();
    let lines = analysis.connections().len();
    let t_list = t4.elapsed();

    println!(
        "synthetic cluster: {} namespaces, {} workloads, {} NetworkPolicies, {} AdminNetworkPolicies, BaselineAdminNetworkPolicy: {}",
        cluster.namespaces.len(),
        cluster.workloads.len(),
        cluster.network_policies.len(),
        cluster.admin_policies.len(),
        cluster.baseline.is_some()
    );
    println!(
        "  classes: {} (workloads no selector tells apart share one), selector pairs: {}, external ranges: {}",
        analysis.classes.len(),
        analysis.pod_set_count(),
        analysis.atoms.len()
    );
    println!("  generate YAML: {:>8.3} s", t_gen.as_secs_f64());
    println!(
        "  parse YAML:    {:>8.3} s  ({:.1} MiB of YAML)",
        t_yaml.as_secs_f64(),
        yaml_bytes as f64 / 1048576.0
    );
    println!("  to model:      {:>8.3} s", t_model.as_secs_f64());
    println!("  compile:       {:>8.3} s", t_compile.as_secs_f64());
    println!(
        "  all pairs:     {:>8.3} s  ({class_pairs} class pairs with connections = {endpoint_pairs} endpoint pairs, {all_connections} of them All Connections)",
        t_pairs.as_secs_f64()
    );
    println!(
        "  analysis (compile + all pairs): {:.3} s",
        (t_compile + t_pairs).as_secs_f64()
    );
    println!("  connectivity list: {:>8.3} s  ({lines} lines)", t_list.as_secs_f64());
    match peak_rss_kib() {
        Some(kib) => println!("  peak RSS (VmHWM): {:.1} MiB", kib as f64 / 1024.0),
        None => println!("  peak RSS: unavailable (/proc/self/status not readable)"),
    }
}
