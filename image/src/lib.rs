//! The appliance image pipeline: appliance spec, build stages, artifact assembly and the QEMU launcher.
//!
//! Not implemented yet: this crate is a placeholder in the workspace layout of DESIGN.md, and it exports
//! nothing, so nothing can pretend to build an image.
