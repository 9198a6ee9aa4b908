//! OVN-Kubernetes UserDefinedNetwork / ClusterUserDefinedNetwork and Multus
//! NetworkAttachmentDefinition / MultiNetworkPolicy.

use crate::error::Error;
use crate::model::NetworkDef;
use crate::parse::fields::{self, Ctx};
use crate::parse::raw;
use serde_json::Value;

fn role_is_primary(ctx: &Ctx<'_>, field: &str, net: &Value) -> Result<bool, Error> {
    let topology = net.get("topology").and_then(Value::as_str).unwrap_or("Layer2");
    let key = match topology {
        "Layer2" => "layer2",
        "Layer3" => "layer3",
        "Localnet" => "localnet",
        other => {
            return Err(ctx.invalid(
                &format!("{field}.topology"),
                format!("unknown topology {other:?}; expected Layer2, Layer3 or Localnet"),
            ));
        }
    };
    let role = net
        .get(key)
        .and_then(|l| l.get("role"))
        .and_then(Value::as_str)
        .unwrap_or("Secondary");
    match role {
        "Primary" => Ok(true),
        "Secondary" => Ok(false),
        other => Err(ctx.invalid(
            &format!("{field}.{key}.role"),
            format!("unknown role {other:?}; expected Primary or Secondary"),
        )),
    }
}

/// Converts a UDN, CUDN or NAD.
pub fn network(ctx: &Ctx<'_>, kind: &str, v: &Value, namespace: &str, name: &str) -> Result<NetworkDef, Error> {
    let spec = v.get("spec").cloned().unwrap_or_default();
    Ok(match kind {
        "UserDefinedNetwork" => NetworkDef::Udn {
            namespace: namespace.to_string(),
            name: name.to_string(),
            primary: role_is_primary(ctx, "spec", &spec)?,
        },
        "ClusterUserDefinedNetwork" => {
            let sel: raw::Selector = spec
                .get("namespaceSelector")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| ctx.invalid("spec.namespaceSelector", format!("expected a label selector: {e}")))?
                .unwrap_or_default();
            NetworkDef::Cudn {
                name: name.to_string(),
                namespaces: fields::selector(ctx, "spec.namespaceSelector", &sel)?,
                primary: role_is_primary(ctx, "spec.network", spec.get("network").unwrap_or(&Value::Null))?,
            }
        }
        _ => NetworkDef::Nad {
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
    })
}

/// The networks a MultiNetworkPolicy applies to (`k8s.v1.cni.cncf.io/policy-for`), by name.
pub fn policy_for(meta: &raw::Meta) -> Vec<String> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get("k8s.v1.cni.cncf.io/policy-for"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.rsplit_once('/').map_or(n, |x| x.1).to_string())
        .collect()
}
