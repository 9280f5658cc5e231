//! Desktop notifications: when a customer's new reply lands on a deal, the
//! rep hears about it, once, through the desktop's notification service
//! (`org.freedesktop.Notifications` on the session bus). What deserves one
//! is the engine's call (`store::notices`); this module only delivers it.
//! Without a notification service the app goes on, and says so once.

use std::path::PathBuf;
use std::time::Duration;

use dealthread_core::Store;
use dealthread_core::store::notices;

/// Replies told one by one, per check, before they are summed up.
const AT_ONCE: usize = 3;

/// Checks for new replies every `every`, for as long as the app runs.
pub fn start(db: PathBuf, every: Duration) {
    let spawned = std::thread::Builder::new().name("notify".into()).spawn(move || {
        let store = match Store::open(&db) {
            Ok(store) => store,
            Err(error) => {
                tracing::error!(%error, "notifications could not open the store");
                return;
            }
        };
        let mut desktop = Desktop::default();
        loop {
            match notices::take_new_replies(
                store.conn(),
                AT_ONCE,
                dealthread_core::ingest::unix_now(),
            ) {
                Ok((found, more)) => {
                    if let Some((title, body)) = notices::describe(&found, more) {
                        desktop.show(&title, &body);
                    }
                }
                Err(error) => tracing::warn!(%error, "could not look for new replies"),
            }
            std::thread::sleep(every);
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start notifications");
    }
}

/// The session bus, connected on first use and again after a failure.
#[derive(Default)]
struct Desktop {
    #[cfg(target_os = "linux")]
    bus: Option<zbus::blocking::Connection>,
    warned: bool,
}

impl Desktop {
    fn show(&mut self, title: &str, body: &str) {
        match self.send(title, body) {
            Ok(()) => tracing::info!(%title, "notified"),
            Err(error) if !self.warned => {
                self.warned = true;
                tracing::warn!(%error, "desktop notifications are unavailable; new replies still show in the app");
            }
            Err(_) => {}
        }
    }

    #[cfg(target_os = "linux")]
    fn send(&mut self, title: &str, body: &str) -> Result<(), zbus::Error> {
        use std::collections::HashMap;
        if self.bus.is_none() {
            self.bus = Some(zbus::blocking::Connection::session()?);
        }
        let Some(bus) = &self.bus else { return Ok(()) };
        let hints: HashMap<&str, zbus::zvariant::Value<'_>> =
            HashMap::from([("category", zbus::zvariant::Value::from("email.arrived"))]);
        let sent = bus.call_method(
            Some("org.freedesktop.Notifications"),
            "/org/freedesktop/Notifications",
            Some("org.freedesktop.Notifications"),
            "Notify",
            &("Dealthread", 0u32, "mail-unread", title, body, Vec::<&str>::new(), hints, -1i32),
        );
        if sent.is_err() {
            self.bus = None;
        }
        sent.map(drop)
    }

    #[cfg(not(target_os = "linux"))]
    fn send(&mut self, _title: &str, _body: &str) -> Result<(), String> {
        Err("notifications are only delivered on Linux in this version".into())
    }
}
