//! The reject policy: how many bad rows an object may have before it fails.

/// How many bad rows an object may hold before it fails (`--max-rejects`,
/// `MAX_REJECTS`): a count (`5`) or a share of its data rows (`0.5%`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxRejects {
    /// At most this many; 0: the first bad row fails the object, at once.
    Rows(u64),
    /// At most this many millionths of the object's data rows (`0.5%` is
    /// 5,000). Known only at the end of the object, so it is checked there;
    /// the bad rows are kept until then.
    PerMillion(u32),
}

impl MaxRejects {
    /// No bad row tolerated.
    pub const NONE: MaxRejects = MaxRejects::Rows(0);

    /// Whether the first bad row fails the object.
    pub fn none_allowed(self) -> bool {
        self == MaxRejects::NONE
    }
}

impl std::str::FromStr for MaxRejects {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let Some(percent) = text.strip_suffix('%') else {
            return text.parse().map(MaxRejects::Rows).map_err(|_| {
                format!("{text:?} is neither a number of rows (5) nor a share (0.5%)")
            });
        };
        let share: f64 = percent
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && (0.0..=100.0).contains(v))
            .ok_or_else(|| format!("{text:?}: a share is a percentage from 0% to 100%"))?;
        // Whole millionths: 0.0001% is the finest share.
        let per_million = (share * 10_000.0).round() as u32;
        if per_million == 0 && share > 0.0 {
            return Err(format!("{text:?}: the finest share is 0.0001%"));
        }
        Ok(if per_million == 0 {
            MaxRejects::NONE
        } else {
            MaxRejects::PerMillion(per_million)
        })
    }
}

impl std::fmt::Display for MaxRejects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxRejects::Rows(n) => write!(f, "{n}"),
            MaxRejects::PerMillion(p) => write!(f, "{}%", f64::from(*p) / 10_000.0),
        }
    }
}
