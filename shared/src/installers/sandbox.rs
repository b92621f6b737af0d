//! The sandbox installer of the one-machine runner and the tests: no
//! network, the installations the installer network would report.
//!
//! Tests enter installations as an installer would ([`SandboxInstaller::install`]).
//! The runner's sandbox (`SandboxInstaller::runner`) also answers for lines
//! nobody entered, so a newcomer can try a claim: every line was installed
//! by the sandbox installer two days before the first question about it,
//! and passed its test, except lines whose id ends in `-self` (installed
//! by the customer: no record).

use super::{InstallerError, InstallerRecords};
use crate::domain::appliance::{InstallResult, InstallationRecord};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Who installed what the runner's sandbox invents.
pub const SANDBOX_INSTALLER: &str = "Sandbox Installers, technician 7";

type Clock = std::sync::Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

#[derive(Default)]
pub struct SandboxInstaller {
    /// By (shop, order): the installations of its lines.
    records: Mutex<HashMap<(String, String), Vec<InstallationRecord>>>,
    queries: Mutex<u32>,
    /// The runner's: invents the installations of lines nobody entered.
    invent: Option<Clock>,
}

impl std::fmt::Debug for SandboxInstaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxInstaller")
            .field("invents", &self.invent.is_some())
            .finish()
    }
}

impl SandboxInstaller {
    /// Answers only what was entered.
    pub fn new() -> Self {
        Self::default()
    }

    /// The runner's: lines nobody entered were installed two days before
    /// the first question at `clock` (see the module notes).
    pub fn runner(clock: Clock) -> Self {
        SandboxInstaller {
            invent: Some(clock),
            ..Self::default()
        }
    }

    /// An installer records an installation of an order line.
    pub fn install(&self, shop_id: &str, order_id: &str, record: InstallationRecord) {
        self.records
            .lock()
            .expect("sandbox installer lock")
            .entry((shop_id.to_owned(), order_id.to_owned()))
            .or_default()
            .push(record);
    }

    /// How many queries were answered (a re-run must not ask again).
    pub fn queries(&self) -> u32 {
        *self.queries.lock().expect("sandbox installer lock")
    }
}

#[async_trait]
impl InstallerRecords for SandboxInstaller {
    async fn installations(
        &self,
        shop_id: &str,
        order_id: &str,
        line_id: &str,
    ) -> Result<Vec<InstallationRecord>, InstallerError> {
        *self.queries.lock().expect("sandbox installer lock") += 1;
        let mut records = self.records.lock().expect("sandbox installer lock");
        let of_order = records
            .entry((shop_id.to_owned(), order_id.to_owned()))
            .or_default();
        let found: Vec<InstallationRecord> = of_order
            .iter()
            .filter(|r| r.line_id == line_id)
            .cloned()
            .collect();
        match &self.invent {
            Some(clock) if found.is_empty() && !line_id.ends_with("-self") => {
                let r = InstallationRecord {
                    line_id: line_id.to_owned(),
                    installed_at: clock() - chrono::Duration::days(2),
                    installer: SANDBOX_INSTALLER.into(),
                    result: InstallResult::Passed,
                    test_report: format!("SBX-TR-{order_id}-{line_id}"),
                };
                // Kept: the same installation the next time.
                of_order.push(r.clone());
                Ok(vec![r])
            }
            _ => Ok(found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn the_runner_invents_one_installation_per_line_and_keeps_it() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 20, 8, 0, 0)
            .single()
            .unwrap();
        let now = std::sync::Arc::new(Mutex::new(t0));
        let n = now.clone();
        let sb = SandboxInstaller::runner(std::sync::Arc::new(move || *n.lock().unwrap()));
        let first = sb.installations("s", "o", "AC1").await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].installed_at, t0 - chrono::Duration::days(2));
        *now.lock().unwrap() = t0 + chrono::Duration::days(9);
        assert_eq!(sb.installations("s", "o", "AC1").await.unwrap(), first);
        assert!(sb
            .installations("s", "o", "AC2-self")
            .await
            .unwrap()
            .is_empty());
        assert!(SandboxInstaller::new()
            .installations("s", "o", "AC1")
            .await
            .unwrap()
            .is_empty());
        assert_eq!(sb.queries(), 3);
    }
}
