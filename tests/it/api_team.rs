//! Team API tests (being written).
