//! The machine as stackbox sees it: a [`system::Root`] under which /proc, /sys, /dev and /etc are read (the
//! running system, or a captured or synthetic tree under `tests/fixtures/machines`), and the hardware probes
//! in [`probe`], each a thin reader over the root plus pure parsers with unit tests.
//!
//! Firstboot judges these facts, the installer and the wizard read them; nothing here judges, tunes or
//! renders anything.

pub mod probe;
pub mod system;
