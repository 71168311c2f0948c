//! RFM groups: which group recency, frequency and monetary scores (1-5,
//! 5 best) put a customer in, and the name a group is stored under.
//!
//! The first rule that holds, with R, F, M the scores:
//! CHAMPIONS R ≥ 4, F ≥ 4, M ≥ 4; LOYAL R ≥ 3, F ≥ 4; NEW R ≥ 4, F = 1;
//! PROMISING R ≥ 4 (so F 2-3); NEEDS_ATTENTION R = 3 (so F ≤ 3);
//! AT_RISK R ≤ 2, F ≥ 3; ALMOST_LOST R = 2; DORMANT otherwise (R = 1, F ≤ 2).

/// A customer's RFM group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Champions,
    Loyal,
    New,
    Promising,
    NeedsAttention,
    AtRisk,
    AlmostLost,
    Dormant,
}

impl Group {
    /// Every group, in the order [`Group::of`] tests them.
    pub const ALL: [Group; 8] = [
        Group::Champions,
        Group::Loyal,
        Group::New,
        Group::Promising,
        Group::NeedsAttention,
        Group::AtRisk,
        Group::AlmostLost,
        Group::Dormant,
    ];

    /// The group of scores `r`, `f`, `m` (1-5).
    pub fn of(r: i16, f: i16, m: i16) -> Group {
        match (r, f, m) {
            (4.., 4.., 4..) => Group::Champions,
            (3.., 4.., _) => Group::Loyal,
            (4.., 1, _) => Group::New,
            (4.., _, _) => Group::Promising,
            (3, _, _) => Group::NeedsAttention,
            (_, 3.., _) => Group::AtRisk,
            (2, _, _) => Group::AlmostLost,
            _ => Group::Dormant,
        }
    }

    /// The name stored in `customer_rfm.rfm_group` and used by segments.
    pub const fn as_str(self) -> &'static str {
        match self {
            Group::Champions => "CHAMPIONS",
            Group::Loyal => "LOYAL",
            Group::New => "NEW",
            Group::Promising => "PROMISING",
            Group::NeedsAttention => "NEEDS_ATTENTION",
            Group::AtRisk => "AT_RISK",
            Group::AlmostLost => "ALMOST_LOST",
            Group::Dormant => "DORMANT",
        }
    }

    /// Every group's name, in the order of [`Group::ALL`].
    pub const NAMES: [&'static str; 8] = {
        let mut names = [""; 8];
        let mut i = 0;
        while i < names.len() {
            names[i] = Group::ALL[i].as_str();
            i += 1;
        }
        names
    };

    pub fn parse(stored: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.as_str() == stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_their_rules_and_names_round_trip() {
        assert_eq!(Group::of(5, 5, 5), Group::Champions);
        assert_eq!(Group::of(3, 4, 1), Group::Loyal);
        assert_eq!(Group::of(4, 1, 5), Group::New);
        assert_eq!(Group::of(5, 3, 1), Group::Promising);
        assert_eq!(Group::of(3, 2, 2), Group::NeedsAttention);
        assert_eq!(Group::of(1, 3, 3), Group::AtRisk);
        assert_eq!(Group::of(2, 2, 2), Group::AlmostLost);
        assert_eq!(Group::of(1, 1, 1), Group::Dormant);
        for g in Group::ALL {
            assert_eq!(Group::parse(g.as_str()), Some(g));
        }
    }
}
