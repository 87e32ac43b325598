//! The caller's return address at no cost to the caller:
//! [`with_return_address!`] defines a naked x86-64 trampoline that loads the
//! return address on top of the stack into a third argument register and
//! jumps to a function taking it; [`own_text`] is the address range of
//! the object (shared library or program) holding a given code address,
//! so that a caller can tell its own internal call sites from its users'.
//!
//! A path that leaves through a tail jump (no stack frame of its own)
//! reaches the trampoline with its own caller's return address still at
//! `[rsp]`: the trampoline gives the out-of-line function the call site of
//! the outermost entry, for two instructions on that path only. A function
//! that reaches it by `call` passes its own return address instead.

/// Defines `unsafe extern "C" fn $name(a: $ta, b: $tb) -> $r`, a naked
/// trampoline that loads `[rsp]` (the return address its caller, or
/// whoever tail-jumped to it, will return to) into the third integer
/// argument register and jumps to `$target`, an `extern "C" fn(a: $ta, b:
/// $tb, site: usize) -> $r`. Both arguments must be passed in integer
/// registers (pointers, integers, function pointers). A Rust item, so
/// calls and jumps to it from the same crate graph stay direct.
///
/// ```
/// extern "C" fn add_site(a: usize, b: usize, site: usize) -> usize {
///     assert_ne!(site, 0);
///     a + b
/// }
/// hak_os::with_return_address! {
///     /// `add_site` with the caller's return address.
///     unsafe extern "C" fn add(a: usize, b: usize) -> usize => add_site
/// }
/// // SAFETY: the trampoline forwards two integers.
/// assert_eq!(unsafe { add(2, 3) }, 5);
/// ```
#[macro_export]
macro_rules! with_return_address {
    ($(#[$m:meta])* $vis:vis unsafe extern "C" fn $name:ident($a:ident: $ta:ty, $b:ident: $tb:ty) -> $r:ty => $target:path) => {
        $(#[$m])*
        #[unsafe(naked)]
        $vis unsafe extern "C" fn $name($a: $ta, $b: $tb) -> $r {
            // rdi and rsi are the two arguments, rdx the third (System V);
            // `[rsp]` is the return address at entry.
            ::core::arch::naked_asm!(
                "mov rdx, qword ptr [rsp]",
                "jmp {target}",
                target = sym $target,
            )
        }
    };
}
pub use crate::with_return_address;

/// The executable address range `[start, end)` of the shared object that
/// holds code address `addr`, or `None` when `addr` lies in the main
/// program (or in no loaded object). A library such as `libhakmem.so`
/// uses it to tell a return address into its own code (an internal call)
/// from its callers'; linked into the program itself it cannot, and gets
/// `None`. Walks the loaded objects once (`dl_iterate_phdr`, which takes
/// the loader's lock and allocates nothing).
pub fn own_text(addr: usize) -> Option<(usize, usize)> {
    struct Search {
        addr: usize,
        first: bool,
        found: Option<(usize, usize)>,
    }
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: libc::size_t, data: *mut libc::c_void) -> i32 {
        // SAFETY: `data` is the `Search` passed below; `info` and its
        // program headers are the loader's, valid during the callback.
        unsafe {
            let s = &mut *(data as *mut Search);
            let main = s.first;
            s.first = false;
            let info = &*info;
            let base = info.dlpi_addr as usize;
            let (mut lo, mut hi) = (usize::MAX, 0usize);
            let mut holds = false;
            for i in 0..info.dlpi_phnum as usize {
                let ph = &*info.dlpi_phdr.add(i);
                if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_X == 0 {
                    continue;
                }
                let start = base.wrapping_add(ph.p_vaddr as usize);
                let end = start.wrapping_add(ph.p_memsz as usize);
                holds |= s.addr >= start && s.addr < end;
                lo = lo.min(start);
                hi = hi.max(end);
            }
            if !holds {
                return 0;
            }
            if !main {
                s.found = Some((lo, hi));
            }
            1
        }
    }
    let mut s = Search { addr, first: true, found: None };
    // SAFETY: the callback only reads the loader's records and writes `s`.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut s as *mut Search as *mut libc::c_void) };
    s.found
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_of_the_test_program_is_the_main_program() {
        // Linked into the test executable: no library range.
        assert_eq!(super::own_text(super::own_text as *const () as usize), None);
    }

    #[test]
    fn code_of_a_shared_library_has_its_range() {
        // `getpid` lives in libc, a shared object.
        let f = libc::getpid as *const () as usize;
        let (start, end) = super::own_text(f).expect("libc's range");
        assert!(start <= f && f < end && end - start < 1 << 30, "{start:#x}..{end:#x} for {f:#x}");
    }
}
