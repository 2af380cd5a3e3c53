//! Test support: real `redis-server` processes on free loopback ports.
//!
//! Use from a test file with `mod support;`. Every server runs in its own temporary directory
//! (config, log, data), listens on `127.0.0.1` only, on a port picked by binding to
//! `127.0.0.1:0` (never a fixed port), and is killed (SIGKILL, then waited for) when its handle
//! is dropped. When the test is panicking, the server's log is printed to stderr first.
//!
//! ```ignore
//! mod support;
//! let server = support::RedisServer::start();
//! let backend = kvstore::RedisBackend::connect(&server.url()).await?;
//! let cluster = support::RedisCluster::start(3, 0);
//! let backend = kvstore::RedisClusterBackend::connect(&cluster.urls()).await?;
//! ```
//!
//! Needs `redis-server` and `redis-cli` on `PATH` (Debian: `redis-server` and `redis-tools`).
#![allow(dead_code)]

pub mod backends;
pub mod tls;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "`redis-server` / `redis-cli` not found on PATH: install Debian's \
     `redis-server` and `redis-tools` packages (`apt-get install -y redis-server redis-tools`); \
     the CI script installs them";

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Ports handed out by this process, never handed out twice (two tests starting at once cannot
/// pick the same port).
static USED_PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A free loopback port (and, for cluster nodes, `port + 10000` free too for the cluster bus).
fn free_port(with_bus: bool) -> u16 {
    for _ in 0..1000 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        if with_bus {
            let Some(bus) = port.checked_add(10000) else {
                continue;
            };
            if TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_err() {
                continue;
            }
        }
        let mut used = USED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
        if used.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no free loopback port found");
}

/// A reply of the tiny RESP client used to probe servers.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`
    Error(String),
    /// `:1`
    Int(i64),
    /// `$3\r\nabc` (`None`: nil)
    Bulk(Option<Vec<u8>>),
    /// `*2 ...` (`None`: nil)
    Array(Option<Vec<Resp>>),
}

impl Resp {
    /// The reply as text (simple strings, errors, integers and bulk strings).
    pub fn text(&self) -> String {
        match self {
            Resp::Simple(s) | Resp::Error(s) => s.clone(),
            Resp::Int(i) => i.to_string(),
            Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Resp::Bulk(None) | Resp::Array(None) => String::new(),
            Resp::Array(Some(items)) => items.iter().map(Resp::text).collect::<Vec<_>>().join("\n"),
        }
    }
}

fn read_reply(r: &mut impl BufRead) -> io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at(1.min(line.len()));
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad RESP line {line:?}"),
        )
    };
    Ok(match kind {
        "+" => Resp::Simple(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => Resp::Int(rest.parse().map_err(|_| bad())?),
        "$" => {
            let len: i64 = rest.parse().map_err(|_| bad())?;
            if len < 0 {
                Resp::Bulk(None)
            } else {
                let mut buf = vec![0; len as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(len as usize);
                Resp::Bulk(Some(buf))
            }
        }
        "*" => {
            let len: i64 = rest.parse().map_err(|_| bad())?;
            if len < 0 {
                Resp::Array(None)
            } else {
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(read_reply(r)?);
                }
                Resp::Array(Some(items))
            }
        }
        _ => return Err(bad()),
    })
}

/// Sends one command per element of `cmds` on a fresh connection and returns the replies.
fn send(port: u16, cmds: &[&[&str]], timeout: Duration) -> io::Result<Vec<Resp>> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut out = Vec::new();
    for args in cmds {
        write!(out, "*{}\r\n", args.len())?;
        for arg in *args {
            write!(out, "${}\r\n{arg}\r\n", arg.len())?;
        }
    }
    (&stream).write_all(&out)?;
    let mut reader = BufReader::new(&stream);
    cmds.iter().map(|_| read_reply(&mut reader)).collect()
}

/// Configures a [`RedisServer`] before starting it.
#[derive(Debug, Clone, Default)]
pub struct RedisServerBuilder {
    lines: Vec<String>,
    password: Option<String>,
    appendonly: bool,
    appendfsync: Option<String>,
    cluster: bool,
}

impl RedisServerBuilder {
    /// Adds a raw `redis.conf` line (`"maxmemory 10mb"`, `"user alice on >pw ~app:* +@all"`).
    pub fn config(mut self, line: impl Into<String>) -> Self {
        self.lines.push(line.into());
        self
    }

    /// `requirepass`: the default user needs this password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Adds an ACL user, as `user <name> on ><password> <rules>` (for example `"~app:* +@all"`).
    pub fn acl_user(self, name: &str, password: &str, rules: &str) -> Self {
        self.config(format!("user {name} on >{password} {rules}"))
    }

    /// `appendonly yes` (the default is no persistence at all).
    pub fn appendonly(mut self, on: bool) -> Self {
        self.appendonly = on;
        self
    }

    /// `appendfsync always|everysec|no` (implies nothing unless `appendonly(true)`).
    pub fn appendfsync(mut self, policy: &str) -> Self {
        self.appendfsync = Some(policy.to_owned());
        self
    }

    /// A cluster node: `cluster-enabled yes`, with `port + 10000` free for the cluster bus.
    fn cluster_node(mut self) -> Self {
        self.cluster = true;
        self.lines.push("cluster-enabled yes".into());
        self.lines.push("cluster-config-file nodes.conf".into());
        self.lines.push("cluster-node-timeout 2000".into());
        // Replicas sync at once (the default waits 5 s for more replicas to share the transfer).
        self.lines.push("repl-diskless-sync-delay 0".into());
        self
    }

    /// Starts the server and waits until it answers.
    pub fn start(self) -> RedisServer {
        let mut last_log = String::new();
        for _ in 0..10 {
            let dir = tempfile::Builder::new()
                .prefix("kvstore-redis-")
                .tempdir()
                .expect("create a temporary directory");
            let port = free_port(self.cluster);
            let mut server = RedisServer {
                port,
                conf: dir.path().join("redis.conf"),
                log: dir.path().join("redis.log"),
                dir,
                password: self.password.clone(),
                child: None,
            };
            std::fs::write(&server.conf, self.render(&server)).expect("write redis.conf");
            match server.spawn_and_wait() {
                Ok(()) => return server,
                // Most likely the port was taken between the check and the bind: try another.
                Err(log) => last_log = log,
            }
        }
        panic!("redis-server did not start after 10 tries; last log:\n{last_log}");
    }

    fn render(&self, server: &RedisServer) -> String {
        let dir = server.dir.path().display();
        let mut conf = String::new();
        let _ = writeln!(conf, "port {}", server.port);
        let _ = writeln!(conf, "bind 127.0.0.1");
        let _ = writeln!(conf, "daemonize no");
        let _ = writeln!(conf, "dir {dir}");
        let _ = writeln!(conf, "logfile {}", server.log.display());
        let _ = writeln!(conf, "save \"\"");
        let _ = writeln!(
            conf,
            "appendonly {}",
            if self.appendonly { "yes" } else { "no" }
        );
        if let Some(policy) = &self.appendfsync {
            let _ = writeln!(conf, "appendfsync {policy}");
        }
        if let Some(password) = &self.password {
            let _ = writeln!(conf, "requirepass {password}");
        }
        for line in &self.lines {
            let _ = writeln!(conf, "{line}");
        }
        conf
    }
}

/// A `redis-server` process started by a test; killed when dropped.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    conf: PathBuf,
    log: PathBuf,
    password: Option<String>,
    child: Option<Child>,
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl RedisServer {
    /// Starts a server with the defaults (no password, no persistence).
    pub fn start() -> RedisServer {
        Self::builder().start()
    }

    /// A builder for extra configuration (password, ACL users, persistence).
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// `redis://127.0.0.1:<port>` (with the password when one was set with `password()`).
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// `redis://127.0.0.1:<port>`, without credentials.
    pub fn url_without_auth(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis://<user>:<password>@127.0.0.1:<port>`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("redis://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the config, the log and the data files.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Whether the process is running (not killed).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server (SIGKILL) and waits for it to exit. The port stays reserved for
    /// [`restart`](Self::restart).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, with the same config and directory (killing
    /// it first if it runs), and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(log) if Instant::now() > deadline => {
                    panic!("redis-server did not restart on port {}:\n{log}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Sends one command (authenticating first when a password was set) and returns the reply.
    pub fn cmd(&self, args: &[&str]) -> Resp {
        let mut cmds: Vec<&[&str]> = Vec::new();
        let auth;
        if let Some(password) = &self.password {
            auth = ["AUTH", password.as_str()];
            cmds.push(&auth);
        }
        cmds.push(args);
        let replies = send(self.port, &cmds, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{args:?} to 127.0.0.1:{}: {e}", self.port));
        replies.into_iter().last().expect("one reply")
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !self.is_running() {
                self.child = None;
                return Err(self.log());
            }
            if self.answers_as(pid) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "no answer within {START_TIMEOUT:?}\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process `pid` answers on the port (and not another server that took it).
    fn answers_as(&self, pid: u32) -> bool {
        let mut cmds: Vec<&[&str]> = Vec::new();
        let auth;
        if let Some(password) = &self.password {
            auth = ["AUTH", password.as_str()];
            cmds.push(&auth);
        }
        cmds.push(&["INFO", "server"]);
        let Ok(replies) = send(self.port, &cmds, Duration::from_millis(500)) else {
            return false;
        };
        match replies.last() {
            Some(Resp::Bulk(Some(info))) => {
                let info = String::from_utf8_lossy(info);
                info.lines()
                    .any(|l| l.trim() == format!("process_id:{pid}"))
            }
            // Protected by a password set with `config()`: trust that the process still runs.
            Some(Resp::Error(e)) if e.starts_with("NOAUTH") => true,
            _ => false,
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- redis-server 127.0.0.1:{} log -----\n{}\n----- end of log -----",
                self.port,
                self.log()
            );
        }
        self.kill();
    }
}

/// A Redis Cluster of `redis-server` processes started by a test; killed when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    primaries: usize,
}

impl RedisCluster {
    /// Starts `primaries` primaries (at least 3) with `replicas_per_primary` replicas each,
    /// joins them with `redis-cli --cluster create`, and waits until every node reports
    /// `cluster_state:ok` with all 16384 slots assigned.
    pub fn start(primaries: usize, replicas_per_primary: usize) -> RedisCluster {
        assert!(primaries >= 3, "a Redis Cluster needs at least 3 primaries");
        let count = primaries * (1 + replicas_per_primary);
        let nodes: Vec<RedisServer> = (0..count)
            .map(|_| RedisServer::builder().cluster_node().start())
            .collect();
        let cluster = RedisCluster { nodes, primaries };
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        create
            .arg("--cluster-replicas")
            .arg(replicas_per_primary.to_string())
            .arg("--cluster-yes")
            .stdin(Stdio::null());
        let output = match create.output() {
            Ok(output) => output,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
            Err(e) => panic!("cannot run redis-cli: {e}"),
        };
        if !output.status.success() {
            panic!(
                "redis-cli --cluster create failed:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        cluster.wait_until_ok(Duration::from_secs(30));
        cluster
    }

    /// Waits until every running node reports `cluster_state:ok`, all slots assigned and every
    /// node known, and every replica is in sync with its primary (after a primary is killed:
    /// until a replica has taken over its slots).
    pub fn wait_until_ok(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            let mut ok = true;
            // Killed nodes are skipped (the others still know them, marked as failed).
            for node in self.nodes.iter().filter(|n| n.child.is_some()) {
                // A replica must be in sync with its primary.
                let replication = send(
                    node.port,
                    &[&["INFO", "replication"]],
                    Duration::from_secs(1),
                )
                .map(|r| r[0].text())
                .unwrap_or_default();
                if replication.lines().any(|l| l.trim() == "role:slave")
                    && !replication
                        .lines()
                        .any(|l| l.trim() == "master_link_status:up")
                {
                    ok = false;
                    last = format!("replica {} not in sync:\n{replication}", node.port);
                    break;
                }
                let info = match send(node.port, &[&["CLUSTER", "INFO"]], Duration::from_secs(1)) {
                    Ok(replies) => replies[0].text(),
                    Err(e) => e.to_string(),
                };
                let has = |field: &str| info.lines().any(|l| l.trim() == field);
                if !(has("cluster_state:ok")
                    && has("cluster_slots_assigned:16384")
                    && has("cluster_slots_ok:16384")
                    && has(&format!("cluster_known_nodes:{}", self.nodes.len())))
                {
                    ok = false;
                    last = format!("node {}:\n{info}", node.port);
                    break;
                }
            }
            if ok {
                return;
            }
            if Instant::now() > deadline {
                panic!("the cluster is not ok after {timeout:?}; {last}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of every node (primaries first, as created).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Every node, in the order given to `redis-cli --cluster create` (the primaries first).
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Node `i`, to kill or restart it.
    pub fn node_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.nodes[i]
    }

    /// How many primaries the cluster was created with.
    pub fn primaries(&self) -> usize {
        self.primaries
    }

    /// Kills node `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Restarts node `i` on its port, with its cluster config (it rejoins the cluster).
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].restart();
    }

    /// Waits until every replica has received everything its primary has (replication offsets
    /// equal), so that killing a primary loses nothing.
    pub fn wait_for_replication(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            loop {
                let info = node.cmd(&["INFO", "replication"]).text();
                let field = |name: &str| {
                    info.lines()
                        .find_map(|l| l.trim().strip_prefix(name).map(str::to_owned))
                };
                let synced = match field("master_repl_offset:") {
                    Some(offset) if field("role:").as_deref() == Some("master") => info
                        .lines()
                        .filter(|l| l.starts_with("slave"))
                        .all(|l| l.contains(&format!(",offset={offset},"))),
                    _ => true,
                };
                if synced {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "replicas of {} not in sync:\n{info}",
                    node.port
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The number of keys on each node (`DBSIZE`), in node order.
    pub fn key_counts(&self) -> Vec<i64> {
        self.nodes
            .iter()
            .map(|n| match n.cmd(&["DBSIZE"]) {
                Resp::Int(n) => n,
                other => panic!("DBSIZE: {other:?}"),
            })
            .collect()
    }
}
