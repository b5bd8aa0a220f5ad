//! SAS Worker.
