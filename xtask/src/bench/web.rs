//! `cargo xtask bench web`: torsion-web against nginx on the same machine in the same run.

pub(crate) mod nginx;
