//! Sign-in API tests (being written).
