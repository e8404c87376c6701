//! Runs the real `flowtag` binary: on the project's fixtures, on the shared corpus of real
//! captures (checked against tshark's figures), and on the catalogue of broken inputs.

mod badinputs;
mod cli;
mod corpus;
mod support;
