//! Broker bridge library.
