//! Running one async task per host with a bound on how many run at once.

use futures_util::stream::{self, StreamExt};
use std::future::Future;

/// Runs `f` for every item, at most `parallel` at a time, and returns the
/// results in the items' order.
pub(crate) async fn each<I, T, F, Fut>(items: Vec<I>, parallel: usize, f: F) -> Vec<T>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = T>,
{
    let mut out: Vec<(usize, T)> = stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| {
            let fut = f(item);
            async move { (i, fut.await) }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}
