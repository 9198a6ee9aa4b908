//! Field-level conversion and validation shared by every kind.

use crate::error::Error;
use crate::parse::raw;
use crate::ports::Protocol;
use crate::selector::{Labels, Operator, Requirement, Selector};
use ipnet::IpNet;
use serde_json::Value;
use std::collections::BTreeMap;

/// The object being converted, for error messages.
pub struct Ctx<'a> {
    /// Source name (file).
    pub file: &'a str,
    /// `Kind namespace/name`.
    pub object: String,
}

impl Ctx<'_> {
    /// A validation error on `field`.
    pub fn invalid(&self, field: &str, message: impl Into<String>) -> Error {
        Error::Validate {
            file: self.file.to_string(),
            object: self.object.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// A scalar label value as a string.
fn scalar(ctx: &Ctx<'_>, field: &str, v: &Value) -> Result<String, Error> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(ctx.invalid(field, "expected a string value")),
    }
}

/// Converts a label map.
pub fn labels(ctx: &Ctx<'_>, field: &str, map: Option<&BTreeMap<String, Value>>) -> Result<Labels, Error> {
    let mut out = Labels::new();
    for (k, v) in map.into_iter().flatten() {
        out.insert(k.clone(), scalar(ctx, &format!("{field}.{k}"), v)?);
    }
    Ok(out)
}

/// Converts and validates a label selector.
pub fn selector(ctx: &Ctx<'_>, field: &str, raw: &raw::Selector) -> Result<Selector, Error> {
    let match_labels = labels(ctx, &format!("{field}.matchLabels"), raw.match_labels.as_ref())?;
    let mut match_expressions = Vec::new();
    for (i, r) in raw.match_expressions.iter().flatten().enumerate() {
        let f = format!("{field}.matchExpressions[{i}]");
        let operator = Operator::parse(&r.operator).ok_or_else(|| {
            ctx.invalid(
                &format!("{f}.operator"),
                format!(
                    "unknown operator {:?}; expected In, NotIn, Exists or DoesNotExist",
                    r.operator
                ),
            )
        })?;
        if r.key.is_empty() {
            return Err(ctx.invalid(&format!("{f}.key"), "a label key is required"));
        }
        let mut values = Vec::new();
        for (j, v) in r.values.iter().flatten().enumerate() {
            values.push(scalar(ctx, &format!("{f}.values[{j}]"), v)?);
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(ctx.invalid(&format!("{f}.values"), "operator In/NotIn needs at least one value"));
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(ctx.invalid(&format!("{f}.values"), "operator Exists/DoesNotExist takes no values"));
            }
            _ => {}
        }
        match_expressions.push(Requirement {
            key: r.key.clone(),
            operator,
            values,
        });
    }
    Ok(Selector {
        match_labels,
        match_expressions,
    })
}

/// A protocol; absent means TCP.
pub fn protocol(ctx: &Ctx<'_>, field: &str, raw: Option<&str>) -> Result<Protocol, Error> {
    match raw {
        None => Ok(Protocol::Tcp),
        Some(s) => Protocol::parse(s)
            .ok_or_else(|| ctx.invalid(field, format!("unknown protocol {s:?}; expected TCP, UDP or SCTP"))),
    }
}

/// A port number 1-65535.
pub fn port_number(ctx: &Ctx<'_>, field: &str, v: &Value) -> Result<u16, Error> {
    v.as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&n| n >= 1)
        .ok_or_else(|| ctx.invalid(field, format!("expected a port number 1-65535, got {v}")))
}

/// A port: a number, or a name (IANA service name: letters, digits, '-', at least one letter).
pub enum NumberOrName {
    /// Numeric port.
    Number(u16),
    /// Named port.
    Name(String),
}

/// Reads an int-or-string port.
pub fn number_or_name(ctx: &Ctx<'_>, field: &str, v: &Value) -> Result<NumberOrName, Error> {
    match v {
        Value::String(s) => {
            let valid = !s.is_empty()
                && s.len() <= 15
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && s.chars().any(|c| c.is_ascii_lowercase());
            if valid {
                Ok(NumberOrName::Name(s.clone()))
            } else {
                Err(ctx.invalid(
                    field,
                    format!("invalid port name {s:?}; expected 1-15 lowercase letters, digits or '-', with a letter"),
                ))
            }
        }
        _ => port_number(ctx, field, v).map(NumberOrName::Number),
    }
}

/// An IPv4 CIDR as inclusive `u32` bounds; `Ok(None)` for IPv6 (which the engine ignores).
pub fn cidr(ctx: &Ctx<'_>, field: &str, s: &str) -> Result<Option<(u32, u32)>, Error> {
    let net: IpNet = s
        .trim()
        .parse()
        .map_err(|_| ctx.invalid(field, format!("invalid CIDR {s:?}; expected e.g. 10.0.0.0/8")))?;
    match net {
        IpNet::V4(n) => Ok(Some((u32::from(n.network()), u32::from(n.broadcast())))),
        IpNet::V6(_) => Ok(None),
    }
}
