//! The control plane: the admin API, the status it reports (as JSON, and as the page for the
//! floor), configuration changes at run time (pushes, reloads, rollbacks), and the
//! conversation with systemd.

pub mod admin;
pub mod config_push;
pub mod live;
pub mod page;
pub mod status;
pub mod systemd;
