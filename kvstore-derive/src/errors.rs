//! Collects every error found in one input, so the user sees them all at once.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

/// An accumulator of `syn::Error`s.
#[derive(Default)]
pub struct Errors {
    error: Option<syn::Error>,
}

impl Errors {
    /// Records `error`.
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.error {
            Some(existing) => existing.combine(error),
            None => self.error = Some(error),
        }
    }

    /// Records an error with `message` spanned on `tokens`.
    pub fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// The recorded errors as `compile_error!` invocations (empty if none).
    pub fn to_compile_errors(&self) -> TokenStream {
        self.error
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}

#[cfg(test)]
impl Errors {
    /// The message of every recorded error, in order.
    pub fn messages(&self) -> Vec<String> {
        self.error
            .clone()
            .into_iter()
            .flatten()
            .map(|e| e.to_string())
            .collect()
    }
}
