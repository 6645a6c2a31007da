//! PostgreSQL for tests and the demo: find or start a server ([`LocalPostgres`]), give each
//! test its own database ([`TestDb`]), and find `psql` ([`find_psql`], [`psql_command`]).

mod binaries;
mod cluster;
mod conninfo;
mod run_as;
mod server;
mod testdb;

pub use binaries::{find_psql, psql_command};
pub use server::LocalPostgres;
pub use testdb::TestDb;
