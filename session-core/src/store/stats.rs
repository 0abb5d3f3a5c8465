//! Counts of a store's sessions, for operators.

/// What [`Maintenance::stats`](super::Maintenance::stats) reports.
///
/// ```
/// let stats = session_core::StoreStats::default();
/// assert_eq!(stats.live, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Sessions that have not expired.
    pub live: u64,
    /// Expired records still stored (`None` where the engine drops them itself).
    pub expired: Option<u64>,
    /// Live sessions that expire within the next hour.
    pub expiring_within_hour: u64,
    /// Live sessions that expire within the next day.
    pub expiring_within_day: u64,
    /// The users with the most live sessions, most first.
    pub top_users: Vec<(String, u64)>,
}

impl StoreStats {
    /// Builds statistics from each live record's expiry and user, and the
    /// number of expired records; for stores that count by walking their
    /// records.
    ///
    /// ```
    /// # use session_core::StoreStats;
    /// # use time::Duration;
    /// let now = session_core::now();
    /// let stats = StoreStats::tally(
    ///     now,
    ///     [
    ///         (now + Duration::minutes(5), Some("alice")),
    ///         (now + Duration::days(3), Some("alice")),
    ///         (now + Duration::days(3), None),
    ///     ],
    ///     Some(2),
    ///     10,
    /// );
    /// assert_eq!((stats.live, stats.expiring_within_hour, stats.expired), (3, 1, Some(2)));
    /// assert_eq!(stats.top_users, [("alice".to_owned(), 2)]);
    /// ```
    pub fn tally<'a>(
        now: time::OffsetDateTime,
        live: impl IntoIterator<Item = (time::OffsetDateTime, Option<&'a str>)>,
        expired: Option<u64>,
        top_users: usize,
    ) -> Self {
        let mut stats = StoreStats {
            expired,
            ..StoreStats::default()
        };
        let mut users: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for (expires_at, user) in live {
            stats.live += 1;
            if expires_at <= now + time::Duration::HOUR {
                stats.expiring_within_hour += 1;
            }
            if expires_at <= now + time::Duration::DAY {
                stats.expiring_within_day += 1;
            }
            if let Some(user) = user {
                *users.entry(user).or_default() += 1;
            }
        }
        let mut users: Vec<(String, u64)> =
            users.into_iter().map(|(u, n)| (u.to_owned(), n)).collect();
        users.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        users.truncate(top_users);
        stats.top_users = users;
        stats
    }

    /// Builds statistics from every record's expiry and user, live or
    /// expired (as at `now`); for stores that can see their expired records
    /// and count them by walking all of them.
    ///
    /// ```
    /// # use session_core::StoreStats;
    /// # use time::Duration;
    /// let now = session_core::now();
    /// let stats = StoreStats::count(
    ///     now,
    ///     [
    ///         (now + Duration::minutes(5), Some("alice".to_owned())),
    ///         (now - Duration::minutes(5), Some("alice".to_owned())),
    ///         (now + Duration::days(3), None),
    ///     ],
    ///     10,
    /// );
    /// assert_eq!((stats.live, stats.expiring_within_hour, stats.expired), (2, 1, Some(1)));
    /// assert_eq!(stats.top_users, [("alice".to_owned(), 1)]);
    /// ```
    pub fn count(
        now: time::OffsetDateTime,
        records: impl IntoIterator<Item = (time::OffsetDateTime, Option<String>)>,
        top_users: usize,
    ) -> Self {
        let (live, expired): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|(expires_at, _)| *expires_at > now);
        let live = live.iter().map(|(at, user)| (*at, user.as_deref()));
        Self::tally(now, live, Some(expired.len() as u64), top_users)
    }
}
