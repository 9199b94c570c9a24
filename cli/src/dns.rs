//! DNS SRV seeds (in progress).
