//! A ValidatingAdmissionPolicy's CEL, compiled once: match conditions, variables, validations
//! (with their message expressions) and audit annotations.
//!
//! Compiling also answers what evaluating could not decide honestly: the CEL features kube-cel
//! lacks (`cel.bind`, `sortBy`, two-variable comprehensions and the `transform*` macros, the
//! `authorizer` library) are found here, in the syntax tree, so that a policy using them is
//! reported as unsupported before any object is evaluated instead of failing or passing by
//! accident at run time.

use std::collections::BTreeSet;

use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;
use kube::core::cel::cel::Program;
use kube::core::cel::cel::common::ast::{EntryExpr, Expr, IdedExpr};

/// Where in the policy an expression sits, as the API server names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(pub String);

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One CEL expression of the policy, parsed.
pub struct Expression {
    pub field: FieldPath,
    pub source: String,
    pub program: Program,
    /// The `variables.<name>` this expression reads, so only those are evaluated (the API
    /// server evaluates variables lazily: an erroring variable nobody reads is no error).
    pub reads_variables: BTreeSet<String>,
    /// Every function and method name called, to tell a missing kube-cel function from an
    /// evaluation error.
    pub functions: BTreeSet<String>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expression")
            .field("field", &self.field)
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Debug)]
pub struct MatchCondition {
    pub name: String,
    pub expression: Expression,
}

#[derive(Debug)]
pub struct Variable {
    pub name: String,
    pub expression: Expression,
}

#[derive(Debug)]
pub struct Validation {
    pub expression: Expression,
    pub message: Option<String>,
    pub message_expression: Option<Expression>,
    /// `reason`: Unauthorized, Forbidden, Invalid or RequestEntityTooLarge; Invalid when unset.
    pub reason: Option<String>,
}

#[derive(Debug)]
pub struct AuditAnnotation {
    pub key: String,
    pub value_expression: Expression,
}

/// Why a policy's CEL cannot be evaluated here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileProblem {
    #[error("{field}: the expression does not compile: {message}")]
    Syntax { field: FieldPath, message: String },
    #[error(
        "{field}: {feature} is not supported by the offline CEL engine (kube-cel), so this policy is not evaluated here"
    )]
    Unsupported { field: FieldPath, feature: String },
}

/// A policy with all of its expressions parsed. `problems` lists every expression that could
/// not be; such a policy is never evaluated (its verdict would be a guess).
#[derive(Debug, Default)]
pub struct CompiledPolicy {
    pub match_conditions: Vec<MatchCondition>,
    pub variables: Vec<Variable>,
    pub validations: Vec<Validation>,
    pub audit_annotations: Vec<AuditAnnotation>,
    pub problems: Vec<CompileProblem>,
}

/// Parse every expression of `policy`.
pub fn compile(policy: &ValidatingAdmissionPolicy) -> CompiledPolicy {
    let mut compiled = CompiledPolicy::default();
    let Some(spec) = &policy.spec else {
        return compiled;
    };
    let mut problems = Vec::new();
    for (i, condition) in spec.match_conditions.iter().flatten().enumerate() {
        let field = FieldPath(format!("spec.matchConditions[{i}].expression"));
        if let Some(expression) = parse(field, &condition.expression, &mut problems) {
            compiled.match_conditions.push(MatchCondition {
                name: condition.name.clone(),
                expression,
            });
        }
    }
    for (i, variable) in spec.variables.iter().flatten().enumerate() {
        let field = FieldPath(format!("spec.variables[{i}].expression"));
        if let Some(expression) = parse(field, &variable.expression, &mut problems) {
            compiled.variables.push(Variable {
                name: variable.name.clone(),
                expression,
            });
        }
    }
    for (i, validation) in spec.validations.iter().flatten().enumerate() {
        let field = FieldPath(format!("spec.validations[{i}].expression"));
        let expression = parse(field, &validation.expression, &mut problems);
        let message_expression = validation.message_expression.as_deref().and_then(|source| {
            let field = FieldPath(format!("spec.validations[{i}].messageExpression"));
            parse(field, source, &mut problems)
        });
        if let Some(expression) = expression {
            compiled.validations.push(Validation {
                expression,
                message: validation.message.clone(),
                message_expression,
                reason: validation.reason.clone(),
            });
        }
    }
    for (i, annotation) in spec.audit_annotations.iter().flatten().enumerate() {
        let field = FieldPath(format!("spec.auditAnnotations[{i}].valueExpression"));
        if let Some(value_expression) = parse(field, &annotation.value_expression, &mut problems) {
            compiled.audit_annotations.push(AuditAnnotation {
                key: annotation.key.clone(),
                value_expression,
            });
        }
    }
    compiled.problems = problems;
    compiled
}

fn parse(field: FieldPath, source: &str, problems: &mut Vec<CompileProblem>) -> Option<Expression> {
    let program = match Program::compile(source) {
        Ok(program) => program,
        Err(errors) => {
            let message = errors.to_string();
            // The API server's CEL has optional field selection (`a.?b`); this parser refuses it
            // as "unsupported syntax", which is a gap of ours, not a fault of the policy.
            problems.push(if message.contains("unsupported syntax") {
                CompileProblem::Unsupported {
                    field,
                    feature: "optional field selection (`.?`)".to_string(),
                }
            } else {
                CompileProblem::Syntax {
                    field,
                    message: message.replace('\n', "; "),
                }
            });
            return None;
        }
    };
    let mut walk = Walk::default();
    walk.visit(program.expression());
    if let Some(feature) = walk.unsupported.into_iter().next() {
        problems.push(CompileProblem::Unsupported { field, feature });
        return None;
    }
    Some(Expression {
        field,
        source: source.to_string(),
        reads_variables: walk.variables,
        functions: walk.functions,
        program,
    })
}

/// What the syntax tree tells before evaluation: variables read, functions called, and the
/// first feature kube-cel cannot evaluate.
#[derive(Default)]
struct Walk {
    variables: BTreeSet<String>,
    functions: BTreeSet<String>,
    unsupported: Vec<String>,
}

/// Macros and functions the API server's CEL has and kube-cel's does not.
const UNSUPPORTED_FUNCTIONS: &[(&str, &str)] = &[
    ("sortBy", "the `sortBy` macro"),
    ("transformList", "the `transformList` macro"),
    ("transformMap", "the `transformMap` macro"),
    ("transformMapEntry", "the `transformMapEntry` macro"),
];

/// Comprehension macros that take a second iteration variable from Kubernetes 1.33 on.
const TWO_VARIABLE_MACROS: &[&str] = &["all", "exists", "existsOne", "exists_one"];

impl Walk {
    fn visit(&mut self, expression: &IdedExpr) {
        match &expression.expr {
            Expr::Ident(name) if name == "authorizer" => {
                self.unsupported
                    .push("the `authorizer` library (it asks the cluster's authorizer)".into());
            }
            Expr::Select(select) => {
                if let Expr::Ident(root) = &select.operand.expr
                    && root == "variables"
                {
                    self.variables.insert(select.field.clone());
                }
                self.visit(&select.operand);
            }
            Expr::Call(call) => {
                if let Some((_, feature)) = UNSUPPORTED_FUNCTIONS.iter().find(|(name, _)| *name == call.func_name) {
                    self.unsupported.push((*feature).to_string());
                }
                if call.func_name == "bind"
                    && let Some(target) = &call.target
                    && matches!(&target.expr, Expr::Ident(name) if name == "cel")
                {
                    self.unsupported.push("`cel.bind`".into());
                }
                if TWO_VARIABLE_MACROS.contains(&call.func_name.as_str()) && call.args.len() == 3 {
                    self.unsupported
                        .push(format!("the two-variable form of `{}`", call.func_name));
                }
                self.functions.insert(call.func_name.clone());
                if let Some(target) = &call.target {
                    self.visit(target);
                }
                for arg in &call.args {
                    self.visit(arg);
                }
            }
            Expr::Comprehension(comprehension) => {
                if comprehension.iter_var2.is_some() {
                    self.unsupported.push("a two-variable comprehension".into());
                }
                self.visit(&comprehension.iter_range);
                self.visit(&comprehension.accu_init);
                self.visit(&comprehension.loop_cond);
                self.visit(&comprehension.loop_step);
                self.visit(&comprehension.result);
            }
            Expr::List(list) => list.elements.iter().for_each(|element| self.visit(element)),
            Expr::Map(map) => map.entries.iter().for_each(|entry| self.visit_entry(&entry.expr)),
            Expr::Struct(structure) => structure.entries.iter().for_each(|entry| self.visit_entry(&entry.expr)),
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    fn visit_entry(&mut self, entry: &EntryExpr) {
        match entry {
            EntryExpr::StructField(field) => self.visit(&field.value),
            EntryExpr::MapEntry(entry) => {
                self.visit(&entry.key);
                self.visit(&entry.value);
            }
        }
    }
}

/// The `paramKind` a tenant policy must name: the Tenant itself, so `params` is the tenant.
pub const TENANT_PARAM_API_VERSION: &str = "palisade.dev/v1alpha1";
pub const TENANT_PARAM_KIND: &str = "Tenant";

/// Why `policy` cannot be bound per tenant; empty when it can. A policy is bindable when its
/// `paramKind` is the Tenant and every expression compiles and can be evaluated offline too
/// (so that `palisade check` and the audit give the verdict the API server gives).
pub fn tenant_policy_problems(policy: &ValidatingAdmissionPolicy) -> Vec<String> {
    let mut problems = Vec::new();
    let param_kind = policy.spec.as_ref().and_then(|spec| spec.param_kind.as_ref());
    match param_kind {
        None => problems.push(format!(
            "spec.paramKind is not set: a tenant policy reads its tenant as params, so it needs paramKind {{apiVersion: {TENANT_PARAM_API_VERSION}, kind: {TENANT_PARAM_KIND}}}"
        )),
        Some(kind)
            if kind.api_version.as_deref() != Some(TENANT_PARAM_API_VERSION)
                || kind.kind.as_deref() != Some(TENANT_PARAM_KIND) =>
        {
            problems.push(format!(
                "spec.paramKind is {{apiVersion: {}, kind: {}}}; a tenant policy needs {{apiVersion: {TENANT_PARAM_API_VERSION}, kind: {TENANT_PARAM_KIND}}}",
                kind.api_version.as_deref().unwrap_or("<unset>"),
                kind.kind.as_deref().unwrap_or("<unset>"),
            ))
        }
        Some(_) => {}
    }
    if policy
        .spec
        .as_ref()
        .is_none_or(|spec| spec.validations.as_ref().is_none_or(Vec::is_empty))
    {
        problems.push("spec.validations is empty: there is nothing to enforce per tenant".to_string());
    }
    problems.extend(compile(policy).problems.iter().map(ToString::to_string));
    problems
}
