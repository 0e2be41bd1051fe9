//! The live connections of this node, by id and by user.
//!
//! Both indexes hold only the connection's handle (8 bytes an entry) and
//! find it through a hash of a field of the connection itself (its id, its
//! user id), so no key is copied or allocated beside it. The by-user index
//! is a multimap: one entry per connection, all of a user's entries under
//! the hash of the user id.
//!
//! Invariant: a connection's user id does not change once it is
//! registered under it (`auth` and `refresh` refuse another user), so the
//! hash it went in under finds it again at removal. Nobody holds a
//! connection's principal lock while taking these locks.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::conn::Connection;

/// Connections by id, and by user.
#[derive(Default)]
pub struct Registry {
    by_id: RwLock<HashTable<Arc<Connection>>>,
    by_user: RwLock<HashTable<Arc<Connection>>>,
    hasher: RandomState,
}

fn is_user(c: &Connection, user: &str) -> bool {
    c.principal.read().user_id.as_deref() == Some(user)
}

impl Registry {
    fn hash_id(&self, c: &Connection) -> u64 {
        self.hasher.hash_one(&*c.id)
    }

    fn hash_user_of(&self, c: &Connection) -> u64 {
        self.hasher
            .hash_one(c.principal.read().user_id.as_deref().unwrap_or(""))
    }

    /// Registers a new connection under its id.
    pub fn insert(&self, conn: Arc<Connection>) {
        let h = self.hash_id(&conn);
        self.by_id
            .write()
            .insert_unique(h, conn, |c| self.hash_id(c));
    }

    /// Unregisters a connection (by id and by user).
    pub fn remove(&self, conn: &Connection) {
        let h = self.hash_id(conn);
        if let Ok(e) = self.by_id.write().find_entry(h, |c| c.key == conn.key) {
            e.remove();
        }
        if conn.principal.read().user_id.is_some() {
            let h = self.hash_user_of(conn);
            if let Ok(e) = self.by_user.write().find_entry(h, |c| c.key == conn.key) {
                e.remove();
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Connection>> {
        let h = self.hasher.hash_one(id);
        self.by_id.read().find(h, |c| &*c.id == id).cloned()
    }

    pub fn len(&self) -> usize {
        self.by_id.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.read().is_empty()
    }

    /// Every live connection.
    pub fn all(&self) -> Vec<Arc<Connection>> {
        self.by_id.read().iter().cloned().collect()
    }

    /// The connections of `user`, oldest first.
    pub fn of_user(&self, user: &str) -> Vec<Arc<Connection>> {
        let h = self.hasher.hash_one(user);
        let mut v: Vec<_> = self
            .by_user
            .read()
            .iter_hash(h)
            .filter(|c| is_user(c, user))
            .cloned()
            .collect();
        v.sort_unstable_by_key(|c| c.key);
        v
    }

    /// Records that `conn` belongs to `user`. With `max` > 0 and the user
    /// at the limit, either returns the oldest connections to replace
    /// (`replace`) or `None` (refused).
    pub fn add_to_user(
        &self,
        user: &str,
        conn: &Arc<Connection>,
        max: usize,
        replace: bool,
    ) -> Option<Vec<Arc<Connection>>> {
        let h = self.hasher.hash_one(user);
        let mut t = self.by_user.write();
        let mut held: Vec<u64> = t
            .iter_hash(h)
            .filter(|c| is_user(c, user))
            .map(|c| c.key)
            .collect();
        if held.contains(&conn.key) {
            return Some(Vec::new());
        }
        let mut evicted = Vec::new();
        if max > 0 && held.len() >= max {
            if !replace {
                return None;
            }
            held.sort_unstable();
            for key in &held[..held.len() + 1 - max] {
                if let Ok(e) = t.find_entry(h, |c| c.key == *key) {
                    evicted.push(e.remove().0);
                }
            }
        }
        t.insert_unique(h, conn.clone(), |c| self.hash_user_of(c));
        Some(evicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;
    use crate::conn::format::Format;

    fn conn(user: &str) -> Arc<Connection> {
        let p = Principal {
            authenticated: true,
            user_id: Some(user.to_string()),
            ..Principal::default()
        };
        let remote = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        Arc::new(Connection::new(
            crate::ids::ConnectionId::random(),
            remote,
            p,
            Format::default(),
            1 << 20,
        ))
    }

    #[test]
    fn finds_by_id_and_user_and_forgets_on_remove() {
        let r = Registry::default();
        let (a1, a2, b) = (conn("a"), conn("a"), conn("b"));
        for c in [&a1, &a2, &b] {
            r.insert(c.clone());
            assert_eq!(added(&r, &user_of(c), c, 0, false), Some(vec![]));
        }
        // Registering again changes nothing.
        assert_eq!(added(&r, "a", &a1, 0, false), Some(vec![]));
        assert_eq!(r.len(), 3);
        assert_eq!(keys(&r.of_user("a")), vec![a1.key, a2.key]);
        assert_eq!(keys(&r.of_user("b")), vec![b.key]);
        assert!(r.of_user("c").is_empty());
        assert_eq!(r.get(&a2.id).map(|c| c.key), Some(a2.key));
        assert!(r.get("nobody").is_none());
        r.remove(&a1);
        assert_eq!(keys(&r.of_user("a")), vec![a2.key]);
        assert!(r.get(&a1.id).is_none());
        assert_eq!(r.len(), 2);
        assert!(!r.is_empty());
        assert_eq!(r.all().len(), 2);
    }

    #[test]
    fn the_user_limit_refuses_or_replaces_the_oldest() {
        let r = Registry::default();
        let c: Vec<_> = (0..4).map(|_| conn("u")).collect();
        assert_eq!(added(&r, "u", &c[0], 2, false), Some(vec![]));
        assert_eq!(added(&r, "u", &c[1], 2, false), Some(vec![]));
        assert_eq!(added(&r, "u", &c[2], 2, false), None);
        assert_eq!(added(&r, "u", &c[2], 2, true), Some(vec![c[0].key]));
        assert_eq!(keys(&r.of_user("u")), vec![c[1].key, c[2].key]);
        // Lowering the limit evicts as many as needed.
        assert_eq!(
            added(&r, "u", &c[3], 1, true),
            Some(vec![c[1].key, c[2].key])
        );
        assert_eq!(keys(&r.of_user("u")), vec![c[3].key]);
    }

    /// `add_to_user`, with the evicted connections' keys.
    fn added(
        r: &Registry,
        user: &str,
        c: &Arc<Connection>,
        max: usize,
        replace: bool,
    ) -> Option<Vec<u64>> {
        r.add_to_user(user, c, max, replace).map(|v| keys(&v))
    }

    fn user_of(c: &Connection) -> String {
        c.principal.read().user_id.clone().unwrap_or_default()
    }

    fn keys(v: &[Arc<Connection>]) -> Vec<u64> {
        v.iter().map(|c| c.key).collect()
    }
}
