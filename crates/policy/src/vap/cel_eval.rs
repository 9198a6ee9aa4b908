//! Running compiled expressions over one request's variables, with the API server's lazy
//! `variables` and its wording for evaluation errors.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use kube::core::cel::KubeCelExt as _;
use kube::core::cel::cel::objects::{Key, Map};
use kube::core::cel::cel::{Context, ExecutionError, Value as CelValue};

use super::compile::{Expression, Variable};

/// What one expression gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluated {
    Value(CelValue),
    /// An evaluation error, worded as the API server words it (`expression '…' resulted in
    /// error: …`).
    Error(String),
    /// The expression calls a function the offline CEL engine does not have.
    Unsupported(String),
}

/// The functions of the API server's CEL environment, registered once per evaluation scope.
pub struct Environment {
    root: Context<'static>,
}

impl Default for Environment {
    fn default() -> Self {
        let mut root = Context::default();
        root.register_all();
        Self { root }
    }
}

/// The variables of one (request, params) pair: `object`, `oldObject`, `request`, `params`,
/// `namespaceObject`, and the policy's `variables`, each computed at most once and only when an
/// expression reads it.
pub struct Bindings<'e> {
    scope: Context<'e>,
    variables: &'e [Variable],
    computed: HashMap<String, Evaluated>,
}

impl<'e> Bindings<'e> {
    pub fn new(
        environment: &'e Environment,
        inputs: BTreeMap<&'static str, CelValue>,
        variables: &'e [Variable],
    ) -> Self {
        let mut scope = environment.root.new_inner_scope();
        for (name, value) in inputs {
            scope.add_variable_from_value(name, value);
        }
        Self {
            scope,
            variables,
            computed: HashMap::new(),
        }
    }

    /// Evaluate `expression`. The policy variables it may read (and those they read) are
    /// computed first, but a failed one is left out of `variables` rather than failing the
    /// expression: like the API server's lazy variables, it is an error only when the evaluation
    /// actually reaches it (`true || variables.broken` holds).
    pub fn evaluate(&mut self, expression: &Expression) -> Evaluated {
        let mut needed = BTreeSet::new();
        self.collect_needed(&expression.reads_variables, &mut needed);
        let mut ready: HashMap<Key, CelValue> = HashMap::new();
        let mut failed: HashMap<String, String> = HashMap::new();
        for variable in self.variables.iter().filter(|v| needed.contains(&v.name)) {
            let value = match self.computed.get(&variable.name) {
                Some(value) => value.clone(),
                None => {
                    let value = run_in(&self.scope, &ready, &variable.expression);
                    self.computed.insert(variable.name.clone(), value.clone());
                    value
                }
            };
            match value {
                Evaluated::Value(value) => {
                    ready.insert(Key::String(Arc::new(variable.name.clone())), value);
                }
                Evaluated::Error(error) => {
                    failed.insert(variable.name.clone(), error_detail(&error).to_string());
                }
                unsupported @ Evaluated::Unsupported(_) => return unsupported,
            }
        }
        match run_in(&self.scope, &ready, expression) {
            Evaluated::Error(error) => {
                // Reaching a failed variable shows here as a missing key of `variables`.
                let missing = error_detail(&error).strip_prefix("no such key: ").unwrap_or_default();
                match failed.get(missing) {
                    Some(cause) => Evaluated::Error(format!(
                        "expression '{}' resulted in error: composited variable \"{missing}\" fails to evaluate: {cause}",
                        expression.source
                    )),
                    None => Evaluated::Error(error),
                }
            }
            other => other,
        }
    }

    fn collect_needed(&self, reads: &BTreeSet<String>, needed: &mut BTreeSet<String>) {
        for name in reads {
            if needed.insert(name.clone())
                && let Some(variable) = self.variables.iter().find(|v| &v.name == name)
            {
                self.collect_needed(&variable.expression.reads_variables, needed);
            }
        }
    }
}

/// The part after `resulted in error: ` of an error this module worded.
fn error_detail(error: &str) -> &str {
    error
        .split_once("resulted in error: ")
        .map_or(error, |(_, detail)| detail)
}

fn run_in(scope: &Context<'_>, variables: &HashMap<Key, CelValue>, expression: &Expression) -> Evaluated {
    let mut inner = scope.new_inner_scope();
    inner.add_variable_from_value(
        "variables",
        CelValue::Map(Map {
            map: Arc::new(variables.clone()),
        }),
    );
    match expression.program.execute(&inner) {
        Ok(value) => Evaluated::Value(value),
        Err(ExecutionError::UndeclaredReference(name)) if expression.functions.contains(name.as_str()) => {
            Evaluated::Unsupported(format!(
                "{}: the function `{name}` is not available in the offline CEL engine (kube-cel)",
                expression.field
            ))
        }
        Err(error) => Evaluated::Error(format!(
            "expression '{}' resulted in error: {}",
            expression.source,
            api_server_wording(&error)
        )),
    }
}

/// cel-go's wording for the errors both engines share, so a message reads as the API server's.
fn api_server_wording(error: &ExecutionError) -> String {
    match error {
        ExecutionError::NoSuchKey(key) => format!("no such key: {key}"),
        ExecutionError::NoSuchOverload => "no such overload".to_string(),
        ExecutionError::DivisionByZero(_) => "division by zero".to_string(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".to_string(),
        ExecutionError::UndeclaredReference(name) => format!("no such attribute(s): {name}"),
        other => other.to_string(),
    }
}
