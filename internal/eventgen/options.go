package eventgen

import "time"

// Never, given as a probability in Options, turns that variation off. A
// plain zero cannot, because zero means "use the default".
const Never = -1.0

// Mix weighs the six call types against each other. Weights are relative
// and need not sum to anything; a type with weight zero never appears. A Mix
// with no positive weight stands for the default, which is roughly what a
// workspace with web and mobile sources sends: track 55%, page 20%,
// identify 10%, screen 8%, group 4%, alias 3%.
type Mix struct {
	Track, Page, Identify, Screen, Group, Alias float64
}

// Options shape a Generator. For every field, the zero value means the
// default that DefaultOptions shows; a probability set to Never (or any
// negative number) means 0, and one above 1 means 1.
type Options struct {
	// Seed selects the sequence. The same Options give the same messages,
	// byte for byte, on every run.
	Seed int64

	// Start is the event time of the first message; later ones advance
	// from it by Interval on average. The default is a fixed instant, not
	// the clock, so that output is reproducible; a command producing live
	// traffic sets time.Now().
	Start time.Time
	// Interval is the mean gap between the event times of consecutive
	// messages.
	Interval time.Duration

	// Mix weighs the call types.
	Mix Mix

	// Users is the number of distinct identified users (and, separately,
	// of anonymous visitors). Their ids are kept in memory, so memory grows
	// with it. Activity is skewed: a few users send much of the traffic,
	// as in real workspaces, so their partitions are hot.
	Users int

	// AnonymousShare is the probability that a track, page or screen call
	// comes from a visitor who never identified (no userId).
	AnonymousShare float64
	// CaseVariation is the probability that a track call's event name is
	// sent in other letter case ("order completed", "ORDER COMPLETED",
	// "Order completed"), as hand-instrumented sources do.
	CaseVariation float64
	// UnicodeShare is the probability of picking non-ASCII names,
	// products, pages and text (accents, CJK, emoji) where a message has a
	// choice.
	UnicodeShare float64
	// BigNumberShare is the probability that a message carries number
	// literals whose text a float64 round trip changes
	// (12345678901234567890, 1e308, -0.0). They are written as literal
	// text; a consumer must pass them on unchanged.
	BigNumberShare float64
	// NestingShare is the probability of an extra deeply nested object in
	// properties or traits.
	NestingShare float64
	// IntegrationsShare is the probability that a message carries an
	// integrations object that leaves Amazon Kinesis Firehose enabled
	// ({"All": true}, {"Mixpanel": false}, {} ...).
	IntegrationsShare float64
	// FirehoseOptOut is the probability that a message's integrations
	// object disables "Amazon Kinesis Firehose"; Info.FirehoseDisabled
	// reports it. The default is 0: Segment would not deliver such a
	// message to the destination at all.
	FirehoseOptOut float64
	// PersonasShare is the probability that an identify call is a Personas
	// (Engage) audience or computed-trait update, with context.personas and
	// a snake_cased trait such as "high_value_customers": true.
	PersonasShare float64
	// PrettyShare is the probability that a message is indented over
	// several lines instead of compact; the default is 0.
	PrettyShare float64
}

// DefaultOptions returns the options New uses for zero fields, with Seed 0.
// It is the place to start from when only a few fields need changing, and
// what a command shows as its flag defaults.
func DefaultOptions() Options {
	return Options{
		Start:             time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC),
		Interval:          10 * time.Millisecond,
		Mix:               Mix{Track: 55, Page: 20, Identify: 10, Screen: 8, Group: 4, Alias: 3},
		Users:             5000,
		AnonymousShare:    0.3,
		CaseVariation:     0.03,
		UnicodeShare:      0.08,
		BigNumberShare:    0.01,
		NestingShare:      0.02,
		IntegrationsShare: 0.2,
		FirehoseOptOut:    0,
		PersonasShare:     0.2,
		PrettyShare:       0,
	}
}

// withDefaults returns o with zero fields replaced by defaults and
// probabilities clamped to [0, 1].
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Start.IsZero() {
		o.Start = d.Start
	}
	if o.Interval <= 0 {
		o.Interval = d.Interval
	}
	if o.Mix.total() <= 0 {
		o.Mix = d.Mix
	}
	if o.Users <= 0 {
		o.Users = d.Users
	}
	for _, p := range []struct {
		v *float64
		d float64
	}{
		{&o.AnonymousShare, d.AnonymousShare},
		{&o.CaseVariation, d.CaseVariation},
		{&o.UnicodeShare, d.UnicodeShare},
		{&o.BigNumberShare, d.BigNumberShare},
		{&o.NestingShare, d.NestingShare},
		{&o.IntegrationsShare, d.IntegrationsShare},
		{&o.FirehoseOptOut, d.FirehoseOptOut},
		{&o.PersonasShare, d.PersonasShare},
		{&o.PrettyShare, d.PrettyShare},
	} {
		switch {
		case *p.v == 0:
			*p.v = p.d
		case *p.v < 0:
			*p.v = 0
		case *p.v > 1:
			*p.v = 1
		}
	}
	return o
}

func (m Mix) total() float64 {
	t := 0.0
	for _, w := range m.weights() {
		t += w
	}
	return t
}

// weights lists the weights in the order of callTypes, negative ones as 0.
func (m Mix) weights() [6]float64 {
	w := [6]float64{m.Track, m.Page, m.Identify, m.Screen, m.Group, m.Alias}
	for i := range w {
		w[i] = max(w[i], 0)
	}
	return w
}
