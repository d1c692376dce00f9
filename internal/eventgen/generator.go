package eventgen

import (
	"strconv"
	"strings"
	"time"
)

// Type is a Segment call type, the value of a message's "type" field.
type Type string

// The six call types of the Segment spec.
const (
	Track    Type = "track"
	Page     Type = "page"
	Identify Type = "identify"
	Screen   Type = "screen"
	Group    Type = "group"
	Alias    Type = "alias"
)

// callTypes is the order of Mix.weights.
var callTypes = [6]Type{Track, Page, Identify, Screen, Group, Alias}

// Info describes a message so that a test can tell where it must be routed
// and recognise it downstream without parsing it.
type Info struct {
	// Type is the message's "type".
	Type Type
	// Event is a track call's "event" exactly as emitted, including any
	// letter-case variation; empty for other types.
	Event string
	// Name is a page or screen call's "name"; empty otherwise.
	Name string
	// MessageID is the message's "messageId". It may point into the value
	// returned with it (a Generator's does), so it is valid only as long
	// as that value is; copy it to keep it longer.
	MessageID []byte
	// UserID is "userId"; empty for anonymous calls.
	UserID string
	// AnonymousID is "anonymousId"; empty when the message has none. For
	// an alias call it is also the previousId.
	AnonymousID string
	// GroupID is a group call's "groupId"; empty otherwise.
	GroupID string
	// Timestamp is the "timestamp" field: when the event happened,
	// corrected for the client's clock.
	Timestamp time.Time
	// ReceivedAt is the "receivedAt" field: when Segment received it.
	ReceivedAt time.Time
	// Pretty reports that the message has insignificant whitespace: the
	// Generator indented it over several lines, and a consumer that
	// compacts records must remove it.
	Pretty bool
	// BigNumbers reports that the message contains number literals whose
	// text a float64 round trip changes (12345678901234567890, -0.0,
	// 1e308), which a consumer must copy rather than re-encode.
	BigNumbers bool
	// Personas reports a Personas (Engage) identify or audience event,
	// with context.personas.
	Personas bool
	// FirehoseDisabled reports that the integrations object turns the
	// "Amazon Kinesis Firehose" destination off, explicitly or through
	// "All": false without naming it.
	FirehoseDisabled bool
}

// Key returns the Kafka key Segment partitions by: the userId, or the
// anonymousId when there is none.
func (i Info) Key() string {
	if i.UserID != "" {
		return i.UserID
	}
	return i.AnonymousID
}

// Generator makes Segment messages. It is not safe for concurrent use; give
// each goroutine its own (with different seeds for different traffic).
type Generator struct {
	opts Options
	rng  rng

	// n counts messages made; messageIds derive from it.
	n uint64
	// salt keeps the identifiers of different seeds apart.
	salt uint64
	// clockUS is the event time of the latest message in microseconds
	// since the epoch; intervalUS is the mean step.
	clockUS, intervalUS int64

	typeCum  [6]float64
	eventCum []int
	// eventVariants holds each event name in lower, upper and sentence
	// case, made once so that varying case costs no allocation.
	eventVariants [][3]string

	userIDs     []string
	userAnonIDs []string
	visitorIDs  []string
	groupIDs    []string
	deviceIDs   []string
	audienceIDs []string
	spaceID     string

	key []byte
}

// New returns a Generator for opts; see Options for what zero fields mean.
// Setting up costs time and memory proportional to opts.Users.
func New(opts Options) *Generator {
	opts = opts.withDefaults()
	g := &Generator{
		opts:       opts,
		rng:        rng{s: uint64(opts.Seed)},
		salt:       mix64(uint64(opts.Seed) ^ 0x5e6e47),
		clockUS:    opts.Start.UnixMicro(),
		intervalUS: max(opts.Interval.Microseconds(), 1),
	}

	sum := 0.0
	for i, w := range opts.Mix.weights() {
		sum += w
		g.typeCum[i] = sum
	}

	g.eventCum = make([]int, len(trackEvents))
	g.eventVariants = make([][3]string, len(trackEvents))
	total := 0
	for i, e := range trackEvents {
		total += e.weight
		g.eventCum[i] = total
		g.eventVariants[i] = [3]string{strings.ToLower(e.name), strings.ToUpper(e.name), sentenceCase(e.name)}
	}

	g.userIDs = make([]string, opts.Users)
	g.userAnonIDs = make([]string, opts.Users)
	g.visitorIDs = make([]string, opts.Users)
	g.deviceIDs = make([]string, opts.Users)
	var buf []byte
	for i := range opts.Users {
		g.userIDs[i] = g.makeUserID(buf[:0], i)
		buf = appendUUID(buf[:0], g.unique(i, 1), g.unique(i, 2), false)
		g.userAnonIDs[i] = string(buf)
		buf = appendUUID(buf[:0], g.unique(i, 3), g.unique(i, 4), false)
		g.visitorIDs[i] = string(buf)
		buf = appendUUID(buf[:0], g.unique(i, 5), g.unique(i, 6), true)
		g.deviceIDs[i] = string(buf)
	}
	g.groupIDs = make([]string, len(companies)+len(companiesUnicode))
	for i := range g.groupIDs {
		g.groupIDs[i] = "acct_" + string(appendBase62(nil, g.unique(i, 7), 11))
	}
	g.audienceIDs = make([]string, len(audiences))
	for i, a := range audiences {
		prefix := "aud_"
		if a.class == "trait" {
			prefix = "ais_"
		}
		g.audienceIDs[i] = prefix + string(appendBase62(nil, g.unique(i, 8), 11))
	}
	g.spaceID = "spa_" + string(appendBase62(nil, g.unique(0, 9), 11))
	return g
}

// unique derives a distinct value for each (i, kind) under this seed.
func (g *Generator) unique(i, kind int) uint64 {
	return mix64(g.salt ^ uint64(i)<<8 ^ uint64(kind))
}

// makeUserID gives user i an id in one of the styles real workspaces use:
// a prefixed random id, a database number, a UUID or an email address.
// Every style embeds i, so ids never collide.
func (g *Generator) makeUserID(buf []byte, i int) string {
	h := g.unique(i, 0)
	switch h % 10 {
	case 0, 1, 2, 3, 4:
		buf = append(buf, "usr_"...)
		buf = appendBase62(buf, h, 11)
	case 5, 6:
		buf = strconv.AppendInt(buf, int64(100_000+i), 10)
	case 7, 8:
		buf = appendUUID(buf, h, mix64(h), false)
	default:
		first := firstNames[h>>8%uint64(len(firstNames))]
		buf = append(buf, first.ascii...)
		buf = append(buf, '+')
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, '@')
		buf = append(buf, emailDomains[h>>16%uint64(len(emailDomains))]...)
	}
	return string(buf)
}

func sentenceCase(s string) string {
	if s == "" {
		return s
	}
	return s[:1] + strings.ToLower(s[1:])
}

// Next appends the next message, as JSON, to dst and returns the extended
// buffer (as append does), the Kafka key (userId, else anonymousId) and the
// message's Info. key is valid until the next call. The message is compact
// unless Options.PrettyShare picked it for indentation.
//
// With a dst of enough capacity Next does not allocate.
func (g *Generator) Next(dst []byte) (value, key []byte, info Info) {
	g.n++
	r := &g.rng
	g.clockUS += int64(r.intn(int(2*g.intervalUS) + 1))

	var m message
	m.typ = g.pickType()
	g.plan(&m)

	w := jsonWriter{b: dst, pretty: r.chance(g.opts.PrettyShare), ascii: m.lib == pythonLibrary}
	g.writeMessage(&w, &m)

	info = Info{
		Type:        m.typ,
		Event:       m.eventName,
		Name:        m.name,
		MessageID:   w.b[m.idStart:m.idEnd:m.idEnd],
		UserID:      m.userID,
		AnonymousID: m.anonID,
		GroupID:     m.groupID,
		// The fields carry milliseconds; Info says what the fields say.
		Timestamp:        time.UnixMilli(floorDiv(m.tsUS, 1000)).UTC(),
		ReceivedAt:       time.UnixMilli(floorDiv(m.recvUS, 1000)).UTC(),
		Pretty:           w.pretty,
		BigNumbers:       m.bigNumbers,
		Personas:         m.plat == personas,
		FirehoseDisabled: m.firehoseOff,
	}
	g.key = append(g.key[:0], info.Key()...)
	return w.b, g.key, info
}

// NextMessage makes Generator a Source. It never reports an error and never
// runs out.
func (g *Generator) NextMessage(dst []byte) (value, key []byte, info Info, err error) {
	value, key, info = g.Next(dst)
	return value, key, info, nil
}

func (g *Generator) pickType() Type {
	u := g.rng.float() * g.typeCum[len(g.typeCum)-1]
	for i, c := range g.typeCum {
		if u < c {
			return callTypes[i]
		}
	}
	return callTypes[len(callTypes)-1]
}
