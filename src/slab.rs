//! A generational slab: the storage behind the channel map and the task queue.
//!
//! A [`Key`] is a slot index and that slot's generation, packed into one `usize` so it
//! can be a mio token. Removing a value bumps its slot's generation, so a key kept
//! from before (an event already gathered for a closed channel, a handle to a
//! finished task) finds nothing, even after the slot holds a new value.

/// Bits of a key that hold the slot index; the rest hold the generation.
#[cfg(target_pointer_width = "64")]
const INDEX_BITS: u32 = 32;
#[cfg(target_pointer_width = "32")]
const INDEX_BITS: u32 = 20;
#[cfg(target_pointer_width = "16")]
compile_error!("asyncore needs at least a 32-bit target");

const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Generations wrap within the bits left over.
const GENERATION_MASK: u32 = (usize::MAX >> INDEX_BITS) as u32;
/// The largest index handed out: the all-ones index is never used, so a key of all
/// ones (`usize::MAX`, the loop's wake token) names no slot.
const MAX_INDEX: usize = INDEX_MASK - 1;

/// Names a slot and the generation of the value it held when the key was made.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Key(pub(crate) usize);

impl Key {
    /// Names no slot: the all-ones index is never handed out.
    pub(crate) const NONE: Key = Key(usize::MAX);

    fn new(index: usize, generation: u32) -> Key {
        Key(((generation as usize) << INDEX_BITS) | index)
    }

    fn index(self) -> usize {
        self.0 & INDEX_MASK
    }

    fn generation(self) -> u32 {
        (self.0 >> INDEX_BITS) as u32
    }
}

/// No slot ([`Key::NONE`]): where the loop notes a channel's key, the note of one
/// not in a map.
impl Default for Key {
    fn default() -> Key {
        Key::NONE
    }
}

/// The generation after `generation`, wrapping within the bits a key has for it.
fn next_generation(generation: u32) -> u32 {
    generation.wrapping_add(1) & GENERATION_MASK
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Values in generation-tagged slots; freed slots are reused.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value` and returns its key.
    ///
    /// # Panics
    ///
    /// With more values than a key can index (2^32 - 1 on 64-bit targets).
    pub(crate) fn insert(&mut self, value: T) -> Key {
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                assert!(self.slots.len() <= MAX_INDEX, "asyncore: slab is full");
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.value = Some(value);
        self.len += 1;
        Key::new(index, slot.generation)
    }

    /// The value `key` names, if it is still there.
    #[inline]
    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index())?;
        if slot.generation != key.generation() {
            return None;
        }
        slot.value.as_ref()
    }

    /// The value `key` names, mutably, if it is still there.
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index())?;
        if slot.generation != key.generation() {
            return None;
        }
        slot.value.as_mut()
    }

    /// Takes the value `key` names out, if it is still there; the key (and every
    /// copy of it) names nothing from now on.
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let index = key.index();
        let slot = self.slots.get_mut(index)?;
        if slot.generation != key.generation() || slot.value.is_none() {
            return None;
        }
        slot.generation = next_generation(slot.generation);
        self.free.push(index as u32);
        self.len -= 1;
        slot.value.take()
    }

    /// Takes every value out, in slot order, as [`remove`](Slab::remove) would one by
    /// one: no key made so far names anything from now on.
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        let mut values = Vec::with_capacity(self.len);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if let Some(value) = slot.value.take() {
                slot.generation = next_generation(slot.generation);
                self.free.push(index as u32);
                values.push(value);
            }
        }
        self.len = 0;
        values
    }

    /// How many values the slab holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The keys of every value, in slot order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.value.is_some())
            .map(|(i, s)| Key::new(i, s.generation))
    }

    /// Every value, in slot order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.iter().filter_map(|s| s.value.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_key_finds_nothing_even_after_its_slot_is_reused() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_eq!(a.index(), b.index());
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn take_all_empties_the_slab_and_spends_every_key() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        let b = slab.insert("b");
        let c = slab.insert("c");
        slab.remove(b);
        assert_eq!(slab.take_all(), ["a", "c"]);
        assert_eq!(slab.len(), 0);
        assert_eq!(slab.keys().count(), 0);
        for key in [a, b, c] {
            assert_eq!(slab.get(key), None);
        }
        // The slots are reused, under new generations.
        let d = slab.insert("d");
        assert!([a.index(), c.index()].contains(&d.index()));
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get(c), None);
        assert_eq!(slab.get_mut(d), Some(&mut "d"));
        assert_eq!(slab.take_all(), ["d"]);
        assert!(slab.take_all().is_empty());
    }

    #[test]
    fn no_key_is_all_ones() {
        let key = Key::new(MAX_INDEX, GENERATION_MASK);
        assert_ne!(key.0, usize::MAX);
    }
}
