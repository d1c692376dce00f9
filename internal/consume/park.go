package consume

// Parking: what a rebalance does to partitions that stay.
//
// A rebalance ends the generation of every member, so each partition's
// worker drains: it waits, up to the drain timeout, for the partition's
// records to finish. When a stream is slow or throttled the wait times out,
// and the partition's next owner reads again from its committed offset
// everything that was not finished. Most partitions, though, stay where they
// were (the sticky balancer keeps them), so that next owner is this worker:
// it used to re-read, and re-send, what it still had in flight.
//
// Instead, a claim whose drain times out at a rebalance is parked: its
// tracker stays live, its records stay in batches and calls and keep
// finishing, and the generation's final commit records what is finished so
// far. When the next generation gives the partition back, and the group's
// committed offset is still this worker's last commit (nobody else owned it
// in between), the new claim takes the parked tracker over and reads on from
// where the old one stopped: nothing is read or sent twice. Otherwise the
// parked tracker is withdrawn (checkpoint.Tracker.Withdraw), as a drain that
// timed out used to do at once: records not yet in a call are dropped for
// the next owner to send. A shutdown never parks, and neither does a claim
// whose Handler was cut off by the generation's end: the message it was
// given may be tracked without having been handed on, and would hold the
// partition's commits back for good.

// parkedClaim is a claim of an ended generation kept for the next one.
type parkedClaim struct {
	cl *Claim
	// next is the offset after the last message the claim tracked, where
	// reading resumes.
	next int64
}

// park keeps cl for the next generation and reports whether it did: it does
// not when nothing was tracked (there is nothing in flight to keep).
func (c *Consumer) park(cl *Claim) bool {
	next, ok := cl.Tracker.Next()
	if !ok {
		return false
	}
	c.parkedMu.Lock()
	defer c.parkedMu.Unlock()
	c.parked[cl.String()] = &parkedClaim{cl: cl, next: next}
	return true
}

// unpark hands cl, a claim of a starting generation, the parked claim of
// its partition when there is one it may go on from, and returns the offset
// to read from; ok is false when cl starts afresh. committed is the group's
// committed offset for the partition.
func (c *Consumer) unpark(cl *Claim, committed int64) (next int64, ok bool) {
	c.parkedMu.Lock()
	pc := c.parked[cl.String()]
	delete(c.parked, cl.String())
	c.parkedMu.Unlock()
	if pc == nil {
		return 0, false
	}
	if committed != pc.cl.lastCommitted {
		// Another member committed the partition since: what it read
		// after this worker's last commit may be past pc's records.
		c.release(pc, "the group's committed offset moved while the partition was away")
		return 0, false
	}
	cl.Tracker = pc.cl.Tracker
	cl.inherited, cl.skipAt = pc.cl.inherited, pc.cl.skipAt
	c.log.Info("partition given back with its records still in flight; going on from where it was",
		"partition", cl.String(), "committed", committed, "resume", pc.next, "pending", cl.Tracker.Pending())
	return pc.next, true
}

// releaseParked withdraws every parked claim: the generation that started
// did not give their partitions back, or the consumer is stopping.
func (c *Consumer) releaseParked(why string) {
	c.parkedMu.Lock()
	parked := c.parked
	c.parked = map[string]*parkedClaim{}
	c.parkedMu.Unlock()
	for _, pc := range parked {
		c.release(pc, why)
	}
}

func (c *Consumer) release(pc *parkedClaim, why string) {
	pc.cl.Tracker.Withdraw()
	c.log.Warn("partition released with unacknowledged records; they will be read again by its next owner",
		"partition", pc.cl.String(), "pending", pc.cl.Tracker.Pending(), "reason", why,
		"note", "those not yet in a call are withdrawn: this worker does not send them")
}
