//! Static reference data the generator draws from: the product catalogue,
//! countries with their cities, locales, phone prefixes and tax rates, names,
//! tags, ticket subjects, the canned texts of messages, reviews and NPS
//! comments, and the reward vouchers points buy.
//!
//! Tables are small on purpose: demo data should read as plausible, and the
//! segment examples in the README (`sku = 'LIP-001'`, `customer_tags CONTAINS
//! 'vip'`) must find members.

/// One product of the demo catalogue.
#[derive(Debug)]
pub struct Product {
    pub sku: &'static str,
    pub name: &'static str,
    /// Minor units of the base currency (prices assume a two-decimal currency).
    pub price: i64,
    /// The category its order lines carry (`OrderLine.category`, interests,
    /// `purchased_category`): makeup, skincare, hair, fragrance or body; a
    /// product's own, which may differ from its family's (an eye cream is
    /// skincare).
    pub category: &'static str,
}

/// Product families; a customer favours one, which makes baskets and
/// "products purchased" segments look like real shopping.
pub const CATEGORIES: &[&[Product]] = &[LIPS, EYES, FACE, SKIN, HAIR, FRAGRANCE, BODY];

const LIPS: &[Product] = &[
    makeup("LIP-001", "Velvet Matte Lipstick - Rosewood", 2_400),
    makeup("LIP-002", "Velvet Matte Lipstick - Brick Red", 2_400),
    makeup("LIP-003", "Glass Shine Lip Gloss", 1_900),
    skincare("LIP-004", "Overnight Lip Mask", 2_200),
    makeup("LIP-005", "Precision Lip Liner", 1_500),
    makeup("LIP-006", "Tinted Lip Balm SPF 15", 1_200),
];
const EYES: &[Product] = &[
    makeup("EYE-001", "Lengthening Mascara", 2_600),
    makeup("EYE-002", "Waterproof Gel Eyeliner", 2_100),
    makeup("EYE-003", "Neutral Eyeshadow Palette", 4_800),
    makeup("EYE-004", "Brow Sculpting Pencil", 1_800),
    skincare("EYE-005", "Brightening Eye Cream", 4_200),
];
const FACE: &[Product] = &[
    makeup("FCE-001", "Skin Tint Foundation", 3_800),
    makeup("FCE-002", "Radiant Concealer", 2_800),
    makeup("FCE-003", "Cream Blush Stick", 2_600),
    makeup("FCE-004", "Loose Setting Powder", 3_200),
    makeup("FCE-005", "Dewy Setting Spray", 2_900),
    makeup("FCE-006", "Liquid Highlighter", 3_100),
];
const SKIN: &[Product] = &[
    skincare("SKN-001", "Gentle Gel Cleanser", 2_400),
    skincare("SKN-002", "Hydrating Hyaluronic Serum", 4_600),
    skincare("SKN-003", "Vitamin C Brightening Serum", 5_800),
    skincare("SKN-004", "Daily Moisturiser SPF 30", 3_900),
    skincare("SKN-005", "Retinol Night Cream", 6_400),
    skincare("SKN-006", "Clay Detox Mask", 3_400),
    skincare("SKN-007", "Barrier Repair Balm", 4_400),
];
const HAIR: &[Product] = &[
    hair("HAI-001", "Repair Shampoo", 2_200),
    hair("HAI-002", "Repair Conditioner", 2_200),
    hair("HAI-003", "Bond Building Hair Mask", 3_600),
    hair("HAI-004", "Heat Protect Spray", 2_500),
    hair("HAI-005", "Scalp Serum", 4_100),
];
const FRAGRANCE: &[Product] = &[
    fragrance("FRG-001", "Eau de Parfum - Fig & Cedar 50 ml", 9_800),
    fragrance("FRG-002", "Eau de Parfum - Neroli 50 ml", 9_800),
    fragrance("FRG-003", "Discovery Set (5 x 2 ml)", 3_000),
    fragrance("FRG-004", "Scented Candle - Amber", 4_200),
];
const BODY: &[Product] = &[
    body("BDY-001", "Nourishing Body Lotion", 2_800),
    body("BDY-002", "Exfoliating Body Scrub", 3_200),
    body("BDY-003", "Hand Cream Trio", 2_600),
    body("BDY-004", "Dry Body Oil", 4_600),
    body("BDY-005", "Mineral Sunscreen SPF 50", 3_400),
];

const fn product(
    sku: &'static str,
    name: &'static str,
    price: i64,
    category: &'static str,
) -> Product {
    Product {
        sku,
        name,
        price,
        category,
    }
}
const fn makeup(sku: &'static str, name: &'static str, price: i64) -> Product {
    product(sku, name, price, "makeup")
}
const fn skincare(sku: &'static str, name: &'static str, price: i64) -> Product {
    product(sku, name, price, "skincare")
}
const fn hair(sku: &'static str, name: &'static str, price: i64) -> Product {
    product(sku, name, price, "hair")
}
const fn fragrance(sku: &'static str, name: &'static str, price: i64) -> Product {
    product(sku, name, price, "fragrance")
}
const fn body(sku: &'static str, name: &'static str, price: i64) -> Product {
    product(sku, name, price, "body")
}

/// A country customers live in, with what varies by country.
#[derive(Debug)]
pub struct Country {
    /// ISO 3166-1 alpha-2.
    pub code: &'static str,
    pub locale: &'static str,
    /// Country calling code for phone numbers.
    pub calling_code: &'static str,
    /// Sales tax / VAT in basis points, applied on the discounted subtotal.
    pub tax_bp: i64,
    pub cities: &'static [&'static str],
    /// Relative share of customers.
    pub weight: u32,
}

pub const COUNTRIES: &[Country] = &[
    c("US", "en-US", "1", 800, US_CITIES, 34),
    c("GB", "en-GB", "44", 2000, GB_CITIES, 14),
    c("CA", "en-CA", "1", 1300, CA_CITIES, 8),
    c("DE", "de-DE", "49", 1900, DE_CITIES, 8),
    c("FR", "fr-FR", "33", 2000, FR_CITIES, 8),
    c("ES", "es-ES", "34", 2100, ES_CITIES, 5),
    c("IT", "it-IT", "39", 2200, IT_CITIES, 4),
    c("NL", "nl-NL", "31", 2100, NL_CITIES, 4),
    c("SE", "sv-SE", "46", 2500, SE_CITIES, 3),
    c("AU", "en-AU", "61", 1000, AU_CITIES, 6),
    c("JP", "ja-JP", "81", 1000, JP_CITIES, 3),
    c("BR", "pt-BR", "55", 1700, BR_CITIES, 3),
];

const US_CITIES: &[&str] = &[
    "New York",
    "Los Angeles",
    "Chicago",
    "Houston",
    "Austin",
    "Seattle",
    "Denver",
    "Miami",
    "Boston",
    "San Francisco",
];
const GB_CITIES: &[&str] = &["London", "Manchester", "Bristol", "Edinburgh", "Leeds"];
const CA_CITIES: &[&str] = &["Toronto", "Vancouver", "Montreal", "Calgary"];
const DE_CITIES: &[&str] = &["Berlin", "Hamburg", "Munich", "Cologne"];
const FR_CITIES: &[&str] = &["Paris", "Lyon", "Marseille", "Bordeaux"];
const ES_CITIES: &[&str] = &["Madrid", "Barcelona", "Valencia", "Seville"];
const IT_CITIES: &[&str] = &["Milan", "Rome", "Turin", "Florence"];
const NL_CITIES: &[&str] = &["Amsterdam", "Rotterdam", "Utrecht"];
const SE_CITIES: &[&str] = &["Stockholm", "Gothenburg", "Malmo"];
const AU_CITIES: &[&str] = &["Sydney", "Melbourne", "Brisbane", "Perth"];
const JP_CITIES: &[&str] = &["Tokyo", "Osaka", "Yokohama", "Kyoto"];
const BR_CITIES: &[&str] = &["Sao Paulo", "Rio de Janeiro", "Belo Horizonte"];

const fn c(
    code: &'static str,
    locale: &'static str,
    calling_code: &'static str,
    tax_bp: i64,
    cities: &'static [&'static str],
    weight: u32,
) -> Country {
    Country {
        code,
        locale,
        calling_code,
        tax_bp,
        cities,
        weight,
    }
}

/// ASCII only: emails are built from them.
// One table row per line would be 60 lines of names.
#[rustfmt::skip]
pub const FIRST_NAMES: &[&str] = &[
    "Olivia", "Emma", "Ava", "Sophia", "Mia", "Amelia", "Isabella", "Charlotte", "Harper", "Chloe",
    "Grace", "Lily", "Zoe", "Nora", "Hannah", "Leah", "Maya", "Aisha", "Fatima", "Yuki", "Sakura",
    "Mei", "Priya", "Ananya", "Lucia", "Sofia", "Camille", "Lea", "Ines", "Greta", "Freya", "Elin",
    "Noah", "Liam", "Oliver", "Elijah", "James", "Lucas", "Mateo", "Leo", "Hugo", "Luca", "Jonas",
    "Finn", "Omar", "Kenji", "Ravi", "Daniel", "Samuel", "Gabriel", "Thomas", "Ethan", "Alex",
    "Sam", "Jordan", "Taylor", "Morgan", "Riley",
];

// One table row per line would be 60 lines of names.
#[rustfmt::skip]
pub const LAST_NAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez",
    "Lopez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Lee", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott",
    "Green", "Baker", "Nguyen", "Kim", "Patel", "Singh", "Khan", "Tanaka", "Sato", "Suzuki",
    "Muller", "Schmidt", "Schneider", "Dubois", "Bernard", "Moreau", "Rossi", "Russo", "Bianchi",
    "Fernandez", "Gonzalez", "Silva", "Santos", "de Vries", "Jansen", "Andersson", "Johansson",
    "O'Brien", "Murphy", "Kelly",
];

/// Reserved example domains: demo data never names a real mailbox.
pub const EMAIL_DOMAINS: &[&str] = &["example.com", "example.net", "example.org", "mail.example"];

/// Tags without a rule of their own, with their share of customers in percent.
/// `vip` (spend) and `newsletter` (consent) are derived from other data.
pub const RANDOM_TAGS: &[(&str, u32)] = &[
    ("wholesale", 2),
    ("influencer", 1),
    ("employee", 1),
    ("beta-tester", 3),
    ("sensitive-skin", 8),
    ("gift-buyer", 10),
    ("sample-lover", 6),
];

pub const ORDER_TICKET_SUBJECTS: &[&str] = &[
    "Where is my order {order}?",
    "Damaged item in order {order}",
    "Wrong shade received in {order}",
    "Return request for {order}",
    "Change the delivery address of {order}",
    "Missing item in {order}",
];

pub const GENERIC_TICKET_SUBJECTS: &[&str] = &[
    "Question about my loyalty points",
    "I can't log in to my account",
    "Please update my email address",
    "Which serum works for dry skin?",
    "Stop sending me text messages",
    "Is the retinol cream safe during pregnancy?",
    "Discount code not working",
    "Do you ship to my country?",
];

pub const CUSTOMER_FOLLOW_UPS: &[&str] = &[
    "Thanks, any update on this?",
    "I have attached a photo of the parcel.",
    "That works for me, thank you.",
    "Could you send me a return label?",
    "It still doesn't work, unfortunately.",
];

pub const AGENT_NAMES: &[&str] = &[
    "Alex (Support)",
    "Priya (Support)",
    "Marco (Support)",
    "Jess (Support)",
    "Kenta (Support)",
    "Sara (Support)",
];

pub const AGENT_REPLIES: &[&str] = &[
    "Thanks for reaching out! I've looked into this for you.",
    "Sorry about that. I've arranged a replacement at no cost.",
    "I've issued a prepaid return label; you'll find it in your inbox.",
    "Your parcel is with the carrier and should arrive within two days.",
    "I've updated your account; you should see the change now.",
    "Great question! For dry skin we recommend the Hydrating Hyaluronic Serum.",
];

pub const CSAT_COMMENTS: &[(i32, &str)] = &[
    (1, "Took far too long and the problem isn't solved."),
    (2, "The agent was polite but I had to repeat myself."),
    (3, "Solved in the end."),
    (4, "Quick and helpful."),
    (5, "Fantastic service, thank you!"),
];

pub const REVIEW_TEXTS: &[(i32, &str, &str)] = &[
    (
        1,
        "Disappointed",
        "Broke me out after two days. Returning it.",
    ),
    (2, "Not for me", "The texture is nice but it didn't last."),
    (
        3,
        "It's okay",
        "Does the job, nothing special for the price.",
    ),
    (
        4,
        "Really good",
        "Lovely texture and a little goes a long way.",
    ),
    (
        4,
        "Would buy again",
        "Works well; the packaging could be better.",
    ),
    (
        5,
        "Holy grail!",
        "My skin has never looked better. Already reordered.",
    ),
    (5, "Obsessed", "Beautiful colour and lasts all day."),
];

pub const NPS_COMMENTS: &[(i32, &str)] = &[
    (0, "Delivery was late twice and support was slow."),
    (4, "Prices went up and the shipping is expensive."),
    (6, "Good products but the website is clunky."),
    (7, "Nice products, shipping could be faster."),
    (8, "I like the loyalty programme."),
    (9, "Great quality and fast delivery."),
    (10, "Love this brand, I recommend it to all my friends!"),
];

/// Reward vouchers points are redeemed for, cheapest first: (points, face
/// value in major units of the base currency). A catalogue of the demo
/// shop, not a configured rule: what a point is worth at checkout is the
/// shop's offer, not the earning rate.
pub const REWARD_VOUCHERS: &[(i64, i64)] = &[(500, 5), (1_000, 10), (2_000, 20), (5_000, 50)];
