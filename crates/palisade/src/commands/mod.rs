//! One module per subcommand.

pub mod check;
pub mod crds;
pub mod import;
pub mod render;
pub mod validate;
