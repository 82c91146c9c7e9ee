//! The codes the pipeline's refusals carry, one enum for every error that
//! reaches a client: a client matches on the code, never on the message.
//! `http::error` maps each to its status in one exhaustive table, so a new
//! code cannot be added without saying what it means over HTTP.

/// The kind of a refusal, stable across releases (`as_str` is what
/// clients see in `{"code": ...}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Over `MAX_UPLOAD_SIZE`.
    PayloadTooLarge,
    /// The disk is full; the client may come back.
    InsufficientStorage,
    /// The body was cut off or broken.
    UploadInterrupted,
    /// The request is wrong and will stay wrong.
    BadRequest,
    NotFound,
    /// The request collides with one in progress.
    Conflict,
    /// The task queue cannot be reached now.
    QueueUnavailable,
    /// The service is at one of its limits now.
    Busy,
    /// The service itself failed.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::PayloadTooLarge,
        ErrorCode::InsufficientStorage,
        ErrorCode::UploadInterrupted,
        ErrorCode::BadRequest,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::QueueUnavailable,
        ErrorCode::Busy,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::InsufficientStorage => "insufficient_storage",
            ErrorCode::UploadInterrupted => "upload_interrupted",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::QueueUnavailable => "queue_unavailable",
            ErrorCode::Busy => "busy",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case_names() {
        let names: std::collections::BTreeSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }
}
