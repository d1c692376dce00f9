package eventgen

// platform is where a message comes from; it decides the library, the
// context and which calls and events make sense.
type platform uint8

const (
	web platform = iota
	ios
	android
	server
	// personas is Segment's own Personas (Engage) pipeline.
	personas
)

// platforms is a set of platforms, one bit each.
type platforms uint8

const (
	onWeb      platforms = 1 << web
	onIOS      platforms = 1 << ios
	onAndroid  platforms = 1 << android
	onServer   platforms = 1 << server
	onPersonas platforms = 1 << personas

	onMobile = onIOS | onAndroid
	onClient = onWeb | onMobile
	onAll    = onClient | onServer
)

// platformWeights is how often each platform sends a message that it could
// send: browsers the most, then apps, then backends.
var platformWeights = [...]int{web: 45, ios: 13, android: 12, server: 30, personas: 0}

// integrations variants; all but the opt-outs leave Firehose enabled.
const (
	integrationsNone = iota
	integrationsEmpty
	integrationsAllTrue
	integrationsMixpanelOff
	integrationsGAClientID
	integrationsAmplitudeSession
	integrationsPersonas // {"All": false, "Amazon Kinesis Firehose": true}
	integrationsFirehoseOff
	integrationsAllTrueFirehoseOff
)

// message holds the decisions made for one message before it is written,
// so the writing code only formats.
type message struct {
	typ  Type
	plat platform
	lib  library

	// u describes the person behind the message: an identified user when
	// hasUser, else an anonymous visitor.
	u       person
	hasUser bool
	userID  string
	anonID  string
	groupID string
	company company

	event     int
	eventName string
	// product is the product a single-product event is about; on the web
	// the page shows it too.
	product  *product
	name     string
	view     pageView
	screen   int
	audience int

	origUS, sentUS, recvUS, tsUS int64

	integrations int
	firehoseOff  bool
	bigNumbers   bool
	nested       bool
	// unicode picks non-ASCII variants for this message's free text.
	unicode bool

	idStart, idEnd int
}

// pageView is the page a web message happens on: context.page, and the
// properties of a page call. A product page is built from the product.
type pageView struct {
	path, pathSuffix   string
	title, titleSuffix string
	name, category     string
	search             string
	referrer           string
}

// plan makes every random decision about m other than the content of
// properties and traits.
func (g *Generator) plan(m *message) {
	r := &g.rng
	o := &g.opts
	m.unicode = r.chance(o.UnicodeShare)

	anonOK := false
	switch m.typ {
	case Track:
		m.event = g.pickEvent()
		def := &trackEvents[m.event]
		m.plat = g.pickPlatform(def.on)
		m.eventName = def.name
		if r.chance(o.CaseVariation) {
			m.eventName = g.eventVariants[m.event][r.intn(3)]
		}
		anonOK = def.anon
		if def.product {
			m.product = g.pickProduct(m.unicode)
		}
	case Page:
		m.plat = web
		anonOK = true
	case Screen:
		m.plat = g.pickPlatform(onMobile)
		anonOK = true
		if m.unicode {
			m.screen = len(screens) + r.intn(len(screensUnicode))
		} else {
			m.screen = r.intn(len(screens))
		}
		m.name = screenAt(m.screen).name
	case Identify:
		if r.chance(o.PersonasShare) {
			m.plat = personas
		} else {
			m.plat = g.pickPlatform(onAll)
		}
	case Group:
		m.plat = g.pickPlatform(onWeb | onServer)
	case Alias:
		m.plat = g.pickPlatform(onAll)
	}
	if m.plat == server || m.plat == personas {
		anonOK = false
	}
	if m.plat == personas {
		m.audience = r.intn(len(audiences))
		// Audience Entered and Exited are about audiences, not computed
		// traits.
		for m.typ == Track && audiences[m.audience].class != "audience" {
			m.audience = r.intn(len(audiences))
		}
	}

	if anonOK && r.chance(o.AnonymousShare) {
		i := g.pickPerson()
		m.u = g.person(i, true)
		m.anonID = g.visitorIDs[i]
	} else {
		i := g.pickPerson()
		m.u = g.person(i, false)
		m.hasUser = true
		m.userID = g.userIDs[i]
		// Browsers and apps keep sending the anonymousId after identify;
		// backends never knew it. An alias must name it as previousId.
		if m.plat != server && m.plat != personas || m.typ == Alias {
			m.anonID = g.userAnonIDs[i]
		}
		// An identify from a newsletter form before signup has only the
		// anonymousId.
		if m.typ == Identify && m.plat == web && r.chance(0.03) {
			m.hasUser = false
			m.userID = ""
		}
	}
	m.company = companyAt(m.u.company)
	if m.typ == Group {
		m.groupID = g.groupIDs[m.u.company]
	}

	switch m.plat {
	case web:
		m.lib = pick(r, webLibraries)
	case ios:
		m.lib = pick(r, iosLibraries)
	case android:
		m.lib = pick(r, androidLibraries)
	case server:
		if r.chance(0.25) {
			m.lib = pythonLibrary
		} else {
			m.lib = pick(r, serverLibraries)
		}
	case personas:
		m.lib = library{"unknown", "unknown"}
	}

	if m.plat == web {
		g.planPageView(m)
		if m.typ == Page {
			m.name = m.view.name
		}
	}

	g.planTimes(m)

	switch {
	case m.plat == personas:
		m.integrations = integrationsPersonas
	case r.chance(o.FirehoseOptOut):
		m.integrations = integrationsFirehoseOff + r.intn(2)
		m.firehoseOff = true
	case r.chance(o.IntegrationsShare):
		m.integrations = integrationsEmpty + r.intn(integrationsAmplitudeSession-integrationsEmpty+1)
	}
	m.bigNumbers = m.typ != Alias && r.chance(o.BigNumberShare)
	m.nested = m.typ != Alias && r.chance(o.NestingShare)
}

// planTimes sets the four timestamps the way Segment derives them: the
// client stamps originalTimestamp and sentAt with its own (possibly wrong)
// clock, Segment stamps receivedAt, and timestamp is receivedAt minus the
// client's sentAt-originalTimestamp, which cancels the client's clock skew.
func (g *Generator) planTimes(m *message) {
	r := &g.rng
	t := g.clockUS
	var skew, delay int64
	switch m.plat {
	case web:
		skew = m.u.skewUS
		delay = int64(r.intn(200_000))
	case ios, android:
		skew = m.u.skewUS
		delay = int64(r.intn(30_000_000))
		// Apps queue events while offline and send them much later.
		if r.chance(0.02) {
			delay += int64(r.intn(6 * 3600 * 1_000_000))
		}
	case server:
		delay = int64(r.intn(500_000))
	case personas:
		delay = int64(r.intn(5_000_000))
	}
	network := int64(20_000 + r.intn(280_000))
	m.origUS = t + skew
	m.sentUS = t + skew + delay
	m.recvUS = t + delay + network
	m.tsUS = m.recvUS - (m.sentUS - m.origUS)
}

func (g *Generator) planPageView(m *message) {
	r := &g.rng
	v := &m.view
	switch {
	case m.product != nil || m.typ == Page && r.chance(0.3):
		p := m.product
		if p == nil {
			p = g.pickProduct(m.unicode)
		}
		v.path, v.pathSuffix = "/products/", p.slug
		v.title, v.titleSuffix = p.name, " – Example Shop"
		v.name, v.category = "Product Detail", "Shop"
	default:
		var p webPage
		if m.unicode {
			p = pick(r, pagesUnicode)
		} else {
			p = pick(r, pages)
		}
		v.path, v.title, v.name, v.category = p.path, p.title, p.name, p.category
		if p.path == "/search" {
			v.search = pick(r, searchStrings)
		}
	}
	if v.search == "" && r.chance(0.15) {
		v.search = pick(r, campaignSearchStrings)
	}
	v.referrer = pick(r, referrers)
}

// searchStrings and campaignSearchStrings are location.search values, kept
// whole because they must be URL-encoded.
var (
	searchStrings = []string{
		"?q=running+shoes", "?q=wireless%20earbuds", "?q=caf%C3%A9+cr%C3%A8me&page=2", "?q=gift+ideas&sort=price_asc",
	}
	campaignSearchStrings = []string{
		"?utm_source=google&utm_medium=cpc&utm_campaign=summer_sale_2024&utm_term=running+shoes",
		"?utm_source=newsletter&utm_medium=email&utm_campaign=newsletter_june",
		"?utm_source=facebook&utm_medium=paid_social&utm_campaign=retargeting_q2&fbclid=IwAR2xYz",
		"?ref=producthunt",
		"?gclid=Cj0KCQjw8J6wBhDXARIsAPo7QA9xZ",
	}
)

func (g *Generator) pickPlatform(on platforms) platform {
	total := 0
	for p, w := range platformWeights {
		if on&(1<<p) != 0 {
			total += w
		}
	}
	if total == 0 {
		// Only Personas can send it.
		return personas
	}
	u := g.rng.intn(total)
	for p, w := range platformWeights {
		if on&(1<<p) == 0 {
			continue
		}
		if u < w {
			return platform(p)
		}
		u -= w
	}
	return web
}

func (g *Generator) pickEvent() int {
	u := g.rng.intn(g.eventCum[len(g.eventCum)-1])
	lo, hi := 0, len(g.eventCum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if u < g.eventCum[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// pickPerson returns a user (or visitor) index skewed towards low indexes:
// the square of a uniform variable puts a tenth of the traffic on the top
// 1% of users, as real power users do.
func (g *Generator) pickPerson() int {
	u := g.rng.float()
	return int(u * u * float64(g.opts.Users))
}

func (g *Generator) pickProduct(unicode bool) *product {
	if unicode {
		return &productsUnicode[g.rng.intn(len(productsUnicode))]
	}
	return &products[g.rng.intn(len(products))]
}

func screenAt(i int) struct{ name, category string } {
	if i < len(screens) {
		return screens[i]
	}
	return screensUnicode[i-len(screens)]
}

func companyAt(i int) company {
	if i < len(companies) {
		return companies[i]
	}
	return companiesUnicode[i-len(companies)]
}

// person is what stays the same about someone across their messages. It
// is derived from the index alone, so it costs nothing to store.
type person struct {
	hash        uint64
	idx         int
	first, last name
	city        city
	street      string
	streetNo    int64
	company     int
	plan        string
	title       string
	createdUS   int64
	skewUS      int64
	device      int
	phone       int64
}

func (g *Generator) person(i int, visitor bool) person {
	kind := 10
	if visitor {
		kind = 11
	}
	h := g.unique(i, kind)
	r := rng{s: h}
	p := person{hash: h, idx: i}
	unicode := r.chance(g.opts.UnicodeShare)
	if unicode {
		p.first = pick(&r, firstNamesUnicode)
		p.last = pick(&r, lastNamesUnicode)
		p.city = pick(&r, citiesUnicode)
		p.street = pick(&r, streetsUnicode)
		p.company = len(companies) + r.intn(len(companiesUnicode))
	} else {
		p.first = pick(&r, firstNames)
		p.last = pick(&r, lastNames)
		p.city = pick(&r, cities)
		p.street = pick(&r, streets)
		p.company = r.intn(len(companies))
	}
	p.streetNo = int64(r.between(1, 2400))
	p.plan = pick(&r, plans)
	p.title = pick(&r, titles)
	// Accounts were created up to three years before Start.
	p.createdUS = g.opts.Start.UnixMicro() - int64(r.intn(3*365*24*3600))*1_000_000
	switch x := r.float(); {
	case x < 0.8:
		p.skewUS = int64(r.intn(1_000_000)) - 500_000
	case x < 0.95:
		p.skewUS = int64(r.intn(60_000_000)) - 30_000_000
	default:
		p.skewUS = int64(r.intn(7200_000_000)) - 3600_000_000
	}
	p.device = r.intn(4)
	p.phone = int64(r.between(2_000_000, 9_999_999))
	return p
}
