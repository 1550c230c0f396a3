//! RabbitMQ, clustered: packages, settings and the Erlang cookie, the start, and on the bus leader the
//! flavor's user (the other members join the leader).

use super::firewall;
use crate::plan::builder::{NodeSteps, argv, file};
use crate::plan::step::{Action, DoneCheck};
use crate::render::{Ctx, File};
use crate::secrets::placeholder;
use crate::service_tls::Service;

/// The steps of a message-bus node; `bus_leader` creates `user`, the others join it.
pub fn steps(s: &mut NodeSteps, ctx: &Ctx, bus_leader: &str, user: &str) {
    s.packages(
        "rabbitmq.packages",
        "install RabbitMQ",
        &["hosts"],
        &["rabbitmq-server"],
    );
    s.files(
        "rabbitmq.config",
        "configure RabbitMQ and its Erlang cookie",
        &["rabbitmq.packages"],
        vec![
            file(
                "/etc/rabbitmq/rabbitmq-env.conf",
                0o644,
                None,
                File::RabbitmqEnv.render(ctx),
            ),
            file(
                "/etc/rabbitmq/rabbitmq.conf",
                0o644,
                None,
                File::RabbitmqConf.render(ctx),
            ),
            file(
                "/var/lib/rabbitmq/.erlang.cookie",
                0o400,
                Some("rabbitmq:rabbitmq"),
                placeholder("erlang-cookie"),
            ),
        ],
    );
    super::tls::step(s, ctx, Service::Rabbitmq, &["rabbitmq.packages"]);
    s.units(
        "rabbitmq.start",
        "start RabbitMQ",
        &["rabbitmq.config", "tls.rabbitmq", "time", firewall::LOADED],
        &["rabbitmq.config", "tls.rabbitmq"],
        &["rabbitmq-server.service"],
        "/var/log/rabbitmq/",
    );
    if ctx.node_name == bus_leader {
        create_user(s, user);
    } else {
        join(s, bus_leader);
    }
}

/// Creates `$1` with the password in `$STACKBOX_SECRET`, or sets the password of the existing user: the
/// password reaches `rabbitmqctl` on its standard input (it reads it there when the argument is left
/// out), through `printf`, a shell builtin, so it is on no command line.
const CREATE_OR_UPDATE_USER: &str = "printf '%s\\n' \"$STACKBOX_SECRET\" | rabbitmqctl add_user \"$1\" \
    || printf '%s\\n' \"$STACKBOX_SECRET\" | rabbitmqctl change_password \"$1\"";

/// Succeeds when a user named exactly `$1` exists.
const USER_EXISTS: &str = "rabbitmqctl --silent list_users | cut -f1 | grep -qxF -- \"$1\"";

/// The leader creates the flavor's user (or, after the secret changed, sets its new password) with its
/// permissions.
fn create_user(s: &mut NodeSteps, user: &str) {
    s.add(
        "rabbitmq.user",
        &format!("create the {user} user on the message bus"),
        &["rabbitmq.start"],
        Action::Commands {
            commands: vec![
                argv(&["sh", "-c", CREATE_OR_UPDATE_USER, "sh", user]),
                argv(&["rabbitmqctl", "set_permissions", user, ".*", ".*", ".*"]),
            ],
            env: vec![("STACKBOX_SECRET".to_owned(), placeholder("rabbit"))],
        },
        DoneCheck::Command {
            argv: argv(&["sh", "-c", USER_EXISTS, "sh", user]),
            contains: None,
        },
    );
}

/// The other members join the leader's cluster.
fn join(s: &mut NodeSteps, bus_leader: &str) {
    let leader_up = format!("{bus_leader}/rabbitmq.start");
    let me = s.node().to_owned();
    s.add(
        "rabbitmq.join",
        "join the RabbitMQ cluster",
        &["rabbitmq.start", &leader_up],
        Action::Commands {
            commands: vec![
                argv(&["rabbitmqctl", "stop_app"]),
                // A node that was reinstalled under the same name is still a member in the leader's
                // eyes, which then refuses it (`inconsistent_cluster`): the leader forgets the old one
                // first (a node that never joined is not a member: nothing to forget).
                argv(&[
                    "sh",
                    "-c",
                    &format!(
                        "rabbitmqctl -n rabbit@{bus_leader} forget_cluster_node rabbit@{me} || true"
                    ),
                ]),
                argv(&[
                    "rabbitmqctl",
                    "join_cluster",
                    &format!("rabbit@{bus_leader}"),
                ]),
                argv(&["rabbitmqctl", "start_app"]),
            ],
            env: Vec::new(),
        },
        DoneCheck::Command {
            argv: argv(&["rabbitmqctl", "cluster_status"]),
            contains: Some(format!("rabbit@{bus_leader}")),
        },
    );
    // OpenStack's quorum queues declared before this node joined keep their members: each gets a
    // replica here too, so that a queue survives losing any one node (queues declared later get every
    // member from the start).
    let me = format!("rabbit@{me}");
    s.once(
        "rabbitmq.grow",
        "give every quorum queue a replica on this node",
        &["rabbitmq.join"],
        vec![argv(&["rabbitmq-queues", "grow", &me, "all"])],
        "/var/log/rabbitmq",
    );
}
