//! End-to-end tests against the real dockgate binary.
