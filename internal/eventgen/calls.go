package eventgen

import (
	"strconv"
	"strings"
)

// field is a top-level key of a message.
type field uint8

const (
	fAnonymousID field = iota
	fChannel
	fContext
	fEvent
	fGroupID
	fIntegrations
	fMessageID
	fName
	fOriginalTimestamp
	fPreviousID
	fProperties
	fReceivedAt
	fSentAt
	fTimestamp
	fTraits
	fType
	fUserID
)

// Segment's pipeline hands messages on with sorted keys, while the mobile
// and server libraries put type and ids first. Both orders occur, so a
// consumer cannot rely on "type" being the first key.
var (
	sortedOrder = [...]field{
		fAnonymousID, fChannel, fContext, fEvent, fGroupID, fIntegrations, fMessageID, fName,
		fOriginalTimestamp, fPreviousID, fProperties, fReceivedAt, fSentAt, fTimestamp, fTraits, fType, fUserID,
	}
	libraryOrder = [...]field{
		fType, fEvent, fName, fMessageID, fUserID, fAnonymousID, fGroupID, fPreviousID, fTraits, fProperties,
		fContext, fIntegrations, fTimestamp, fOriginalTimestamp, fSentAt, fReceivedAt, fChannel,
	}
)

func (g *Generator) writeMessage(w *jsonWriter, m *message) {
	order := sortedOrder[:]
	if m.plat != web && m.plat != personas {
		order = libraryOrder[:]
	}
	w.beginObject()
	for _, f := range order {
		g.writeField(w, m, f)
	}
	w.endObject()
}

func (g *Generator) writeField(w *jsonWriter, m *message, f field) {
	switch f {
	case fAnonymousID:
		if m.anonID != "" {
			w.kstr("anonymousId", m.anonID)
		}
	case fChannel:
		w.kstr("channel", channels[m.plat])
	case fContext:
		g.writeContext(w, m)
	case fEvent:
		if m.typ == Track {
			w.kstr("event", m.eventName)
		}
	case fGroupID:
		if m.typ == Group {
			w.kstr("groupId", m.groupID)
		}
	case fIntegrations:
		writeIntegrations(w, m.integrations)
	case fMessageID:
		w.key("messageId")
		w.beginStr()
		m.idStart = len(w.b)
		g.appendMessageID(w, m)
		m.idEnd = len(w.b)
		w.endStr()
	case fName:
		if m.name != "" && (m.typ == Page || m.typ == Screen) {
			w.kstr("name", m.name)
		}
	case fOriginalTimestamp:
		w.key("originalTimestamp")
		g.writeClientTime(w, m, m.origUS)
	case fPreviousID:
		if m.typ == Alias {
			w.kstr("previousId", m.anonID)
		}
	case fProperties:
		switch m.typ {
		case Track:
			g.writeTrackProperties(w, m)
		case Page:
			g.writePageProperties(w, m)
		case Screen:
			g.writeScreenProperties(w, m)
		}
	case fReceivedAt:
		w.key("receivedAt")
		w.beginStr()
		w.b = appendTimestamp(w.b, m.recvUS)
		w.endStr()
	case fSentAt:
		w.key("sentAt")
		g.writeClientTime(w, m, m.sentUS)
	case fTimestamp:
		w.key("timestamp")
		w.beginStr()
		w.b = appendTimestamp(w.b, m.tsUS)
		w.endStr()
	case fTraits:
		switch {
		case m.typ == Identify && m.plat == personas:
			g.writePersonasTraits(w, m)
		case m.typ == Identify:
			g.writeIdentifyTraits(w, m)
		case m.typ == Group:
			g.writeGroupTraits(w, m)
		}
	case fType:
		w.kstr("type", string(m.typ))
	case fUserID:
		if m.userID != "" {
			w.kstr("userId", m.userID)
		}
	}
}

var channels = [...]string{web: "client", ios: "mobile", android: "mobile", server: "server", personas: "server"}

// writeClientTime writes a time the client stamped, in its library's style.
func (g *Generator) writeClientTime(w *jsonWriter, m *message, us int64) {
	w.beginStr()
	if m.lib == pythonLibrary {
		w.b = appendTimestampPython(w.b, us)
	} else {
		w.b = appendTimestamp(w.b, us)
	}
	w.endStr()
}

// appendMessageID writes a messageId in the style of the message's library.
// Its unique part is a bijection of the message counter, so no two
// messages of a generator share one.
func (g *Generator) appendMessageID(w *jsonWriter, m *message) {
	unique := mix64(g.n ^ g.salt)
	extra := g.rng.next()
	switch m.plat {
	case web:
		w.b = append(w.b, "ajs-next-"...)
		w.b = appendHex(w.b, unique)
		w.b = appendHex(w.b, extra)
	case ios:
		w.b = appendUUID(w.b, unique, extra, true)
	case personas:
		// KSUID-like: 27 base-62 digits, time first so they sort.
		w.b = append(w.b, "personas_"...)
		w.b = appendBase62(w.b, uint64(m.recvUS/1_000_000), 5)
		w.b = appendBase62(w.b, unique, 11)
		w.b = appendBase62(w.b, extra, 11)
	default:
		w.b = appendUUID(w.b, unique, extra, false)
	}
}

func writeIntegrations(w *jsonWriter, v int) {
	if v == integrationsNone {
		return
	}
	w.key("integrations")
	w.beginObject()
	switch v {
	case integrationsAllTrue:
		w.kbool("All", true)
	case integrationsMixpanelOff:
		w.kbool("All", true)
		w.kbool("Mixpanel", false)
	case integrationsGAClientID:
		w.key("Google Analytics")
		w.beginObject()
		w.kstr("clientId", "1033501218.1717243200")
		w.endObject()
	case integrationsAmplitudeSession:
		w.key("Actions Amplitude")
		w.beginObject()
		w.kint("session_id", 1717243200000)
		w.endObject()
	case integrationsPersonas:
		w.kbool("All", false)
		w.kbool("Amazon Kinesis Firehose", true)
	case integrationsFirehoseOff:
		w.kbool("Amazon Kinesis Firehose", false)
	case integrationsAllTrueFirehoseOff:
		w.kbool("All", true)
		w.kbool("Amazon Kinesis Firehose", false)
	}
	w.endObject()
}

func (g *Generator) writePageProperties(w *jsonWriter, m *message) {
	v := &m.view
	w.key("properties")
	w.beginObject()
	if v.category != "" {
		w.kstr("category", v.category)
	}
	w.kstr("name", v.name)
	writePageFields(w, v)
	if g.rng.chance(0.1) {
		w.key("keywords")
		w.beginArray()
		w.str("segment")
		w.str("kafka")
		w.str("firehose")
		w.endArray()
	}
	g.writeExtras(w, m)
	w.endObject()
}

// writePageFields writes the fields that properties of a page call and
// context.page share.
func writePageFields(w *jsonWriter, v *pageView) {
	w.key("path")
	w.beginStr()
	w.strPart(v.path)
	w.strPart(v.pathSuffix)
	w.endStr()
	w.kstr("referrer", v.referrer)
	w.kstr("search", v.search)
	w.key("title")
	w.beginStr()
	w.strPart(v.title)
	w.strPart(v.titleSuffix)
	w.endStr()
	w.key("url")
	w.beginStr()
	w.strPart("https://www.example.com")
	w.strPart(v.path)
	w.strPart(v.pathSuffix)
	w.strPart(v.search)
	w.endStr()
}

func (g *Generator) writeScreenProperties(w *jsonWriter, m *message) {
	r := &g.rng
	s := screenAt(m.screen)
	w.key("properties")
	w.beginObject()
	w.kstr("name", s.name)
	w.kstr("category", s.category)
	if r.chance(0.5) {
		w.kstr("previous_screen", pick(r, screens).name)
	}
	w.kint("load_time_ms", int64(r.between(40, 2500)))
	g.writeExtras(w, m)
	w.endObject()
}

func (g *Generator) writeEmail(w *jsonWriter, p *person, key string) {
	w.key(key)
	w.beginStr()
	w.strPart(p.first.ascii)
	w.strPart(".")
	w.strPart(p.last.ascii)
	if p.idx%3 == 0 {
		w.strPart("@")
		w.strPart(companyAt(p.company).domain)
	} else {
		w.strInt(int64(p.idx % 100))
		w.strPart("@")
		w.strPart(emailDomains[p.hash%uint64(len(emailDomains))])
	}
	w.endStr()
}

func (g *Generator) writeUsername(w *jsonWriter, p *person) {
	w.key("username")
	w.beginStr()
	w.strPart(p.first.ascii)
	w.strPart("_")
	w.strPart(p.last.ascii)
	w.strInt(int64(p.idx))
	w.endStr()
}

func (g *Generator) writeIdentifyTraits(w *jsonWriter, m *message) {
	r := &g.rng
	p := &m.u
	w.key("traits")
	w.beginObject()
	g.writeEmail(w, p, "email")
	if !m.hasUser {
		// A newsletter signup knows only the email.
		w.kbool("newsletter_opt_in", true)
		g.writeExtras(w, m)
		w.endObject()
		return
	}
	w.key("name")
	w.beginStr()
	w.strPart(p.first.display)
	w.strPart(" ")
	w.strPart(p.last.display)
	w.endStr()
	w.kstr("firstName", p.first.display)
	w.kstr("lastName", p.last.display)
	g.writeUsername(w, p)
	w.kstr("plan", p.plan)
	w.kstr("title", p.title)
	w.key("createdAt")
	w.beginStr()
	w.b = appendTimestamp(w.b, p.createdUS)
	w.endStr()
	if p.phone%2 == 0 {
		w.key("phone")
		w.beginStr()
		w.strPart("+1-555-")
		w.strInt(p.phone)
		w.endStr()
	}
	w.kint("logins", int64(r.between(1, 500)))
	if m.plat != ios && m.plat != android || r.chance(0.3) {
		c := m.company
		w.key("company")
		w.beginObject()
		w.kstr("name", c.name)
		w.kstr("id", g.groupIDs[p.company])
		w.kstr("industry", c.industry)
		w.kint("employee_count", c.employees)
		w.kstr("plan", c.plan)
		w.endObject()
		w.key("address")
		w.beginObject()
		w.key("street")
		w.beginStr()
		w.strInt(p.streetNo)
		w.strPart(" ")
		w.strPart(p.street)
		w.endStr()
		w.kstr("city", p.city.name)
		w.kstr("state", p.city.state)
		w.kstr("postalCode", p.city.postalCode)
		w.kstr("country", p.city.country)
		w.endObject()
	}
	if r.chance(0.15) {
		// Hand-written traits are often snake_cased and nested.
		w.key("preferences")
		w.beginObject()
		w.kbool("email_marketing", r.chance(0.5))
		w.kstr("language", p.city.locale)
		w.key("categories")
		w.beginArray()
		w.str(pick(r, products).category)
		w.str(pick(r, products).category)
		w.endArray()
		w.endObject()
	}
	g.writeExtras(w, m)
	w.endObject()
}

// writePersonasTraits writes the single snake_cased trait that a Personas
// audience (membership: true or false) or computed trait (a number) sets,
// and sometimes the email Personas adds for destinations that need it.
func (g *Generator) writePersonasTraits(w *jsonWriter, m *message) {
	r := &g.rng
	a := audiences[m.audience]
	w.key("traits")
	w.beginObject()
	w.key(a.key)
	if a.class == "audience" {
		w.bool(r.chance(0.8))
	} else if a.key == "lifetime_value" {
		w.cents(int64(r.between(0, 500000)))
	} else {
		w.int(int64(r.between(0, 40)))
	}
	if r.chance(0.5) {
		g.writeEmail(w, &m.u, "email")
	}
	g.writeExtras(w, m)
	w.endObject()
}

func (g *Generator) writeGroupTraits(w *jsonWriter, m *message) {
	r := &g.rng
	c := m.company
	w.key("traits")
	w.beginObject()
	w.kstr("name", c.name)
	w.kstr("industry", c.industry)
	w.kint("employees", c.employees)
	w.kstr("plan", c.plan)
	w.key("website")
	w.beginStr()
	w.strPart("https://")
	w.strPart(c.domain)
	w.endStr()
	if r.chance(0.4) {
		w.key("address")
		w.beginObject()
		w.kstr("city", m.u.city.name)
		w.kstr("country", m.u.city.country)
		w.endObject()
	}
	if r.chance(0.3) {
		w.kcents("mrr", int64(r.between(49, 20000))*100)
	}
	g.writeExtras(w, m)
	w.endObject()
}

// writeContext writes the context object a message of m's platform carries.
func (g *Generator) writeContext(w *jsonWriter, m *message) {
	r := &g.rng
	p := &m.u
	w.key("context")
	w.beginObject()
	switch m.plat {
	case web:
		// analytics.js turns utm_ parameters into context.campaign.
		if strings.HasPrefix(m.view.search, "?utm_") {
			c := pick(r, campaigns)
			w.key("campaign")
			w.beginObject()
			w.kstr("name", c.name)
			w.kstr("source", c.source)
			w.kstr("medium", c.medium)
			if c.term != "" {
				w.kstr("term", c.term)
			}
			if c.content != "" {
				w.kstr("content", c.content)
			}
			w.endObject()
		}
		g.writeIP(w, p)
		writeLibrary(w, m.lib)
		w.kstr("locale", p.city.locale)
		w.key("page")
		w.beginObject()
		writePageFields(w, &m.view)
		w.endObject()
		if m.hasUser && r.chance(0.2) {
			w.key("traits")
			w.beginObject()
			g.writeEmail(w, p, "email")
			w.kstr("plan", p.plan)
			w.endObject()
		}
		ua := userAgents[p.hash>>20%uint64(len(userAgents))]
		if m.lib.version[0] == 'n' {
			// analytics-next reports the browser's time zone; classic
			// analytics.js does not.
			w.kstr("timezone", p.city.timezone)
		}
		w.kstr("userAgent", ua.ua)
		if r.chance(0.08) {
			w.key("userAgentData")
			w.beginObject()
			w.key("brands")
			w.beginArray()
			for _, b := range [...][2]string{{"Chromium", "125"}, {"Google Chrome", "125"}, {"Not.A/Brand", "24"}} {
				w.beginObject()
				w.kstr("brand", b[0])
				w.kstr("version", b[1])
				w.endObject()
			}
			w.endArray()
			w.kbool("mobile", ua.mobile)
			w.kstr("platform", ua.platform)
			w.endObject()
		}
	case ios, android:
		v := appVersions[p.hash>>24%uint64(len(appVersions))]
		w.key("app")
		w.beginObject()
		w.kstr("build", v.build)
		w.kstr("name", "Example Shop")
		w.kstr("namespace", "com.example.shop")
		w.kstr("version", v.version)
		w.endObject()
		var d device
		if m.plat == ios {
			d = iosDevices[p.device%len(iosDevices)]
		} else {
			d = androidDevices[p.device%len(androidDevices)]
		}
		w.key("device")
		w.beginObject()
		if r.chance(0.15) {
			w.kstr("advertisingId", g.deviceIDs[(p.idx+1)%len(g.deviceIDs)])
		}
		w.kbool("adTrackingEnabled", r.chance(0.3))
		if m.plat == ios {
			w.kstr("id", g.deviceIDs[p.idx])
		} else {
			w.key("id")
			w.beginStr()
			w.b = appendHex(w.b, p.hash)
			w.endStr()
		}
		w.kstr("manufacturer", d.manufacturer)
		w.kstr("model", d.model)
		w.kstr("name", d.name)
		w.kstr("type", platformNames[m.plat])
		w.endObject()
		g.writeIP(w, p)
		writeLibrary(w, m.lib)
		w.kstr("locale", p.city.locale)
		w.key("network")
		w.beginObject()
		wifi := r.chance(0.6)
		w.kstr("carrier", carriers[p.hash>>28%uint64(len(carriers))])
		w.kbool("cellular", !wifi)
		w.kbool("wifi", wifi)
		w.endObject()
		w.key("os")
		w.beginObject()
		w.kstr("name", d.osName)
		w.kstr("version", d.osVersion)
		w.endObject()
		w.key("screen")
		w.beginObject()
		w.kfloat("density", d.density)
		w.kint("height", d.height)
		w.kint("width", d.width)
		w.endObject()
		w.kstr("timezone", p.city.timezone)
		if m.anonID != "" && (m.lib == iosLibraries[1] || m.lib == androidLibraries[1]) {
			// The classic mobile libraries repeat the anonymousId here.
			w.key("traits")
			w.beginObject()
			w.kstr("anonymousId", m.anonID)
			w.endObject()
		}
	case server:
		writeLibrary(w, m.lib)
		if r.chance(0.3) {
			g.writeIP(w, p)
		}
	case personas:
		writeLibrary(w, m.lib)
		a := audiences[m.audience]
		w.key("personas")
		w.beginObject()
		w.kstr("computation_class", a.class)
		w.kstr("computation_id", g.audienceIDs[m.audience])
		w.kstr("computation_key", a.key)
		w.kstr("namespace", g.spaceID)
		w.kstr("space_id", g.spaceID)
		w.endObject()
	}
	w.endObject()
}

var platformNames = [...]string{web: "web", ios: "ios", android: "android", server: "server", personas: "personas"}

func writeLibrary(w *jsonWriter, l library) {
	w.key("library")
	w.beginObject()
	w.kstr("name", l.name)
	w.kstr("version", l.version)
	w.endObject()
}

// writeIP writes a person's address: stable per person, IPv4 mostly.
func (g *Generator) writeIP(w *jsonWriter, p *person) {
	h := mix64(p.hash)
	w.key("ip")
	w.beginStr()
	if h%10 == 0 {
		w.strPart("2a02:810d:")
		w.b = strconv.AppendUint(w.b, h>>8&0xffff, 16)
		w.b = append(w.b, "::"...)
		w.b = strconv.AppendUint(w.b, h>>24&0xffff, 16)
	} else {
		octets := [...]uint64{24, 50, 67, 73, 98, 104, 151, 176, 185, 212}
		w.b = strconv.AppendUint(w.b, octets[h>>8%uint64(len(octets))], 10)
		for i := range 3 {
			w.b = append(w.b, '.')
			w.b = strconv.AppendUint(w.b, h>>(16+8*i)&0xff, 10)
		}
	}
	w.endStr()
}
