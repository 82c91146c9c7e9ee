//! What a node does in a cluster (`VIDEO_WORKER_ROLE`).

/// What this node does (`VIDEO_WORKER_ROLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Receives and converts (the default, and the only role of a single node).
    All,
    /// Accepts uploads, gateways and the inbox; converts nothing.
    Receiver,
    /// Converts; accepts no recordings.
    Transcoder,
}

impl Role {
    pub fn receives(self) -> bool {
        self != Role::Transcoder
    }

    pub fn converts(self) -> bool {
        self != Role::Receiver
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Receiver => "receiver",
            Role::Transcoder => "transcoder",
        }
    }
}
