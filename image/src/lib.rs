//! The appliance image pipeline: appliance spec, build stages, artifact assembly and the QEMU launcher.
//!
//! `stackbox build` ([`build::build`]) turns an [`spec::Spec`] into a hybrid ISO, raw and qcow2 disk images, a
//! PXE bundle and a root tarball, each with an offline apt pool signed by Debian; `stackbox verify`
//! ([`manifest::verify`]) rechecks every checksum; `stackbox boot` ([`qemu::boot_interactive`]) boots an
//! artifact in QEMU. [`cli`] holds the `stackbox` command line and its run, so the binary only parses and
//! dispatches.
//!
//! Layout, imports running downwards only:
//! - [`cli`]: arguments and exit statuses of `stackbox`;
//! - [`build`]: the pipeline as a list of stages, one function each with a typed output
//!   ([`build::prepare`], [`build::root`], [`build::artifacts`], [`build::assemble`]);
//! - the stages' work: [`bootstrap`] (mmdebstrap), [`pool`] (the offline pool) over [`apt`], [`configure`]
//!   (the appliance's files), [`disk`] (the GPT disk image and the GRUB images) over [`layout`] (the disk
//!   layout that `stackboxd install-os` shares), [`outputs`] (tar, squashfs, PXE, ISO, qcow2),
//!   [`manifest`] (manifest.json, SHA256SUMS, verify);
//! - the launcher: [`qemu`] with [`http`] (the PXE bundle over HTTP);
//! - leaves: [`spec`], [`cache`] (stage keys and entries), [`progress`], [`host`] (host tools and their
//!   packages, the command runner, the apt sources).

pub mod apt;
pub mod bootstrap;
pub mod build;
pub mod cache;
pub mod cli;
pub mod configure;
pub mod disk;
pub mod host;
pub mod http;
pub mod layout;
pub mod manifest;
pub mod outputs;
pub mod pool;
pub mod progress;
pub mod qemu;
pub mod spec;
