//! A panic in the mailbox driver (or in the device model under it) while an exchange
//! runs: caught where the device is driven (the worker, or a client in
//! [`MediatorClient::drive`](super::MediatorClient::drive)), logged, and answered to the
//! exchange's client with [`ExchangeError::Internal`] once the mailbox has been aborted,
//! so that the thread lives on and the next exchange starts clean.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use log::{error, warn};

use super::device::Device;
use super::error::ExchangeError;
use super::state::Job;

/// Runs `device_code`, catching a panic in it: `Err` holds the panic's message.
///
/// Unwind safety: what the code changes is the driver's state (a `Mailbox` and its
/// config space). A run cut short leaves it as a failed exchange would, except that the
/// instance may hold a half-written request, which Status does not show:
/// [`answer_panic`] aborts the mailbox before anything else runs on it.
pub(super) fn catch_panic<T>(device_code: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(device_code))
        .map_err(|payload| panic_message(payload.as_ref()))
}

/// What `panic!` was given (a literal or a formatted message); a placeholder otherwise.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Logs that the run of `job` by `runner` ("worker" or "client") panicked with `message`.
pub(super) fn log_panic(cap_offset: u16, job: &Job, runner: &str, message: &str) {
    error!(
        "DOE mediator [{cap_offset:#x}]: the mailbox driver panicked running {} {} {} \
         ({runner}): {message}; the exchange is answered with an error and the mailbox aborted",
        job.client, job.submission, job.protocol
    );
}

/// The result of an exchange whose run panicked with `message`, after aborting the
/// mailbox: [`ExchangeError::Internal`], or [`ExchangeError::MailboxDead`] if the abort
/// did not complete (the mailbox is then dead for everyone, as after any failed abort).
pub(super) fn answer_panic(device: &mut dyn Device, message: String) -> ExchangeError {
    let cap_offset = device.cap_offset();
    match catch_panic(|| device.abort()) {
        Ok(Ok(())) => ExchangeError::Internal(message),
        Ok(Err(abort_error)) => {
            warn!("DOE mediator [{cap_offset:#x}]: the abort after a panic failed: {abort_error}");
            match ExchangeError::from_mailbox(&abort_error) {
                ExchangeError::MailboxDead => ExchangeError::MailboxDead,
                _ => ExchangeError::Internal(message),
            }
        }
        Err(abort_panic) => {
            warn!(
                "DOE mediator [{cap_offset:#x}]: the abort after a panic panicked: {abort_panic}"
            );
            ExchangeError::Internal(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_of_a_panic_is_kept() {
        assert_eq!(catch_panic(|| 7), Ok(7));
        assert_eq!(
            catch_panic(|| -> u32 { panic!("plain") }),
            Err("plain".to_owned())
        );
        let what = "formatted";
        assert_eq!(
            catch_panic(|| -> u32 { panic!("{what} {}", 1) }),
            Err("formatted 1".to_owned())
        );
        assert_eq!(
            catch_panic(|| -> u32 { panic::panic_any(5_u8) }),
            Err("a panic without a message".to_owned())
        );
    }
}
