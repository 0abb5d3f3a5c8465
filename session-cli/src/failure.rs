//! How a command fails: a message and the exit code it maps to.

use sessions::StoreError;

/// A failure, with the exit code it maps to.
pub(super) struct Failure {
    pub(super) code: u8,
    pub(super) message: String,
}

impl Failure {
    pub(super) fn store(e: impl std::fmt::Display) -> Self {
        Failure {
            code: 1,
            message: e.to_string(),
        }
    }
    pub(super) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

pub(super) fn from_store(e: StoreError) -> Failure {
    match e {
        StoreError::Unsupported(what) => Failure {
            code: 4,
            message: format!("this store does not support {what}"),
        },
        other => Failure::store(other),
    }
}
