//! The crate's one error type. Each variant is named after the step that failed.

/// What went wrong, naming the file, the object and the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The text is not valid YAML or JSON.
    #[error("{file}: cannot parse YAML/JSON: {message}")]
    Parse {
        /// Source name (file).
        file: String,
        /// Parser message (with line/column when the parser gives one).
        message: String,
    },
    /// A document does not have the structure its kind requires.
    #[error("{file}: {object}: {message}")]
    Decode {
        /// Source name (file).
        file: String,
        /// `Kind namespace/name`.
        object: String,
        /// What did not fit.
        message: String,
    },
    /// A field has a value Kubernetes would reject.
    #[error("{file}: {object}: field `{field}`: {message}")]
    Validate {
        /// Source name (file).
        file: String,
        /// `Kind namespace/name`.
        object: String,
        /// Field path, e.g. `spec.ingress[0].from[1].ipBlock.cidr`.
        field: String,
        /// What is expected.
        message: String,
    },
    /// The same object is defined twice.
    #[error("{file}: {object}: defined twice (first in {first})")]
    Duplicate {
        /// Source name of the second definition.
        file: String,
        /// `Kind namespace/name`.
        object: String,
        /// Source name of the first definition.
        first: String,
    },
    /// A request to the engine names something that is not in the cluster.
    #[error("{what}: {message}")]
    Lookup {
        /// The name looked up.
        what: String,
        /// What was expected.
        message: String,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
