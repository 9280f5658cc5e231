use std::path::PathBuf;

use dealthread_core::sources::files;
use dealthread_mail::ReadOptions;

use super::{Done, print_line};

pub fn run(paths: &[PathBuf], trusted_authserv_ids: Vec<String>) -> anyhow::Result<Done> {
    let files::Discovery { inputs, failed, notes } = files::discover(paths);
    let mut any_failed = !failed.is_empty();
    for line in failed {
        eprintln!("dealthread: {line}");
    }
    for line in notes {
        eprintln!("dealthread: note: {line}");
    }
    let options = ReadOptions { trusted_authserv_ids };
    for input in &inputs {
        let read = files::for_each_message(input, &mut |message| {
            match dealthread_mail::read_message(&message.bytes, &options) {
                Ok(document) => {
                    let json = serde_json::to_string(&document).map_err(|e| {
                        dealthread_core::CoreError::InvalidInput(format!(
                            "{}: {e}",
                            message.locator
                        ))
                    })?;
                    print_line(&json).map_err(|e| {
                        dealthread_core::CoreError::InvalidInput(format!("writing output: {e}"))
                    })?;
                }
                Err(error) => {
                    any_failed = true;
                    eprintln!("dealthread: {}: {error}", message.locator);
                }
            }
            Ok(())
        });
        if let Err(error) = read {
            any_failed = true;
            eprintln!("dealthread: {error}");
        }
    }
    Ok(if any_failed { Done::SomeFailed } else { Done::Ok })
}
