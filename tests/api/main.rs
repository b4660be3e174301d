//! The integration tests: one binary, one module per area. Every test runs the real
//! application on port 0 against fresh PostgreSQL databases and the embedded S3 server.

mod access;
mod agent;
mod assertion;
mod audit;
mod benchmarks;
mod browser;
mod child_report;
mod cli;
mod console;
mod console_access;
mod datamap;
mod deadlines;
mod deletion;
mod disclosure;
mod embedded_s3;
mod faults;
mod fixtures;
mod fuzz;
mod health;
mod helpers;
mod intake;
mod large;
mod leases;
mod likeness;
mod logs;
mod maintenance;
mod metrics;
mod own_copies;
mod privacy_center;
mod rehearsal;
mod routes;
mod security;
mod unsubscribe;
mod versioned;
mod workers;
