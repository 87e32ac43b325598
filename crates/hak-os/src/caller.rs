//! The caller's return address, captured at no cost to the caller:
//! [`with_return_address!`] defines a naked x86-64 shim that loads the
//! return address on top of the stack into a third argument and jumps to a
//! function taking it.
//!
//! A fast path that leaves every miss through a tail jump (no stack frame
//! of its own) reaches the shim with its own caller's return address still
//! at `[rsp]`: the shim turns the out-of-line function into one that knows
//! the call site of the outermost allocator entry, for two instructions on
//! the out-of-line path only. A path that reaches it by `call` passes its
//! own return address instead (an internal site).

/// Defines `unsafe extern "C" fn $name(a: $ta, b: $tb) -> $r` as a naked
/// shim that loads `[rsp]` (its caller's return address, or the return
/// address of whoever tail-jumped to it) into the third integer argument
/// register and jumps to `$target`, an `extern "C" fn(a: $ta, b: $tb,
/// site: usize) -> $r`. Both arguments must be passed in integer registers
/// (pointers, integers, function pointers).
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
/// // SAFETY: the shim forwards two integers.
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
            // `.hidden`: a symbol of this object only, so that the linker
            // turns the callers' GOT-indirect jumps into direct ones.
            ::core::arch::naked_asm!(
                ".hidden {me}",
                "mov rdx, qword ptr [rsp]",
                "jmp {target}",
                me = sym $name,
                target = sym $target,
            )
        }
    };
}
