// Package congestion decides when a call to one Firehose delivery stream may
// go: how many calls may be in flight at once (adaptive concurrency) and how
// many records a second (pacing). One Limiter serves one stream; delivery
// asks it before every PutRecordBatch and tells it how the call went.
//
// What a caller may rely on:
//   - Admission. Admit returns once the caller may send its records: first
//     its place in the pace's line comes up (never, for a stream that is not
//     paced), then a call slot is free. Callers waiting for a slot are served
//     strictly oldest first, one per freed slot; nothing waiting is woken for
//     nothing. Admit returns ctx's error, and holds nothing, when ctx ends
//     first.
//   - Release. Every successful Admit is matched by exactly one Release with
//     the call's Outcome. Release never blocks. Clean outcomes grow the
//     limit by about one per round of calls; a Congested one (a whole-call
//     throttle, or more records throttled than the stream's learned
//     baseline explains) halves it at most once per round trip; a call much
//     slower than the stream's usual latency counts as congested; Neutral
//     outcomes (bad requests, network faults) leave it alone. Throttled
//     records feed the pace, which starts at the first congested sample.
//   - Room. Room reports whether a call admitted now would find a slot free
//     with nobody ahead of it, and the function given to OnRoom is called
//     (outside any lock) after a Release that leaves such a slot. A batcher
//     uses the two to let a lingering batch keep growing while every slot is
//     busy, and to send it the moment one frees: on a slow but healthy
//     stream batches then grow toward the request limits instead of queueing
//     small, which is what keeps such a stream caught up.
//
// What it never does: sleep past ctx, drop or reorder a caller's records
// (it only decides when), hold a lock across a wait or a callback, or keep
// global state. A fixed Limiter allows its ceiling of calls at all times and
// never paces.
package congestion
