//! The one shape every piece of watched state has. A watch delivers three things: an object
//! created or changed, an object deleted, and (after a start or a lost watch) the whole list
//! again. An index takes exactly those, so the same index is driven by a live watch, by a dump
//! of the cluster (`palisade check --cluster-state`), and by a unit test, alike.

/// State kept from one kind of object `K` (or from what a watch reduced each object to).
pub trait Index<K> {
    /// `object` was created or changed: replace what an earlier version of it left.
    fn apply(&mut self, object: K);

    /// `object` was deleted; it is its last known state.
    fn delete(&mut self, object: K);

    /// The watch listed the kind again: `objects` is everything that exists now, and whatever
    /// the index holds of this kind that is not among them is gone (deleted while no watch ran).
    fn reset(&mut self, objects: Vec<K>);
}
