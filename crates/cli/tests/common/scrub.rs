//! Filters for snapshot tests (placeholder).
