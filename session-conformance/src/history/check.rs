//! Checking a recorded history against the promises.

use super::*;

impl History {
    /// The lineages that must never be written again, with the instant
    /// from which on.
    fn ended_lineages(&self) -> Vec<(String, At, String)> {
        let mut ended = Vec::new();
        for r in &self.requests {
            if r.act == Act::Logout && !r.loaded.is_empty() && r.saved {
                ended.push((r.lineage.clone(), r.finish.1, format!("{r:?}")));
            }
        }
        for revoke in &self.revokes {
            for browser in (0..BROWSERS).filter(|b| user_of(*b) == revoke.user) {
                let mine = || self.requests.iter().filter(move |r| r.browser == browser);
                // A request of the browser saving during the revoke may
                // move the session where the revoke does not look: both
                // outcomes are right, so the browser is not judged here.
                if mine().any(|r| r.finish.0 < revoke.at.1 && r.finish.1 > revoke.at.0) {
                    continue;
                }
                // The browser's session at the revoke: its last saved
                // request before it; ended by it if that was a login.
                let last = mine()
                    .filter(|r| r.finish.1 < revoke.at.0 && (r.saved || r.ended))
                    .max_by_key(|r| r.finish.1);
                if let Some(r) = last.filter(|r| r.act == Act::Login && r.saved && !r.ended) {
                    ended.push((
                        r.lineage.clone(),
                        revoke.at.1,
                        format!("{revoke:?} after {r:?}"),
                    ));
                }
            }
        }
        ended
    }

    pub(super) async fn check<S: SessionStore>(&self, store: &S) -> Result<(), Failure> {
        // No empty session is stored.
        if let Some(w) = self.writes.iter().find(|w| w.raw_empty) {
            return fail("an empty session was stored", format!("{w:?}"));
        }
        // Nobody sees data they should not.
        let written: HashMap<&str, &str> = self
            .requests
            .iter()
            .filter_map(|r| Some((r.value.as_deref()?, r.keys.first()?.as_str())))
            .collect();
        for r in &self.requests {
            for (k, v) in &r.loaded {
                if !k.starts_with(&format!("b{}.", r.browser))
                    || written.get(v.as_str()) != Some(&k.as_str())
                {
                    return fail(
                        format!("a request saw {k} = {v}, which nobody of its browser wrote there"),
                        format!("{r:?}"),
                    );
                }
            }
        }
        // An ended session stays ended.
        for (lineage, from, why) in self.ended_lineages() {
            let again = self
                .writes
                .iter()
                .find(|w| w.at.0 > from && w.data.values().any(|v| lineage_of(v) == lineage));
            if let Some(w) = again {
                let mut shown =
                    format!("ended by: {why}\nwritten again: {w:?}\nthe lineage's requests:\n");
                for r in self.requests.iter().filter(|r| r.lineage == lineage) {
                    let _ = writeln!(shown, "  {r:?}");
                }
                return fail(format!("session {lineage} came back after it ended"), shown);
            }
        }
        // Writes land.
        let manager = &self.manager;
        for (browser, jar) in self.jars.iter().enumerate() {
            let session = manager
                .request(jar.as_deref())
                .load()
                .await
                .expect("final load");
            let Some(lineage) = session
                .keys()
                .first()
                .and_then(|k| session.get::<String>(k).ok().flatten())
                .map(|v| lineage_of(&v).to_owned())
            else {
                continue;
            };
            let mut last: BTreeMap<&str, &Request> = BTreeMap::new();
            for r in self
                .requests
                .iter()
                .filter(|r| r.browser == browser && r.saved && !r.ended)
            {
                for k in &r.keys {
                    last.insert(k, r);
                }
            }
            for (k, r) in last {
                if r.lineage != lineage {
                    continue;
                }
                let now = session.get::<String>(k).ok().flatten();
                if now != r.value {
                    return fail(
                        format!(
                            "the last write of {k} in session {lineage} was lost (now {now:?})"
                        ),
                        format!("{r:?}"),
                    );
                }
            }
        }
        // The user index is the truth.
        if store.user_index().is_some() {
            let keys: BTreeSet<&StoreKey> = self.writes.iter().map(|w| &w.key).collect();
            for user in ["ana", "ben"] {
                let mut truth = BTreeSet::new();
                for key in &keys {
                    if let Ok(Some(r)) = store.load(key).await
                        && r.user.as_deref() == Some(user)
                    {
                        truth.insert((*key).clone());
                    }
                }
                let listed = crate::listed(store, user).await;
                if !listed.iter().eq(&truth) {
                    return fail(
                        format!("the user index of {user} is not the truth"),
                        format!("listed: {listed:?}\nlive and bound: {truth:?}"),
                    );
                }
            }
            // Leave nothing for the next history's users.
            for user in ["ana", "ben"] {
                crate::index(store)
                    .delete_sessions_of(user, None)
                    .await
                    .expect("cleanup");
            }
        }
        Ok(())
    }
}
