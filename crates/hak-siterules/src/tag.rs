//! [`SampleTag`]: what the allocator keeps for a sampled block to report
//! its fate.

/// Bits of the tag word holding the entry index.
const INDEX_BITS: u32 = 16;
/// The "grown by realloc" flag.
const GROWN: u64 = 1 << INDEX_BITS;
/// First bit of the size.
const SIZE_SHIFT: u32 = INDEX_BITS + 1;
/// Largest size a tag holds (47 bits, 128 TiB; larger sizes are clamped).
pub(crate) const MAX_TAG_SIZE: u64 = (1 << (64 - SIZE_SHIFT)) - 1;

/// The record of one sampled block, returned by
/// [`SiteTable::record_alloc`](crate::SiteTable::record_alloc): the site's
/// entry, the block's size, whether `realloc` has grown it, and its birth
/// time. The allocator keeps it while the block lives (16 bytes, `Copy`;
/// [`SampledBlocks`](crate::SampledBlocks) keeps it by block address) and
/// hands it back on `realloc` and `free`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleTag {
    /// Entry index (low 16 bits), grown flag (bit 16), size (bits 17..).
    word: u64,
    /// Clock value at allocation.
    birth: u64,
}

impl SampleTag {
    /// A tag for entry `index`, a block of `size` bytes born at `birth`.
    #[inline]
    pub(crate) const fn new(index: usize, size: usize, birth: u64) -> SampleTag {
        let size = if size as u64 > MAX_TAG_SIZE { MAX_TAG_SIZE } else { size as u64 };
        SampleTag { word: (index as u64 & (GROWN - 1)) | size << SIZE_SHIFT, birth }
    }

    /// The entry index in its table.
    #[inline]
    pub(crate) const fn index(&self) -> usize {
        (self.word & (GROWN - 1)) as usize
    }

    /// The block's size as last recorded (at allocation or by the last
    /// [`record_realloc`](crate::SiteTable::record_realloc)), clamped to
    /// 2^47 − 1.
    #[inline]
    pub const fn size(&self) -> usize {
        (self.word >> SIZE_SHIFT) as usize
    }

    /// The clock value the block was allocated at.
    #[inline]
    pub const fn birth(&self) -> u64 {
        self.birth
    }

    /// Whether `realloc` has grown the block since it was sampled.
    #[inline]
    pub const fn grown(&self) -> bool {
        self.word & GROWN != 0
    }

    /// The same tag with size `size` and the grown flag set if `grown`.
    #[inline]
    pub(crate) const fn resized(self, size: usize, grown: bool) -> SampleTag {
        let mut t = SampleTag::new(self.index(), size, self.birth);
        if grown || self.grown() {
            t.word |= GROWN;
        }
        t
    }

    /// The tag as two words, to store it anywhere (e.g. beside a block's
    /// record); [`SampleTag::from_raw`] gives it back.
    #[inline]
    pub const fn to_raw(self) -> [u64; 2] {
        [self.word, self.birth]
    }

    /// The tag [`SampleTag::to_raw`] made `raw` from. Any value is safe to
    /// pass to the table (an index beyond it is ignored), but only a tag
    /// the table gave reports a block correctly.
    #[inline]
    pub const fn from_raw(raw: [u64; 2]) -> SampleTag {
        SampleTag { word: raw[0], birth: raw[1] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_keeps_its_fields_through_raw_words() {
        let t = SampleTag::new(1023, 3 << 20, 77);
        assert_eq!((t.index(), t.size(), t.birth(), t.grown()), (1023, 3 << 20, 77, false));
        let g = t.resized(5 << 20, true);
        assert_eq!((g.index(), g.size(), g.birth(), g.grown()), (1023, 5 << 20, 77, true));
        // The flag sticks through a later shrink.
        assert!(g.resized(1, false).grown());
        assert_eq!(SampleTag::from_raw(g.to_raw()), g);
        let huge = SampleTag::new(1, usize::MAX, 0);
        assert_eq!((huge.index(), huge.size() as u64), (1, MAX_TAG_SIZE));
    }
}
