//! The API services Debian runs under uWSGI (keystone, placement, nova-api, nova's metadata API,
//! neutron-api): their `.ini` files, sized to the node (Debian ships 8 to 16 processes of up to 32
//! threads each, whatever the machine), and the `/etc/default` file that binds them to the management
//! address at their internal port.
//!
//! nova's and neutron's APIs are eventlet applications: they get one thread per worker, and the RabbitMQ
//! heartbeat runs in a native thread (`heartbeat_in_pthread`, set through oslo.config's environment
//! source so that only the uWSGI workers have it; nova-conductor and the agents, which share the
//! configuration file, must not). With Debian's threads, RabbitMQ dropped idle API workers for missed
//! heartbeats, and about one neutron call in ten that notifies the agents never answered.

use askama::Template;

use super::context::OpenStackCtx;
use crate::plan::FileSpec;
use crate::plan::builder::file;

/// A uWSGI API service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// keystone.
    Keystone,
    /// placement-api.
    Placement,
    /// nova-api.
    NovaApi,
    /// nova-api-metadata.
    NovaMetadata,
    /// neutron-api.
    Neutron,
}

/// What differs between the services' `.ini` files (as Debian ships them).
struct Spec {
    /// The uWSGI process name.
    name: &'static str,
    /// The name of the file under `/etc/default` that Debian's init script reads.
    defaults: &'static str,
    /// The service's user and group; its home is `/var/lib/<user>`.
    user: &'static str,
    /// The `.ini` path Debian's init script reads.
    ini: &'static str,
    log: &'static str,
    wsgi_file: &'static str,
    plugins: &'static str,
    apparmor: Option<&'static str>,
    paste: Option<&'static str>,
    /// Monkey-patched by eventlet: one thread per worker, heartbeat in a native thread.
    eventlet: bool,
    /// Not an eventlet application, but takes eventlet's locks somewhere in its libraries: one
    /// thread per worker too (keystone: with 32 threads a worker, a lock's waiter could not be woken
    /// from another thread, `greenlet.error: cannot switch to a different thread`, and every token
    /// request that worker took hung until haproxy gave up after 300 s; seen after a power loss).
    green_locks: bool,
    /// Chunked request bodies (placement's, as Debian configures it).
    chunked: bool,
    /// `Connection: close` on every answer.
    close: bool,
}

impl App {
    /// Every uWSGI service.
    pub const ALL: &[App] = &[
        App::Keystone,
        App::Placement,
        App::NovaApi,
        App::NovaMetadata,
        App::Neutron,
    ];

    fn spec(self) -> Spec {
        match self {
            App::Keystone => Spec {
                name: "keystone",
                defaults: "keystone",
                user: "keystone",
                ini: "/etc/keystone/keystone-uwsgi.ini",
                log: "/var/log/keystone/keystone.log",
                wsgi_file: "/usr/bin/keystone-wsgi-public",
                plugins: "python3,apparmor",
                apparmor: Some("keystone"),
                paste: None,
                eventlet: false,
                green_locks: true,
                chunked: false,
                close: false,
            },
            App::Placement => Spec {
                name: "placement-api",
                defaults: "placement-api",
                user: "placement",
                ini: "/etc/placement/placement-api-uwsgi.ini",
                log: "/var/log/placement/placement-api.log",
                wsgi_file: "/usr/bin/placement-api",
                plugins: "python3",
                apparmor: None,
                paste: None,
                eventlet: false,
                green_locks: false,
                chunked: true,
                close: true,
            },
            App::NovaApi => Spec {
                name: "nova-api",
                defaults: "nova-api",
                user: "nova",
                ini: "/etc/nova/nova-api-uwsgi.ini",
                log: "/var/log/nova/nova-api.log",
                wsgi_file: "/usr/bin/nova-api-wsgi",
                plugins: "python3",
                apparmor: None,
                paste: None,
                eventlet: true,
                green_locks: false,
                chunked: false,
                close: false,
            },
            App::NovaMetadata => Spec {
                name: "nova-api-metadata",
                defaults: "nova-api-metadata",
                user: "nova",
                ini: "/etc/nova/nova-api-metadata-uwsgi.ini",
                log: "/var/log/nova/nova-api-metadata.log",
                wsgi_file: "/usr/bin/nova-metadata-wsgi",
                plugins: "python3",
                apparmor: None,
                paste: None,
                eventlet: true,
                green_locks: false,
                chunked: false,
                close: false,
            },
            App::Neutron => Spec {
                name: "neutron-api",
                defaults: "neutron-server",
                user: "neutron",
                ini: "/etc/neutron/neutron-api-uwsgi.ini",
                log: "/var/log/neutron/neutron-api.log",
                wsgi_file: "/usr/bin/neutron-api",
                plugins: "python3",
                apparmor: None,
                paste: Some("/etc/neutron/api-paste.ini"),
                eventlet: true,
                green_locks: false,
                chunked: false,
                close: true,
            },
        }
    }
}

/// Threads per worker: one for an eventlet application or one that takes eventlet's locks (keystone),
/// else Debian's 32 (placement is thread-safe and mostly waits on the database).
fn threads(spec: &Spec) -> u32 {
    if spec.eventlet || spec.green_locks {
        1
    } else {
        32
    }
}

/// A template's text with a final newline (rendering fails only when a value's Display fails; none of
/// ours can).
fn text(template: &impl Template) -> String {
    let mut text = template
        .render()
        .unwrap_or_else(|e| format!("# render error: {e}\n"));
    text.push('\n');
    text
}

#[derive(Template)]
#[template(path = "uwsgi.ini", escape = "none")]
struct Ini<'a> {
    app: &'a Spec,
    node: &'a str,
    cpus: u32,
    processes: u32,
    threads: u32,
}

/// The service's uWSGI `.ini`, readable by its group.
pub fn ini(app: App, ctx: &OpenStackCtx) -> FileSpec {
    let spec = app.spec();
    let ini = Ini {
        app: &spec,
        node: &ctx.node_name,
        cpus: ctx.cpus,
        processes: ctx.api_processes(),
        threads: threads(&spec),
    };
    file(spec.ini, 0o644, None, text(&ini))
}

#[derive(Template)]
#[template(path = "service-default", escape = "none")]
struct ServiceDefault<'a> {
    service: &'a str,
    address: &'a str,
    port: u16,
    ini: &'a str,
}

/// `/etc/default/<service>`: the service listens on the management address at its internal `port`
/// (haproxy serves the public one with TLS).
pub fn default_file(app: App, ctx: &OpenStackCtx, port: u16) -> FileSpec {
    let spec = app.spec();
    let default = ServiceDefault {
        service: spec.name,
        address: &ctx.address,
        port,
        ini: spec.ini,
    };
    file(
        &format!("/etc/default/{}", spec.defaults),
        0o644,
        None,
        text(&default),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventlet_apps_run_one_thread() {
        for app in App::ALL {
            let spec = app.spec();
            assert_eq!(
                threads(&spec) == 1,
                spec.eventlet || spec.green_locks,
                "{}",
                spec.name
            );
        }
        assert!(App::Neutron.spec().eventlet && App::NovaApi.spec().eventlet);
        // keystone takes eventlet's locks: one thread a worker, without the RabbitMQ heartbeat setting.
        assert_eq!(threads(&App::Keystone.spec()), 1);
        assert!(!App::Keystone.spec().eventlet);
    }
}
