//! TEMPORARY STUB
#![allow(clippy::all, clippy::pedantic)]
use crate::services::ServiceTable;
use std::io::{self, Write};
pub fn write_table(_w: &mut impl Write, _t: &ServiceTable) -> io::Result<()> {
    Ok(())
}
pub fn write_seed(_w: &mut impl Write, _t: &ServiceTable) -> io::Result<()> {
    Ok(())
}
pub fn write_lookup(_w: &mut impl Write, _t: &ServiceTable, _p: u16) -> io::Result<()> {
    Ok(())
}
