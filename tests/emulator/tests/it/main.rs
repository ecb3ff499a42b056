//! Integration tests: one binary (links once), a module per area, a raw HTTP/1.1 client.

mod client;
mod demo;
mod faults;
mod graph;
mod token;
