//! A queue that feeds a background task: how a store gathers the
//! operations that arrive together into batches.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc, oneshot};

/// A queue feeding a background task, which it starts on the current
/// Tokio runtime with the first item (and starts again if that runtime
/// has gone, as it does between tests): one task for the multi-threaded
/// runtimes, and one for each thread that runs a current-thread runtime
/// (as actix-web's workers do), since such a runtime runs its tasks only
/// while its thread is inside it. The task takes what has queued with
/// [`recv_many`](mpsc::UnboundedReceiver::recv_many) and works on it as a
/// batch; it ends when the queue is dropped.
///
/// The SQL store uses it to send loads and saves that arrive together to
/// the database as one statement each.
///
/// ```
/// use session_core::store::TaskQueue;
/// use tokio::sync::oneshot;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Doubles numbers, a batch at a time.
/// let queue: TaskQueue<(u32, oneshot::Sender<u32>)> = TaskQueue::new();
/// let (reply, answer) = oneshot::channel();
/// let queued = queue.push((21, reply), |mut items| async move {
///     let mut batch = Vec::new();
///     while items.recv_many(&mut batch, 64).await > 0 {
///         for (n, reply) in batch.drain(..) {
///             let _ = reply.send(n * 2);
///         }
///     }
/// });
/// assert!(queued.is_ok());
/// assert_eq!(answer.await.unwrap(), 42);
/// # }
/// ```
pub struct TaskQueue<T> {
    /// One task per driver: the multi-threaded runtimes share one, and
    /// each thread running a current-thread runtime (as actix-web's
    /// workers do) has its own.
    senders: Mutex<HashMap<Driver, mpsc::UnboundedSender<T>>>,
}

/// What drives a task: a multi-threaded runtime's workers, which run it
/// whenever the runtime is alive, or a current-thread runtime, which runs
/// it only while its thread is inside that runtime (so a push from another
/// thread, perhaps of another runtime, must not wait on it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Driver {
    Workers,
    Thread(std::thread::ThreadId),
}

impl Driver {
    fn of(runtime: &tokio::runtime::Handle) -> Driver {
        match runtime.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::CurrentThread => {
                Driver::Thread(std::thread::current().id())
            }
            _ => Driver::Workers,
        }
    }
}

impl<T: Send + 'static> TaskQueue<T> {
    /// An empty queue; no task runs until the first [`push`](Self::push).
    ///
    /// ```
    /// let queue: session_core::store::TaskQueue<u32> = session_core::store::TaskQueue::new();
    /// # let _ = queue;
    /// ```
    pub fn new() -> Self {
        TaskQueue {
            senders: Mutex::new(HashMap::new()),
        }
    }

    /// Queues `item` for the current runtime's task. When there is none
    /// (or it has gone with its runtime), `start` makes one from the
    /// receiving end and it is spawned on the current runtime: one task for
    /// the multi-threaded runtimes, one for each thread that runs a
    /// current-thread runtime.
    ///
    /// # Errors
    ///
    /// Gives `item` back outside a runtime (the caller does the work
    /// itself).
    ///
    /// ```
    /// let queue = session_core::store::TaskQueue::new();
    /// // Outside a runtime nothing can be started:
    /// assert_eq!(queue.push(7u32, |_items| async {}), Err(7));
    /// ```
    pub fn push<F>(
        &self,
        item: T,
        start: impl FnOnce(mpsc::UnboundedReceiver<T>) -> F,
    ) -> Result<(), T>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(item);
        };
        let driver = Driver::of(&runtime);
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        let item = match senders.get(&driver) {
            Some(queue) => match queue.send(item) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(item)) => item,
            },
            None => item,
        };
        let (queue, items) = mpsc::unbounded_channel();
        runtime.spawn(start(items));
        let sent = queue
            .send(item)
            .map_err(|mpsc::error::SendError(item)| item);
        // Tasks gone with their runtimes leave closed queues behind.
        senders.retain(|_, queue| !queue.is_closed());
        senders.insert(driver, queue);
        sent
    }

    /// Queues the item `make` builds around a reply channel, and waits for
    /// the task's reply: how an operation asks the batch task for its own
    /// answer. `None` when the item could not be queued (no runtime) or the
    /// task dropped the reply without answering.
    ///
    /// ```
    /// use session_core::store::TaskQueue;
    /// use tokio::sync::oneshot;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let queue: TaskQueue<(u32, oneshot::Sender<u32>)> = TaskQueue::new();
    /// let doubled = queue
    ///     .ask(|reply| (21, reply), |mut items| async move {
    ///         while let Some((n, reply)) = items.recv().await {
    ///             let _ = reply.send(n * 2);
    ///         }
    ///     })
    ///     .await;
    /// assert_eq!(doubled, Some(42));
    /// # }
    /// ```
    pub async fn ask<A, F>(
        &self,
        make: impl FnOnce(oneshot::Sender<A>) -> T,
        start: impl FnOnce(mpsc::UnboundedReceiver<T>) -> F,
    ) -> Option<A>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.push(make(reply), start).ok()?;
        answer.await.ok()
    }
}

impl<T: Send + 'static> Default for TaskQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for TaskQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskQueue").finish_non_exhaustive()
    }
}

/// Works through `items` in batches: takes what has queued (at most `max`
/// at a time) and gives it to `work`, with up to `in_flight` batches at
/// work at once, each on a task of its own. With every batch busy, items
/// queue, so the next batch is larger. Returns once the queue is dropped
/// and empty; the task a [`TaskQueue`] starts can be just this.
///
/// ```
/// use session_core::store::{TaskQueue, in_batches};
/// use tokio::sync::oneshot;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let queue: TaskQueue<(u32, oneshot::Sender<usize>)> = TaskQueue::new();
/// let (reply, answer) = oneshot::channel();
/// let start = |items| {
///     in_batches(items, 64, 2, |batch: Vec<(u32, oneshot::Sender<usize>)>| async move {
///         let size = batch.len();
///         for (_, reply) in batch {
///             let _ = reply.send(size); // each item learns its batch's size
///         }
///     })
/// };
/// assert!(queue.push((1, reply), start).is_ok());
/// assert_eq!(answer.await.unwrap(), 1);
/// # }
/// ```
pub async fn in_batches<T, F, Fut>(
    mut items: mpsc::UnboundedReceiver<T>,
    max: usize,
    in_flight: usize,
    work: F,
) where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(in_flight.max(1)));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(max);
        if items.recv_many(&mut batch, max.max(1)).await == 0 {
            return;
        }
        let job = work(batch);
        tokio::spawn(async move {
            job.await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    type Item = (u32, oneshot::Sender<u32>);

    async fn doubler(mut items: mpsc::UnboundedReceiver<Item>) {
        while let Some((n, reply)) = items.recv().await {
            let _ = reply.send(n * 2);
        }
    }

    fn ask(queue: &TaskQueue<Item>, n: u32) -> oneshot::Receiver<u32> {
        let (reply, answer) = oneshot::channel();
        assert!(queue.push((n, reply), doubler).is_ok());
        answer
    }

    #[test]
    fn a_queue_outlives_the_runtimes_that_used_it() {
        let queue = TaskQueue::new();
        // First used on a current-thread runtime that then sits idle.
        let idle = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(idle.block_on(async { ask(&queue, 1).await.unwrap() }), 2);
        // Another thread's runtime: its own task answers.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let other = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                assert_eq!(other.block_on(async { ask(&queue, 2).await.unwrap() }), 4);
            });
        });
        // A runtime that is gone: a new task on the next one.
        drop(idle);
        let next = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        assert_eq!(next.block_on(async { ask(&queue, 3).await.unwrap() }), 6);
    }
}
