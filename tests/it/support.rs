//! TestApp (being written).
