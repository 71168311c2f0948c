//! Net Promoter Score: how an answer from 0 to 10 counts.
//!
//! PROMOTER 9-10, PASSIVE 7-8, DETRACTOR 0-6; the score is
//! `% promoters − % detractors`.

/// The lowest score of a promoter.
pub const PROMOTER_MIN: i32 = 9;
/// The highest score of a detractor.
pub const DETRACTOR_MAX: i32 = 6;

/// How an NPS answer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Promoter,
    Passive,
    Detractor,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::Promoter, Category::Passive, Category::Detractor];

    pub fn of(score: i32) -> Category {
        match score {
            s if s >= PROMOTER_MIN => Category::Promoter,
            s if s > DETRACTOR_MAX => Category::Passive,
            _ => Category::Detractor,
        }
    }

    /// The scores of the category, both ends included.
    pub fn range(self) -> (i32, i32) {
        match self {
            Category::Promoter => (PROMOTER_MIN, 10),
            Category::Passive => (DETRACTOR_MAX + 1, PROMOTER_MIN - 1),
            Category::Detractor => (0, DETRACTOR_MAX),
        }
    }

    /// The name the API and the segment language use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Promoter => "PROMOTER",
            Category::Passive => "PASSIVE",
            Category::Detractor => "DETRACTOR",
        }
    }

    /// Every category's name, in the order of [`Category::ALL`].
    pub const NAMES: [&'static str; 3] = [
        Category::ALL[0].as_str(),
        Category::ALL[1].as_str(),
        Category::ALL[2].as_str(),
    ];

    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_score_falls_in_its_categorys_range() {
        for score in 0..=10 {
            let (lo, hi) = Category::of(score).range();
            assert!((lo..=hi).contains(&score), "{score}");
        }
        assert_eq!(Category::of(9), Category::Promoter);
        assert_eq!(Category::of(7), Category::Passive);
        assert_eq!(Category::of(6), Category::Detractor);
    }
}
