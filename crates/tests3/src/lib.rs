//! FOUNDATION: a real S3-protocol server (moto) on loopback for tests; filled by the store helper.
