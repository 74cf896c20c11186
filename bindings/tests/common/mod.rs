//! What the bindings' tests share: the in-memory keystore a shell's test
//! would hand in.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use altyn_consent::{KeyProvider, PlatformError};

/// Keeps keys in memory; `save_key` replaces, as the contract asks.
#[derive(Default)]
pub struct MemoryKeys(pub Mutex<HashMap<String, Vec<u8>>>);

impl KeyProvider for MemoryKeys {
    fn load_key(&self, store_id: String) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(self.0.lock().unwrap().get(&store_id).cloned())
    }
    fn save_key(&self, store_id: String, key: Vec<u8>) -> Result<(), PlatformError> {
        self.0.lock().unwrap().insert(store_id, key);
        Ok(())
    }
}
