//! Output: renderers of the [`Report`](crate::report::Report), of flow records, and of the
//! sampled warnings. Each writes to `&mut impl Write` and knows nothing but the data it is
//! given.
pub mod csv;
pub mod escape;
pub mod flows;
pub mod interfaces;
pub mod json;
pub mod live;
pub mod prometheus;
pub mod services;
pub mod table;
pub mod units;
pub mod warnings;
