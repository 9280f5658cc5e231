//! A private Dovecot for the IMAP scenarios: its own configuration from a
//! temporary folder (`dovecot -c`), one passwd-file user, maildir storage,
//! plain (+STARTTLS) and implicit-TLS listeners on 127.0.0.1 with a
//! self-signed certificate made for the test. Nothing in /etc or /var is
//! touched; the server stops when the value is dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::free_port;

pub const USER: &str = "rep";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Dovecot {
    dir: tempfile::TempDir,
    /// Plain IMAP with STARTTLS.
    pub port: u16,
    /// Implicit TLS.
    pub tls_port: u16,
    /// SHA-256 of the server's certificate, colon-separated hex.
    pub fingerprint: String,
    mail_owner: (u32, u32),
    delivered: usize,
}

impl Dovecot {
    /// Starts a fresh server. Panics with the reason when it cannot, since
    /// every IMAP scenario needs it (the test command installs dovecot-imapd).
    pub fn start() -> Dovecot {
        let dir = tempfile::Builder::new().prefix("dealthread-dovecot").tempdir().expect("tempdir");
        // Dovecot's auth process runs as another user and must reach the files.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the server folder");
        let root = dir.path();
        for sub in ["run", "state", "tls"] {
            std::fs::create_dir_all(root.join(sub)).expect("server folders");
        }
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(root.join("mail/Maildir").join(sub)).expect("maildir");
        }
        let is_root = current_uid() == 0;
        // As root, Dovecot refuses uid 0 for mail: the mail belongs to nobody.
        let mail_owner = if is_root { (65534, 65534) } else { (current_uid(), current_gid()) };
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(root.join("tls/key.pem"))
            .arg("-out")
            .arg(root.join("tls/cert.pem"))
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl (installed by the test command) makes the test certificate");
        assert!(status.success(), "openssl could not make a certificate");
        let fingerprint = certificate_fingerprint(&root.join("tls/cert.pem"));
        std::fs::write(
            root.join("users.passwd"),
            format!(
                "{USER}:{{PLAIN}}{PASSWORD}:{}:{}::{}::\n",
                mail_owner.0,
                mail_owner.1,
                root.join("mail").display()
            ),
        )
        .expect("passwd file");
        let server = Dovecot {
            dir,
            port: free_port(),
            tls_port: free_port(),
            fingerprint,
            mail_owner,
            delivered: 0,
        };
        server.write_config(is_root);
        server.chown_mail();
        server.launch();
        server
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn maildir(&self) -> PathBuf {
        self.root().join("mail/Maildir")
    }

    fn config(&self) -> PathBuf {
        self.root().join("dovecot.conf")
    }

    fn write_config(&self, is_root: bool) {
        let root = self.root().display();
        let (internal, login, login_chroot, anvil_chroot) = if is_root {
            ("dovecot".to_string(), "dovenull".to_string(), "login", "empty")
        } else {
            let me = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
            (me.clone(), me, "", "")
        };
        let config = format!(
            r#"# A private test instance made by dealthread-tests.
instance_name = dealthread-test-{port}
base_dir = {root}/run
state_dir = {root}/state
protocols = imap
listen = 127.0.0.1
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 0
mail_location = maildir:~/Maildir
mail_fsync = never
auth_mechanisms = plain login
disable_plaintext_auth = no
ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users.passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users.passwd
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Deals {{
    auto = create
  }}
}}
service anvil {{
  chroot = {anvil_chroot}
}}
service imap-login {{
  chroot = {login_chroot}
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"#,
            port = self.port,
            tls_port = self.tls_port,
        );
        std::fs::write(self.config(), config).expect("dovecot.conf");
    }

    fn launch(&self) {
        // The daemon keeps the descriptors it was given: a pipe here would
        // never reach end-of-file, so its output goes to a file.
        let errors = self.root().join("startup.err");
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(self.config())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&errors).expect("startup.err"))
            .status()
            .expect("dovecot (dovecot-imapd, installed by the test command) starts");
        assert!(
            status.success(),
            "dovecot did not start: {}",
            std::fs::read_to_string(&errors).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "dovecot did not listen; see {}", self.log_path());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_path(&self) -> String {
        self.root().join("dovecot.log").display().to_string()
    }

    /// Stops the server (its mail stays), as a crash or restart would.
    pub fn stop(&self) {
        let _ = Command::new("dovecot")
            .arg("-c")
            .arg(self.config())
            .arg("stop")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        // Connections in progress go down with the server, as in a crash.
        let _ = Command::new("pkill")
            .args(["-9", "-f", &format!("dealthread-test-{}/", self.port)])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn restart(&self) {
        self.stop();
        self.launch();
    }

    /// Drops messages into INBOX as a delivery agent would; the server sees
    /// them at the next SELECT, EXAMINE or NOOP.
    pub fn deliver(&mut self, messages: &[Vec<u8>]) {
        self.deliver_to("", messages);
    }

    /// Like [`Dovecot::deliver`], into a folder such as `Deals`.
    pub fn deliver_to(&mut self, folder: &str, messages: &[Vec<u8>]) {
        let base = if folder.is_empty() {
            self.maildir()
        } else {
            self.maildir().join(format!(".{folder}"))
        };
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(base.join(sub)).expect("folder");
        }
        for raw in messages {
            self.delivered += 1;
            let name =
                format!("{}.M{}P1.dealthread-test", 1_700_000_000 + self.delivered, self.delivered);
            let tmp = base.join("tmp").join(&name);
            std::fs::write(&tmp, raw).expect("write a message");
            std::fs::rename(&tmp, base.join("new").join(&name)).expect("deliver a message");
        }
        self.chown_mail();
    }

    /// Gives INBOX a new UIDVALIDITY, as a server rebuild or migration does.
    pub fn reset_uid_validity(&self, folder: &str, value: u32) {
        let output = self.doveadm(&[
            "mailbox",
            "update",
            "-u",
            USER,
            "--uid-validity",
            &value.to_string(),
            folder,
        ]);
        assert!(output.status.success(), "doveadm: {}", String::from_utf8_lossy(&output.stderr));
    }

    pub fn doveadm(&self, args: &[&str]) -> std::process::Output {
        Command::new("doveadm")
            .arg("-c")
            .arg(self.config())
            .args(args)
            .output()
            .expect("doveadm runs")
    }

    fn chown_mail(&self) {
        chown_tree(&self.root().join("mail"), self.mail_owner);
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

fn chown_tree(path: &Path, (uid, gid): (u32, u32)) {
    let _ = std::os::unix::fs::chown(path, Some(uid), Some(gid));
    if path.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            chown_tree(&entry.path(), (uid, gid));
        }
    }
}

fn certificate_fingerprint(cert: &Path) -> String {
    let output = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("openssl reads the certificate");
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().rsplit('=').next().unwrap_or_default().to_string()
}

fn current_uid() -> u32 {
    id_of("-u")
}

fn current_gid() -> u32 {
    id_of("-g")
}

/// The current user or group id, from `id` (no libc binding needed).
fn id_of(flag: &str) -> u32 {
    Command::new("id")
        .arg(flag)
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(u32::MAX)
}
