//! The control plane: the admin API, the status it reports, and the conversation with systemd.

pub mod admin;
pub mod status;
pub mod systemd;
