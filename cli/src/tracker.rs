//! The tracker: a rendezvous server and its client (in progress).
