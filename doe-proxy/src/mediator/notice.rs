//! Results on their way to a client's completion sink, and the count that keeps a
//! client's share of the notifier's channel bounded.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use log::warn;

use super::completion::{Completion, ExchangeResult};
use super::ids::SubmissionId;

/// A result on its way to a client's sink.
pub(super) struct Notice {
    sink: Arc<dyn Completion>,
    submission: SubmissionId,
    result: ExchangeResult,
}

impl Notice {
    /// Hands the result to its sink. A sink that panics is logged and the others keep
    /// being served.
    pub(super) fn deliver(self) {
        let Notice {
            sink,
            submission,
            result,
        } = self;
        if panic::catch_unwind(AssertUnwindSafe(|| sink.complete(submission, result))).is_err() {
            warn!("DOE mediator: a completion sink panicked on {submission}");
        }
    }
}

/// Where one client's results go: its sink, and how many of its answers wait in the
/// notifier's channel.
#[derive(Clone)]
pub(super) struct ClientSink {
    sink: Arc<dyn Completion>,
    /// Answers sent to the notifier and not yet taken by it. They count against the
    /// client's queue bound as queued requests do, so that a client cannot grow the
    /// channel without bound (by flooding Discovery, or submitting and cancelling) while
    /// the notifier is slow. Only its own value matters: relaxed ordering.
    undelivered: Arc<AtomicUsize>,
}

impl ClientSink {
    pub(super) fn new(sink: Arc<dyn Completion>) -> Self {
        ClientSink {
            sink,
            undelivered: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A result that the thread which ran the exchange delivers itself (not counted:
    /// it never waits in a channel).
    pub(super) fn notice(&self, submission: SubmissionId, result: ExchangeResult) -> Notice {
        Notice {
            sink: self.sink.clone(),
            submission,
            result,
        }
    }

    /// A result for the notifier, counted until the notifier takes it.
    pub(super) fn counted_notice(
        &self,
        submission: SubmissionId,
        result: ExchangeResult,
    ) -> CountedNotice {
        self.undelivered.fetch_add(1, Ordering::Relaxed);
        CountedNotice {
            notice: Some(self.notice(submission, result)),
            undelivered: self.undelivered.clone(),
        }
    }

    /// Answers in the notifier's channel now.
    pub(super) fn undelivered(&self) -> usize {
        self.undelivered.load(Ordering::Relaxed)
    }
}

/// A result in the notifier's channel. It counts for its client until it leaves the
/// channel: delivered, or dropped undelivered.
pub(super) struct CountedNotice {
    /// Always `Some` until [`CountedNotice::deliver`] takes it.
    notice: Option<Notice>,
    undelivered: Arc<AtomicUsize>,
}

impl CountedNotice {
    /// Stops counting it, then hands it to its sink. It stops counting first: a sink
    /// that submits again from `complete` (e.g. the next Discovery index) must not find
    /// the answer it is being given still counted.
    pub(super) fn deliver(mut self) {
        let notice = self.notice.take();
        drop(self);
        if let Some(notice) = notice {
            notice.deliver();
        }
    }
}

impl Drop for CountedNotice {
    fn drop(&mut self) {
        self.undelivered.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_notice_counts_until_it_leaves_the_channel() {
        let seen = Arc::new(AtomicUsize::new(usize::MAX));
        let sink = ClientSink::new(Arc::new({
            let seen = seen.clone();
            move |_: SubmissionId, _: ExchangeResult| {
                seen.store(0, Ordering::Relaxed);
            }
        }));
        let first = sink.counted_notice(SubmissionId(1), Ok(vec![]));
        let second = sink.counted_notice(SubmissionId(2), Ok(vec![]));
        let _uncounted = sink.notice(SubmissionId(3), Ok(vec![]));
        assert_eq!(sink.undelivered(), 2);
        first.deliver();
        assert_eq!(sink.undelivered(), 1);
        assert_eq!(seen.load(Ordering::Relaxed), 0);
        drop(second);
        assert_eq!(sink.undelivered(), 0);
    }
}
