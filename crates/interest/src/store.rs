//! Where graphs are kept, behind a trait: the feature store implements it on Redis
//! (`resonance-featurestore`), [`MemoryGraphStore`] on memory for tests.

use std::collections::HashMap;

use anyhow::Result;

use crate::{FailureRecord, GraphRecord};

/// The stored graphs and the failures of the last runs, per listener.
pub trait GraphStore {
    /// The stored records of `users`, in order (`None` where absent or unreadable).
    fn graph_records(&mut self, users: &[&str]) -> Result<Vec<Option<GraphRecord>>>;

    /// Stores new graphs (clearing their failures) and records failures, at once.
    fn save_graphs(
        &mut self,
        built: &[(String, GraphRecord)],
        failed: &[(String, FailureRecord)],
    ) -> Result<()>;
}

/// A [`GraphStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryGraphStore {
    /// Listener → their graph.
    pub graphs: HashMap<String, GraphRecord>,
    /// Listener → why their last build failed.
    pub failures: HashMap<String, FailureRecord>,
}

impl GraphStore for MemoryGraphStore {
    fn graph_records(&mut self, users: &[&str]) -> Result<Vec<Option<GraphRecord>>> {
        Ok(users.iter().map(|u| self.graphs.get(*u).cloned()).collect())
    }

    fn save_graphs(
        &mut self,
        built: &[(String, GraphRecord)],
        failed: &[(String, FailureRecord)],
    ) -> Result<()> {
        for (user, record) in built {
            self.failures.remove(user);
            self.graphs.insert(user.clone(), record.clone());
        }
        for (user, failure) in failed {
            self.failures.insert(user.clone(), failure.clone());
        }
        Ok(())
    }
}
