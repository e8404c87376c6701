//! flowtag: which Windows 2000 services does this traffic belong to?
pub mod capture;
pub mod output;
pub mod services;
