package eventgen

// trackEvent is a track call the generator can make, with the spec's name
// and how often it is sent relative to the others.
type trackEvent struct {
	name   string
	weight int
	on     platforms
	// anon allows visitors who never identified to send it.
	anon bool
	// product makes it about one product, shown on the page on the web.
	product bool
}

// The events come from Segment's semantic specs: E-commerce v2
// (https://segment.com/docs/connections/spec/ecommerce/v2/), B2B SaaS,
// Mobile, Video, Email and Personas, plus a few custom events every
// workspace has.
const (
	evProductsSearched = iota
	evProductListViewed
	evProductListFiltered
	evProductClicked
	evProductViewed
	evProductAdded
	evProductRemoved
	evCartViewed
	evCheckoutStarted
	evCheckoutStepViewed
	evCheckoutStepCompleted
	evPaymentInfoEntered
	evOrderCompleted
	evOrderUpdated
	evOrderRefunded
	evOrderCancelled
	evCouponApplied
	evPromotionViewed
	evPromotionClicked
	evProductShared
	evProductReviewed
	evProductAddedToWishlist
	evWishlistProductAddedToCart
	evAccountCreated
	evAccountDeleted
	evSignedUp
	evSignedIn
	evSignedOut
	evInviteSent
	evAccountAddedUser
	evTrialStarted
	evTrialEnded
	evSubscriptionUpgraded
	evApplicationInstalled
	evApplicationOpened
	evApplicationBackgrounded
	evApplicationUpdated
	evPushNotificationReceived
	evPushNotificationTapped
	evDeepLinkOpened
	evVideoPlaybackStarted
	evVideoPlaybackPaused
	evVideoContentStarted
	evVideoContentPlaying
	evVideoContentCompleted
	evVideoPlaybackCompleted
	evUserRegistered
	evExperimentViewed
	evButtonClicked
	evFormSubmitted
	evAudienceEntered
	evAudienceExited
	evEmailDelivered
	evEmailOpened
	evEmailLinkClicked
	evInvoicePaid
	numTrackEvents
)

var trackEvents = [numTrackEvents]trackEvent{
	evProductsSearched:           {"Products Searched", 40, onClient, true, false},
	evProductListViewed:          {"Product List Viewed", 45, onClient, true, false},
	evProductListFiltered:        {"Product List Filtered", 10, onClient, true, false},
	evProductClicked:             {"Product Clicked", 45, onClient, true, true},
	evProductViewed:              {"Product Viewed", 90, onClient, true, true},
	evProductAdded:               {"Product Added", 50, onClient, true, true},
	evProductRemoved:             {"Product Removed", 12, onClient, true, true},
	evCartViewed:                 {"Cart Viewed", 30, onClient, true, false},
	evCheckoutStarted:            {"Checkout Started", 20, onClient, true, false},
	evCheckoutStepViewed:         {"Checkout Step Viewed", 18, onClient, true, false},
	evCheckoutStepCompleted:      {"Checkout Step Completed", 15, onClient, true, false},
	evPaymentInfoEntered:         {"Payment Info Entered", 12, onClient, true, false},
	evOrderCompleted:             {"Order Completed", 20, onAll, true, false},
	evOrderUpdated:               {"Order Updated", 4, onAll, false, false},
	evOrderRefunded:              {"Order Refunded", 3, onServer | onWeb, false, false},
	evOrderCancelled:             {"Order Cancelled", 3, onAll, false, false},
	evCouponApplied:              {"Coupon Applied", 8, onClient, true, false},
	evPromotionViewed:            {"Promotion Viewed", 25, onClient, true, false},
	evPromotionClicked:           {"Promotion Clicked", 8, onClient, true, false},
	evProductShared:              {"Product Shared", 6, onClient, true, true},
	evProductReviewed:            {"Product Reviewed", 6, onClient, false, true},
	evProductAddedToWishlist:     {"Product Added to Wishlist", 10, onClient, false, true},
	evWishlistProductAddedToCart: {"Wishlist Product Added to Cart", 4, onClient, false, true},
	evAccountCreated:             {"Account Created", 4, onWeb | onServer, false, false},
	evAccountDeleted:             {"Account Deleted", 1, onWeb | onServer, false, false},
	evSignedUp:                   {"Signed Up", 12, onAll, false, false},
	evSignedIn:                   {"Signed In", 40, onAll, false, false},
	evSignedOut:                  {"Signed Out", 15, onClient, false, false},
	evInviteSent:                 {"Invite Sent", 6, onWeb | onServer, false, false},
	evAccountAddedUser:           {"Account Added User", 3, onWeb | onServer, false, false},
	evTrialStarted:               {"Trial Started", 5, onWeb | onServer, false, false},
	evTrialEnded:                 {"Trial Ended", 3, onServer, false, false},
	evSubscriptionUpgraded:       {"Subscription Upgraded", 3, onWeb | onServer, false, false},
	evApplicationInstalled:       {"Application Installed", 8, onMobile, true, false},
	evApplicationOpened:          {"Application Opened", 60, onMobile, true, false},
	evApplicationBackgrounded:    {"Application Backgrounded", 35, onMobile, true, false},
	evApplicationUpdated:         {"Application Updated", 4, onMobile, true, false},
	evPushNotificationReceived:   {"Push Notification Received", 15, onMobile, true, false},
	evPushNotificationTapped:     {"Push Notification Tapped", 6, onMobile, true, false},
	evDeepLinkOpened:             {"Deep Link Opened", 5, onMobile, true, false},
	evVideoPlaybackStarted:       {"Video Playback Started", 15, onClient, true, false},
	evVideoPlaybackPaused:        {"Video Playback Paused", 6, onClient, true, false},
	evVideoContentStarted:        {"Video Content Started", 10, onClient, true, false},
	evVideoContentPlaying:        {"Video Content Playing", 20, onClient, true, false},
	evVideoContentCompleted:      {"Video Content Completed", 8, onClient, true, false},
	evVideoPlaybackCompleted:     {"Video Playback Completed", 5, onClient, true, false},
	evUserRegistered:             {"User Registered", 8, onAll, false, false},
	evExperimentViewed:           {"Experiment Viewed", 15, onClient, true, false},
	evButtonClicked:              {"Button Clicked", 20, onWeb, true, false},
	evFormSubmitted:              {"Form Submitted", 8, onWeb, true, false},
	evAudienceEntered:            {"Audience Entered", 5, onPersonas, false, false},
	evAudienceExited:             {"Audience Exited", 2, onPersonas, false, false},
	evEmailDelivered:             {"Email Delivered", 25, onServer, false, false},
	evEmailOpened:                {"Email Opened", 15, onServer, false, false},
	evEmailLinkClicked:           {"Email Link Clicked", 6, onServer, false, false},
	evInvoicePaid:                {"Invoice Paid", 8, onServer, false, false},
}

// lineItem is one product in a cart or order.
type lineItem struct {
	p   *product
	qty int64
}

const maxLineItems = 16

// pickLineItems fills items with a cart: usually one to three products,
// and now and then a large one, which makes the long tail of message sizes.
func (g *Generator) pickLineItems(m *message, items *[maxLineItems]lineItem) int {
	r := &g.rng
	n := 1
	switch x := r.float(); {
	case x < 0.04:
		n = r.between(6, maxLineItems)
	case x < 0.2:
		n = 3
	case x < 0.45:
		n = 2
	}
	for i := range n {
		items[i] = lineItem{p: g.pickProduct(m.unicode && r.chance(0.5)), qty: int64(1 + r.intn(3))}
		if r.chance(0.8) {
			items[i].qty = 1
		}
	}
	return n
}

// writeProduct writes a product's spec fields into the open object.
func (g *Generator) writeProduct(w *jsonWriter, p *product, qty, position int64, coupon bool) {
	w.kstr("product_id", p.id)
	w.kstr("sku", p.sku)
	w.kstr("category", p.category)
	w.kstr("name", p.name)
	w.kstr("brand", p.brand)
	w.kstr("variant", p.variant)
	w.kcents("price", p.priceCents)
	if qty > 0 {
		w.kint("quantity", qty)
	}
	if coupon {
		w.kstr("coupon", pick(&g.rng, coupons))
	}
	if position > 0 {
		w.kint("position", position)
	}
	// url and image_url are optional in the spec, and many sources leave
	// them out.
	if g.rng.chance(0.4) {
		w.key("url")
		w.beginStr()
		w.strPart("https://www.example.com/products/")
		w.strPart(p.slug)
		w.endStr()
		w.key("image_url")
		w.beginStr()
		w.strPart("https://cdn.example.com/img/")
		w.strPart(p.sku)
		w.strPart(".jpg")
		w.endStr()
	}
}

func (g *Generator) writeProducts(w *jsonWriter, items []lineItem) {
	w.key("products")
	w.beginArray()
	for i, it := range items {
		w.beginObject()
		g.writeProduct(w, it.p, it.qty, int64(i+1), g.rng.chance(0.1))
		w.endObject()
	}
	w.endArray()
}

// writeOrder writes the spec's order properties, with totals that add up.
func (g *Generator) writeOrder(w *jsonWriter, m *message, withCheckout bool) {
	r := &g.rng
	var buf [maxLineItems]lineItem
	items := buf[:g.pickLineItems(m, &buf)]
	var subtotal int64
	for _, it := range items {
		subtotal += it.p.priceCents * it.qty
	}
	discount := int64(0)
	hasCoupon := r.chance(0.25)
	if hasCoupon {
		discount = subtotal / 10
	}
	shipping := int64(0)
	if subtotal < 5000 {
		shipping = 599
	}
	tax := (subtotal - discount) * 8 / 100
	if withCheckout {
		g.writeHexID(w, "checkout_id", "")
	}
	g.writeOrderID(w)
	w.kstr("affiliation", pick(r, affiliations))
	w.kcents("total", subtotal-discount+shipping+tax)
	w.kcents("subtotal", subtotal)
	w.kcents("revenue", subtotal-discount)
	w.kcents("shipping", shipping)
	w.kcents("tax", tax)
	w.kcents("discount", discount)
	w.key("coupon")
	if hasCoupon {
		w.str(pick(r, coupons))
	} else {
		w.null()
	}
	w.kstr("currency", pick(r, currencies))
	g.writeProducts(w, items)
}

func (g *Generator) writeOrderID(w *jsonWriter) {
	w.key("order_id")
	w.beginStr()
	w.strPart("ORD-")
	w.strInt(int64(g.rng.between(10_000_000, 99_999_999)))
	w.endStr()
}

// writeHexID writes a random 16-hex-digit identifier after prefix.
func (g *Generator) writeHexID(w *jsonWriter, key, prefix string) {
	w.key(key)
	w.beginStr()
	w.strPart(prefix)
	w.b = appendHex(w.b, g.rng.next())
	w.endStr()
}

func (g *Generator) writeApp(w *jsonWriter, withPrevious bool) {
	v := pick(&g.rng, appVersions)
	if withPrevious {
		w.kstr("previous_version", v.previous)
		w.kstr("previous_build", v.previousBuild)
	}
	w.kstr("version", v.version)
	w.kstr("build", v.build)
}

// writeVideo writes the Video spec's content and playback properties.
func (g *Generator) writeVideo(w *jsonWriter, m *message, content bool) {
	r := &g.rng
	v := pick(r, videos)
	w.key("session_id")
	w.beginStr()
	w.b = appendHex(w.b, m.u.hash^uint64(r.intn(8)))
	w.endStr()
	if content {
		w.key("asset_id")
		w.beginStr()
		w.strPart("ast_")
		w.strInt(v.season*1000 + v.episode)
		w.endStr()
		w.kstr("pod_id", "pod_1")
		w.kstr("program", v.program)
		w.kstr("title", v.title)
		w.kint("season", v.season)
		w.kint("episode", v.episode)
		w.kstr("genre", v.genre)
		w.kstr("channel", v.channel)
		w.kstr("publisher", v.publisher)
		w.kbool("full_episode", v.length > 1000)
		w.kstr("airdate", "2024-03-15")
	} else {
		w.key("content_asset_ids")
		w.beginArray()
		w.str("ast_0")
		w.str("ast_1")
		w.endArray()
		w.kstr("ad_type", "pre-roll")
		w.kbool("ad_enabled", r.chance(0.7))
		w.kstr("video_player", pick(r, []string{"youtube", "vimeo", "html5", "AVPlayer", "ExoPlayer"}))
		w.kint("sound", int64(r.intn(101)))
		w.kbool("full_screen", r.chance(0.3))
		w.kstr("quality", pick(r, []string{"hd1080", "hd720", "4k", "auto"}))
	}
	w.kint("position", int64(r.intn(int(v.length))))
	w.kint("total_length", v.length)
	w.kint("bitrate", int64(r.between(400, 8000)))
	w.kint("framerate", 30)
	w.kbool("livestream", false)
}

// writeTrackProperties writes a track call's properties object.
func (g *Generator) writeTrackProperties(w *jsonWriter, m *message) {
	r := &g.rng
	w.key("properties")
	w.beginObject()
	switch m.event {
	case evProductsSearched:
		w.key("query")
		if m.unicode {
			w.str(pick(r, searchQueriesUnicode))
		} else {
			w.str(pick(r, searchQueries))
		}
	case evProductListViewed, evProductListFiltered:
		w.kstr("list_id", pick(r, productLists))
		w.kstr("category", pick(r, []string{"Deals", "Electronics", "Apparel", "Books", "Home"}))
		if m.event == evProductListFiltered {
			w.key("filters")
			w.beginArray()
			w.beginObject()
			w.kstr("type", "price")
			w.kstr("value", "under_50")
			w.endObject()
			w.beginObject()
			w.kstr("type", "color")
			w.kstr("value", "blue")
			w.endObject()
			w.endArray()
			w.key("sorts")
			w.beginArray()
			w.beginObject()
			w.kstr("type", "price")
			w.kstr("value", "desc")
			w.endObject()
			w.endArray()
		}
		w.key("products")
		w.beginArray()
		for i := range r.between(2, 4) {
			p := g.pickProduct(m.unicode && r.chance(0.5))
			w.beginObject()
			w.kstr("product_id", p.id)
			w.kstr("sku", p.sku)
			w.kstr("name", p.name)
			w.kcents("price", p.priceCents)
			w.kint("position", int64(i+1))
			w.kstr("category", p.category)
			w.endObject()
		}
		w.endArray()
	case evProductClicked, evProductViewed, evProductAdded, evProductRemoved:
		if m.event == evProductAdded || m.event == evProductRemoved {
			g.writeHexID(w, "cart_id", "")
		}
		p := m.product
		qty := int64(0)
		if m.event == evProductAdded || m.event == evProductRemoved || r.chance(0.5) {
			qty = 1
		}
		g.writeProduct(w, p, qty, int64(r.between(1, 12)), r.chance(0.1))
		if m.event == evProductViewed {
			w.kstr("currency", pick(r, currencies))
			w.kcents("value", p.priceCents)
		}
	case evCartViewed:
		g.writeHexID(w, "cart_id", "")
		var buf [maxLineItems]lineItem
		g.writeProducts(w, buf[:g.pickLineItems(m, &buf)])
	case evCheckoutStarted, evOrderCompleted, evOrderUpdated, evOrderCancelled:
		g.writeOrder(w, m, m.event != evOrderCancelled)
	case evOrderRefunded:
		g.writeOrderID(w)
		w.kcents("total", int64(r.between(500, 40000)))
		w.kstr("currency", pick(r, currencies))
		w.kstr("reason", pick(r, []string{"damaged", "wrong size", "changed mind", "late delivery"}))
	case evCheckoutStepViewed, evCheckoutStepCompleted, evPaymentInfoEntered:
		g.writeHexID(w, "checkout_id", "")
		if m.event == evPaymentInfoEntered {
			g.writeOrderID(w)
		}
		w.kint("step", int64(r.between(1, 4)))
		w.kstr("shipping_method", pick(r, shippingMethods))
		w.kstr("payment_method", pick(r, paymentMethods))
	case evCouponApplied:
		g.writeOrderID(w)
		g.writeHexID(w, "cart_id", "")
		c := pick(r, coupons)
		w.kstr("coupon_id", c)
		w.kstr("coupon_name", c)
		w.kcents("discount", int64(r.between(100, 5000)))
	case evPromotionViewed, evPromotionClicked:
		p := pick(r, promotions)
		w.kstr("promotion_id", p)
		w.kstr("creative", pick(r, promotionCreates))
		w.kstr("name", p)
		w.kstr("position", pick(r, []string{"banner_slot_1", "home_banner_top", "sidebar"}))
	case evProductShared:
		w.kstr("share_via", pick(r, shareVia))
		w.key("share_message")
		if m.unicode {
			w.str("Schau mal 👀 — das musst du sehen!")
		} else {
			w.str("Hey, check out this item")
		}
		w.key("recipient")
		w.beginStr()
		w.strPart("friend")
		w.strInt(int64(r.intn(1000)))
		w.strPart("@example.com")
		w.endStr()
		g.writeProduct(w, m.product, 0, 0, false)
	case evProductReviewed:
		p := m.product
		w.kstr("product_id", p.id)
		g.writeHexID(w, "review_id", "rev_")
		w.key("review_body")
		if m.unicode {
			w.str(pick(r, reviewBodiesUnicode))
		} else {
			w.str(pick(r, reviewBodies))
		}
		w.kint("rating", int64(r.between(1, 5)))
	case evProductAddedToWishlist, evWishlistProductAddedToCart:
		g.writeHexID(w, "wishlist_id", "")
		w.kstr("wishlist_name", pick(r, wishlistNames))
		if m.event == evWishlistProductAddedToCart {
			g.writeHexID(w, "cart_id", "")
		}
		g.writeProduct(w, m.product, 1, 0, false)
	case evAccountCreated, evAccountDeleted:
		w.kstr("account_name", m.company.name)
		w.kstr("account_id", g.groupIDs[m.u.company])
	case evSignedUp, evUserRegistered:
		w.kstr("type", pick(r, signupTypes))
		w.kstr("first_name", m.u.first.display)
		w.kstr("last_name", m.u.last.display)
		g.writeEmail(w, &m.u, "email")
		g.writeUsername(w, &m.u)
		w.kstr("title", m.u.title)
		if m.event == evUserRegistered {
			w.kstr("method", pick(r, []string{"email", "google", "apple", "github", "sso"}))
			w.kstr("plan", m.u.plan)
		}
	case evSignedIn, evSignedOut:
		g.writeUsername(w, &m.u)
		if m.event == evSignedIn {
			w.kstr("method", pick(r, []string{"password", "google", "magic_link", "sso"}))
			w.kbool("remember_me", r.chance(0.4))
		}
	case evInviteSent, evAccountAddedUser:
		f, l := pick(r, firstNames), pick(r, lastNames)
		w.key("invitee_email")
		w.beginStr()
		w.strPart(f.ascii)
		w.strPart("@")
		w.strPart(m.company.domain)
		w.endStr()
		w.kstr("invitee_first_name", f.display)
		w.kstr("invitee_last_name", l.display)
		w.kstr("invitee_role", pick(r, roles))
	case evTrialStarted, evTrialEnded:
		w.key("trial_start_date")
		w.beginStr()
		w.b = appendTimestamp(w.b, m.tsUS-int64(r.intn(14))*86400_000_000)
		w.endStr()
		w.key("trial_end_date")
		w.beginStr()
		w.b = appendTimestamp(w.b, m.tsUS+14*86400_000_000)
		w.endStr()
		w.kstr("trial_plan_name", pick(r, []string{"Pro Trial", "Business Trial"}))
	case evSubscriptionUpgraded:
		w.kstr("previous_plan", "starter")
		w.kstr("plan", pick(r, []string{"pro", "business", "enterprise"}))
		w.kstr("billing_interval", pick(r, []string{"monthly", "annual"}))
		w.kcents("mrr", int64(r.between(49, 2000))*100)
		w.kint("seats", int64(r.between(1, 250)))
	case evApplicationInstalled:
		g.writeApp(w, false)
	case evApplicationOpened:
		w.kbool("from_background", r.chance(0.6))
		if r.chance(0.2) {
			w.kstr("referring_application", pick(r, []string{"com.google.Gmail", "com.apple.mobilesafari", "com.instagram.android"}))
			w.kstr("url", pick(r, deepLinks))
		}
		g.writeApp(w, false)
	case evApplicationBackgrounded:
		// The spec's Application Backgrounded has no properties.
	case evApplicationUpdated:
		g.writeApp(w, true)
	case evPushNotificationReceived, evPushNotificationTapped:
		w.key("campaign")
		w.beginObject()
		w.kstr("medium", "Push")
		w.kstr("source", pick(r, []string{"Braze", "Iterable", "OneSignal"}))
		w.kstr("name", pick(r, promotions))
		w.kstr("content", pick(r, pushTitles))
		w.endObject()
	case evDeepLinkOpened:
		w.kstr("provider", pick(r, []string{"Branch", "AppsFlyer", "Adjust"}))
		w.kstr("url", pick(r, deepLinks))
	case evVideoPlaybackStarted, evVideoPlaybackPaused, evVideoPlaybackCompleted:
		g.writeVideo(w, m, false)
	case evVideoContentStarted, evVideoContentPlaying, evVideoContentCompleted:
		g.writeVideo(w, m, true)
	case evExperimentViewed:
		e := pick(r, experiments)
		w.kstr("experiment_id", e.id)
		w.kstr("experiment_name", e.name)
		v := r.intn(3)
		w.key("variation_id")
		w.beginStr()
		w.strPart("var_")
		w.strInt(int64(v))
		w.endStr()
		w.kstr("variation_name", []string{"Control", "Variant A", "Variant B"}[v])
		w.key("metadata")
		w.beginObject()
		w.key("allocation")
		w.beginObject()
		w.kint("bucket", int64(r.intn(10000)))
		w.kfloat("traffic", 0.5)
		w.kstr("salt", e.id)
		w.endObject()
		w.key("targeting")
		w.beginObject()
		w.kstr("country", m.u.city.country)
		w.key("segments")
		w.beginArray()
		w.str("returning")
		w.str(m.u.plan)
		w.endArray()
		w.endObject()
		w.endObject()
	case evButtonClicked:
		w.kstr("button_id", pick(r, []string{"cta-hero", "nav-signup", "add-to-cart", "footer-contact"}))
		w.kstr("button_text", pick(r, []string{"Get started", "Sign up free", "Add to cart", "Jetzt kaufen →"}))
		w.kstr("location", m.view.path)
	case evFormSubmitted:
		w.kstr("form_id", pick(r, []string{"newsletter", "contact-sales", "demo-request"}))
		w.kint("fields", int64(r.between(1, 8)))
		w.kbool("success", r.chance(0.9))
	case evEmailDelivered, evEmailOpened, evEmailLinkClicked:
		g.writeHexID(w, "email_id", "")
		e := pick(r, emailCampaigns)
		w.kstr("email_subject", e.subject)
		w.kstr("campaign_id", e.id)
		w.kstr("campaign_name", e.name)
		if m.event == evEmailLinkClicked {
			w.kstr("link_url", "https://www.example.com/promo?utm_source=newsletter&utm_medium=email")
		}
	case evInvoicePaid:
		g.writeHexID(w, "invoice_id", "in_")
		w.kcents("amount", int64(r.between(49, 2000))*100)
		w.kstr("currency", "USD")
		w.kstr("plan", m.u.plan)
	case evAudienceEntered, evAudienceExited:
		a := audiences[m.audience]
		w.kstr("audience_key", a.key)
		w.kbool(a.key, m.event == evAudienceEntered)
	}
	g.writeExtras(w, m)
	w.endObject()
}

// writeExtras adds the awkward parts some messages carry: literal numbers
// beyond float64 and a deeply nested object.
func (g *Generator) writeExtras(w *jsonWriter, m *message) {
	r := &g.rng
	if m.bigNumbers {
		for i := range r.between(1, 3) {
			w.key([]string{"external_ref", "score", "balance"}[i])
			w.raw(pick(r, bigNumbers))
		}
	}
	if m.nested {
		depth := r.between(4, 10)
		w.key("debug")
		for i := range depth {
			w.beginObject()
			w.kint("level", int64(i))
			w.key("node")
		}
		w.beginArray()
		w.int(1)
		w.str("two")
		w.null()
		w.bool(true)
		w.beginArray()
		w.endArray()
		w.beginObject()
		w.endObject()
		w.endArray()
		for range depth {
			w.endObject()
		}
	}
}
