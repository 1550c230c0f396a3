//! Helpers for the browser tier: Debian's Chromium, headless, driven over WebDriver (chromedriver) by
//! fantoccini. Chromium and chromedriver must be installed (deps/web.txt); when they are missing a test
//! that starts the driver fails, naming the packages.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, killed when dropped.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free loopback port, once it accepts connections; fails when Chromium or
/// chromedriver is missing.
pub fn start_driver() -> (Driver, u16) {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: apt-get install chromium chromium-driver (deps/web.txt)"
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .args([
            format!("--port={port}"),
            "--allowed-ips=127.0.0.1".to_owned(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let driver = Driver(child);
    // Wait for chromedriver to accept connections (its own signal that it is ready).
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (driver, port)
}

/// A headless Chromium session (its profile in `profile`) through the chromedriver on `port`; the
/// wizard's self-signed certificate is accepted.
pub async fn browser(port: u16, profile: &Path) -> Client {
    let caps = serde_json::json!({
        "acceptInsecureCerts": true,
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("connecting to chromedriver")
}

/// The page's path and query.
pub async fn path(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Waits until the browser shows `want` (navigation after a click is asynchronous).
pub async fn at(c: &Client, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = path(c).await;
        if now == want || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits (up to 15 s) until the browser is no longer at `from` (a form's answer came), and returns where
/// it is.
pub async fn left(c: &Client, from: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = path(c).await;
        if now != from || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Whether an element went away under us (or is not there yet): the page it was found on was replaced (a form post that
/// answered with a page much like the last one), so it is found again on the new page.
pub fn stale(e: &fantoccini::error::CmdError) -> bool {
    // Chromium answers a command that meets a page being replaced with "aborted by navigation".
    e.is_stale_element_reference()
        || e.is_no_such_element()
        || e.to_string().contains("aborted by navigation")
}

/// Runs `act` on the element `css`, finding it again (for up to 5 s) while the page under it changes.
pub async fn on_element<F, Fut>(c: &Client, css: &str, act: F)
where
    F: Fn(fantoccini::elements::Element) -> Fut,
    Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = c.find(Locator::Css(css)).await;
        let outcome = match found {
            Ok(e) => act(e).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => return,
            Err(e) if stale(&e) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{css}: {e}"),
        }
    }
}

/// Types `text` into the field `css`, emptied first.
pub async fn fill(c: &Client, css: &str, text: &str) {
    on_element(c, css, |e| async move {
        e.clear().await?;
        e.send_keys(text).await
    })
    .await;
}

/// Clicks the element `css`.
pub async fn click(c: &Client, css: &str) {
    on_element(c, css, |e| async move { e.click().await }).await;
}

/// The text of the element `css`, waiting (up to 15 s) for it to be there.
pub async fn text(c: &Client, css: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let read = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await,
            Err(e) => Err(e),
        };
        match read {
            Ok(text) => return text,
            Err(e) if stale(&e) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{css}: {e}"),
        }
    }
}

/// Waits until the element is shown (present and not hidden), or fails.
pub async fn visible(c: &Client, css: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && e.is_displayed().await.unwrap_or(false)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} was not shown within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// With `STACKBOX_SCREENSHOTS=DIR`, saves the window as DIR/`name` (a PNG).
pub async fn shot(c: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("STACKBOX_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(Path::new(&dir).join(name), png).unwrap();
    }
}

/// Whether the page fits the window's width (nothing to scroll sideways).
pub async fn fits_width(c: &Client) -> (bool, String) {
    let v = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (scroll, inner) = (v[0].as_u64().unwrap(), v[1].as_u64().unwrap());
    (
        scroll <= inner,
        format!("scrollWidth {scroll} > innerWidth {inner}"),
    )
}
