//! The Pod Security Standards (baseline and restricted), every check, versioned.
