//! Services: the quota evaluator's Service usage.

use palisade_tenancy::quantity::Amount;
use serde_json::Value;

use super::{Usage, UsageError, array, string};

pub(super) fn usage(service: &Value) -> Result<Usage, UsageError> {
    let mut used = Usage::new();
    used.insert("services".to_string(), Amount::units(1));
    used.insert("count/services".to_string(), Amount::units(1));
    let ports = array(service.pointer("/spec/ports"), "spec.ports")?;
    let all_ports = Amount::units(i64::try_from(ports.len()).unwrap_or(i64::MAX));
    let (load_balancers, node_ports) = match string(service.pointer("/spec/type"), "spec.type")? {
        Some("NodePort") => (Amount::ZERO, all_ports),
        Some("LoadBalancer") => {
            let allocate = service.pointer("/spec/allocateLoadBalancerNodePorts");
            let node_ports = match allocate {
                Some(Value::Bool(false)) => {
                    // No node ports are allocated; only those the Service names itself count.
                    let named = ports
                        .iter()
                        .filter(|p| p.get("nodePort").and_then(Value::as_i64).is_some_and(|n| n != 0))
                        .count();
                    Amount::units(i64::try_from(named).unwrap_or(i64::MAX))
                }
                None | Some(Value::Null | Value::Bool(true)) => all_ports,
                Some(other) => {
                    return Err(super::UsageError::at(
                        "spec.allocateLoadBalancerNodePorts",
                        format!("expected true or false, found {other}"),
                    ));
                }
            };
            (Amount::units(1), node_ports)
        }
        // ClusterIP, ExternalName, or not set (ClusterIP).
        _ => (Amount::ZERO, Amount::ZERO),
    };
    used.insert("services.loadbalancers".to_string(), load_balancers);
    used.insert("services.nodeports".to_string(), node_ports);
    Ok(used)
}
