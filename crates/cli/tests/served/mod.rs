//! A `haul server` served from the test process on a real (SQLite) ledger
//! and a `World`'s store, and real `haul agent` processes: shared by the
//! tests of agents and servers together.
#![allow(dead_code)]

use crate::support::World;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `haul server` served from this process; stopped when dropped.
pub struct Served {
    pub port: u16,
    pub ledger: haul_ledger::Ledger,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Serves on `port` (0: any), following the blessings of `web` in `prod`
    /// in `w`'s store.
    pub async fn start(w: &World, port: u16) -> Served {
        Served::start_with(w, port, "").await
    }

    /// [`Served::start`] with `extra` appended to its `haul.toml`.
    pub async fn start_with(w: &World, port: u16, extra: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[apps.web]\nship = \"src\"\n\n[environments.prod]\nmode = \"pull\"\nhosts = [\"h1\"]\n\n\
             [[server.tokens]]\nname = \"agents\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n\n\
             [[server.tokens]]\nname = \"reporter\"\nsha256 = \"{}\"\nscopes = [\"agent\"]\n",
            haul_server::token_sha256("agent-secret"),
            haul_server::token_sha256("report-secret")
        ) + extra;
        let config = haul_config::Config::parse(&dir.path().join("haul.toml"), &text).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("ledger.db").display());
        let ledger = haul_ledger::Ledger::open(&url).await.unwrap();
        let state = haul_server::State::new(ledger.clone(), Arc::new(config)).with_store(w.store.clone());
        // The port a stopped server had is bound again (it may take a moment).
        let t = Instant::now();
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => break l,
                Err(e) if t.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot bind port {port}: {e}"),
            }
        };
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(haul_server::serve(listener, state, async move { drop(stopped.await) }));
        Served { port, ledger, stop: Some(stop), task: Some(task), _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn stop(mut self) {
        drop(self.stop.take());
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(30), task).await.expect("the server stops").unwrap().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// A running `haul agent` and what it has logged; killed when dropped.
pub struct Agent {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    pub fn start(w: &World, extra: &[(&str, &str)]) -> Agent {
        let mut c = Command::new(env!("CARGO_BIN_EXE_haul"));
        c.arg("agent");
        for (k, v) in w.vars("h1", &[]) {
            c.env(k, v);
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        c.env_remove("HAUL_AGENT_FILE").stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Agent { child, log }
    }

    /// How many lines logged so far contain `what`.
    pub fn said(&self, what: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|l| l.contains(what)).count()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits (at most a minute) until `cond` holds.
    pub async fn until(&mut self, what: &str, cond: impl Fn(&Agent) -> bool) {
        let t = Instant::now();
        while !cond(self) {
            if let Ok(Some(s)) = self.child.try_wait() {
                panic!("the agent ended ({s}) before {what}:\n{}", self.log());
            }
            assert!(t.elapsed() < Duration::from_secs(60), "never {what}:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ledger's deployment of `id`, as `haul deploy` records one before it
/// blesses.
pub async fn deployment(ledger: &haul_ledger::Ledger, id: &str, digest: &str) -> i64 {
    let release = haul_ledger::ReleaseId::parse(id).unwrap();
    let r = haul_ledger::NewRelease {
        app: "web".into(),
        id: release.clone(),
        digest: digest.into(),
        revision: None,
        built_by: "ci".into(),
        created: jiff::Timestamp::now(),
        files: 1,
        bytes: 1,
    };
    ledger.register_release(&r, "ci").await.unwrap();
    let d = haul_ledger::NewDeployment {
        app: "web".into(),
        env: "prod".into(),
        release,
        trigger: haul_ledger::Trigger::Deploy,
        actor: "alice".into(),
        reason: None,
        config_digest: "cfg".into(),
        undoes: None,
        force: None,
    };
    ledger.start_deployment(&d, Duration::from_secs(3600)).await.unwrap()
}
