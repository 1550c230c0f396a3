//! The appliance image pipeline: appliance spec, build stages, artifact assembly and the QEMU launcher.
//!
//! `stackbox build` ([`build::build`]) turns an [`spec::Spec`] into a hybrid ISO, raw and qcow2 disk images, a
//! PXE bundle and a root tarball, each with an offline apt pool signed by Debian; `stackbox verify`
//! ([`manifest::verify`]) rechecks every checksum; `stackbox boot` ([`qemu::boot_interactive`]) boots an
//! artifact in QEMU.

pub mod apt;
pub mod bootstrap;
pub mod build;
pub mod cache;
pub mod configure;
pub mod disk;
pub mod host;
pub mod http;
pub mod manifest;
pub mod outputs;
pub mod pool;
pub mod progress;
pub mod qemu;
pub mod spec;
