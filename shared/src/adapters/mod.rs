//! Adapters of the ports in [`crate::ports`] (other than the table, whose
//! engines live in [`crate::store`]): a cloud one and a one-machine one each.

pub mod emf;
#[cfg(feature = "bus")]
pub mod eventbridge;
#[cfg(feature = "kms")]
pub mod kms_sealer;
pub mod local_evidence;
#[cfg(feature = "s3")]
pub mod s3_evidence;
pub mod sms_file;
#[cfg(feature = "sns")]
pub mod sms_sns;
