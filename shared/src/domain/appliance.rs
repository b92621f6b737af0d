//! Large appliances: the installer's record of an installation (when, who,
//! the result and the test report), which a fault claim carries as evidence
//! and the rules read ("installed and faulty within the window"), and the
//! pickup slots' capacity per courier and area, so that a full slot is
//! refused with the next free ones. Pure: the installer port and the slot
//! counters are read by the use cases (`app::appliance`).

use super::claim::{ClaimLine, SpecialKind};
use super::order::{Order, ProductKind};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// What the installer reports of their work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallResult {
    /// Installed and tested working.
    Passed,
    /// Installed, but the test on site failed.
    Failed,
}

/// One installation of an order line, as the installer's system records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationRecord {
    pub line_id: String,
    pub installed_at: DateTime<Utc>,
    /// The installer (company and technician, as they name themselves).
    pub installer: String,
    pub result: InstallResult,
    /// The test report's reference in the installer's system.
    pub test_report: String,
}

impl InstallationRecord {
    /// Whether a fault reported at `reported_at` is within `days` of this
    /// installation (a report before it counts for nothing).
    pub fn fault_within(&self, reported_at: DateTime<Utc>, days: u32) -> bool {
        let since = reported_at - self.installed_at;
        since >= chrono::Duration::zero() && since <= chrono::Duration::days(i64::from(days))
    }
}

/// What the installer told us about a claim's lines, kept on the claim so
/// that the rules run again on the same facts without asking again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ApplianceInfo {
    /// The installations of the claim's lines; empty when the installer
    /// has none.
    #[serde(default)]
    pub installations: Vec<InstallationRecord>,
    /// When the installer was asked (None: not yet).
    #[serde(default)]
    pub asked_at: Option<DateTime<Utc>>,
    /// The pickup slot holding this claim's place, to free it on a
    /// cancellation or a new booking.
    #[serde(default)]
    pub pickup_place: Option<SlotPlace>,
}

impl ApplianceInfo {
    /// Every claimed line was installed and the fault was reported within
    /// `days` of its installation.
    pub fn installed_and_faulty_within(
        &self,
        lines: &[ClaimLine],
        reported_at: DateTime<Utc>,
        days: u32,
    ) -> bool {
        !lines.is_empty()
            && lines.iter().all(|l| {
                self.installations
                    .iter()
                    .any(|r| r.line_id == l.line_id && r.fault_within(reported_at, days))
            })
    }
}

/// The appliance part of a shop's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliancePolicy {
    /// A fault reported this many days after the installation at most is
    /// the installation's (exchange or return without fees).
    #[serde(default = "default_fault_days")]
    pub fault_window_days: u32,
    /// Pickups each courier can make per slot in an area; an address in
    /// no listed area books without a limit.
    #[serde(default)]
    pub pickup_capacity: Vec<SlotCapacity>,
}

fn default_fault_days() -> u32 {
    15
}

impl Default for AppliancePolicy {
    fn default() -> Self {
        AppliancePolicy {
            fault_window_days: default_fault_days(),
            pickup_capacity: Vec::new(),
        }
    }
}

/// How many pickups one courier makes in one slot in one area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotCapacity {
    /// Kuaidi100 carrier code of the courier doing pickups there.
    pub courier: String,
    /// Matched in the pickup address (a city or district name).
    pub area: String,
    pub per_slot: u32,
}

impl AppliancePolicy {
    pub fn valid(&self) -> bool {
        (1..=90).contains(&self.fault_window_days)
            && self.pickup_capacity.len() <= 50
            && self.pickup_capacity.iter().all(|c| {
                let text = |s: &str| !s.trim().is_empty() && s.chars().count() <= 64;
                text(&c.courier) && text(&c.area) && (1..=1000).contains(&c.per_slot)
            })
    }

    /// The couriers serving `address`, in the policy's order: those of the
    /// first listed area the address names.
    pub fn couriers_for(&self, address: &str) -> Vec<&SlotCapacity> {
        let Some(area) = self
            .pickup_capacity
            .iter()
            .find(|c| address.contains(c.area.as_str()))
            .map(|c| c.area.as_str())
        else {
            return Vec::new();
        };
        self.pickup_capacity
            .iter()
            .filter(|c| c.area == area)
            .collect()
    }
}

/// Why an appliance claim cannot be filed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplianceRefusal {
    #[error("lines[{index}].line_id: {line_id} is not an appliance; appliance_repair is for appliance lines")]
    NotAppliance { index: usize, line_id: String },
}

/// An `appliance_repair` claim is for appliance lines only.
pub fn check_lines(
    kind: SpecialKind,
    order: &Order,
    line_ids: &[&str],
) -> Result<(), ApplianceRefusal> {
    if kind != SpecialKind::ApplianceRepair {
        return Ok(());
    }
    for (index, id) in line_ids.iter().enumerate() {
        let appliance = order
            .line_index(id)
            .is_some_and(|i| order.facts.lines[i].kind == ProductKind::Appliance);
        if !appliance {
            return Err(ApplianceRefusal::NotAppliance {
                index,
                line_id: (*id).to_owned(),
            });
        }
    }
    Ok(())
}

/// One slot of one courier in one area on one day: one counter item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotPlace {
    pub courier: String,
    pub area: String,
    pub date: NaiveDate,
    pub slot: String,
}

/// The claims holding places in one slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SlotLoad {
    pub claims: Vec<String>,
}

impl SlotLoad {
    pub fn holds(&self, claim_id: &str) -> bool {
        self.claims.iter().any(|c| c == claim_id)
    }

    /// Whether `claim_id` can have a place here (it may hold one already).
    pub fn has_room_for(&self, claim_id: &str, per_slot: u32) -> bool {
        self.holds(claim_id) || self.claims.len() < per_slot as usize
    }

    /// Takes a place for `claim_id`: false when full.
    pub fn take(&mut self, claim_id: &str, per_slot: u32) -> bool {
        if self.holds(claim_id) {
            return true;
        }
        if !self.has_room_for(claim_id, per_slot) {
            return false;
        }
        self.claims.push(claim_id.to_owned());
        true
    }

    /// Gives `claim_id`'s place back: false when it held none.
    pub fn free(&mut self, claim_id: &str) -> bool {
        let before = self.claims.len();
        self.claims.retain(|c| c != claim_id);
        self.claims.len() != before
    }
}

/// The bookable (date, slot) pairs after `date`/`slot`, in time order:
/// the rest of that day's slots, then every slot of the following days up
/// to `last` (the policy's slots are in their daily order).
pub fn slots_after(
    date: NaiveDate,
    slot: &str,
    slots: &[String],
    last: NaiveDate,
) -> Vec<(NaiveDate, String)> {
    let mut out = Vec::new();
    let mut day = date;
    let mut started = false;
    while day <= last {
        for s in slots {
            if started {
                out.push((day, s.clone()));
            } else if day == date && s == slot {
                started = true;
            }
        }
        // A slot not in the list: everything from the next day.
        started = true;
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    out
}

/// How a full slot is refused: the next free ones named.
pub fn full_message(date: NaiveDate, slot: &str, free: &[(NaiveDate, String)]) -> String {
    if free.is_empty() {
        format!("slot: {date} {slot} is full and no later slot is free; try again tomorrow")
    } else {
        let names: Vec<String> = free.iter().map(|(d, s)| format!("{d} {s}")).collect();
        format!(
            "slot: {date} {slot} is full; next free: {}",
            names.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
            .single()
            .expect("time")
    }

    fn record(line: &str, day: u32) -> InstallationRecord {
        InstallationRecord {
            line_id: line.into(),
            installed_at: at(day, 10),
            installer: "Cool Install Co., Wang".into(),
            result: InstallResult::Passed,
            test_report: "TR-1".into(),
        }
    }

    fn line(id: &str) -> ClaimLine {
        ClaimLine {
            weight_grams: None,
            line_id: id.into(),
            quantity: 1,
            amount: crate::domain::money::Money::from_minor(
                399_900,
                crate::domain::money::Currency::Cny,
            ),
        }
    }

    #[test]
    fn a_fault_counts_within_the_window_after_the_installation() {
        let r = record("L1", 1);
        assert!(r.fault_within(at(1, 11), 15));
        assert!(r.fault_within(at(16, 10), 15), "the 15th day included");
        assert!(!r.fault_within(at(16, 11), 15));
        assert!(!r.fault_within(at(1, 9), 15), "before the installation");
    }

    #[test]
    fn every_claimed_line_needs_its_installation() {
        let info = ApplianceInfo {
            installations: vec![record("L1", 1)],
            ..Default::default()
        };
        assert!(info.installed_and_faulty_within(&[line("L1")], at(5, 0), 15));
        assert!(!info.installed_and_faulty_within(&[line("L1"), line("L2")], at(5, 0), 15));
        assert!(!info.installed_and_faulty_within(&[line("L1")], at(20, 0), 15));
        assert!(!ApplianceInfo::default().installed_and_faulty_within(&[line("L1")], at(5, 0), 15));
        assert!(!info.installed_and_faulty_within(&[], at(5, 0), 15));
    }

    #[test]
    fn slots_fill_up_and_free_their_places() {
        let mut load = SlotLoad::default();
        assert!(load.take("c1", 2));
        assert!(
            load.take("c1", 2),
            "the same claim again takes nothing more"
        );
        assert!(load.take("c2", 2));
        assert!(!load.take("c3", 2), "full");
        assert_eq!(load.claims, vec!["c1", "c2"]);
        assert!(load.has_room_for("c2", 2));
        assert!(load.free("c1"));
        assert!(!load.free("c1"));
        assert!(load.take("c3", 2));
    }

    #[test]
    fn the_next_slots_run_in_time_order() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).expect("date");
        let slots = vec!["09:00-12:00".to_string(), "14:00-18:00".to_string()];
        assert_eq!(
            slots_after(d(3), "09:00-12:00", &slots, d(4)),
            vec![
                (d(3), "14:00-18:00".into()),
                (d(4), "09:00-12:00".into()),
                (d(4), "14:00-18:00".into())
            ]
        );
        assert_eq!(
            slots_after(d(3), "14:00-18:00", &slots, d(3)),
            Vec::<(NaiveDate, String)>::new()
        );
        let msg = full_message(d(3), "09:00-12:00", &[(d(3), "14:00-18:00".into())]);
        assert!(msg.contains("next free: 2026-11-03 14:00-18:00"), "{msg}");
    }

    #[test]
    fn couriers_are_those_of_the_first_area_named() {
        let p = AppliancePolicy {
            pickup_capacity: vec![
                SlotCapacity {
                    courier: "shunfeng".into(),
                    area: "Pudong".into(),
                    per_slot: 2,
                },
                SlotCapacity {
                    courier: "jd".into(),
                    area: "Pudong".into(),
                    per_slot: 1,
                },
                SlotCapacity {
                    courier: "jd".into(),
                    area: "Minhang".into(),
                    per_slot: 3,
                },
            ],
            ..Default::default()
        };
        assert!(p.valid());
        let found: Vec<&str> = p
            .couriers_for("1 Century Ave, Pudong, Shanghai")
            .iter()
            .map(|c| c.courier.as_str())
            .collect();
        assert_eq!(found, vec!["shunfeng", "jd"]);
        assert!(p.couriers_for("Beijing").is_empty());
        let mut bad = p.clone();
        bad.pickup_capacity[0].per_slot = 0;
        assert!(!bad.valid());
        bad = p;
        bad.fault_window_days = 0;
        assert!(!bad.valid());
    }
}
