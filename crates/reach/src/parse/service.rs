//! Service, Ingress (networking.k8s.io/v1 and the older `serviceName`/`servicePort` form) and
//! OpenShift Route → what the ingress controller can reach.

use crate::error::Error;
use crate::model::{ExposedPort, Exposure, PortRef, Service, ServicePort};
use crate::parse::fields::{self, Ctx, NumberOrName};
use serde_json::Value;

fn port_ref(ctx: &Ctx<'_>, field: &str, v: &Value) -> Result<PortRef, Error> {
    // Service/Route port names are IANA names too, but tolerate any non-empty string here.
    if let Value::String(s) = v
        && !s.is_empty()
        && s.parse::<u16>().is_err()
    {
        return Ok(PortRef::Name(s.clone()));
    }
    let v = match v {
        Value::String(s) => Value::from(s.parse::<u64>().unwrap_or(0)),
        other => other.clone(),
    };
    match fields::number_or_name(ctx, field, &v)? {
        NumberOrName::Number(n) => Ok(PortRef::Number(n)),
        NumberOrName::Name(n) => Ok(PortRef::Name(n)),
    }
}

/// A Service; `None` when it has no selector (it routes to no workload).
pub fn service(ctx: &Ctx<'_>, v: &Value, namespace: &str, name: &str) -> Result<Option<Service>, Error> {
    let spec = v.get("spec").cloned().unwrap_or_default();
    let selector = match spec.get("selector") {
        Some(Value::Object(m)) if !m.is_empty() => {
            let map = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            fields::labels(ctx, "spec.selector", Some(&map))?
        }
        _ => return Ok(None),
    };
    let mut ports = Vec::new();
    for (i, p) in spec
        .get("ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let f = format!("spec.ports[{i}]");
        let port = fields::port_number(ctx, &format!("{f}.port"), p.get("port").unwrap_or(&Value::Null))?;
        let target = match p.get("targetPort") {
            Some(t) => port_ref(ctx, &format!("{f}.targetPort"), t)?,
            None => PortRef::Number(port),
        };
        ports.push(ServicePort {
            name: p.get("name").and_then(Value::as_str).map(str::to_string),
            port,
            target,
            protocol: fields::protocol(ctx, &format!("{f}.protocol"), p.get("protocol").and_then(Value::as_str))?,
        });
    }
    Ok(Some(Service {
        namespace: namespace.to_string(),
        name: name.to_string(),
        selector,
        ports,
    }))
}

fn ingress_backend(
    ctx: &Ctx<'_>,
    field: &str,
    b: &Value,
    namespace: &str,
    out: &mut Vec<Exposure>,
) -> Result<(), Error> {
    let (name, port) = if let Some(svc) = b.get("service") {
        let port = svc.get("port").and_then(|p| p.get("number").or_else(|| p.get("name")));
        (svc.get("name"), port)
    } else {
        (b.get("serviceName"), b.get("servicePort"))
    };
    let Some(name) = name.and_then(Value::as_str) else {
        return Ok(()); // a resource backend: not a Service
    };
    let Some(port) = port else {
        return Err(ctx.invalid(&format!("{field}.service.port"), "required: number or name"));
    };
    out.push(Exposure {
        namespace: namespace.to_string(),
        service: name.to_string(),
        port: ExposedPort::ServicePort(port_ref(ctx, &format!("{field}.service.port"), port)?),
        by: ctx.object.clone(),
    });
    Ok(())
}

/// The Services an Ingress routes to.
pub fn ingress(ctx: &Ctx<'_>, v: &Value, namespace: &str) -> Result<Vec<Exposure>, Error> {
    let mut out = Vec::new();
    let spec = v.get("spec").cloned().unwrap_or_default();
    for key in ["defaultBackend", "backend"] {
        if let Some(b) = spec.get(key) {
            ingress_backend(ctx, &format!("spec.{key}"), b, namespace, &mut out)?;
        }
    }
    let rules = spec.get("rules").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, r) in rules.iter().enumerate() {
        let paths = r
            .get("http")
            .and_then(|h| h.get("paths"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (j, p) in paths.iter().enumerate() {
            if let Some(b) = p.get("backend") {
                let f = format!("spec.rules[{i}].http.paths[{j}].backend");
                ingress_backend(ctx, &f, b, namespace, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// The Services a Route routes to (`to` and `alternateBackends`).
pub fn route(ctx: &Ctx<'_>, v: &Value, namespace: &str) -> Result<Vec<Exposure>, Error> {
    let spec = v.get("spec").cloned().unwrap_or_default();
    let port = match spec.get("port").and_then(|p| p.get("targetPort")) {
        Some(t) => ExposedPort::RouteTarget(port_ref(ctx, "spec.port.targetPort", t)?),
        None => ExposedPort::All,
    };
    let mut backends: Vec<Value> = spec.get("to").cloned().into_iter().collect();
    backends.extend(
        spec.get("alternateBackends")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    );
    let mut out = Vec::new();
    for b in backends {
        let kind = b.get("kind").and_then(Value::as_str).unwrap_or("Service");
        if kind != "Service" {
            continue;
        }
        if let Some(name) = b.get("name").and_then(Value::as_str) {
            out.push(Exposure {
                namespace: namespace.to_string(),
                service: name.to_string(),
                port: port.clone(),
                by: ctx.object.clone(),
            });
        }
    }
    Ok(out)
}
