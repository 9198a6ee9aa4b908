//! One module per subcommand.

pub mod audit;
pub mod check;
pub mod controller;
pub mod crds;
pub mod import;
pub mod proxy;
pub mod reach;
pub mod render;
pub mod validate;
pub mod webhook;
