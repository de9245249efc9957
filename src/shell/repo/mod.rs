//! D1 repositories, one per table group: the SQL of the shell lives here, with bound
//! parameters only and every tenant-scoped statement filtered by `organization_id`.

pub mod accounts;
pub mod assistant;
pub mod dialect_gaps;
pub mod gateway_keys;
pub mod history;
pub mod organizations;
pub mod pins;
pub mod route_entries;
pub mod stations;
pub mod upstream_keys;
pub mod usage;
pub mod users;
