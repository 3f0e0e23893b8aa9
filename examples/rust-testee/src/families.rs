//! The seam: one trait per hook family. A port implements these with its own hooks (or
//! adapters over them) and hands them to [`crate::protocol::serve`] in a [`HookSet`]; the
//! harness side (the protocol loop, the worlds, the simulated runtime and the clock) stays
//! as it is. The example's hooks (`crate::hooks`, a port of the Python reference) implement
//! every trait; a port replaces one family at a time:
//!
//! ```ignore
//! let hooks = HookSet { slot_count: Some(Rc::new(MySlotCount)), ..HookSet::example() };
//! ```
//!
//! | trait | family (`docs/scenarios.md`) | original module |
//! | --- | --- | --- |
//! | [`HookUtilsHooks`] | `hook_utils` | `hooks/hook_utils.py` |
//! | [`SlotCountHooks`] | `slot_count` | `hooks/ckpt_info.py` (and the hash tables it reads) |
//! | [`FeatureDumpHooks`] | `feature_dump` | `hooks/feature_engineering_hooks.py` |
//! | [`ControllerHooks`] | `controller`, `barrier` | `hooks/controller_hooks.py`, `barrier_ops.py` |
//!
//! A family whose field is `None` is not served (not in hello's `families`: its scenarios
//! are reported as not applicable).

use std::path::Path;
use std::rc::Rc;

use crate::clock::{ClockRef, LocalBoxFuture};
use crate::error::{HookResult, PyError};
use crate::events::Events;
use crate::proto::monolith::hash_table::EntryDump;
use crate::runtime::{CheckpointSaverListener, Fetch, Graph, Session, SessionRunHook};

/// A shared session-run hook.
pub type SessionRunHookRef = Rc<dyn SessionRunHook>;

/// What every hook may use: the scenario's clock and where its log lines go (the hooks'
/// `log.info(...)`: `events.info(...)`).
#[derive(Clone)]
pub struct HookContext {
    pub clock: ClockRef,
    pub events: Events,
}

// -- hook_utils ---------------------------------------------------------------------------

/// `hook_utils.py`: listener wrappers that pass on only one of the save callbacks.
pub trait HookUtilsHooks {
    /// `BeforeSaveListener(listener)`: forwards only `before_save`; its `repr` is its own
    /// default repr followed by the wrapped one's (`<BeforeSaveListener><...>`).
    fn before_save_listener(
        &self,
        listener: Rc<dyn CheckpointSaverListener>,
    ) -> Rc<dyn CheckpointSaverListener>;
    /// `AfterSaveListener(listener)`: forwards only `after_save`.
    fn after_save_listener(
        &self,
        listener: Rc<dyn CheckpointSaverListener>,
    ) -> Rc<dyn CheckpointSaverListener>;
}

// -- slot_count ---------------------------------------------------------------------------

/// An embedding hash table as the slot-count listener sees it.
pub trait HashTable {
    fn name(&self) -> &str;
    fn device(&self) -> &str;
    /// Inserts or overwrites entries (a fid already present stays one entry).
    fn assign(&self, session: &Session, fids: &[u64]) -> Result<(), PyError>;
    /// Every entry once, in insertion order (a table dump).
    fn dump(&self, session: &Session) -> Result<Box<dyn Iterator<Item = EntryDump> + '_>, PyError>;
}

/// `ckpt_info.py`: `FidSlotCountSaverListener` writes `<model_dir>/ckpt.info-<step>`
/// (`monolith.CkptInfo` in text format) before each save; and the tables it counts.
pub trait SlotCountHooks {
    /// A hash table registered in `graph` (the hash-table collection).
    fn hash_table(&self, graph: &Graph, name: &str, dim: i64, device: &str) -> Rc<dyn HashTable>;
    /// A multi-hash table registered in `graph` (the listener then writes nothing).
    fn multi_hash_table(&self, graph: &Graph);
    /// The listener, built after the tables (`ValueError` without any, or for a second
    /// listener in one graph).
    fn slot_listener(
        &self,
        ctx: &HookContext,
        graph: &Graph,
        model_dir: &Path,
    ) -> Result<Rc<dyn CheckpointSaverListener>, PyError>;
}

/// The hash tables registered in a graph, in order (the `monolith_hash_tables` collection).
pub fn hash_tables(graph: &Graph) -> Vec<Rc<dyn HashTable>> {
    graph
        .get_collection(HASH_TABLE_COLLECTION)
        .iter()
        .filter_map(|t| t.downcast_ref::<Rc<dyn HashTable>>().cloned())
        .collect()
}

pub const HASH_TABLE_COLLECTION: &str = "monolith_hash_tables";
pub const MULTI_HASH_TABLE_COLLECTION: &str = "monolith_multi_hash_tables";

// -- feature_dump -------------------------------------------------------------------------

/// The parts of an estimator `RunConfig` the feature hook reads.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub model_dir: String,
    pub server_type: String,
    pub index: i64,
}

/// `feature_engineering_hooks.py`: `FeatureEngineeringSaveHook`.
pub trait FeatureDumpHooks {
    /// The hook over `next_element` (the iterator's `get_next()`: fetching it yields a
    /// `Value::Batch`), saving every `cap` elements and at `end`, taking each file's uuid
    /// from `uuid_fn`.
    fn feature_hook(
        &self,
        ctx: &HookContext,
        config: RunConfig,
        next_element: Fetch,
        cap: i64,
        uuid_fn: Box<dyn FnMut() -> String>,
    ) -> Rc<dyn SessionRunHook>;
}

// -- controller and barrier -----------------------------------------------------------------

/// A barrier callback: `(action, session)`, run when the barrier is placed and when a
/// worker blocks at it.
pub type BarrierCallback = Rc<dyn Fn(&str, &Session)>;

/// How a `BarrierOp` is built (`BarrierOp(capacity, is_chief, wait_seconds, name_prefix,
/// barrier_callbacks)`).
#[derive(Clone)]
pub struct BarrierConfig {
    pub capacity: i64,
    pub is_chief: bool,
    pub wait_seconds: f64,
    pub name_prefix: String,
    pub callbacks: Vec<BarrierCallback>,
    /// Only for `place_race: "together"` (`docs/scenarios.md`): `place_barrier` awaits
    /// this right after its check of the flag, the first time, so every racer checks before
    /// any sets it. `None` otherwise. A port that cannot pause there cannot express that
    /// outcome (the corpus leaves the race `open`).
    pub race: Option<Rc<PlaceRace>>,
}

/// `barrier_ops.py`: a bool vector of `capacity` flags (flag 0: placed; flag i: worker i
/// blocked) and an action string, on the parameter server (shared by the job's workers).
pub trait BarrierOp {
    fn capacity(&self) -> i64;
    /// The placed flag as a fetch (what `BarrierHook.before_run` asks for).
    fn barrier_placed_tensor(&self) -> Fetch;
    /// `BarrierAlreadyPlacedError` (message `""`) if placed; else sets flag 0 and the
    /// action, then runs the callbacks.
    fn place_barrier<'a>(
        &'a self,
        session: &'a Session,
        action: &'a str,
    ) -> LocalBoxFuture<'a, HookResult>;
    fn remove_barrier<'a>(&'a self, session: &'a Session) -> LocalBoxFuture<'a, HookResult>;
    fn is_barrier_placed(&self, session: &Session) -> Result<bool, PyError>;
    fn is_barrier_removed(&self, session: &Session) -> Result<bool, PyError>;
    fn is_all_blocked(&self, session: &Session) -> Result<bool, PyError>;
    fn is_none_blocked(&self, session: &Session) -> Result<bool, PyError>;
    fn get_blocked_indices(&self, session: &Session) -> Result<Vec<i64>, PyError>;
    fn get_unblocked_indices(&self, session: &Session) -> Result<Vec<i64>, PyError>;
    /// Blocks worker `index` until the barrier is removed (its flag set meanwhile).
    fn wait_until_barrier_removed<'a>(
        &'a self,
        session: &'a Session,
        index: i64,
    ) -> LocalBoxFuture<'a, HookResult>;
    /// What a worker's local init op does to this op's variables when its session starts
    /// (the reference re-initialises the action, which is shared: a late worker empties it).
    fn init_locals(&self, session: &Session);
}

/// `controller_hooks.ControllerHook`: reacts to the stop and trigger-save flags.
pub trait ControllerHook: SessionRunHook {
    /// The op that sets the stop flag (`stop_op`).
    fn stop_op(&self) -> Fetch;
    /// The op that sets the trigger-save flag (`trigger_save_op`).
    fn trigger_save_op(&self) -> Fetch;
    /// What a worker's local init op does to the flags when its session starts (shared on
    /// a parameter server with `num_ps > 0`: it resets everyone's).
    fn init_locals(&self, session: &Session);
}

/// `controller_hooks.StopHelper`: a barrier callback that turns a `"Stop"` action into a
/// stop request of its stop hook.
pub trait StopHelper {
    fn create_barrier_callback(&self) -> BarrierCallback;
    fn create_stop_hook(&self) -> Rc<dyn SessionRunHook>;
}

/// `controller_hooks.py` and `barrier_ops.py`.
pub trait ControllerHooks {
    fn barrier_op(&self, ctx: &HookContext, config: BarrierConfig) -> Rc<dyn BarrierOp>;
    /// `BarrierHook(index, op)`: after each run, a worker with index > 0 waits while the
    /// barrier is placed.
    fn barrier_hook(
        &self,
        ctx: &HookContext,
        index: i64,
        op: Rc<dyn BarrierOp>,
    ) -> Rc<dyn SessionRunHook>;
    fn stop_helper(&self, ctx: &HookContext) -> Rc<dyn StopHelper>;
    /// `ControllerHook(num_ps, barrier_op, trigger_save)`.
    fn controller_hook(
        &self,
        ctx: &HookContext,
        num_ps: i64,
        barrier: Option<Rc<dyn BarrierOp>>,
        trigger_save: Option<Rc<dyn Fn()>>,
    ) -> Rc<dyn ControllerHook>;
    /// `QueryActionHook(model_dir, controller, query_interval)`: polls
    /// `<model_dir>/monolith_action` on its own thread.
    fn query_action_hook(
        &self,
        ctx: &HookContext,
        model_dir: &Path,
        controller: Rc<dyn ControllerHook>,
        query_interval: f64,
    ) -> Rc<dyn SessionRunHook>;
}

/// `place_race: "together"`: each racer's first check of the placed flag waits until all
/// racers have checked (the chief's and every controller worker's `BarrierOp`).
pub struct PlaceRace {
    left: std::cell::Cell<usize>,
    all_checked: Rc<dyn crate::clock::Event>,
}

impl PlaceRace {
    pub fn new(clock: &ClockRef, racers: usize) -> Rc<PlaceRace> {
        Rc::new(PlaceRace {
            left: std::cell::Cell::new(racers),
            all_checked: clock.event(),
        })
    }

    /// One racer's first check is done: wait for the others'.
    pub async fn checked(&self) -> HookResult {
        let left = self.left.get().saturating_sub(1);
        self.left.set(left);
        if left == 0 {
            self.all_checked.set();
        } else {
            self.all_checked.wait(None).await?;
        }
        Ok(())
    }
}

/// The hooks of every family a testee serves (`None`: not served).
#[derive(Clone)]
pub struct HookSet {
    pub hook_utils: Option<Rc<dyn HookUtilsHooks>>,
    pub slot_count: Option<Rc<dyn SlotCountHooks>>,
    pub feature_dump: Option<Rc<dyn FeatureDumpHooks>>,
    /// The `controller` and `barrier` families.
    pub controller: Option<Rc<dyn ControllerHooks>>,
}

impl HookSet {
    /// The example's hooks for every family (`crate::hooks`).
    pub fn example() -> HookSet {
        let hooks = Rc::new(crate::hooks::ExampleHooks);
        HookSet {
            hook_utils: Some(hooks.clone()),
            slot_count: Some(hooks.clone()),
            feature_dump: Some(hooks.clone()),
            controller: Some(hooks),
        }
    }

    /// The families served, sorted (hello's `capabilities.families`).
    pub fn families(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.controller.is_some() {
            out.extend(["barrier", "controller"]);
        }
        if self.feature_dump.is_some() {
            out.push("feature_dump");
        }
        if self.hook_utils.is_some() {
            out.push("hook_utils");
        }
        if self.slot_count.is_some() {
            out.push("slot_count");
        }
        out
    }
}
