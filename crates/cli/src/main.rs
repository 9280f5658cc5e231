//! `dealthread`: the headless command line over the engine.
//!
//! Parses arguments, calls `dealthread-core`, prints results. Exit codes:
//! 0 done, 1 failed, 2 usage. Failures print one line on stderr naming the
//! input and the problem; never a panic or a backtrace.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dealthread",
    version,
    about = "Inbound deal email, threaded and matched to your CRM"
)]
struct Cli {
    /// The database file (default: the OS data folder, or $DEALTHREAD_DB).
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// The configuration file (default: the OS config folder).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the normalized document of each message as JSON Lines.
    Parse {
        /// .eml files, mbox files or maildir folders.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// An authserv-id whose Authentication-Results to trust (your own
        /// inbound server's, e.g. mx.example.com); repeatable.
        #[arg(long = "trust-authserv-id", value_name = "ID")]
        trusted: Vec<String>,
    },
    /// Import .eml files, mbox files and maildir folders into the store.
    Import {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Print `committed N` on stdout each time a batch is durably
        /// stored, for scripts that track progress.
        #[arg(long)]
        progress_lines: bool,
    },
    /// Show a deal's messages, oldest first.
    Timeline {
        #[arg(long, value_name = "ID")]
        deal: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Full-text search over subject, people, replies, bodies and attachment names.
    Search {
        /// Words to find; the last one also matches as a prefix.
        #[arg(required = true, value_name = "QUERY")]
        words: Vec<String>,
        #[arg(long, value_name = "ID")]
        deal: Option<String>,
        /// Part of the sender's address or name.
        #[arg(long, value_name = "TEXT")]
        from: Option<String>,
        /// Only mail dated on or after this day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        after: Option<String>,
        /// Only mail dated before this day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        before: Option<String>,
        #[arg(long)]
        has_attachment: bool,
        /// normal, auto_reply, bounce or list.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Delete raw MIME older than the retention age (30 days unless set);
    /// everything read from it stays: documents, threads, search, attachments.
    PurgeRaw {
        /// Override the retention age for this run.
        #[arg(long, value_name = "DAYS")]
        older_than_days: Option<i64>,
    },
    /// List deals with their message counts and last activity.
    Deals {
        #[arg(long)]
        json: bool,
    },
    /// Pull every configured source: continuously (IMAP IDLE) until
    /// interrupted, or one pass with --once.
    Sync {
        /// One pass, then exit.
        #[arg(long)]
        once: bool,
        /// Also compare each folder's full UID list with the store and
        /// fetch whatever is missing (done after every initial sync anyway).
        #[arg(long)]
        check: bool,
        /// Print `committed FOLDER N` on stdout as batches are stored.
        #[arg(long)]
        progress_lines: bool,
    },
    /// Check each source (connection, TLS, login, capabilities,
    /// completeness) and the MX records of the inbound domains.
    Doctor {
        /// Ask this DNS server (IP:PORT) instead of the system's resolvers.
        #[arg(long, value_name = "IP:PORT")]
        dns: Option<std::net::SocketAddr>,
    },
    /// Counts: messages, threads, unmatched, the outbox by state; per source:
    /// last sync, completeness, last error.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Activities waiting for the CRM: list, push, retry, replay.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// The team's inbound domains, where deal aliases are received.
    InboundDomain {
        #[command(subcommand)]
        command: DomainCommand,
    },
    /// Configure where mail comes from.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// The review queue and corrections: which deal, contact or company
    /// each message belongs to.
    Match {
        #[command(subcommand)]
        command: commands::matching::MatchCommand,
    },
    /// CRM connections and the local copy of CRM entities.
    Crm {
        #[command(subcommand)]
        command: CrmCommand,
    },
}

#[derive(Subcommand)]
enum CrmCommand {
    /// Load deals, contacts and companies from a JSON file (any CRM).
    ImportEntities {
        #[arg(value_name = "FILE.json")]
        file: PathBuf,
    },
    /// Pull deals, contacts and companies changed since the last pull from
    /// every CRM connection that offers them (HubSpot), or from NAME.
    Pull { name: Option<String> },
    /// Add (or replace) a CRM connection.
    Add {
        #[command(subcommand)]
        kind: CrmKind,
    },
    /// What a deal's or contact's activities share: metadata, latest_reply
    /// (subject and latest reply, the default) or full; `clear` falls back.
    Share {
        #[command(flatten)]
        target: commands::crm::ShareTarget,
        #[arg(value_name = "metadata|latest_reply|full|clear")]
        level: String,
    },
    /// Show or change the default sharing level, the redaction rules and
    /// the flood limit.
    Settings(commands::crm::CrmSettings),
}

#[derive(Subcommand)]
enum CrmKind {
    /// Signed JSON POSTs to a URL (see the README for the signature). The
    /// signing secret is asked for (or read from standard input) and kept in
    /// the OS keyring; two secrets separated by a space sign with both, for
    /// a rotation.
    Webhook {
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
        /// SHA-256 fingerprint of a self-signed receiver's certificate.
        #[arg(long, value_name = "SHA256")]
        pin: Option<String>,
        /// Seconds to wait for the receiver's answer.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
        /// Read the signing secret from this environment variable at each
        /// run instead of the keyring; only the name is kept.
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
    },
    /// HubSpot email engagements associated with their deals. The
    /// private-app token is asked for (or read from standard input) and kept
    /// in the OS keyring. The account needs the custom email property
    /// `dealthread_key` (single-line text); see the README.
    Hubspot {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "https://api.hubapi.com/")]
        base_url: String,
        #[arg(long, value_name = "SHA256")]
        pin: Option<String>,
        /// Requests per window, kept below HubSpot's limit.
        #[arg(long, default_value_t = 100)]
        requests: u32,
        #[arg(long, default_value_t = 10)]
        window_secs: u64,
        /// Engagements created per batch request (1 to 100).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=100))]
        batch_size: u16,
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Counts by state, and every activity not sent yet with its reason.
    List,
    /// Deliver what is due now (`sync --once` does this too).
    Push {
        /// Keep going, waiting out backoffs, until nothing is pending (or
        /// this many seconds have passed).
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
    },
    /// Make failed activities due now (one, or all).
    Retry { id: Option<i64> },
    /// Put dead-letter activities back in the queue (one, or all) once
    /// their cause is fixed.
    Replay { id: Option<i64> },
    /// Exactly what would be sent to the CRM for a message (JSON).
    Preview { message: i64 },
}

#[derive(Subcommand)]
enum DomainCommand {
    /// Add a domain, e.g. in.example.com.
    Add { domain: String },
    /// Remove a domain.
    Remove { domain: String },
    /// List the domains.
    List,
}

#[derive(Subcommand)]
enum SourceCommand {
    /// Add (or replace) a source. Its password, token or API key is asked
    /// for on the terminal, or read from standard input, and kept in the
    /// OS keyring.
    Add {
        #[command(subcommand)]
        kind: SourceKind,
    },
    /// The configured sources, with their last sync and last error.
    List,
    /// Remove a source's configuration and its secret. Mail already stored
    /// stays.
    Remove { name: String },
}

#[derive(Subcommand)]
enum SourceKind {
    Imap {
        #[arg(long)]
        name: String,
        #[arg(long)]
        host: String,
        /// Default: 993 for implicit TLS, 143 otherwise.
        #[arg(long)]
        port: Option<u16>,
        #[arg(long)]
        user: String,
        /// implicit, starttls, or none (only to a server on this machine).
        #[arg(long, default_value = "implicit")]
        tls: String,
        /// A folder to sync (repeatable; default INBOX).
        #[arg(long = "folder", value_name = "FOLDER")]
        folders: Vec<String>,
        /// SHA-256 fingerprint of a self-signed server's certificate.
        #[arg(long, value_name = "SHA256")]
        pin: Option<String>,
        /// The secret is an OAuth2 access token (AUTHENTICATE XOAUTH2).
        #[arg(long)]
        xoauth2: bool,
        /// Read the secret from this environment variable at each run
        /// instead of the keyring (headless machines); only the name is kept.
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
    },
    /// An inbound-email provider's REST API (see the README for the contract).
    Provider {
        #[arg(long)]
        name: String,
        /// The API's base URL, e.g. https://api.inbound.example/
        #[arg(long)]
        url: String,
        /// SHA-256 fingerprint of a self-signed server's certificate.
        #[arg(long, value_name = "SHA256")]
        pin: Option<String>,
        /// Seconds between polls in continuous sync.
        #[arg(long, default_value_t = 60)]
        poll_secs: u64,
        /// Messages per page.
        #[arg(long, default_value_t = 100)]
        page_size: u32,
        /// Seconds to wait for an answer before retrying.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
        /// Read the API key from this environment variable at each run
        /// instead of the keyring (headless machines); only the name is kept.
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let db = cli.db.unwrap_or_else(dealthread_core::paths::default_db);
    let _config = cli.config;
    let outcome = match cli.command {
        Command::Parse { files, trusted } => commands::parse::run(&files, trusted),
        Command::Import { paths, progress_lines } => {
            commands::import::run(&db, &paths, progress_lines)
        }
        Command::Timeline { deal, json } => commands::timeline::run(&db, &deal, json),
        Command::Deals { json } => commands::deals::run(&db, json),
        Command::PurgeRaw { older_than_days } => commands::purge::run(&db, older_than_days),
        Command::Search { words, deal, from, after, before, has_attachment, kind, limit, json } => {
            commands::search::run(
                &db,
                commands::search::Options {
                    words,
                    deal,
                    from,
                    after,
                    before,
                    has_attachment,
                    kind,
                    limit,
                    json,
                },
            )
        }
        Command::Sync { once, check, progress_lines } => {
            commands::sync::run(&db, once, check, progress_lines)
        }
        Command::Doctor { dns } => commands::sync::doctor(&db, dns),
        Command::InboundDomain { command } => match command {
            DomainCommand::Add { domain } => commands::domains::add(&db, &domain),
            DomainCommand::Remove { domain } => commands::domains::remove(&db, &domain),
            DomainCommand::List => commands::domains::list(&db),
        },
        Command::Source {
            command:
                SourceCommand::Add {
                    kind:
                        SourceKind::Imap {
                            name,
                            host,
                            port,
                            user,
                            tls,
                            folders,
                            pin,
                            xoauth2,
                            secret_env,
                        },
                },
        } => commands::source::add_imap(
            &db,
            commands::source::ImapOptions {
                name,
                host,
                port,
                user,
                tls,
                folders,
                pin,
                xoauth2,
                secret_env,
            },
        ),
        Command::Source {
            command:
                SourceCommand::Add {
                    kind:
                        SourceKind::Provider {
                            name,
                            url,
                            pin,
                            poll_secs,
                            page_size,
                            timeout_secs,
                            secret_env,
                        },
                },
        } => commands::source::add_provider(
            &db,
            commands::source::ProviderOptions {
                name,
                url,
                pin,
                poll_secs,
                page_size,
                timeout_secs,
                secret_env,
            },
        ),
        Command::Source { command: SourceCommand::List } => commands::source::list(&db),
        Command::Source { command: SourceCommand::Remove { name } } => {
            commands::source::remove(&db, &name)
        }
        Command::Crm { command: CrmCommand::ImportEntities { file } } => {
            commands::crm::import_entities(&db, &file)
        }
        Command::Crm { command: CrmCommand::Pull { name } } => {
            commands::crm::pull(&db, name.as_deref())
        }
        Command::Crm { command: CrmCommand::Share { target, level } } => {
            commands::crm::share(&db, &target, &level)
        }
        Command::Crm { command: CrmCommand::Settings(settings) } => {
            commands::crm::settings(&db, &settings)
        }
        Command::Crm {
            command:
                CrmCommand::Add { kind: CrmKind::Webhook { name, url, pin, timeout_secs, secret_env } },
        } => commands::crm::add_webhook(&db, &name, &url, pin, timeout_secs, secret_env),
        Command::Crm {
            command:
                CrmCommand::Add {
                    kind:
                        CrmKind::Hubspot {
                            name,
                            base_url,
                            pin,
                            requests,
                            window_secs,
                            batch_size,
                            secret_env,
                        },
                },
        } => {
            let mut config = dealthread_core::crm::hubspot::HubspotConfig::new(&name);
            config.base_url = base_url;
            config.pin_sha256 = pin;
            config.requests = requests;
            config.window_secs = window_secs;
            config.batch_size = usize::from(batch_size);
            config.secret_env = secret_env;
            commands::crm::add_hubspot(&db, config)
        }
        Command::Status { json } => commands::status::run(&db, json),
        Command::Match { command } => commands::matching::run(&db, command),
        Command::Outbox { command } => match command {
            OutboxCommand::List => commands::outbox::list(&db),
            OutboxCommand::Push { wait } => commands::outbox::push(&db, wait),
            OutboxCommand::Retry { id } => commands::outbox::retry(&db, id),
            OutboxCommand::Replay { id } => commands::outbox::replay(&db, id),
            OutboxCommand::Preview { message } => commands::outbox::preview(&db, message),
        },
    };
    match outcome {
        Ok(commands::Done::Ok) => ExitCode::SUCCESS,
        Ok(commands::Done::SomeFailed) => ExitCode::from(1),
        Err(error) => {
            eprintln!("dealthread: {error:#}");
            ExitCode::from(1)
        }
    }
}
