//! The boot tier: the built appliance boots under QEMU (TCG here) from every medium and firmware, and the guest
//! announces itself with its `STACKBOX-FIRSTBOOT` line on the serial console. A kernel panic, an emergency or
//! initramfs shell, or a failed unit fails the test at once; the time limits are upper bounds, never sleeps.
//!
//! These tests are `#[ignore]`d so that the unit tier (`cargo test`) stays fast; the boot tier runs them:
//!
//! ```sh
//! sudo -E cargo test --locked --workspace --test boot -- --ignored --test-threads=1
//! ```
//!
//! One image is shared by every test: `STACKBOX_IMAGE_DIR` names a finished build (e.g. from
//! `bench/image-build.sh`); without it the first test builds one (as root) into the target directory, with
//! the stage cache in `STACKBOX_CACHE_DIR` (default: `target/tmp/image-cache`), so later runs reuse it.
//! Missing tools fail the tests with the package to install; nothing is skipped.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use stackbox_image::build::{BuildOptions, build};
use stackbox_image::qemu::{self, BootFormat, Firmware, Guest};

#[path = "boot/install_os.rs"]
mod install_os;
#[path = "boot/zero_touch.rs"]
mod zero_touch;

/// The prefix of the line `stackboxd firstboot` prints on the console.
const FIRSTBOOT: &str = "STACKBOX-FIRSTBOOT status=";
/// Upper bound for one boot under TCG (a boot takes well under a minute; PXE moves the squashfs first).
const BOOT_LIMIT: Duration = Duration::from_secs(420);

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared image directory, built at most once per test process.
fn image() -> &'static Path {
    static IMAGE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = IMAGE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("STACKBOX_IMAGE_DIR") {
            return Ok(PathBuf::from(dir));
        }
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let cache = std::env::var_os("STACKBOX_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| tmp.join("image-cache"));
        let out = tmp.join("boot-image");
        build(&BuildOptions {
            spec: None,
            out: out.clone(),
            formats: None,
            cache,
            timings: true,
            mirror: None,
            stackboxd: Some(PathBuf::from(env!("CARGO_BIN_EXE_stackboxd"))),
            firstboot_unit: None,
            workspace: workspace(),
            answers: None,
        })
        .map(|_| out)
        .map_err(|e| format!("{e:#}"))
    });
    match result {
        Ok(p) => p,
        Err(e) => panic!("building the shared boot image failed: {e}"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Boots `format` with `firmware` and checks the first-boot line: not failed, two NICs seen.
fn boot_and_wait(format: BootFormat, firmware: Firmware) {
    let dir = image();
    let (plan, tmp, http) =
        qemu::prepare(dir, format, firmware, free_port()).expect("preparing the QEMU boot");
    let mut guest = Guest::spawn(&plan, Some(tmp), http).expect("starting QEMU");
    first_boot(&mut guest, format, firmware);
    guest.kill();
}

/// Waits for the guest's first-boot line and judges it: not failed, two NICs seen; returns it.
fn first_boot(guest: &mut Guest, format: BootFormat, firmware: Firmware) -> String {
    let line = guest
        .wait_for(FIRSTBOOT, BOOT_LIMIT)
        .unwrap_or_else(|e| panic!("{format:?}/{firmware:?}: {e:#}"));
    let secs = guest.started.elapsed().as_secs_f64();
    eprintln!("{format:?}/{firmware:?}: first-boot line after {secs:.1} s: {line}");
    assert!(!line.contains("status=fail"), "{line}");
    assert!(
        line.contains(" nics=2 "),
        "the guest should see two NICs: {line}"
    );
    line
}

#[test]
#[ignore = "boot tier: needs root, QEMU and a built image (see the module docs)"]
fn disk_boots_with_uefi() {
    boot_and_wait(BootFormat::Raw, Firmware::Uefi);
}

#[test]
#[ignore = "boot tier: needs root, QEMU and a built image (see the module docs)"]
fn disk_boots_with_bios() {
    boot_and_wait(BootFormat::Raw, Firmware::Bios);
}

#[test]
#[ignore = "boot tier: needs root, QEMU and a built image (see the module docs)"]
fn iso_as_cd_boots_with_uefi() {
    boot_and_wait(BootFormat::Iso, Firmware::Uefi);
}

#[test]
#[ignore = "boot tier: needs root, QEMU and a built image (see the module docs)"]
fn iso_as_cd_boots_with_bios() {
    boot_and_wait(BootFormat::Iso, Firmware::Bios);
}

// The ISO as a USB stick (UEFI, BIOS) and PXE through iPXE over loopback HTTP (BIOS) boot in the zero-touch
// tests (tests/boot/zero_touch.rs): their live boot is judged as `boot_and_wait` judges one, then goes on to
// install to disk, so that the tier boots each of these media once.

/// A booted appliance with no network at all installs a role package from its offline pool; apt checks the
/// InRelease signature and every .deb's SHA-256 (the self-test unit reports apt's warnings as a failure).
#[test]
#[ignore = "boot tier: needs root, QEMU and a built image (see the module docs)"]
fn role_package_installs_from_the_offline_pool_without_network() {
    let dir = image();
    let manifest: stackbox_image::manifest::Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest.json"))
            .unwrap();
    let (mut plan, tmp, http) =
        qemu::prepare(dir, BootFormat::Raw, Firmware::Bios, free_port()).unwrap();
    plan.no_network = true;
    let spec = stackbox_image::spec::Spec::default_spec().unwrap();
    plan.direct_kernel = Some((
        dir.join("pxe/vmlinuz"),
        dir.join("pxe/initrd.img"),
        spec.cmdline(&format!(
            "root=UUID={} rw stackbox.pool_selftest=mariadb-server",
            manifest.root_uuid
        )),
    ));
    let mut guest = Guest::spawn(&plan, Some(tmp), http).unwrap();
    let line = guest
        .wait_for(
            "STACKBOX-POOL-SELFTEST status=",
            BOOT_LIMIT + Duration::from_secs(300),
        )
        .unwrap_or_else(|e| panic!("pool self-test: {e:#}"));
    assert!(
        line.contains("status=pass package=mariadb-server"),
        "{line}\nconsole tail:\n{}",
        guest.tail(60)
    );
}

/// The must-fail case of the pool: a .deb altered after download is refused by the build's own check against
/// the signed index, with the real indices and a real package from the shared build's cache.
#[test]
#[ignore = "boot tier: needs root and a built image's cache (see the module docs)"]
fn build_refuses_an_altered_pool_deb() {
    let _ = image();
    let cache_dir = std::env::var_os("STACKBOX_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("image-cache"));
    let cache = stackbox_image::cache::Cache::open(&cache_dir).unwrap();
    let spec = stackbox_image::spec::Spec::default_spec().unwrap();
    let archives = stackbox_image::host::archives(&spec.suite, None).unwrap();
    let apt = stackbox_image::apt::Apt::new(&cache.apt_dir(), &archives).unwrap();
    let indices = stackbox_image::pool::load_indices(&apt).unwrap();
    let resolution = std::fs::read_dir(cache.root().join("stages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("pool-") && name.ends_with(".json")
        })
        .expect("the shared build's pool resolution in the cache");
    let packages: Vec<stackbox_image::pool::PoolPackage> =
        serde_json::from_slice(&std::fs::read(resolution).unwrap()).unwrap();
    let victim = packages
        .iter()
        .find(|p| p.name == "mariadb-server")
        .expect("mariadb-server is in the pool")
        .clone();
    let debs = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(cache.debs_dir().join(&victim.file)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(debs.path().join(&victim.file), bytes).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let err = stackbox_image::pool::assemble(
        &apt,
        &indices,
        std::slice::from_ref(&victim),
        debs.path(),
        dest.path(),
    )
    .expect_err("an altered .deb must be refused");
    assert!(
        err.downcast_ref::<stackbox_image::pool::TamperedDeb>()
            .is_some(),
        "{err:#}"
    );
    assert!(
        !dest
            .path()
            .join(&victim.archive)
            .join(&victim.filename)
            .exists(),
        "the altered .deb must not reach the pool"
    );
}
