//! The first steps after signing in: the hardware report (and running the checks again), the network
//! form and the cluster page. Each form is validated by the answers' rules and stored through the
//! wizard's flow; bad input is shown back, escaped, with a message beside its field.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use stackbox_firstboot::check::{Report, Status};

use super::choices::facts_line;
use crate::answers::cluster::ClusterSettings;
use crate::answers::network::{self, NetworkForm};
use crate::chrome::{
    Admin, AdminForm, Chrome, CsrfField, CsrfOnly, PageError, field_error, html, redirect,
};
use crate::error::{FieldError, WebError};
use crate::state::AppState;
use crate::wizard::grow::JoinedNode;
use crate::wizard::joining::{IssuedCode, JoinedCluster};

/// The hardware report.
#[derive(Template)]
#[template(path = "hardware.html")]
pub struct HardwarePage {
    /// Layout.
    pub c: Chrome,
    /// The report.
    pub report: Arc<Report>,
    /// `Ready`, `Usable, with warnings` or `Not ready`.
    pub verdict: &'static str,
    /// Checks passed.
    pub passed: usize,
    /// Checks warned.
    pub warned: usize,
    /// Checks failed.
    pub failed: usize,
    /// The host name or `(unnamed)`.
    pub hostname: String,
    /// Where "Next" leads: the Disk step on a live system, else the network.
    pub next: (&'static str, &'static str),
    /// CPU model and count.
    pub cpu: String,
    /// Memory in GiB.
    pub memory: String,
    /// Whether the checks were just run again.
    pub rerun: bool,
}

impl HardwarePage {
    fn gb(&self, bytes: &u64) -> String {
        format!("{:.0} GB", *bytes as f64 / 1e9)
    }
}

/// The network form.
#[derive(Template)]
#[template(path = "network.html")]
pub struct NetworkPage {
    /// Layout.
    pub c: Chrome,
    /// The form's values.
    pub form: NetworkForm,
    /// The NICs to choose from.
    pub nics: Vec<String>,
    /// What was wrong with the submission.
    pub errors: Vec<FieldError>,
    /// Whether stored settings are shown.
    pub saved: bool,
    /// The smallest MTU.
    pub mtu_min: u32,
    /// The largest MTU.
    pub mtu_max: u32,
    /// What the machine says of each NIC, and what the stored settings make of them.
    pub host: NetworkHost,
}

impl NetworkPage {
    fn err(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }

    fn inv(&self, field: &str) -> String {
        crate::chrome::invalid_attrs(&self.errors, field)
    }
}

/// The cluster page: create a cluster (of one, at first) or join an existing one; on a member, issue
/// a join code for the next node and list the nodes that joined.
#[derive(Template)]
#[template(path = "cluster.html")]
pub struct ClusterPage {
    /// Layout.
    pub c: Chrome,
    /// The created cluster, if any.
    pub cluster: Option<ClusterSettings>,
    /// The member this node joined, if it joined one.
    pub joined: Option<JoinedCluster>,
    /// The nodes that joined through this member.
    pub members: Vec<MemberView>,
    /// Where the grown configuration is written.
    pub grown_config: String,
    /// Whether this node is installed (the cluster grows from an installed node).
    pub installed: bool,
    /// The nodes of the installed cluster (each may be removed).
    pub installed_nodes: Vec<String>,
    /// The current or last operation on the cluster, in words, and whether it runs.
    pub operation: Option<(String, bool)>,
    /// A join code just issued (shown once).
    pub code: Option<IssuedCode>,
    /// Whether network settings are stored.
    pub network_set: bool,
    /// The name field's value.
    pub name: String,
    /// The API address field's value.
    pub api_address: String,
    /// The join form's member address.
    pub member: String,
    /// The join form's fingerprint.
    pub fingerprint: String,
    /// What was wrong with the submission.
    pub errors: Vec<FieldError>,
}

/// A node that joined, as the cluster page lists it.
#[derive(Debug, Clone)]
pub struct MemberView {
    /// Its name.
    pub name: String,
    /// Its management address.
    pub address: String,
    /// Its wizard's TLS fingerprint.
    pub fingerprint: String,
    /// Its hardware in a line, or why it is not known.
    pub hardware: String,
    /// Its saved roles, if any.
    pub roles: Option<String>,
}

impl MemberView {
    fn of(node: JoinedNode) -> MemberView {
        MemberView {
            hardware: match &node.hardware {
                Ok(h) => facts_line(&h.facts),
                Err(why) => format!("not known: {why}"),
            },
            roles: node.roles.map(|r| r.roles.join(", ")),
            name: node.member.name,
            address: node.member.address.to_string(),
            fingerprint: node.member.fingerprint.to_string(),
        }
    }
}

impl ClusterPage {
    /// The page as the wizard's state has it, with empty forms (the joined nodes' hardware is asked of
    /// their agents, off the server's threads).
    async fn of(state: &web::Data<AppState>, csrf: &str) -> Result<ClusterPage, WebError> {
        let answers = &state.wizard.answers;
        let st = state.clone();
        let members = web::block(move || st.wizard.joined_nodes())
            .await
            .map_err(|e| WebError::Internal(anyhow::anyhow!("the agents' thread: {e}")))??;
        Ok(ClusterPage {
            c: Chrome::admin("Cluster", "cluster", csrf),
            cluster: answers.cluster()?,
            joined: state.wizard.joined()?,
            members: members.into_iter().map(MemberView::of).collect(),
            grown_config: state
                .wizard
                .state_dir()
                .join(stackbox_cluster::coordinator::CLUSTER_CONFIG)
                .display()
                .to_string(),
            installed: state.wizard.phase() == stackbox_installer::progress::Phase::Complete,
            installed_nodes: state.wizard.installed_nodes(),
            operation: state.wizard.operation().map(|o| {
                let phase = o.progress.phase;
                (
                    format!("{}: {}", o.kind, phase.as_str()),
                    phase == stackbox_installer::progress::Phase::Running,
                )
            }),
            code: None,
            network_set: answers.network()?.is_some(),
            name: "stackbox".to_owned(),
            api_address: String::new(),
            member: String::new(),
            fingerprint: String::new(),
            errors: Vec::new(),
        })
    }
}

impl ClusterPage {
    fn err(&self, field: &str) -> Option<&str> {
        field_error(&self.errors, field)
    }

    fn inv(&self, field: &str) -> String {
        crate::chrome::invalid_attrs(&self.errors, field)
    }
}

/// Renders the hardware page for a report (also used by the golden tests).
pub fn hardware_page(report: Arc<Report>, csrf: &str) -> HardwarePage {
    let f = &report.facts;
    HardwarePage {
        c: Chrome::admin("Hardware", "hardware", csrf),
        verdict: match report.status {
            Status::Pass => "Ready",
            Status::Warn => "Usable, with warnings",
            Status::Fail => "Not ready: fix the failed checks",
        },
        passed: report.count(Status::Pass),
        warned: report.count(Status::Warn),
        failed: report.count(Status::Fail),
        hostname: f.hostname.clone().unwrap_or_else(|| "(unnamed)".to_owned()),
        cpu: format!(
            "{} ({} online CPUs{})",
            if f.cpu.model.is_empty() {
                "unknown model"
            } else {
                f.cpu.model.as_str()
            },
            f.cpu.online,
            f.cpu
                .virtualization
                .as_deref()
                .map(|v| format!(", {v}"))
                .unwrap_or_default()
        ),
        memory: format!("{:.1} GiB", f.memory_bytes as f64 / (1u64 << 30) as f64),
        report,
        rerun: false,
        next: ("/network", "Next: network"),
    }
}

/// The hardware report page.
pub async fn hardware(
    req: HttpRequest,
    state: web::Data<AppState>,
    s: Admin,
) -> Result<HttpResponse, PageError> {
    let mut page = hardware_page(state.wizard.report(), s.csrf());
    page.rerun = req.query_string() == "rerun";
    if state.wizard.needs_disk() {
        page.next = ("/disk", "Next: install to disk");
    }
    html(StatusCode::OK, &page)
}

/// Runs the hardware checks again.
pub async fn hardware_rerun(
    state: web::Data<AppState>,
    _: AdminForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    web::block(move || st.wizard.rerun_check()).await??;
    Ok(redirect("/hardware?rerun"))
}

/// One NIC as the network page shows it.
#[derive(Debug, Clone, Default)]
pub struct NicRow {
    /// Its name.
    pub name: String,
    /// `link`, `no link` or `unknown`.
    pub link: &'static str,
    /// Its speed, e.g. `1000 Mbit/s`, or empty.
    pub speed: String,
    /// Its MAC address, or empty.
    pub mac: String,
    /// Its driver, or empty.
    pub driver: String,
    /// The addresses it holds now.
    pub addresses: String,
}

/// The machine's NICs, the preview of the stored settings and where the network stands.
#[derive(Debug, Clone, Default)]
pub struct NetworkHost {
    /// Each NIC the operator may choose.
    pub nics: Vec<NicRow>,
    /// The stored settings, as the host will look.
    pub preview: Vec<crate::wizard::net::PreviewRow>,
    /// The applied, pending and last reverted network, in words.
    pub status: Vec<String>,
}

/// What the page shows of the machine (blocking: it asks the kernel for addresses).
pub fn network_host(state: &AppState) -> NetworkHost {
    let wizard = &state.wizard;
    let names = wizard.nic_names();
    let addresses = wizard.live_addresses();
    let report = wizard.report();
    let nics = report
        .facts
        .nics
        .iter()
        .filter(|n| names.contains(&n.name))
        .map(|n| NicRow {
            name: n.name.clone(),
            link: match n.carrier {
                Some(true) => "link",
                Some(false) => "no link",
                None => "unknown",
            },
            speed: n
                .speed_mbps
                .map(|s| format!("{s} Mbit/s"))
                .unwrap_or_default(),
            mac: n.mac.clone().unwrap_or_default(),
            driver: n.driver.clone().unwrap_or_default(),
            addresses: addresses
                .iter()
                .filter(|(link, _, _)| *link == n.name)
                .map(|(_, ip, prefix)| format!("{ip}/{prefix}"))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let preview = wizard
        .answers
        .network()
        .ok()
        .flatten()
        .map(|s| crate::wizard::net::preview(&s))
        .unwrap_or_default();
    let mut status = Vec::new();
    if let Ok(st) = wizard.network.status() {
        match &st.current {
            Some(s) => status.push(format!("Applied and confirmed: {}.", stackbox_network::apply::describe(s))),
            None => status.push("Not applied yet: the node still has the image's default network (DHCP on every NIC).".to_owned()),
        }
        if let Some((p, left)) = &st.pending {
            status.push(format!(
                "Waiting for confirmation: {}; reverted in {left} s unless confirmed.",
                stackbox_network::apply::describe(&p.settings)
            ));
        }
        if let Some(e) = &st.last_revert {
            status.push(format!("Last reverted: {}.", e.reason));
        }
    }
    NetworkHost {
        nics,
        preview,
        status,
    }
}

/// The network page for stored settings, defaults or a rejected submission.
pub fn network_page(
    form: NetworkForm,
    nics: Vec<String>,
    errors: Vec<FieldError>,
    saved: bool,
    csrf: &str,
    host: NetworkHost,
) -> NetworkPage {
    NetworkPage {
        host,
        c: Chrome::admin("Network", "network", csrf),
        form,
        nics,
        errors,
        saved,
        mtu_min: stackbox_network::MTU_MIN,
        mtu_max: stackbox_network::MTU_MAX,
    }
}

/// The network form: the stored settings, else defaults from the probed NICs.
pub async fn network_form(state: web::Data<AppState>, s: Admin) -> Result<HttpResponse, PageError> {
    let wizard = &state.wizard;
    let nics = wizard.nic_names();
    let (form, saved) = match wizard.answers.network()? {
        Some(stored) => (NetworkForm::from_settings(&stored), true),
        None => (
            NetworkForm::defaults(
                &nics,
                wizard
                    .report()
                    .facts
                    .hostname
                    .as_deref()
                    .unwrap_or_default(),
            ),
            false,
        ),
    };
    let st = state.clone();
    let host = web::block(move || network_host(&st)).await?;
    html(
        StatusCode::OK,
        &network_page(form, nics, Vec::new(), saved, s.csrf(), host),
    )
}

/// The network form as posted: the CSRF token plus the fields.
#[derive(Deserialize)]
pub struct NetworkPost {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: NetworkForm,
}

impl CsrfField for NetworkPost {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// Stores valid network settings, or shows the form again with what is wrong.
pub async fn network_submit(
    state: web::Data<AppState>,
    post: AdminForm<NetworkPost>,
) -> Result<HttpResponse, PageError> {
    let nics = state.wizard.nic_names();
    let csrf = post.csrf().to_owned();
    let form = post.body.into_inner().form;
    match network::validate(&form, &nics) {
        Ok(settings) => {
            state.wizard.store_network(&settings)?;
            Ok(redirect("/cluster"))
        }
        Err(errors) => {
            let st = state.clone();
            let host = web::block(move || network_host(&st)).await?;
            html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &network_page(form, nics, errors, false, &csrf, host),
            )
        }
    }
}

/// The cluster page: the created cluster, or the form that creates it.
pub async fn cluster_form(state: web::Data<AppState>, s: Admin) -> Result<HttpResponse, PageError> {
    html(StatusCode::OK, &ClusterPage::of(&state, s.csrf()).await?)
}

/// The cluster form.
#[derive(Deserialize)]
pub struct ClusterPost {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    api_address: String,
}

impl CsrfField for ClusterPost {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// Creates the cluster, or shows the form again with what is wrong with the name.
pub async fn cluster_submit(
    state: web::Data<AppState>,
    post: AdminForm<ClusterPost>,
) -> Result<HttpResponse, PageError> {
    match state
        .wizard
        .create_cluster(&post.body.name, &post.body.api_address)
    {
        Ok(_) => Ok(redirect("/cluster")),
        Err(WebError::Invalid(errors)) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ClusterPage {
                name: post.body.name.clone(),
                api_address: post.body.api_address.clone(),
                errors,
                ..ClusterPage::of(&state, post.csrf()).await?
            },
        ),
        Err(e) => Err(e.into()),
    }
}

/// Issues a join code for the next node and shows it (once) with this member's fingerprint.
pub async fn cluster_code(
    state: web::Data<AppState>,
    post: AdminForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let code = state.wizard.issue_join_code(std::time::SystemTime::now())?;
    html(
        StatusCode::OK,
        &ClusterPage {
            code: Some(code),
            ..ClusterPage::of(&state, post.csrf()).await?
        },
    )
}

/// The join form.
#[derive(Deserialize)]
pub struct JoinPost {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    fingerprint: String,
}

impl CsrfField for JoinPost {
    fn csrf(&self) -> Option<&str> {
        Some(&self.csrf)
    }
}

/// Joins the member the operator named, or shows the form again with what is wrong (the code is
/// never shown again).
pub async fn cluster_join(
    state: web::Data<AppState>,
    post: AdminForm<JoinPost>,
) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    let (member, code, fingerprint) = (
        post.body.member.clone(),
        post.body.code.clone(),
        post.body.fingerprint.clone(),
    );
    let result = web::block(move || {
        st.wizard
            .join_existing(&member, &code, &fingerprint, std::time::SystemTime::now())
    })
    .await
    .map_err(|e| WebError::Internal(anyhow::anyhow!("the join's thread: {e}")))?;
    match result {
        Ok(_) => Ok(redirect("/cluster")),
        Err(WebError::Invalid(errors)) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ClusterPage {
                member: post.body.member.clone(),
                fingerprint: post.body.fingerprint.clone(),
                errors,
                ..ClusterPage::of(&state, post.csrf()).await?
            },
        ),
        Err(e) => Err(e.into()),
    }
}
