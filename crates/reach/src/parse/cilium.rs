//! CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy (cilium.io/v2), at L3/L4 → the
//! NetworkPolicy tier of the model: allow rules join the NetworkPolicy union, deny rules win over
//! every allow. Endpoint selectors match Cilium's endpoint labels (pod labels, namespace name and
//! namespace labels). L7 rules, FQDNs, services, nodes and entities other than `world`, `cluster`
//! and `all` are not modelled: such peers match nothing, with a note.

use crate::error::Error;
use crate::model::{IpBlock, NamespaceScope, NetworkPolicy, NpRule, Origin, Peer, PodSet, PolicyKind, PortItem, Ports};
use crate::parse::fields::{self, Ctx, NumberOrName};
use crate::parse::{netpol, raw};
use crate::ports::{PortSet, Protocol};
use crate::selector::Selector;
use serde_json::Value;

/// Does the selector name the namespace itself (then a namespaced policy may look elsewhere)?
fn names_namespace(sel: &Selector) -> bool {
    sel.keys().any(|k| k.ends_with("io.kubernetes.pod.namespace"))
}

fn selector(ctx: &Ctx<'_>, field: &str, v: &Value) -> Result<Selector, Error> {
    let raw: raw::Selector =
        serde_json::from_value(v.clone()).map_err(|e| ctx.invalid(field, format!("expected a label selector: {e}")))?;
    fields::selector(ctx, field, &raw)
}

struct Scope<'a> {
    namespace: Option<&'a str>,
}

impl Scope<'_> {
    fn pods(&self, sel: Selector) -> PodSet {
        let restriction = match self.namespace {
            Some(ns) if !names_namespace(&sel) => Some(ns.to_string()),
            _ => None,
        };
        PodSet {
            namespaces: NamespaceScope::Cilium(restriction),
            pods: sel,
        }
    }
}

fn whole_internet() -> IpBlock {
    IpBlock {
        cidr: "0.0.0.0/0".to_string(),
        range: (0, u32::MAX),
        except: Vec::new(),
    }
}

fn peers(
    ctx: &Ctx<'_>,
    field: &str,
    rule: &Value,
    ingress: bool,
    scope: &Scope<'_>,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<Peer>>, Error> {
    let dir = if ingress { "from" } else { "to" };
    let mut out = Vec::new();
    let mut any = false;
    if let Some(list) = rule.get(format!("{dir}Endpoints")).and_then(Value::as_array) {
        any = true;
        for (i, s) in list.iter().enumerate() {
            let sel = selector(ctx, &format!("{field}.{dir}Endpoints[{i}]"), s)?;
            out.push(Peer::Pods(scope.pods(sel)));
        }
    }
    if let Some(list) = rule.get(format!("{dir}Entities")).and_then(Value::as_array) {
        any = true;
        for e in list.iter().filter_map(Value::as_str) {
            let cluster = || {
                Peer::Pods(PodSet {
                    namespaces: NamespaceScope::Selector(Selector::everything()),
                    pods: Selector::everything(),
                })
            };
            match e {
                "world" => out.push(Peer::Ips(vec![whole_internet()])),
                "cluster" => out.push(cluster()),
                "all" => {
                    out.push(Peer::Ips(vec![whole_internet()]));
                    out.push(cluster());
                }
                other => {
                    notes.push(format!(
                        "{}: {}: {field}.{dir}Entities: entity {other} is not an endpoint the analysis models; it matches nothing",
                        ctx.file, ctx.object
                    ));
                    out.push(Peer::Unsupported(other.to_string()));
                }
            }
        }
    }
    if let Some(list) = rule.get(format!("{dir}CIDR")).and_then(Value::as_array) {
        any = true;
        let cidrs: Vec<String> = list.iter().filter_map(Value::as_str).map(str::to_string).collect();
        out.push(Peer::Ips(netpol::networks(
            ctx,
            &format!("{field}.{dir}CIDR"),
            &cidrs,
            notes,
        )?));
    }
    if let Some(list) = rule.get(format!("{dir}CIDRSet")).and_then(Value::as_array) {
        any = true;
        let mut blocks = Vec::new();
        for (i, b) in list.iter().enumerate() {
            let f = format!("{field}.{dir}CIDRSet[{i}]");
            let raw: raw::IpBlock = serde_json::from_value(b.clone())
                .map_err(|e| ctx.invalid(&f, format!("expected {{cidr, except}}: {e}")))?;
            blocks.extend(netpol::ip_block(ctx, &f, &raw, notes)?);
        }
        out.push(Peer::Ips(blocks));
    }
    for unsupported in ["FQDNs", "Services", "Requires", "Groups", "Nodes"] {
        if rule.get(format!("{dir}{unsupported}")).is_some() {
            any = true;
            notes.push(format!(
                "{}: {}: {field}.{dir}{unsupported} is not modelled; the peer matches nothing",
                ctx.file, ctx.object
            ));
            out.push(Peer::Unsupported(format!("{dir}{unsupported}")));
        }
    }
    Ok(any.then_some(out))
}

fn ports(ctx: &Ctx<'_>, field: &str, rule: &Value, notes: &mut Vec<String>) -> Result<Ports, Error> {
    let Some(list) = rule.get("toPorts").and_then(Value::as_array) else {
        return Ok(Ports::any());
    };
    let mut items = Vec::new();
    for (i, tp) in list.iter().enumerate() {
        if tp.get("rules").is_some() {
            notes.push(format!(
                "{}: {}: {field}.toPorts[{i}].rules: L7 rules are not modelled; the ports are taken as allowed",
                ctx.file, ctx.object
            ));
        }
        for (j, p) in tp
            .get("ports")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let f = format!("{field}.toPorts[{i}].ports[{j}]");
            let protocols: Vec<Protocol> = match p.get("protocol").and_then(Value::as_str) {
                None | Some("ANY") => Protocol::ALL.to_vec(),
                Some(s) => vec![fields::protocol(ctx, &format!("{f}.protocol"), Some(s))?],
            };
            let port = match p.get("port") {
                None => None,
                Some(Value::String(s)) if s == "0" || s.is_empty() => None,
                Some(Value::Number(n)) if n.as_u64() == Some(0) => None,
                Some(Value::String(s)) if s.parse::<u64>().is_ok() => Some(Value::from(s.parse::<u64>().unwrap_or(0))),
                Some(v) => Some(v.clone()),
            };
            for proto in protocols {
                let item = match &port {
                    None => PortItem::Numbers(proto, PortSet::all()),
                    Some(v) => match fields::number_or_name(ctx, &format!("{f}.port"), v)? {
                        NumberOrName::Number(n) => {
                            let end = match p.get("endPort") {
                                Some(e) => fields::port_number(ctx, &format!("{f}.endPort"), e)?,
                                None => n,
                            };
                            PortItem::Numbers(proto, PortSet::range(n, end))
                        }
                        NumberOrName::Name(name) => PortItem::Named(Some(proto), name),
                    },
                };
                items.push(item);
            }
        }
    }
    Ok(Ports { items: Some(items) })
}

fn rules(
    ctx: &Ctx<'_>,
    spec: &Value,
    key: &str,
    ingress: bool,
    scope: &Scope<'_>,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<NpRule>>, Error> {
    let Some(list) = spec.get(key).and_then(Value::as_array) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let f = format!("spec.{key}[{i}]");
        out.push(NpRule {
            peers: peers(ctx, &f, r, ingress, scope, notes)?,
            ports: ports(ctx, &f, r, notes)?,
        });
    }
    Ok(Some(out))
}

/// Converts one Cilium policy (`spec` and/or `specs`) into policies of the NetworkPolicy tier.
pub fn convert(
    ctx: &Ctx<'_>,
    v: &Value,
    namespace: Option<&str>,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<NetworkPolicy>, Error> {
    let mut specs: Vec<&Value> = v.get("spec").into_iter().collect();
    specs.extend(v.get("specs").and_then(Value::as_array).into_iter().flatten());
    let scope = Scope { namespace };
    let kind = if namespace.is_some() {
        PolicyKind::CiliumNetworkPolicy
    } else {
        PolicyKind::CiliumClusterwideNetworkPolicy
    };
    let mut out = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let Some(sel) = spec.get("endpointSelector") else {
            notes.push(format!(
                "{}: {}: a spec without endpointSelector (e.g. nodeSelector) is not modelled; ignored",
                ctx.file, ctx.object
            ));
            continue;
        };
        let subject = scope.pods(selector(ctx, "spec.endpointSelector", sel)?);
        out.push(NetworkPolicy {
            kind,
            namespace: namespace.unwrap_or_default().to_string(),
            name: if specs.len() > 1 {
                format!("{name}#{}", i + 1)
            } else {
                name.to_string()
            },
            pod_selector: Selector::everything(),
            ingress: rules(ctx, spec, "ingress", true, &scope, notes)?,
            egress: rules(ctx, spec, "egress", false, &scope, notes)?,
            subject: Some(subject),
            deny: [
                rules(ctx, spec, "ingressDeny", true, &scope, notes)?.unwrap_or_default(),
                rules(ctx, spec, "egressDeny", false, &scope, notes)?.unwrap_or_default(),
            ],
            origin: Origin {
                source: ctx.file.to_string(),
            },
        });
    }
    Ok(out)
}
