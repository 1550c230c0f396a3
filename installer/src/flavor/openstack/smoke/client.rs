//! The smoke test's conversation with the cloud over OpenStack's REST APIs ([`Session`]): upload the
//! guest to glance, make a flavor, a tenant network with a router and a port, boot the server with a
//! config drive, wait until it is ACTIVE, read its console for the marker, and clean up whatever a run
//! (also an interrupted one) left behind. Every neutron call is timed; one slower than
//! [`NEUTRON_LIMIT`] fails the test (neutron's API once hung on calls that notify the agents).

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::error::{MARKER, NAME, SmokeError, fail, io};
use super::guest::build_guest;
use crate::flavor::openstack::rest::{Body, RestError, Session, id};

/// How long the server may take to become ACTIVE, and then to print the marker (TCG is slow).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a deleted server may take to be gone.
const DELETE_TIMEOUT: Duration = Duration::from_secs(120);
/// The slowest a neutron call may answer.
pub const NEUTRON_LIMIT: Duration = Duration::from_secs(30);
/// The config drive's ISO 9660 volume label, and where nova keeps an instance's drive.
const CONFIG_DRIVE_LABEL: &[u8] = b"config-2";
const INSTANCES: &str = "/var/lib/nova/instances";
/// The tenant subnet.
const CIDR: &str = "192.168.222.0/24";

/// The signed-in session, the services' public URLs, and the report so far.
pub struct Client<'a> {
    session: &'a Session,
    compute: String,
    network: String,
    image: String,
    /// What happened, one line per stage.
    pub log: String,
    /// Each neutron call (`POST networks`, ...) and how long it took.
    pub neutron_calls: Vec<(String, Duration)>,
    /// The compute node the VM must boot on (the admin's `availability_zone` `nova:HOST`), else the
    /// scheduler's choice.
    pub host: Option<&'a str>,
}

/// What the run made, for the steps after.
#[derive(Default)]
struct Made {
    flavor: String,
    network: String,
    image: String,
    server: String,
}

impl<'a> Client<'a> {
    /// A client of the cloud `session` is signed in to, its VM on `host` when given.
    pub fn new(session: &'a Session, host: Option<&'a str>) -> Result<Client<'a>, SmokeError> {
        Ok(Client {
            session,
            compute: session.endpoint("compute")?,
            network: format!("{}/v2.0", session.endpoint("network")?),
            image: format!("{}/v2", session.endpoint("image")?),
            log: String::new(),
            neutron_calls: Vec::new(),
            host,
        })
    }

    /// A neutron request below `/v2.0`, timed.
    async fn neutron(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RestError> {
        let label = format!(
            "{method} {}",
            path.split(['?', '/'])
                .find(|p| !p.is_empty())
                .unwrap_or(path)
        );
        let url = format!("{}{path}", self.network);
        let started = Instant::now();
        // A DELETE answers with no document (and one already gone counts as deleted).
        let answer = if method == Method::DELETE {
            self.session.delete(&url).await.map(|()| Value::Null)
        } else {
            let body = body.map_or(Body::Empty, Body::Json);
            self.session.json(method, &url, body).await
        };
        self.neutron_calls.push((label, started.elapsed()));
        answer
    }

    /// The ids of the neutron `collection`'s members named [`NAME`].
    async fn neutron_named(&mut self, collection: &'static str) -> Result<Vec<String>, RestError> {
        let url = format!("{}/{collection}?name={NAME}", self.network);
        let started = Instant::now();
        let ids = self.session.ids_named(&url, collection, NAME).await;
        self.neutron_calls
            .push((format!("GET {collection}"), started.elapsed()));
        ids
    }

    /// The neutron calls' times for the report, and an error naming the ones slower than the limit.
    pub fn judge_neutron(&mut self) -> Result<(), SmokeError> {
        let times: Vec<String> = self
            .neutron_calls
            .iter()
            .map(|(call, t)| format!("{call} {:.2}s", t.as_secs_f64()))
            .collect();
        self.note(format!("neutron calls: {}", times.join(", ")));
        let slow: Vec<String> = self
            .neutron_calls
            .iter()
            .filter(|(_, t)| *t > NEUTRON_LIMIT)
            .map(|(call, t)| format!("`{call}` took {:.0}s", t.as_secs_f64()))
            .collect();
        if slow.is_empty() {
            Ok(())
        } else {
            Err(fail(format!(
                "neutron answered slower than {}s: {}",
                NEUTRON_LIMIT.as_secs(),
                slow.join(", ")
            )))
        }
    }

    /// Adds a line to the report.
    pub fn note(&mut self, line: impl Into<String>) {
        self.log.push_str(&line.into());
        self.log.push('\n');
    }

    /// Deletes whatever a run left behind: the server first (its port goes with it), then the port,
    /// the router's interface and the router, the subnet, the network, the images and the flavor.
    pub async fn cleanup(&mut self) -> Result<(), SmokeError> {
        let servers = format!("{}/servers?name={NAME}", self.compute);
        for server in self.session.ids_named(&servers, "servers", NAME).await? {
            let url = format!("{}/servers/{server}", self.compute);
            self.session.delete(&url).await?;
            let asked = Instant::now();
            while self.exists(&url).await? {
                if asked.elapsed() > DELETE_TIMEOUT {
                    return Err(fail(format!(
                        "the old test server {server} is not gone after {}s",
                        DELETE_TIMEOUT.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        for port in self.neutron_named("ports").await? {
            self.neutron(Method::DELETE, &format!("/ports/{port}"), None)
                .await?;
        }
        let subnets = self.neutron_named("subnets").await?;
        for router in self.neutron_named("routers").await? {
            for subnet in &subnets {
                // The interface may be gone already: its error is no error.
                let body = json!({"subnet_id": subnet});
                let path = format!("/routers/{router}/remove_router_interface");
                let _ = self.neutron(Method::PUT, &path, Some(&body)).await;
            }
            self.neutron(Method::DELETE, &format!("/routers/{router}"), None)
                .await?;
        }
        for subnet in subnets {
            self.neutron(Method::DELETE, &format!("/subnets/{subnet}"), None)
                .await?;
        }
        for network in self.neutron_named("networks").await? {
            self.neutron(Method::DELETE, &format!("/networks/{network}"), None)
                .await?;
        }
        for name in [
            NAME.to_owned(),
            format!("{NAME}-kernel"),
            format!("{NAME}-ramdisk"),
        ] {
            let url = format!("{}/images?name={name}", self.image);
            for image in self.session.ids_named(&url, "images", &name).await? {
                self.session
                    .delete(&format!("{}/images/{image}", self.image))
                    .await?;
            }
        }
        let flavors = format!("{}/flavors?is_public=None", self.compute);
        for flavor in self.session.ids_named(&flavors, "flavors", NAME).await? {
            self.session
                .delete(&format!("{}/flavors/{flavor}", self.compute))
                .await?;
        }
        Ok(())
    }

    /// Whether a GET of `url` finds it.
    async fn exists(&self, url: &str) -> Result<bool, RestError> {
        let found = [StatusCode::OK, StatusCode::NOT_FOUND];
        let answer = self
            .session
            .send(Method::GET, url, Body::Empty, &found)
            .await?;
        Ok(answer.status() == StatusCode::OK)
    }

    /// Boots the test VM and reads the marker on its console.
    pub async fn run(&mut self) -> Result<(), SmokeError> {
        let (kernel, initrd, disk) = build_guest()?;
        self.note(format!("guest built from {}", kernel.display()));
        let mut made = Made {
            image: self.upload(&kernel, &initrd, &disk).await?,
            ..Made::default()
        };
        self.note("images uploaded to glance");
        self.network(&mut made).await?;
        self.note("flavor, network, subnet, router and port created");
        self.boot(&mut made).await?;
        self.console(&made).await
    }

    /// One image: made in glance, then its data uploaded. Returns its id.
    async fn image(
        &self,
        format: &str,
        file: &Path,
        name: &str,
        properties: &[(&str, &str)],
    ) -> Result<String, SmokeError> {
        let container = if format == "raw" { "bare" } else { format };
        let mut body = json!({"name": name, "disk_format": format, "container_format": container});
        for (key, value) in properties {
            body[*key] = json!(value);
        }
        let url = format!("{}/images", self.image);
        let image = self.session.create(&url, &body, None).await?;
        let data = std::fs::read(file).map_err(io(file))?;
        let file_url = format!("{}/images/{image}/file", self.image);
        self.session
            .send(
                Method::PUT,
                &file_url,
                Body::Bytes(&data),
                &[StatusCode::NO_CONTENT],
            )
            .await?;
        Ok(image)
    }

    /// Uploads kernel, ramdisk and the disk image that boots them; returns the disk image's id.
    async fn upload(
        &self,
        kernel: &Path,
        initrd: &Path,
        disk: &Path,
    ) -> Result<String, SmokeError> {
        let k = self
            .image("aki", kernel, &format!("{NAME}-kernel"), &[])
            .await?;
        let r = self
            .image("ari", initrd, &format!("{NAME}-ramdisk"), &[])
            .await?;
        let properties = [
            ("kernel_id", k.as_str()),
            ("ramdisk_id", r.as_str()),
            ("os_command_line", "console=ttyS0"),
        ];
        self.image("raw", disk, NAME, &properties).await
    }

    /// The flavor, the tenant network and its subnet, a router with an interface on it and a port:
    /// neutron notifies the L3 and DHCP agents.
    async fn network(&mut self, made: &mut Made) -> Result<(), SmokeError> {
        let flavor = json!({"flavor": {"name": NAME, "vcpus": 1, "ram": 256, "disk": 1}});
        let url = format!("{}/flavors", self.compute);
        made.flavor = self.session.create(&url, &flavor, Some("flavor")).await?;
        let network = self
            .neutron(
                Method::POST,
                "/networks",
                Some(&json!({"network": {"name": NAME}})),
            )
            .await?;
        made.network = id(&network["network"], "network")?;
        let subnet = json!({"subnet": {"name": NAME, "network_id": made.network, "ip_version": 4, "cidr": CIDR}});
        let subnet = id(
            &self
                .neutron(Method::POST, "/subnets", Some(&subnet))
                .await?["subnet"],
            "subnet",
        )?;
        let router = self
            .neutron(
                Method::POST,
                "/routers",
                Some(&json!({"router": {"name": NAME}})),
            )
            .await?;
        let router = id(&router["router"], "router")?;
        let interface = json!({"subnet_id": subnet});
        self.neutron(
            Method::PUT,
            &format!("/routers/{router}/add_router_interface"),
            Some(&interface),
        )
        .await?;
        let port = json!({"port": {"name": NAME, "network_id": made.network}});
        self.neutron(Method::POST, "/ports", Some(&port)).await?;
        Ok(())
    }

    /// Creates the server with a config drive and waits until it is ACTIVE, on the host asked for.
    async fn boot(&mut self, made: &mut Made) -> Result<(), SmokeError> {
        let mut server = json!({"server": {
            "name": NAME, "imageRef": made.image, "flavorRef": made.flavor,
            "networks": [{"uuid": made.network}], "config_drive": true,
        }});
        if let Some(host) = self.host {
            server["server"]["availability_zone"] = json!(format!("nova:{host}"));
        }
        let url = format!("{}/servers", self.compute);
        made.server = self.session.create(&url, &server, Some("server")).await?;
        let url = format!("{}/servers/{}", self.compute, made.server);
        let started = Instant::now();
        let shown = loop {
            let mut shown = self.session.json(Method::GET, &url, Body::Empty).await?;
            let shown = shown["server"].take();
            match shown["status"].as_str().unwrap_or_default() {
                "ACTIVE" => break shown,
                "ERROR" => {
                    let fault = shown["fault"]["message"]
                        .as_str()
                        .unwrap_or("no fault recorded");
                    return Err(fail(format!("the test server went to ERROR: {fault}")));
                }
                status if started.elapsed() > ACTIVE_TIMEOUT => {
                    return Err(fail(format!(
                        "the test server is still {status} after {}s",
                        ACTIVE_TIMEOUT.as_secs()
                    )));
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        };
        let on = shown["OS-EXT-SRV-ATTR:host"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.note(format!(
            "server ACTIVE after {:.0}s on {on}",
            started.elapsed().as_secs_f64()
        ));
        if let Some(host) = self.host.filter(|h| *h != on) {
            return Err(fail(format!(
                "the test server runs on {on}, not on {host} as asked"
            )));
        }
        self.config_drive(&shown)
    }

    /// The server was built with a config drive (nova writes it with genisoimage before the VM starts, so
    /// ACTIVE already proves it could); on this node, its ISO must carry the `config-2` label.
    fn config_drive(&mut self, server: &Value) -> Result<(), SmokeError> {
        let drive = server["config_drive"].as_str().unwrap_or_default();
        let id = server["id"].as_str().unwrap_or_default();
        if !matches!(drive, "True" | "true") || id.is_empty() {
            return Err(fail(format!(
                "the test server has no config drive (config_drive: `{drive}`)"
            )));
        }
        let iso = Path::new(INSTANCES).join(id).join("disk.config");
        match std::fs::read(&iso) {
            Ok(bytes) if volume_label(&bytes).starts_with(CONFIG_DRIVE_LABEL) => {
                self.note(format!("config drive {} labelled config-2", iso.display()));
                Ok(())
            }
            Ok(_) => Err(fail(format!(
                "{} is not a config drive: no config-2 label",
                iso.display()
            ))),
            Err(_) => {
                self.note("config drive attached (the VM runs on another node)");
                Ok(())
            }
        }
    }

    /// Reads the console until the marker shows with an address, the kernel panics or time runs out.
    async fn console(&mut self, made: &Made) -> Result<(), SmokeError> {
        let url = format!("{}/servers/{}/action", self.compute, made.server);
        let ask = json!({"os-getConsoleOutput": {}});
        let booted = Instant::now();
        loop {
            let console = match self
                .session
                .json(Method::POST, &url, Body::Json(&ask))
                .await
            {
                Ok(answer) => answer["output"].as_str().unwrap_or_default().to_owned(),
                // Early on, nova may not have the console yet.
                Err(RestError::Status { .. }) => String::new(),
                Err(e) => return Err(e.into()),
            };
            if let Some(line) = console.lines().find(|l| l.contains(MARKER)) {
                let address = line
                    .split("address=")
                    .nth(1)
                    .unwrap_or("none")
                    .trim()
                    .to_owned();
                if address == "none" {
                    return Err(fail(format!(
                        "the test VM booted but got no DHCP address from neutron; its console ends:\n{}",
                        last_lines(&console, 15)
                    )));
                }
                self.note(format!(
                    "console: {} (after {:.0}s)",
                    line.trim(),
                    booted.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            if console.contains("Kernel panic") || booted.elapsed() > CONSOLE_TIMEOUT {
                return Err(fail(format!(
                    "no {MARKER} on the test VM's console after {:.0}s; last lines:\n{}",
                    booted.elapsed().as_secs_f64(),
                    last_lines(&console, 10)
                )));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// The last `n` lines of `text`, in order.
fn last_lines(text: &str, n: usize) -> String {
    let tail: Vec<&str> = text.lines().rev().take(n).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// The volume label of an ISO 9660 image: 32 bytes at offset 40 of the primary volume descriptor (sector
/// 16); empty when the image is shorter.
pub fn volume_label(iso: &[u8]) -> &[u8] {
    const AT: usize = 16 * 2048 + 40;
    iso.get(AT..AT + 32).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_volume_labels() {
        let mut iso = vec![0u8; 16 * 2048 + 2048];
        iso[16 * 2048 + 40..16 * 2048 + 48].copy_from_slice(b"config-2");
        assert!(volume_label(&iso).starts_with(CONFIG_DRIVE_LABEL));
        assert!(volume_label(&[0u8; 100]).is_empty());
        assert!(!volume_label(&vec![0u8; 40 * 1024]).starts_with(CONFIG_DRIVE_LABEL));
    }
}
