//! Isolate-memory caches in front of KV/D1/the Durable Object, each entry with a short TTL.
//! Workers run one request at a time per isolate thread, so `thread_local` + `RefCell` is safe.

use crate::core::gateway_key::{GatewayKeyRecord, KeyUsage};
use crate::core::routing::RouteTable;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A key lookup is re-checked against D1 this often, which bounds how long a revoked key
/// keeps working in any isolate (KV is not consulted for keys: its propagation takes ~60 s).
pub const KEY_TTL_MS: i64 = 5_000;
/// Unknown keys are remembered briefly so a flood of bad keys cannot hammer D1.
pub const UNKNOWN_KEY_TTL_MS: i64 = 2_000;
/// Route tables change only on sync or admin edits; a KV read refreshes them this often.
pub const ROUTE_TTL_MS: i64 = 10_000;
/// The cooldown snapshot is re-fetched from the Durable Object this often.
pub const COOLDOWN_TTL_MS: i64 = 2_000;
const MAX_ENTRIES: usize = 10_000;
/// Unknown keys live in their own, smaller map: a flood of random keys fills only that one
/// (its oldest entries give way), never evicting the valid keys of the positive cache.
const MAX_UNKNOWN_KEYS: usize = 4_096;

struct TtlMap<V> {
    entries: HashMap<String, (i64, V)>,
    capacity: usize,
}

impl<V: Clone> TtlMap<V> {
    fn new() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }

    fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
        }
    }

    fn get(&self, key: &str, now: i64) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, v)| v.clone())
    }

    fn put(&mut self, key: String, value: V, expires: i64, now: i64) {
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, (exp, _)| *exp > now);
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (expires, value));
    }

    fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

thread_local! {
    static KEYS: RefCell<TtlMap<Rc<GatewayKeyRecord>>> = RefCell::new(TtlMap::new());
    static UNKNOWN_KEYS: RefCell<TtlMap<()>> = RefCell::new(TtlMap::with_capacity(MAX_UNKNOWN_KEYS));
    static ROUTES: RefCell<TtlMap<Rc<RouteTable>>> = RefCell::new(TtlMap::new());
    static COOLDOWNS: RefCell<TtlMap<Rc<HashMap<i64, i64>>>> = RefCell::new(TtlMap::new());
    /// Key id → this isolate's use of the key; outlives cached records (no TTL) because it
    /// holds the calls the usage log has not stored yet.
    static KEY_USAGE: RefCell<HashMap<i64, Rc<KeyUsage>>> = RefCell::new(HashMap::new());
}

/// The isolate's shared use of key `id`, brought up to the counts a lookup just read.
pub fn key_usage(id: i64, stored_requests: i64, stored_cost_usd: f64) -> Rc<KeyUsage> {
    KEY_USAGE.with(|m| {
        let mut map = m.borrow_mut();
        if map.len() >= MAX_ENTRIES && !map.contains_key(&id) {
            // Only entries no cached record holds and with nothing unstored can go.
            map.retain(|_, u| Rc::strong_count(u) > 1 || !u.is_settled());
        }
        let usage = map.entry(id).or_default();
        usage.refresh(stored_requests, stored_cost_usd);
        Rc::clone(usage)
    })
}

/// Runs `f` on the isolate's use of key `id`, if this isolate has looked the key up.
pub fn with_key_usage(id: i64, f: impl FnOnce(&KeyUsage)) {
    KEY_USAGE.with(|m| {
        if let Some(usage) = m.borrow().get(&id) {
            f(usage);
        }
    });
}

/// `Some(None)` = known to be unknown; `None` = not cached.
pub fn get_key(hash: &str, now: i64) -> Option<Option<Rc<GatewayKeyRecord>>> {
    if let Some(record) = KEYS.with(|m| m.borrow().get(hash, now)) {
        return Some(Some(record));
    }
    UNKNOWN_KEYS.with(|m| m.borrow().get(hash, now).map(|()| None))
}

pub fn put_key(hash: &str, record: Option<Rc<GatewayKeyRecord>>, now: i64) {
    match record {
        Some(record) => KEYS.with(|m| {
            m.borrow_mut()
                .put(hash.to_string(), record, now + KEY_TTL_MS, now)
        }),
        None => UNKNOWN_KEYS.with(|m| {
            m.borrow_mut()
                .put(hash.to_string(), (), now + UNKNOWN_KEY_TTL_MS, now)
        }),
    }
}

pub fn forget_key(hash: &str) {
    KEYS.with(|m| m.borrow_mut().remove(hash));
    UNKNOWN_KEYS.with(|m| m.borrow_mut().remove(hash));
}

pub fn get_routes(org: i64, now: i64) -> Option<Rc<RouteTable>> {
    ROUTES.with(|m| m.borrow().get(&org.to_string(), now))
}

pub fn put_routes(org: i64, table: Rc<RouteTable>, now: i64) {
    ROUTES.with(|m| {
        m.borrow_mut()
            .put(org.to_string(), table, now + ROUTE_TTL_MS, now)
    });
}

/// Channel id → cooldown end (ms), for channels cooling down.
pub fn get_cooldowns(org: i64, now: i64) -> Option<Rc<HashMap<i64, i64>>> {
    COOLDOWNS.with(|m| m.borrow().get(&org.to_string(), now))
}

pub fn put_cooldowns(org: i64, snapshot: Rc<HashMap<i64, i64>>, now: i64) {
    COOLDOWNS.with(|m| {
        m.borrow_mut()
            .put(org.to_string(), snapshot, now + COOLDOWN_TTL_MS, now)
    });
}

/// Marks a channel as cooling in this isolate at once, before the DO confirms it.
pub fn note_cooling(org: i64, channel_id: i64, until: i64, now: i64) {
    COOLDOWNS.with(|m| {
        let mut map = m.borrow_mut();
        let mut snapshot: HashMap<i64, i64> = map
            .get(&org.to_string(), now)
            .map(|s| (*s).clone())
            .unwrap_or_default();
        snapshot.insert(channel_id, until);
        map.put(
            org.to_string(),
            Rc::new(snapshot),
            now + COOLDOWN_TTL_MS,
            now,
        );
    });
}
