//! `spec.policies`: what the platform's tenant policies read of this tenant, and how they are
//! enforced for it.
//!
//! A platform team writes an ordinary ValidatingAdmissionPolicy with
//! `paramKind: {apiVersion: palisade.dev/v1alpha1, kind: Tenant}` and labels it
//! `palisade.dev/tenant-policy: "true"` ([`crate::labels::TENANT_POLICY`]). The controller binds
//! it once per tenant, with the Tenant as its params, so CEL in the policy reads
//! `params.spec.policies.parameters.<name>`: one policy, each tenant its own values.
//!
//! The validation actions of a tenant's binding, first match wins:
//!
//! 1. `overrides[].validationActions` naming the policy;
//! 2. `validationActions` (every policy, for this tenant: put a new tenant in Warn or Audit first);
//! 3. the policy's annotation `palisade.dev/validation-actions` ([`crate::labels::VALIDATION_ACTIONS`]);
//! 4. `Deny`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the API server does when a bound policy's validation fails (the binding's
/// `validationActions`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum ValidationAction {
    /// The request is refused with the policy's message.
    Deny,
    /// The request is admitted; the client gets the message as a warning.
    Warn,
    /// The request is admitted; the failure goes to the audit log.
    Audit,
}

impl ValidationAction {
    pub const ALL: [ValidationAction; 3] = [ValidationAction::Deny, ValidationAction::Warn, ValidationAction::Audit];

    pub fn as_str(self) -> &'static str {
        match self {
            ValidationAction::Deny => "Deny",
            ValidationAction::Warn => "Warn",
            ValidationAction::Audit => "Audit",
        }
    }

    /// The action spelled exactly as the API server spells it (`Deny`, `Warn`, `Audit`).
    pub fn parse(text: &str) -> Option<ValidationAction> {
        ValidationAction::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl std::fmt::Display for ValidationAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a list of validation actions, as the API server would refuse it in a
/// binding: `None` when it is a valid list.
pub fn validation_actions_problem(actions: &[ValidationAction]) -> Option<String> {
    if actions.is_empty() {
        return Some("must list at least one of Deny, Warn, Audit".to_string());
    }
    for (i, action) in actions.iter().enumerate() {
        if actions[..i].contains(action) {
            return Some(format!("lists {action} twice; each of Deny, Warn, Audit at most once"));
        }
    }
    if actions.contains(&ValidationAction::Deny) && actions.contains(&ValidationAction::Warn) {
        return Some(
            "combines Deny and Warn, which the API server refuses (a denied request gets no warnings); use Deny (optionally with Audit) or Warn (optionally with Audit)"
                .to_string(),
        );
    }
    None
}

/// Parses the value of the `palisade.dev/validation-actions` annotation: a comma-separated
/// subset of `Deny`, `Warn`, `Audit` (spaces around the commas allowed), not Deny with Warn.
pub fn parse_validation_actions(text: &str) -> Result<Vec<ValidationAction>, String> {
    let mut actions = Vec::new();
    for item in text.split(',').map(str::trim) {
        match ValidationAction::parse(item) {
            Some(action) => actions.push(action),
            None => {
                return Err(format!(
                    "\"{item}\" is not a validation action; expected a comma-separated list of Deny, Warn, Audit (e.g. \"Deny\" or \"Warn,Audit\")"
                ));
            }
        }
    }
    match validation_actions_problem(&actions) {
        Some(problem) => Err(format!("\"{text}\" {problem}")),
        None => Ok(actions),
    }
}

/// `spec.policies`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantPolicies {
    /// Values the platform's tenant policies read as `params.spec.policies.parameters.<name>`
    /// (e.g. `maxReplicas: 4`, `requiredLabels: [cost-center]`). Free-form: each policy's
    /// documentation says what it reads.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schemars(schema_with = "free_form_object")]
    pub parameters: Map<String, Value>,
    /// Overrides the validation actions of every policy bound for this tenant (e.g. `[Warn]`
    /// or `[Audit]` while the tenant adapts); per-policy `overrides` take precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_actions: Option<Vec<ValidationAction>>,
    /// Per-policy validation actions, by ValidatingAdmissionPolicy name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<PolicyOverride>,
    /// Tenant policies (ValidatingAdmissionPolicy names) not bound for this tenant at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

impl TenantPolicies {
    pub fn is_default(&self) -> bool {
        self == &TenantPolicies::default()
    }
}

/// The validation actions of one policy for this tenant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyOverride {
    /// The ValidatingAdmissionPolicy's name.
    pub policy: String,
    /// Its validation actions for this tenant.
    pub validation_actions: Vec<ValidationAction>,
}

/// One tenant policy, as it stands for this tenant (`status.policies`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantPolicyStatus {
    /// The ValidatingAdmissionPolicy's name.
    pub policy: String,
    /// Whether a binding enforces it in this tenant's namespaces.
    pub bound: bool,
    /// The binding's validation actions (none when not bound).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_actions: Vec<ValidationAction>,
    /// Why it is not bound, or which binding enforces it and where its actions come from.
    #[serde(default)]
    pub message: String,
}

fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn annotation_values_parse_or_say_what_is_expected() {
        assert_eq!(parse_validation_actions("Deny"), Ok(vec![ValidationAction::Deny]));
        assert_eq!(
            parse_validation_actions("Warn, Audit"),
            Ok(vec![ValidationAction::Warn, ValidationAction::Audit])
        );
        let bad = parse_validation_actions("deny").unwrap_err();
        assert!(bad.contains("\"deny\" is not a validation action"), "{bad}");
        let both = parse_validation_actions("Deny,Warn").unwrap_err();
        assert!(both.contains("combines Deny and Warn"), "{both}");
        let twice = parse_validation_actions("Audit,Audit").unwrap_err();
        assert!(twice.contains("lists Audit twice"), "{twice}");
        assert!(parse_validation_actions("").is_err());
    }
}
