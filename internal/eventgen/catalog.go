package eventgen

// The tables below are the raw material of every message. They are fixed
// data, never written after package initialisation. Non-ASCII entries sit
// in their own tables so that Options.UnicodeShare decides how often they
// appear.

// name is a person's name part as shown, and an ASCII form for emails and
// usernames.
type name struct{ display, ascii string }

var (
	firstNames = []name{
		{"James", "james"}, {"Mary", "mary"}, {"Robert", "robert"}, {"Patricia", "patricia"},
		{"Michael", "michael"}, {"Linda", "linda"}, {"David", "david"}, {"Elizabeth", "elizabeth"},
		{"William", "william"}, {"Jennifer", "jennifer"}, {"Daniel", "daniel"}, {"Sarah", "sarah"},
		{"Olivia", "olivia"}, {"Noah", "noah"}, {"Emma", "emma"}, {"Liam", "liam"},
		{"Ava", "ava"}, {"Lucas", "lucas"}, {"Mia", "mia"}, {"Ethan", "ethan"},
		{"Priya", "priya"}, {"Ahmed", "ahmed"}, {"Kwame", "kwame"}, {"Hannah", "hannah"},
	}
	firstNamesUnicode = []name{
		{"José", "jose"}, {"Zoë", "zoe"}, {"François", "francois"}, {"Søren", "soren"},
		{"Łukasz", "lukasz"}, {"Jürgen", "jurgen"}, {"Renée", "renee"}, {"Ngọc", "ngoc"},
		{"Yūki", "yuki"}, {"太郎", "taro"}, {"美咲", "misaki"}, {"Ольга", "olga"},
		{"Björk", "bjork"}, {"İlkay", "ilkay"}, {"Siân", "sian"}, {"Zoë 🌸", "zoe"},
	}
	lastNames = []name{
		{"Smith", "smith"}, {"Johnson", "johnson"}, {"Williams", "williams"}, {"Brown", "brown"},
		{"Jones", "jones"}, {"Garcia", "garcia"}, {"Miller", "miller"}, {"Davis", "davis"},
		{"Wilson", "wilson"}, {"Anderson", "anderson"}, {"Taylor", "taylor"}, {"Thomas", "thomas"},
		{"Moore", "moore"}, {"Martin", "martin"}, {"Lee", "lee"}, {"Patel", "patel"},
		{"O'Brien", "obrien"}, {"Okafor", "okafor"}, {"Kim", "kim"}, {"Nguyen", "nguyen"},
	}
	lastNamesUnicode = []name{
		{"Müller", "muller"}, {"Ibáñez", "ibanez"}, {"Dvořák", "dvorak"}, {"Nguyễn", "nguyen"},
		{"Øster", "oster"}, {"Gonçalves", "goncalves"}, {"山田", "yamada"}, {"李", "li"},
		{"Łęcki", "lecki"}, {"Kovačević", "kovacevic"}, {"Иванов", "ivanov"}, {"Åström", "astrom"},
	}

	emailDomains = []string{
		"gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "hey.com", "example.org",
	}
)

type city struct {
	name, state, country, postalCode, locale, timezone string
}

var (
	cities = []city{
		{"San Francisco", "CA", "US", "94107", "en-US", "America/Los_Angeles"},
		{"New York", "NY", "US", "10001", "en-US", "America/New_York"},
		{"Austin", "TX", "US", "78701", "en-US", "America/Chicago"},
		{"Seattle", "WA", "US", "98101", "en-US", "America/Los_Angeles"},
		{"Chicago", "IL", "US", "60601", "en-US", "America/Chicago"},
		{"London", "", "GB", "EC1A 1BB", "en-GB", "Europe/London"},
		{"Dublin", "", "IE", "D02 X285", "en-IE", "Europe/Dublin"},
		{"Toronto", "ON", "CA", "M5V 2T6", "en-CA", "America/Toronto"},
		{"Sydney", "NSW", "AU", "2000", "en-AU", "Australia/Sydney"},
		{"Berlin", "BE", "DE", "10115", "de-DE", "Europe/Berlin"},
		{"Paris", "", "FR", "75002", "fr-FR", "Europe/Paris"},
		{"Amsterdam", "NH", "NL", "1012 JS", "nl-NL", "Europe/Amsterdam"},
		{"Bangalore", "KA", "IN", "560001", "en-IN", "Asia/Kolkata"},
	}
	citiesUnicode = []city{
		{"München", "BY", "DE", "80331", "de-DE", "Europe/Berlin"},
		{"São Paulo", "SP", "BR", "01310-100", "pt-BR", "America/Sao_Paulo"},
		{"東京都", "東京", "JP", "100-0001", "ja-JP", "Asia/Tokyo"},
		{"Montréal", "QC", "CA", "H2X 1Y4", "fr-CA", "America/Toronto"},
		{"Zürich", "ZH", "CH", "8001", "de-CH", "Europe/Zurich"},
		{"Kraków", "MA", "PL", "31-001", "pl-PL", "Europe/Warsaw"},
		{"Reykjavík", "", "IS", "101", "is-IS", "Atlantic/Reykjavik"},
		{"서울", "", "KR", "04524", "ko-KR", "Asia/Seoul"},
	}
	streets = []string{
		"Market St", "Main Street", "Broadway", "High Street", "Elm Ave", "Oak Lane",
		"Mission St", "King Street West", "Pine Rd", "Harbour View", "Unter den Linden",
	}
	streetsUnicode = []string{
		"Königstraße", "Rue de la Paix", "Avenida Paulista", "銀座4丁目", "Plac Mariacki", "Bahnhofstrasse",
	}
)

type company struct {
	name, domain, industry, plan string
	employees                    int64
}

var (
	companies = []company{
		{"Acme Corp", "acme.io", "Manufacturing", "enterprise", 5200},
		{"Globex", "globex.com", "Energy", "business", 1800},
		{"Initech", "initech.com", "Software", "pro", 240},
		{"Hooli", "hooli.xyz", "Technology", "enterprise", 32000},
		{"Pied Piper", "piedpiper.com", "Software", "starter", 14},
		{"Umbrella Health", "umbrella.health", "Healthcare", "business", 950},
		{"Stark Logistics", "starklogistics.com", "Transportation", "pro", 610},
		{"Vandelay Industries", "vandelay.com", "Import/Export", "starter", 8},
		{"Wonka Foods", "wonka.co", "Food & Beverage", "business", 1300},
		{"Cyberdyne Systems", "cyberdyne.ai", "Artificial Intelligence", "enterprise", 12000},
		{"Bluth Company", "bluth.com", "Real Estate", "free", 45},
		{"Dunder Mifflin", "dundermifflin.com", "Paper", "pro", 310},
	}
	companiesUnicode = []company{
		{"Müller & Söhne GmbH", "mueller-soehne.de", "Maschinenbau", "business", 430},
		{"株式会社さくら", "sakura.co.jp", "小売", "enterprise", 2400},
		{"Café Olé SARL", "cafeole.fr", "Restauration", "starter", 12},
		{"Nørdisk Design ApS", "nordisk.dk", "Design", "pro", 57},
		{"Rocket 🚀 Labs", "rocketlabs.dev", "Aerospace", "free", 5},
	}
	plans       = []string{"free", "starter", "pro", "business", "enterprise"}
	titles      = []string{"Engineer", "Product Manager", "Designer", "CTO", "Marketing Lead", "Data Analyst", "Founder"}
	roles       = []string{"admin", "member", "viewer", "billing", "owner"}
	signupTypes = []string{"organic", "invited", "paid", "referral"}
)

type product struct {
	id, sku, name, brand, category, variant, slug string
	priceCents                                    int64
}

var (
	products = []product{
		{"507f1f77bcf86cd799439011", "G-32", "Monopoly: 3rd Edition", "Hasbro", "Games", "200 pieces", "monopoly-3rd-edition", 1999},
		{"505bd76785ebb509fc183733", "F-24", "Uno Card Game", "Mattel", "Games", "classic", "uno-card-game", 399},
		{"5f2b9c3e1d4a8b0012a3c4d5", "AP-1001", "Wireless Earbuds Pro", "Sonique", "Electronics", "white", "wireless-earbuds-pro", 14999},
		{"5f2b9c3e1d4a8b0012a3c4d6", "AP-1002", "Noise Cancelling Headphones", "Sonique", "Electronics", "black", "noise-cancelling-headphones", 29900},
		{"5f2b9c3e1d4a8b0012a3c4d7", "KB-77", "Mechanical Keyboard", "Keyforge", "Electronics", "brown switches", "mechanical-keyboard", 12900},
		{"5f2b9c3e1d4a8b0012a3c4d8", "TS-BLU-M", "Organic Cotton T-Shirt", "Threadbare", "Apparel", "blue / M", "organic-cotton-t-shirt", 2500},
		{"5f2b9c3e1d4a8b0012a3c4d9", "JK-RAIN-L", "Waterproof Rain Jacket", "Northbound", "Apparel", "yellow / L", "waterproof-rain-jacket", 11900},
		{"5f2b9c3e1d4a8b0012a3c4da", "SH-RUN-42", "Trail Running Shoes", "Stride", "Footwear", "42", "trail-running-shoes", 13450},
		{"5f2b9c3e1d4a8b0012a3c4db", "BK-0451", "Fahrenheit 451 (Paperback)", "Simon & Schuster", "Books", "paperback", "fahrenheit-451", 1099},
		{"5f2b9c3e1d4a8b0012a3c4dc", "KT-CAST-26", "Cast Iron Skillet 26cm", "Hearth", "Kitchen", "26cm", "cast-iron-skillet-26cm", 4500},
		{"5f2b9c3e1d4a8b0012a3c4dd", "YG-MAT-6", "Yoga Mat 6mm", "Lotus", "Sports", "sage", "yoga-mat-6mm", 3800},
		{"5f2b9c3e1d4a8b0012a3c4de", "LMP-DESK", "LED Desk Lamp", "Lumen", "Home", "matte black", "led-desk-lamp", 5999},
		{"5f2b9c3e1d4a8b0012a3c4df", "BG-TOTE", "Canvas Tote Bag \"Weekender\"", "Threadbare", "Accessories", "natural", "canvas-tote-weekender", 3200},
		{"5f2b9c3e1d4a8b0012a3c4e0", "WT-SMART-2", "Smart Watch Series 2", "Pulse", "Electronics", "44mm", "smart-watch-series-2", 24900},
		{"5f2b9c3e1d4a8b0012a3c4e1", "CF-BEAN-1K", "Espresso Beans 1kg", "Roastery 7", "Grocery", "dark roast", "espresso-beans-1kg", 2899},
		{"5f2b9c3e1d4a8b0012a3c4e2", "GC-50", "Gift Card $50", "Example Shop", "Gift Cards", "digital", "gift-card-50", 5000},
	}
	productsUnicode = []product{
		{"5f2b9c3e1d4a8b0012a3c4f0", "CF-CREME", "Café Crème Espresso", "Maison Dupré", "Épicerie", "250 g", "cafe-creme-espresso", 1250},
		{"5f2b9c3e1d4a8b0012a3c4f1", "TEA-MATCHA", "抹茶 Matcha Green Tea", "宇治園", "Grocery", "30g 缶", "matcha-green-tea", 2400},
		{"5f2b9c3e1d4a8b0012a3c4f2", "LMP-ROCKET", "🚀 Rocket Night Light", "Glow & Co", "Kids", "🌈 multicolour", "rocket-night-light", 3499},
		{"5f2b9c3e1d4a8b0012a3c4f3", "SW-THOR", "Þórr Wool Sweater", "Ísland Knits", "Apparel", "grå / M", "thorr-wool-sweater", 18900},
		{"5f2b9c3e1d4a8b0012a3c4f4", "CH-SCHOKO", "Zartbitter-Schokolade 85 %", "Süßwaren Köhler", "Grocery", "100 g", "zartbitter-schokolade", 349},
	}
	coupons          = []string{"SUMMER20", "WELCOME10", "FREESHIP", "BLACKFRIDAY", "VIP-2024", "HOLIDAY15"}
	affiliations     = []string{"Example Shop", "Example Shop App", "Amazon Marketplace", "Google Store"}
	currencies       = []string{"USD", "USD", "USD", "EUR", "GBP", "CAD", "JPY", "BRL"}
	shippingMethods  = []string{"Fedex", "UPS Ground", "USPS Priority", "DHL Express", "Click & Collect"}
	paymentMethods   = []string{"Visa", "Mastercard", "Amex", "PayPal", "Apple Pay", "Google Pay", "Klarna"}
	productLists     = []string{"hot_deals_1", "search_results", "new_arrivals", "recommended_for_you", "bestsellers"}
	shareVia         = []string{"email", "facebook", "twitter", "whatsapp", "sms", "copy_link"}
	wishlistNames    = []string{"Loved Items", "Birthday", "Maybe later", "🎄 Holiday list"}
	promotions       = []string{"summer_sale", "free_shipping_weekend", "app_exclusive", "bogo_socks"}
	promotionCreates = []string{"top_banner_2", "sidebar_tile", "homepage_hero", "email_header"}
	searchQueries    = []string{
		"blue hotpants", "running shoes", "wireless earbuds", "gift ideas for dad", "yoga mat",
		"cast iron", "rain jacket size L", "usb-c charger 65w", "\"exact phrase\" search",
	}
	searchQueriesUnicode = []string{
		"café crème", "東京 ホテル", "🎧 headphones", "Größe 42 Schuhe", "naïve résumé template", "чай",
	}
	reviewBodies = []string{
		"Great product, fast shipping.",
		"Works as described.\nWould buy again!",
		"Not what I expected: the \"large\" is really a medium.",
		"5/5 \\o/ highly recommend",
		"Arrived damaged.\tReplacement was quick though.",
	}
	reviewBodiesUnicode = []string{
		"Très bien, livraison rapide 👍",
		"とても良い商品です。また買います！",
		"Läuft super — 10/10 würde wieder kaufen 😍",
		"Çok güzel 🤩🔥",
	}
)

// webPage is a web page that page calls and context.page describe.
type webPage struct{ path, title, name, category string }

var (
	pages = []webPage{
		{"/", "Example Shop – Home", "Home", ""},
		{"/pricing", "Pricing | Example", "Pricing", "Marketing"},
		{"/features", "Features | Example", "Features", "Marketing"},
		{"/blog/scaling-kafka-consumers", "How we scaled our Kafka consumers | Example Blog", "Scaling Kafka consumers", "Blog"},
		{"/docs/getting-started", "Getting started – Example Docs", "Getting Started", "Docs"},
		{"/products", "All products – Example Shop", "Product List", "Shop"},
		{"/cart", "Your cart – Example Shop", "Cart", "Shop"},
		{"/checkout/shipping", "Checkout: Shipping", "Checkout Shipping", "Checkout"},
		{"/account/settings", "Account settings", "Settings", "Account"},
		{"/signup", "Create your account", "Signup", "Auth"},
		{"/login", "Log in", "Login", "Auth"},
		{"/search", "Search results", "Search", "Shop"},
	}
	pagesUnicode = []webPage{
		{"/de/preise", "Preise & Pakete – Übersicht", "Preise", "Marketing"},
		{"/ja/blog/kafka", "Kafkaの運用について | ブログ", "ブログ記事", "Blog"},
		{"/fr/été-2024", "Soldes d'été ☀️ – jusqu'à -50 %", "Soldes d'été", "Promotions"},
		{"/es/señales", "Señales y métricas", "Señales", "Docs"},
	}
	referrers = []string{
		"", "", "https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
		"https://t.co/xK3aZ9", "https://news.ycombinator.com/", "https://www.facebook.com/",
		"https://duckduckgo.com/", "https://www.example.com/pricing",
	}
	screens = []struct{ name, category string }{
		{"Home", "Main"}, {"Product Detail", "Shop"}, {"Cart", "Shop"}, {"Checkout", "Shop"},
		{"Search", "Shop"}, {"Profile", "Account"}, {"Settings", "Account"}, {"Order History", "Account"},
		{"Onboarding Step 1", "Onboarding"}, {"Onboarding Step 2", "Onboarding"}, {"Notifications", "Main"},
	}
	screensUnicode = []struct{ name, category string }{
		{"Página de inicio", "Main"}, {"Einstellungen ⚙️", "Account"}, {"カート", "Shop"},
	}
)

type campaign struct{ name, source, medium, term, content string }

var campaigns = []campaign{
	{"summer_sale_2024", "google", "cpc", "running shoes", "text_ad_a"},
	{"newsletter_june", "newsletter", "email", "", "header_cta"},
	{"retargeting_q2", "facebook", "paid_social", "", "carousel_3"},
	{"launch_week", "twitter", "social", "", ""},
	{"partner_promo", "partner_site", "referral", "", "sidebar"},
}

type library struct{ name, version string }

var (
	webLibraries     = []library{{"analytics.js", "next-1.70.0"}, {"analytics.js", "next-1.64.0"}, {"analytics.js", "4.1.0"}}
	iosLibraries     = []library{{"analytics-swift", "1.5.11"}, {"analytics-ios", "4.1.8"}}
	androidLibraries = []library{{"analytics-kotlin", "1.16.3"}, {"analytics-android", "4.11.3"}}
	serverLibraries  = []library{{"@segment/analytics-node", "2.1.2"}, {"analytics-go", "3.3.0"}, {"analytics-ruby", "2.4.0"}, {"analytics-java", "3.5.1"}}
	pythonLibrary    = library{"analytics-python", "2.3.2"}
)

type userAgent struct {
	ua, platform string
	mobile       bool
}

var userAgents = []userAgent{
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36", "macOS", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80", "Windows", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0", "Windows", false},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "macOS", false},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36", "Linux", false},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "iOS", true},
	{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.113 Mobile Safari/537.36", "Android", true},
}

type device struct {
	manufacturer, model, name, osName, osVersion string
	width, height                                int64
	density                                      float64
}

var (
	iosDevices = []device{
		{"Apple", "iPhone15,2", "iPhone", "iOS", "17.5.1", 393, 852, 3},
		{"Apple", "iPhone14,5", "iPhone", "iOS", "16.7.8", 390, 844, 3},
		{"Apple", "iPhone12,8", "iPhone", "iOS", "17.4", 375, 667, 2},
		{"Apple", "iPad13,4", "iPad", "iPadOS", "17.5", 834, 1194, 2},
	}
	androidDevices = []device{
		{"samsung", "SM-S918B", "dm3q", "Android", "14", 412, 915, 3.5},
		{"Google", "Pixel 8", "shiba", "Android", "14", 412, 915, 2.625},
		{"Xiaomi", "2201116SG", "veux", "Android", "13", 393, 873, 2.75},
		{"OnePlus", "CPH2451", "OP5929L1", "Android", "13", 412, 919, 3.5},
	}
	carriers = []string{"T-Mobile", "Verizon", "AT&T", "Vodafone DE", "NTT DOCOMO", "Orange F", ""}
)

type videoContent struct {
	title, program, genre, channel, publisher string
	season, episode, length                   int64
}

var videos = []videoContent{
	{"Pilot", "Signal Lost", "Drama", "Example TV", "Example Studios", 1, 1, 2760},
	{"The Deep End", "Signal Lost", "Drama", "Example TV", "Example Studios", 1, 2, 2640},
	{"Kafka in 10 Minutes", "Tech Talks", "Education", "Example Learn", "Example Studios", 3, 14, 600},
	{"Le Grand Départ", "Tour de Cuisine", "Cooking", "Chaîne Gourmande", "Studio Français", 2, 5, 1800},
	{"Final Highlights ⚽", "Match Day", "Sports", "Example Sports", "Example Studios", 2024, 38, 420},
}

// audience is a Personas computation: an audience (boolean membership) or a
// computed trait (a number), with the snake_cased key it writes as a trait.
type audience struct {
	class, key string
}

var audiences = []audience{
	{"audience", "high_value_customers"},
	{"audience", "cart_abandoners_7d"},
	{"audience", "churn_risk"},
	{"audience", "newsletter_engaged"},
	{"trait", "orders_last_30_days"},
	{"trait", "lifetime_value"},
	{"trait", "sessions_last_7_days"},
}

// bigNumbers are valid number literals whose text a float64 round trip
// changes: digits beyond float64 precision, values past int64, -0.0,
// exponent spellings. A consumer that decodes and re-encodes numbers
// instead of copying bytes alters the message.
var bigNumbers = []string{
	"12345678901234567890",
	"-9223372036854775809",
	"9007199254740993",
	"1e308",
	"1.7976931348623157e308",
	"4.9406564584124654e-324",
	"-0.0",
	"0.1000000000000000055511151231257827",
	"123456789012345678901234567890.000001",
	"1E+2",
	"-1.50e-10",
}

var emailCampaigns = []struct{ id, name, subject string }{
	{"cmp_8812", "Weekly digest", "Your week at Example 📈"},
	{"cmp_8813", "Cart reminder", "Still thinking it over?"},
	{"cmp_8820", "Produktneuheiten", "Neu: Herbstkollektion für Sie"},
	{"cmp_8831", "Trial ending", "Your trial ends in 3 days"},
}

var (
	pushTitles  = []string{"Your order has shipped 📦", "Flash sale: 30% off today", "You left something in your cart", "Nouveau message de l'équipe"}
	deepLinks   = []string{"exampleshop://product/G-32", "exampleshop://cart", "https://www.example.com/promo?code=SUMMER20"}
	appVersions = []struct{ version, build, previous, previousBuild string }{
		{"5.12.0", "5120", "5.11.2", "5112"},
		{"5.11.2", "5112", "5.11.1", "5111"},
		{"6.0.0-beta.3", "6000003", "5.12.0", "5120"},
	}
	experiments = []struct{ id, name string }{
		{"exp_checkout_v2", "Checkout redesign"}, {"exp_price_anchor", "Price anchoring"}, {"exp_onboarding_7", "Onboarding flow 7"},
	}
)
